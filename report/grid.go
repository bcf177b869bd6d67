package report

import (
	"strings"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter/tw"
)

// gridOpt adjusts writeGrid.
type gridOpt func(*grid)

type grid struct {
	name     int // the column whose cells are cut to fit the width; -1 none
	maxWidth int // the width to fit; 0 no limit
	styles   map[int]func(string) string
}

// styleColumn colours the cells of column index in the table format (after
// they were made safe and cut to size).
func styleColumn(index int, style func(string) string) gridOpt {
	return func(g *grid) {
		if g.styles == nil {
			g.styles = map[int]func(string) string{}
		}
		g.styles[index] = style
	}
}

// nameColumn makes column index the one that gives way when the table is
// wider than the terminal: its cells are cut in the middle.
func nameColumn(opts RenderOptions, index int) gridOpt {
	return func(g *grid) { g.name, g.maxWidth = index, opts.width() }
}

// minNameWidth is the width below which a name column is not cut
// further: narrower, a name says nothing.
const minNameWidth = 24

// writeGrid writes a table in the one table style every command shares
// (tablewriter's box table), or as a Markdown table when md. Cells are log
// text: they are made safe for the output here. Numbers and times are
// right-aligned by aligns.
func writeGrid(ew *errWriter, md bool, header []string, rows [][]string, aligns []tw.Align, opts ...gridOpt) {
	g := grid{name: -1}
	for _, o := range opts {
		o(&g)
	}
	if md {
		cells := make([]string, len(header))
		sep := make([]string, len(header))
		for i, h := range header {
			cells[i] = mdCell(h)
			sep[i] = "---"
			if i < len(aligns) && aligns[i] == tw.AlignRight {
				sep[i] = "---:"
			}
		}
		ew.printf("| %s |\n| %s |\n", strings.Join(cells, " | "), strings.Join(sep, " | "))
		for _, row := range rows {
			cells := make([]string, len(row))
			for i, c := range row {
				if i == g.name {
					c = shortenMiddle(c, mdNameLen)
				}
				cells[i] = mdCell(c)
			}
			ew.printf("| %s |\n", strings.Join(cells, " | "))
		}
		return
	}
	clean := make([][]string, len(rows))
	for i, row := range rows {
		clean[i] = make([]string, len(row))
		for j, c := range row {
			clean[i][j] = TerminalText(c)
		}
	}
	if g.name >= 0 && g.maxWidth > 0 {
		limit := g.maxWidth
		{
			// What the other columns and the borders take: "│ " and " "
			// around each cell, and a closing "│".
			other := 1 + 3*len(header)
			for j := range header {
				if j == g.name {
					continue
				}
				w := utf8.RuneCountInString(header[j])
				for _, row := range clean {
					if j < len(row) {
						w = max(w, utf8.RuneCountInString(row[j]))
					}
				}
				other += w
			}
			limit = max(minNameWidth, g.maxWidth-other)
		}
		for _, row := range clean {
			if g.name < len(row) {
				row[g.name] = shortenMiddle(row[g.name], limit)
			}
		}
	}
	for _, row := range clean {
		for j, style := range g.styles {
			if j < len(row) {
				row[j] = style(row[j])
			}
		}
	}
	t := newRawTable(ew, header, aligns...)
	for _, row := range clean {
		_ = t.Append(anyCells(row)...)
	}
	render(ew, t)
}

// shortenMiddle cuts s to at most n runes, keeping its start (the stage
// and instruction) and its end, with "…" where the middle was.
func shortenMiddle(s string, n int) string {
	if utf8.RuneCountInString(s) <= n || n < 5 {
		return s
	}
	r := []rune(s)
	head := (n - 1) * 2 / 3
	tail := n - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// mdCell escapes a table cell: figures and dates ("~3.7s", "+1.2s", "-",
// "2026-11-20 10:00 UTC", "67%") as they are, anything else with mdText.
func mdCell(s string) string {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune(" .:%/+~#-", r)) {
			return mdText(s)
		}
	}
	return s
}

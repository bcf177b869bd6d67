package ingest

import (
	"fmt"
	"io"
	"strings"

	"github.com/buildstats/buildstats/cmd/internal/cli"
)

// progressBar draws "[=====>    ] 12/40 name" on one terminal line,
// redrawn in place with a carriage return. Disabled, it draws nothing.
type progressBar struct {
	w       io.Writer
	total   int
	enabled bool
	width   int // length of the last line drawn, to blank it
}

// progressBarCells is the width of the bar itself.
const progressBarCells = 24

// update draws the bar before file i (0-based) of total, named name.
func (p *progressBar) update(i int, name string) {
	if !p.enabled || p.total == 0 {
		return
	}
	done := i * progressBarCells / p.total
	bar := strings.Repeat("=", done)
	if done < progressBarCells {
		bar += ">" + strings.Repeat(" ", progressBarCells-done-1)
	}
	line := fmt.Sprintf("[%s] %d/%d %s", bar, i, p.total, cli.Shorten(cli.OneLine(name), 40))
	pad := max(0, p.width-len([]rune(line)))
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
	p.width = len([]rune(line))
}

// clear blanks the bar's line so other output starts at its beginning.
func (p *progressBar) clear() {
	if !p.enabled || p.width == 0 {
		return
	}
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
	p.width = 0
}

package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// tableNameLen is how much of a step name the table shows; the JSON and
// markdown outputs keep full names.
const tableNameLen = 72

// ANSI styles used when colour is on.
const (
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiReset  = "\x1b[0m"
)

// tableRenderer writes a summary and box-drawn tables for a terminal.
type tableRenderer struct {
	color bool
}

// errWriter keeps the first write error so rendering code can stay linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (ew *errWriter) Write(p []byte) (int, error) {
	if ew.err != nil {
		return 0, ew.err
	}
	n, err := ew.w.Write(p)
	ew.err = err
	return n, err
}

func (ew *errWriter) printf(format string, args ...any) { fmt.Fprintf(ew, format, args...) }

func (r *tableRenderer) style(code, s string) string {
	if !r.color || s == "" {
		return s
	}
	return code + s + ansiReset
}

func (r *tableRenderer) heading(ew *errWriter, title string) {
	ew.printf("\n%s\n", r.style(ansiBold, title))
}

func (r *tableRenderer) Render(w io.Writer, e *Explanation) error {
	ew := &errWriter{w: w}
	r.summary(ew, e)
	r.stepsTable(ew, e)
	r.breaksTable(ew, e)
	r.historySection(ew, e)
	r.slowTable(ew, e)
	r.criticalList(ew, e)
	r.adviceList(ew, e)
	r.errorSection(ew, e)
	r.warningList(ew, e)
	return ew.err
}

func (r *tableRenderer) summary(ew *errWriter, e *Explanation) {
	var head string
	switch e.Status {
	case "succeeded":
		head = r.style(ansiGreen, "Build succeeded")
	case "failed":
		head = r.style(ansiRed, "Build failed")
	default:
		head = "Build status unknown"
	}
	if e.DurationSeconds != nil {
		head += " in " + FormatSeconds(*e.DurationSeconds)
	}
	head += " · " + clean(SourceText(deref(e.Source), e.Format))
	if e.Builder != nil {
		head += " · builder " + clean(*e.Builder)
	}
	if e.Truncated {
		head += " · log truncated"
	}
	ew.printf("%s\n", head)

	facts := []string{fmt.Sprintf("Steps: %d ran, %d cached", e.StepsRun, e.StepsCached)}
	if e.CacheHitRate != nil {
		facts[0] += " (cache hit rate " + FormatShare(*e.CacheHitRate) + ")"
	}
	if e.ContextBytes != nil {
		facts = append(facts, "context "+FormatBytes(*e.ContextBytes))
	}
	if e.BaseImageBytes > 0 {
		facts = append(facts, "base image layers downloaded "+FormatBytes(e.BaseImageBytes))
	}
	if e.ImageLayerBytes != nil {
		facts = append(facts, "image layers produced "+FormatBytes(*e.ImageLayerBytes))
	}
	ew.printf("%s\n", strings.Join(facts, " · "))
	if e.Dockerfile != nil {
		ew.printf("Dockerfile: %s\n", clean(*e.Dockerfile))
	}
}

// newTable returns a table that writes to ew with the given column
// alignments. Cells are pre-shortened, so nothing wraps.
func newTable(ew *errWriter, aligns ...tw.Align) *tablewriter.Table {
	return tablewriter.NewTable(ew,
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{Global: tw.AlignLeft, PerColumn: aligns}),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{Global: tw.AlignLeft, PerColumn: aligns}),
	)
}

func render(ew *errWriter, t *tablewriter.Table) {
	if err := t.Render(); err != nil && ew.err == nil {
		ew.err = err
	}
}

func (r *tableRenderer) stepsTable(ew *errWriter, e *Explanation) {
	r.heading(ew, "Steps")
	if len(e.Steps) == 0 {
		ew.printf("No steps in the log.\n")
		return
	}
	notes := breakNotes(e)
	withLine, withLayer := e.Dockerfile != nil, anyLayerBytes(e)
	// The Layer column (index 3) only when some step has a size.
	layerCol := func(cells []any) []any {
		if withLayer {
			return cells
		}
		return slices.Delete(cells, 3, 4)
	}
	aligns := []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignLeft}
	if !withLayer {
		aligns = slices.Delete(aligns, 3, 4)
	}
	t := newTable(ew, withLineAlign(withLine, aligns...)...)
	t.Header(withLineCell(withLine, "Line", layerCol([]any{"Step", "Status", "Time", "Layer", "Note"})...)...)
	for _, s := range e.Steps {
		status := statusText(s)
		switch s.Status {
		case "cached":
			status = r.style(ansiGreen, status)
		case "error", "canceled":
			status = r.style(ansiRed, status)
		}
		note := notes[s.Name]
		if note == noteBreak {
			note = r.style(ansiYellow, note)
		}
		row := layerCol([]any{shorten(clean(s.Name), tableNameLen), status, optSeconds(s.DurationSeconds), optBytes(s.LayerBytes), note})
		_ = t.Append(withLineCell(withLine, optInt(s.Line), row...)...)
	}
	render(ew, t)
}

func (r *tableRenderer) breaksTable(ew *errWriter, e *Explanation) {
	r.heading(ew, "Cache breaks")
	if len(e.CacheBreaks) == 0 {
		if e.StepsRun == 0 && e.StepsCached > 0 {
			ew.printf("None: every step came from the cache.\n")
		} else {
			ew.printf("None found.\n")
		}
		return
	}
	withLine := e.Dockerfile != nil
	t := newTable(ew, withLineAlign(withLine, tw.AlignLeft, tw.AlignLeft, tw.AlignRight)...)
	t.Header(withLineCell(withLine, "Line", "Step", "Cause", "Rebuilt")...)
	for _, cb := range e.CacheBreaks {
		cause := reasonText(cb.Reason)
		if cb.Previous != nil {
			cause += ": " + shorten(clean(*cb.Previous), 40)
		}
		if n := len(cb.FollowOn); n > 0 {
			cause += fmt.Sprintf(" (+%d dependent stage break%s)", n, plural(n))
		}
		rebuilt := fmt.Sprintf("%s (%d step%s)", optSeconds(cb.RebuiltSeconds), cb.RebuiltSteps, plural(cb.RebuiltSteps))
		_ = t.Append(withLineCell(withLine, optInt(cb.Line), shorten(clean(cb.Name), tableNameLen), cause, rebuilt)...)
	}
	render(ew, t)
}

// withLineCell prepends the Line cell to a row when the table has a Line
// column (only when a Dockerfile was given).
func withLineCell(withLine bool, line string, cells ...any) []any {
	if withLine {
		return append([]any{line}, cells...)
	}
	return cells
}

func withLineAlign(withLine bool, aligns ...tw.Align) []tw.Align {
	if withLine {
		return append([]tw.Align{tw.AlignRight}, aligns...)
	}
	return aligns
}

// Notes on steps where the cache broke.
const (
	noteBreak  = "cache break"
	noteFollow = "follows an earlier cache break"
)

// breakNotes maps step names to their cache-break note.
func breakNotes(e *Explanation) map[string]string {
	notes := map[string]string{}
	for _, cb := range e.CacheBreaks {
		notes[cb.Name] = noteBreak
		for _, f := range cb.FollowOn {
			notes[f] = noteFollow
		}
	}
	return notes
}

// statusText is a step's status for people: "ran" rather than "done" for
// Dockerfile steps, with the exit code of a failed one.
func statusText(s Step) string {
	switch {
	case s.Status == "done" && s.Kind == "step":
		return "ran"
	case s.Status == "error" && s.ExitCode != nil:
		return "error (exit " + strconv.Itoa(*s.ExitCode) + ")"
	}
	return s.Status
}

// reasonText explains a cache break reason in words.
func reasonText(reason string) string {
	switch reason {
	case ReasonPreviousCached:
		return "ran after cached step"
	case ReasonFirstStep:
		return "first step of its stage ran"
	case ReasonBaseImagePulled:
		return "base image downloaded"
	}
	return reason
}

func (r *tableRenderer) slowTable(ew *errWriter, e *Explanation) {
	if len(e.SlowSteps) == 0 {
		return
	}
	title := "Slowest"
	if e.ShareBasis != nil && *e.ShareBasis == "vertex_time" {
		title += " (share of summed step time: the log has no total)"
	}
	r.heading(ew, title)
	withLine := e.Dockerfile != nil
	t := newTable(ew, withLineAlign(withLine, tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight)...)
	t.Header(withLineCell(withLine, "Line", "Step", "Kind", "Time", "Share")...)
	for _, s := range e.SlowSteps {
		share := "-"
		if s.Share != nil {
			share = FormatShare(*s.Share)
		}
		_ = t.Append(withLineCell(withLine, optInt(s.Line), shorten(clean(s.Name), tableNameLen), s.Kind, FormatSeconds(s.DurationSeconds), share)...)
	}
	render(ew, t)
}

func (r *tableRenderer) criticalList(ew *errWriter, e *Explanation) {
	cp := e.CriticalPath
	if cp == nil {
		return
	}
	r.heading(ew, "Critical path ("+FormatSeconds(cp.TotalSeconds)+"): the steps that bounded the build's time")
	if note := criticalNote(cp.Basis); note != "" {
		ew.printf("%s\n", note)
	}
	for i, s := range cp.Steps {
		ew.printf("%d. %s  %s\n", i+1, shorten(clean(s.Name), tableNameLen), FormatSeconds(s.DurationSeconds))
	}
}

// criticalNote says how a critical path was found when it was not from
// the build's own vertex graph.
func criticalNote(basis string) string {
	switch basis {
	case BasisStageOrder:
		return "Reconstructed from step order and stage references: the log has no step graph."
	case BasisSequential:
		return "The legacy builder runs one step at a time: every step is on the path."
	}
	return ""
}

func (r *tableRenderer) adviceList(ew *errWriter, e *Explanation) {
	if len(e.Advice) == 0 {
		return
	}
	r.heading(ew, "Advice")
	for i, a := range e.Advice {
		ew.printf("%d. %s\n", i+1, clean(a.Message))
		var where []string
		if a.Step != nil {
			where = append(where, "step: "+shorten(clean(*a.Step), tableNameLen))
		}
		if a.Line != nil {
			where = append(where, "line "+strconv.Itoa(*a.Line))
		}
		if len(where) > 0 {
			ew.printf("   (%s)\n", strings.Join(where, ", "))
		}
	}
}

func (r *tableRenderer) errorSection(ew *errWriter, e *Explanation) {
	be := e.Error
	if be == nil {
		return
	}
	r.heading(ew, r.style(ansiRed, "Error"))
	if be.Step != nil {
		ew.printf("Step:      %s\n", clean(*be.Step))
	}
	if be.ExitCode != nil {
		ew.printf("Exit code: %d\n", *be.ExitCode)
	}
	if be.Line != nil {
		file := "Dockerfile"
		if be.File != nil {
			file = clean(*be.File)
		}
		ew.printf("Location:  %s:%d\n", file, *be.Line)
	}
	if be.Message != "" {
		ew.printf("Message:   %s\n", clean(be.Message))
	}
	if len(be.Output) > 0 {
		ew.printf("Output (last %d of %d lines):\n", len(be.Output), max(be.OutputLines, len(be.Output)))
		for _, l := range be.Output {
			ew.printf("  %s\n", clean(l))
		}
	}
	if len(be.Excerpt) > 0 {
		ew.printf("Dockerfile:\n")
		for _, l := range be.Excerpt {
			ew.printf("  %s\n", clean(l))
		}
	}
}

func (r *tableRenderer) warningList(ew *errWriter, e *Explanation) {
	if len(e.Warnings) == 0 {
		return
	}
	r.heading(ew, "Warnings")
	for _, w := range e.Warnings {
		if w.Step != nil {
			ew.printf("- %s: %s\n", shorten(clean(*w.Step), tableNameLen), clean(w.Message))
		} else {
			ew.printf("- %s\n", clean(w.Message))
		}
	}
}

// clean is TerminalText.
func clean(s string) string { return TerminalText(s) }

// TerminalText makes log text safe for a terminal: control characters
// (escape sequences a hostile log could carry included, C1 controls) and
// bidirectional overrides become spaces or '?'.
func TerminalText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			return '?'
		}
		return r
	}, s)
}

func optSeconds(f *float64) string {
	if f == nil {
		return "-"
	}
	return FormatSeconds(*f)
}

func optBytes(n *int64) string {
	if n == nil {
		return "-"
	}
	return FormatBytes(*n)
}

// deref is *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func optInt(n *int) string {
	if n == nil {
		return ""
	}
	return strconv.Itoa(*n)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

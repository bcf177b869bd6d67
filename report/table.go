package report

import (
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twcache"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/buildstats/buildstats/report/safe"
)

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
	opts  RenderOptions
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
	// What matters first: how it ended, where the cache broke, where the
	// time went, what to change; every step last.
	r.summary(ew, e)
	r.errorSection(ew, e)
	r.breaksTable(ew, e)
	r.historySection(ew, e)
	r.slowTable(ew, e)
	r.criticalList(ew, e)
	r.adviceList(ew, e)
	r.stepsTable(ew, e)
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
	case "canceled":
		head = r.style(ansiRed, "Build cancelled")
	default:
		head = "Build status unknown"
	}
	if e.DurationSeconds != nil {
		head += " in " + boundSeconds(*e.DurationSeconds, e.DurationIsLowerBound)
	}
	head += " · " + clean(SourceText(deref(e.Source), e.Format))
	if e.Builder != nil {
		head += " · builder " + clean(*e.Builder)
	}
	for _, s := range logScope(e) {
		head += " · " + s
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
// tables reuses tablewriter tables: each new one clears a 10,240-entry
// stringer cache (about half a megabyte) that tables of strings never use,
// which cost more than rendering an explanation's tables did.
var tables = sync.Pool{New: func() any {
	w := &tableTarget{}
	// A one-entry cache: Reset purges the cache by making it anew.
	t := tablewriter.NewTable(w, tablewriter.WithStringerCacheCustom(twcache.NewLRU[reflect.Type, reflect.Value](1)))
	return &pooledTable{Table: t, target: w}
}}

// baseConfig is a new table's configuration, restored on every reuse.
var baseConfig = sync.OnceValue(func() tablewriter.Config { return tablewriter.NewTable(io.Discard).Config() })

// pooledTable is a table and the writer it was made with, which a reuse
// points at the new output.
type pooledTable struct {
	*tablewriter.Table
	target *tableTarget
}

type tableTarget struct{ w io.Writer }

func (t *tableTarget) Write(p []byte) (int, error) { return t.w.Write(p) }

// newTable returns an empty table writing to ew, configured as every
// table of the report is; render gives it back.
func newTable(ew *errWriter, aligns ...tw.Align) *pooledTable {
	t := tables.Get().(*pooledTable) // empty: new, or reset by render
	t.target.w = ew
	t.Options(
		tablewriter.WithConfig(baseConfig()),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{Global: tw.AlignLeft, PerColumn: aligns}),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{Global: tw.AlignLeft, PerColumn: aligns}),
	)
	return t
}

func render(ew *errWriter, t *pooledTable) {
	if err := t.Render(); err != nil && ew.err == nil {
		ew.err = err
	}
	t.Reset()
	t.target.w = nil
	tables.Put(t)
}

// StepsListed is how many vertices a build may have for the table format
// to list them all without --all: beyond it, the slowest steps, cache
// breaks and critical path say what matters.
const StepsListed = 40

func (r *tableRenderer) stepsTable(ew *errWriter, e *Explanation) {
	if len(e.Steps) > StepsListed && !r.opts.AllSteps {
		r.heading(ew, "Steps")
		ew.printf("%d steps: explain --all lists every one (the JSON output always has them).\n", len(e.Steps))
		return
	}
	r.heading(ew, "Steps")
	if len(e.Steps) == 0 {
		ew.printf("No steps in the log.\n")
		return
	}
	notes := breakNotes(e)
	withLine, withLayer := e.Dockerfile != nil, anyLayerBytes(e)
	header := []string{"Step", "Status", "Time", "Layer", "Note"}
	aligns := []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignLeft}
	var rows [][]string
	for _, s := range e.Steps {
		rows = append(rows, []string{s.Name, statusText(s), stepSeconds(s), optBytes(s.LayerBytes), notes[s.Name], optInt(s.Line)})
	}
	if !withLayer { // the Layer column only when some step has a size
		header, aligns = slices.Delete(header, 3, 4), slices.Delete(aligns, 3, 4)
		for i := range rows {
			rows[i] = slices.Delete(rows[i], 3, 4)
		}
	}
	header, aligns, rows = lineFirst(withLine, header, aligns, rows)
	name := 0
	if withLine {
		name = 1
	}
	status := func(s string) string {
		switch {
		case s == "cached":
			return r.style(ansiGreen, s)
		case strings.HasPrefix(s, "error"), s == "canceled":
			return r.style(ansiRed, s)
		case s == noteBreak:
			return r.style(ansiYellow, s)
		}
		return s
	}
	writeGrid(ew, false, header, rows, aligns, nameColumn(r.opts, name), styleColumn(name+1, status), styleColumn(len(header)-1, status))
}

// lineFirst moves the last cell of every row (the Dockerfile line) to the
// front as a Line column when the table has one (a Dockerfile was given),
// and drops it otherwise.
func lineFirst(withLine bool, header []string, aligns []tw.Align, rows [][]string) ([]string, []tw.Align, [][]string) {
	for i, row := range rows {
		line := row[len(row)-1]
		row = row[:len(row)-1]
		if withLine {
			row = append([]string{line}, row...)
		}
		rows[i] = row
	}
	if withLine {
		header = append([]string{"Line"}, header...)
		aligns = append([]tw.Align{tw.AlignRight}, aligns...)
	}
	return header, aligns, rows
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
	var rows [][]string
	for _, cb := range e.CacheBreaks {
		cause := BreakCause(cb)
		if cb.Previous != nil && !IsFromStep(*cb.Previous) {
			cause += ": " + shortenMiddle(*cb.Previous, 40)
		}
		if knownCause(cb.Cause) {
			cause = clean(CauseLabel(cb.Cause))
		}
		if n := len(cb.FollowOn); n > 0 {
			cause += fmt.Sprintf(" (+%d dependent stage break%s)", n, plural(n))
		}
		rebuilt := fmt.Sprintf("%s (%d step%s)", optSeconds(cb.RebuiltSeconds), cb.RebuiltSteps, plural(cb.RebuiltSteps))
		rows = append(rows, []string{cb.Name, cause, rebuilt, optInt(cb.Line)})
	}
	header, aligns, rows := lineFirst(e.Dockerfile != nil, []string{"Step", "Cause", "Rebuilt"},
		[]tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignRight}, rows)
	writeGrid(ew, false, header, rows, aligns, nameColumn(r.opts, len(header)-3))
	for _, cb := range e.CacheBreaks {
		if knownCause(cb.Cause) {
			r.wrap(ew, "- ", clean(cb.Cause.Message)+confidenceNote(cb.Cause))
		}
	}
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

// BreakCause explains why a cache break happened in words, for every
// output: a step that ran after its stage's FROM found the image present
// (BuildKit shows it done, not CACHED) ran "after a cached FROM".
func BreakCause(cb CacheBreak) string {
	if cb.Reason == ReasonPreviousCached && cb.Previous != nil && IsFromStep(*cb.Previous) {
		return "ran after a cached FROM"
	}
	return reasonText(cb.Reason)
}

// IsFromStep reports whether a step name is a FROM instruction.
func IsFromStep(name string) bool {
	if i := strings.IndexByte(name, ']'); strings.HasPrefix(name, "[") && i > 0 {
		name = strings.TrimSpace(name[i+1:])
	}
	return strings.HasPrefix(name, "FROM ") || strings.Contains(name, " : FROM ")
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
	var rows [][]string
	for _, s := range e.SlowSteps {
		share := "-"
		if s.Share != nil {
			share = FormatShare(*s.Share)
		}
		rows = append(rows, []string{s.Name, s.Kind, boundSeconds(s.DurationSeconds, s.DurationIsLowerBound), share, optInt(s.Line)})
	}
	header, aligns, rows := lineFirst(e.Dockerfile != nil, []string{"Step", "Kind", "Time", "Share"},
		[]tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight}, rows)
	writeGrid(ew, false, header, rows, aligns, nameColumn(r.opts, len(header)-4))
}

func (r *tableRenderer) criticalList(ew *errWriter, e *Explanation) {
	cp := e.CriticalPath
	if cp == nil {
		return
	}
	r.heading(ew, "Critical path ("+FormatSeconds(cp.TotalSeconds)+"): the steps that bounded the build's time")
	if note := criticalNote(cp); note != "" {
		r.wrap(ew, "", clean(note))
	}
	for i, s := range cp.Steps {
		prefix := fmt.Sprintf("%d. ", i+1)
		t := "  " + FormatSeconds(s.DurationSeconds)
		ew.printf("%s%s%s\n", prefix, r.fit(clean(s.Name), len(prefix)+len(t)), t)
	}
}

// fit cuts s in the middle so that it and taken more columns fit the
// width; with --wide, not at all.
func (r *tableRenderer) fit(s string, taken int) string {
	if w := r.opts.width(); w > 0 {
		return shortenMiddle(s, max(minNameWidth, w-taken))
	}
	return s
}

// wrap breaks text into lines of at most the terminal's width, the first
// after prefix, the rest indented as far; without a width, one line.
func (r *tableRenderer) wrap(ew *errWriter, prefix, text string) {
	width := r.opts.width()
	if width <= 0 || len([]rune(prefix))+len([]rune(text)) <= width {
		ew.printf("%s%s\n", prefix, text)
		return
	}
	indent := strings.Repeat(" ", len([]rune(prefix)))
	line, lead := "", prefix
	for _, word := range strings.Fields(text) {
		if line != "" && len([]rune(lead))+len([]rune(line))+1+len([]rune(word)) > width {
			ew.printf("%s%s\n", lead, line)
			line, lead = "", indent
		}
		if line == "" {
			line = word
		} else {
			line += " " + word
		}
	}
	if line != "" {
		ew.printf("%s%s\n", lead, line)
	}
}

// criticalNote says how a critical path was found when it was not from
// the build's own vertex graph.
func criticalNote(cp *CriticalPath) string {
	switch cp.Basis {
	case BasisStageOrder:
		note := "Reconstructed from step order and stage references: the log has no step graph."
		if n := len(cp.UnlinkedStages); n > 0 {
			note += fmt.Sprintf(" It may be incomplete: %s %s %s on a stage the log does not name; --dockerfile links %s.",
				pluralWord(n, "stage", "stages"), joinNames(cp.UnlinkedStages), pluralWord(n, "builds", "build"), pluralWord(n, "it", "them"))
		}
		return note
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
		r.wrap(ew, fmt.Sprintf("%d. ", i+1), clean(a.Message))
		var where []string
		if a.Step != nil {
			where = append(where, "step: "+r.fit(clean(*a.Step), 20))
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
	if lines := newErrorLines(be); len(lines) > 0 {
		ew.printf("Lines that carry the error (from all %d lines of output):\n", be.OutputLines)
		for _, l := range lines {
			ew.printf("  %s\n", clean(l))
		}
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
			ew.printf("- %s: %s\n", r.fit(clean(*w.Step), 40), clean(w.Message))
		} else {
			ew.printf("- %s\n", clean(w.Message))
		}
	}
}

// clean is TerminalText.
func clean(s string) string { return TerminalText(s) }

// TerminalText makes log text safe for one line of a terminal or a CI log:
// controls (escape sequences a hostile log could carry included, C1
// controls) and bidirectional overrides become visible symbols, and CI
// markers (::error::, ##vso[, ...) are made inert (see package safe).
// Tabs become spaces: they would break a table's columns.
func TerminalText(s string) string { return safe.Line(strings.ReplaceAll(s, "\t", " ")) }

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

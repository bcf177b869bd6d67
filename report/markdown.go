package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/buildstats/buildstats/report/safe"
)

// markdownRenderer writes GitHub-flavoured markdown, for CI job summaries
// and pull-request comments. Every piece of log text goes through mdText
// or mdCode: logs can hold hostile text (pipes, HTML, backticks, fences).
type markdownRenderer struct{ opts RenderOptions }

// mdNameLen is how much of a step name markdown tables show: long RUN
// commands would make the tables unreadable. The JSON keeps full names.
const mdNameLen = 120

func (m markdownRenderer) Render(w io.Writer, e *Explanation) error {
	ew := &errWriter{w: w}
	ew.printf("# Build explanation\n\n")
	status := fmt.Sprintf("**Status:** %s", mdText(e.Status))
	if e.DurationSeconds != nil {
		status += " · **Duration:** " + boundSeconds(*e.DurationSeconds, e.DurationIsLowerBound)
	}
	if e.Source != nil {
		status += " · **Source:** " + mdText(SourceText(*e.Source, e.Format))
	} else {
		status += " · **Log format:** " + mdText(e.Format)
	}
	if e.Builder != nil {
		status += " · **Builder:** " + mdText(*e.Builder)
	}
	for _, s := range logScope(e) {
		status += " · **" + s + "**"
	}
	ew.printf("%s\n\n", status)
	steps := fmt.Sprintf("- Steps: %d ran, %d cached", e.StepsRun, e.StepsCached)
	if e.CacheHitRate != nil {
		steps += " (cache hit rate " + FormatShare(*e.CacheHitRate) + ")"
	}
	ew.printf("%s\n", steps)
	if e.ContextBytes != nil {
		ew.printf("- Build context: %s\n", FormatBytes(*e.ContextBytes))
	}
	if e.BaseImageBytes > 0 {
		ew.printf("- Base image layers downloaded: %s\n", FormatBytes(e.BaseImageBytes))
	}
	if e.ImageLayerBytes != nil {
		ew.printf("- Image layers produced: %s\n", FormatBytes(*e.ImageLayerBytes))
	}
	if e.Dockerfile != nil {
		ew.printf("- Dockerfile: %s\n", mdText(*e.Dockerfile))
	}

	mdSteps(ew, e, m.opts)
	mdBreaks(ew, e)
	mdHistory(ew, e)
	mdSlow(ew, e)
	mdCritical(ew, e)
	mdAdvice(ew, e)
	mdError(ew, e)
	if len(e.Warnings) > 0 {
		ew.printf("\n## Warnings\n\n")
		for _, w := range e.Warnings {
			if w.Step != nil {
				ew.printf("- %s: %s\n", mdText(*w.Step), mdText(w.Message))
			} else {
				ew.printf("- %s\n", mdText(w.Message))
			}
		}
	}
	return ew.err
}

// mdRow writes one table row; cells must already be escaped. line is the
// cell of the Line column, which tables have only when a Dockerfile was
// given.
func mdRow(ew *errWriter, withLine bool, line string, cells ...string) {
	if withLine {
		cells = append([]string{line}, cells...)
	}
	ew.printf("| %s |\n", strings.Join(cells, " | "))
}

func mdSteps(ew *errWriter, e *Explanation, opts RenderOptions) {
	ew.printf("\n## Steps\n\n")
	if len(e.Steps) > StepsListed && !opts.AllSteps {
		ew.printf("%d steps: explain --all lists every one (the JSON output always has them).\n", len(e.Steps))
		return
	}
	if len(e.Steps) == 0 {
		ew.printf("No steps in the log.\n")
		return
	}
	notes := breakNotes(e)
	withLine, withLayer := e.Dockerfile != nil, anyLayerBytes(e)
	// The Layer column (index 3) only when some step has a size.
	cols := func(cells ...string) []string {
		if withLayer {
			return cells
		}
		return slices.Delete(cells, 3, 4)
	}
	mdRow(ew, withLine, "Line", cols("Step", "Status", "Time", "Layer", "Note")...)
	mdRow(ew, withLine, "---:", cols("---", "---", "---:", "---:", "---")...)
	for _, s := range e.Steps {
		status, note := statusText(s), notes[s.Name]
		if note == noteBreak {
			note = "**" + note + "**"
		}
		mdRow(ew, withLine, optInt(s.Line), cols(mdText(shorten(s.Name, mdNameLen)), mdText(status), stepSeconds(s), optBytes(s.LayerBytes), note)...)
	}
}

func mdBreaks(ew *errWriter, e *Explanation) {
	ew.printf("\n## Cache breaks\n\n")
	if len(e.CacheBreaks) == 0 {
		ew.printf("None found.\n")
		return
	}
	withLine := e.Dockerfile != nil
	mdRow(ew, withLine, "Line", "Step", "Cause", "Rebuilt", "Follow-on breaks")
	mdRow(ew, withLine, "---:", "---", "---", "---:", "---")
	for _, cb := range e.CacheBreaks {
		cause := BreakCause(cb)
		if cb.Previous != nil && !IsFromStep(*cb.Previous) {
			cause += ": " + shorten(*cb.Previous, mdNameLen)
		}
		if knownCause(cb.Cause) {
			cause = cb.Cause.Message + confidenceNote(cb.Cause)
		}
		rebuilt := fmt.Sprintf("%s (%d step%s)", optSeconds(cb.RebuiltSeconds), cb.RebuiltSteps, plural(cb.RebuiltSteps))
		mdRow(ew, withLine, optInt(cb.Line), mdText(shorten(cb.Name, mdNameLen)), mdText(cause), rebuilt, mdText(shortenAll(cb.FollowOn, mdNameLen)))
	}
}

func mdSlow(ew *errWriter, e *Explanation) {
	if len(e.SlowSteps) == 0 {
		return
	}
	ew.printf("\n## Slowest steps\n\n")
	if e.ShareBasis != nil && *e.ShareBasis == "vertex_time" {
		ew.printf("The log does not state the build's total time; shares are of the summed step time.\n\n")
	}
	withLine := e.Dockerfile != nil
	mdRow(ew, withLine, "Line", "Step", "Kind", "Time", "Share")
	mdRow(ew, withLine, "---:", "---", "---", "---:", "---:")
	for _, s := range e.SlowSteps {
		share := "-"
		if s.Share != nil {
			share = FormatShare(*s.Share)
		}
		mdRow(ew, withLine, optInt(s.Line), mdText(shorten(s.Name, mdNameLen)), mdText(s.Kind), boundSeconds(s.DurationSeconds, s.DurationIsLowerBound), share)
	}
}

func mdCritical(ew *errWriter, e *Explanation) {
	cp := e.CriticalPath
	if cp == nil {
		return
	}
	ew.printf("\n## Critical path\n\n")
	ew.printf("The steps that bounded the build's time: %s in all.", FormatSeconds(cp.TotalSeconds))
	if note := criticalNote(cp); note != "" {
		ew.printf(" %s", mdText(note))
	}
	ew.printf("\n\n")
	for i, s := range cp.Steps {
		ew.printf("%d. %s (%s)\n", i+1, mdText(shorten(s.Name, mdNameLen)), FormatSeconds(s.DurationSeconds))
	}
}

func mdAdvice(ew *errWriter, e *Explanation) {
	if len(e.Advice) == 0 {
		return
	}
	ew.printf("\n## Advice\n\n")
	for i, a := range e.Advice {
		ew.printf("%d. %s", i+1, mdText(a.Message))
		var where []string
		if a.Step != nil {
			where = append(where, "step: "+mdText(*a.Step))
		}
		if a.Line != nil {
			where = append(where, "line "+strconv.Itoa(*a.Line))
		}
		if len(where) > 0 {
			ew.printf(" (%s)", strings.Join(where, ", "))
		}
		ew.printf("\n")
	}
}

func mdError(ew *errWriter, e *Explanation) {
	be := e.Error
	if be == nil {
		return
	}
	ew.printf("\n## Error\n\n")
	if be.Step != nil {
		ew.printf("- **Step:** %s\n", mdText(*be.Step))
	}
	if be.ExitCode != nil {
		ew.printf("- **Exit code:** %d\n", *be.ExitCode)
	}
	if be.Line != nil {
		file := "Dockerfile"
		if be.File != nil {
			file = *be.File
		}
		ew.printf("- **Location:** %s\n", mdText(file+":"+strconv.Itoa(*be.Line)))
	}
	if be.Message != "" {
		ew.printf("- **Message:** %s\n", mdText(be.Message))
	}
	if lines := newErrorLines(be); len(lines) > 0 {
		ew.printf("\nLines that carry the error (from all %d lines of output):\n\n", be.OutputLines)
		mdCode(ew, "text", lines)
	}
	if len(be.Output) > 0 {
		ew.printf("\nOutput (last %d of %d lines):\n\n", len(be.Output), max(be.OutputLines, len(be.Output)))
		mdCode(ew, "text", be.Output)
	}
	if len(be.Excerpt) > 0 {
		ew.printf("\nDockerfile:\n\n")
		mdCode(ew, "dockerfile", be.Excerpt)
	}
}

// shortenAll shortens each name and puts one per line.
func shortenAll(names []string, n int) string {
	out := make([]string, len(names))
	for i, name := range names {
		out[i] = shorten(name, n)
	}
	return strings.Join(out, "\n")
}

// mdCode writes lines as a fenced code block whose fence is longer than
// any backtick run in the lines, so no line can close it early.
func mdCode(ew *errWriter, lang string, lines []string) {
	ew.printf("%s", safe.MarkdownCode(lang, lines))
}

// mdText escapes text for inline markdown, table cells included (see
// safe.Markdown).
func mdText(s string) string { return safe.Markdown(strings.ReplaceAll(s, "\t", " ")) }

package annotate

import (
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/gate"
	"github.com/buildstats/buildstats/report/safe"
)

// MarkdownOptions control WriteMarkdown.
type MarkdownOptions struct {
	// LineURL, when set, returns a link to a line of a repository file
	// (the commit's blob view), so locations in the summary are clickable.
	LineURL func(file string, line int) string
	// Notes are appended as a last paragraph, one per line.
	Notes []string
}

// mdMessageLen is how much of a finding's message the summary table shows.
const mdMessageLen = 400

// WriteMarkdown writes the report as a GitHub-flavoured Markdown summary:
// for $GITHUB_STEP_SUMMARY, a GitLab merge request note or
// `buildkite-agent annotate`. Log text is escaped with safe.Markdown and
// safe.MarkdownCode, so it cannot add markup, links, math or HTML, and
// every line stays CI-inert when the Markdown is printed to a log.
func WriteMarkdown(w io.Writer, r *Report, opts MarkdownOptions) error {
	ew := &errWriter{w: w}
	e := r.Explanation
	ew.printf("## %s\n\n", mdHeading(e))

	var facts []string
	if e.StepsRun+e.StepsCached > 0 {
		fact := fmt.Sprintf("%d of %d steps came from the cache", e.StepsCached, e.StepsRun+e.StepsCached)
		if e.CacheHitRate != nil {
			fact += " (" + report.FormatShare(*e.CacheHitRate) + ")"
		}
		facts = append(facts, fact)
	}
	if r.File != "" {
		facts = append(facts, "Dockerfile: "+safe.Markdown(r.File))
	}
	facts = append(facts, "log format: "+safe.Markdown(e.Format))
	ew.printf("%s\n\n", strings.Join(facts, " · "))

	if len(r.Findings) == 0 {
		ew.printf("Nothing to flag: %s.\n", r.quietText())
	} else {
		ew.printf("| | Where | Finding |\n|---|---|---|\n")
		for _, f := range r.Findings {
			msg := f.Message
			if len([]rune(msg)) > mdMessageLen {
				msg = string([]rune(msg)[:mdMessageLen-1]) + "…"
			}
			ew.printf("| %s | %s | **%s**<br>%s |\n", severityBadge(f.Severity), mdWhere(f.File, f.Line, opts),
				safe.Markdown(f.Title), safe.Markdown(msg))
		}
	}

	mdFailure(ew, r, opts)
	mdSlowest(ew, r, opts)
	mdGates(ew, r.Gates)
	if len(opts.Notes) > 0 {
		ew.printf("\n")
		for _, n := range opts.Notes {
			ew.printf("%s  \n", safe.Markdown(n))
		}
	}
	return ew.err
}

func mdHeading(e *report.Explanation) string {
	var s string
	switch e.Status {
	case "succeeded":
		s = "Docker build succeeded"
	case "failed":
		s = "Docker build failed"
	case "canceled":
		s = "Docker build cancelled"
	default:
		s = "Docker build (the log does not say how it ended)"
	}
	if e.DurationSeconds != nil {
		if e.Status == "failed" {
			s += " after " + report.FormatSeconds(*e.DurationSeconds)
		} else {
			s += " in " + report.FormatSeconds(*e.DurationSeconds)
		}
	}
	return s
}

// quietText says what was looked for when nothing was found.
func (r *Report) quietText() string {
	var parts []string
	if r.Rules.Slow > 0 {
		parts = append(parts, report.FormatSeconds(r.Rules.Slow.Seconds()))
	}
	if r.Rules.SlowShare > 0 {
		parts = append(parts, report.FormatShare(r.Rules.SlowShare)+" of the build")
	}
	s := "no cache miss"
	if len(parts) > 0 {
		s = "no step over " + strings.Join(parts, " or ") + ", " + s
	}
	return s
}

func severityBadge(sev string) string {
	switch sev {
	case SeverityError:
		return "❌ error"
	case SeverityWarning:
		return "⚠️ warning"
	}
	return "ℹ️ notice"
}

// mdWhere formats a location cell: "Dockerfile:12", linked when possible.
func mdWhere(file string, line int, opts MarkdownOptions) string {
	if file == "" || line <= 0 {
		return "–"
	}
	// The summary names one Dockerfile; its base name keeps the column
	// narrow, and the link (or the facts line) has the full path.
	text := safe.Markdown(path.Base(file) + ":" + strconv.Itoa(line))
	if opts.LineURL != nil {
		if u := opts.LineURL(file, line); u != "" && safeURL(u) {
			return "[" + text + "](" + u + ")"
		}
	}
	return text
}

// safeURL accepts only http(s) URLs without characters that could end the
// link target, since the URL is built from environment variables.
func safeURL(u string) bool {
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return false
	}
	return !strings.ContainsAny(u, " ()<>\"'`\\\n\r\t|[]")
}

func mdFailure(ew *errWriter, r *Report, opts MarkdownOptions) {
	be := r.Explanation.Error
	if be == nil {
		return
	}
	ew.printf("\n### Failure\n\n")
	for _, f := range r.Findings {
		if f.Kind != KindFailed {
			continue
		}
		if f.Line > 0 {
			ew.printf("At %s: ", mdWhere(f.File, f.Line, opts))
		}
		ew.printf("%s\n", safe.Markdown(f.Message))
		if len(f.Output) > 0 {
			ew.printf("\nLast %d line%s of output:\n\n%s", len(f.Output), plural(len(f.Output)), safe.MarkdownCode("text", f.Output))
		}
	}
	if len(be.Excerpt) > 0 {
		ew.printf("\nDockerfile:\n\n%s", safe.MarkdownCode("dockerfile", be.Excerpt))
	}
}

func mdSlowest(ew *errWriter, r *Report, opts MarkdownOptions) {
	e := r.Explanation
	if len(e.SlowSteps) == 0 {
		return
	}
	ew.printf("\n### Slowest steps\n\n| Where | Step | Time | Share |\n|---|---|---:|---:|\n")
	for _, s := range e.SlowSteps {
		line := 0
		if s.Line != nil && r.File != "" {
			line = *s.Line
		}
		share := "–"
		if s.Share != nil {
			share = report.FormatShare(*s.Share)
		}
		name := s.Name
		if len([]rune(name)) > 120 {
			name = string([]rune(name)[:119]) + "…"
		}
		ew.printf("| %s | %s | %s | %s |\n", mdWhere(r.File, line, opts), safe.Markdown(name), report.FormatSeconds(s.DurationSeconds), share)
	}
	if e.ShareBasis != nil && *e.ShareBasis == "vertex_time" {
		ew.printf("\nThe log does not state the build's total time; shares are of the summed step time.\n")
	}
}

func mdGates(ew *errWriter, gates []gate.Result) {
	if len(gates) == 0 {
		return
	}
	ew.printf("\n### Gates\n\n| Gate | Result | Detail |\n|---|---|---|\n")
	for _, g := range gates {
		badge := map[string]string{gate.StatusPass: "✅ pass", gate.StatusFail: "❌ fail", gate.StatusSkip: "⏭️ skipped", gate.StatusError: "⚠️ error"}[g.Status]
		ew.printf("| %s | %s | %s |\n", safe.Markdown(g.Gate), badge, safe.Markdown(g.Message))
	}
}

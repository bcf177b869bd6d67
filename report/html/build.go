// Package html renders buildstats reports as self-contained HTML pages: a
// build report with a waterfall timeline, and trend charts over the build
// history.
//
// Pages carry their CSS and SVG inline and load nothing: no scripts, fonts
// or images, and a Content-Security-Policy that forbids loading any, so a
// page opens the same from a CI artifact store, a mail attachment or an
// offline disk. Secrets in the build are masked first (package redact);
// all text from logs then goes through html/template's contextual
// escaping, after control characters are made visible and CI markers
// inert (see text).
package html

import (
	"cmp"
	"embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/parse/redact"
	"github.com/buildstats/buildstats/report"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"inc":  func(i int) int { return i + 1 },
	"list": func(s ...string) []string { return s },
	"table": func(open bool, head []string, rows [][]string) tableView {
		return tableView{Open: open, Head: head, Rows: rows}
	},
}).ParseFS(templateFS, "templates/*.tmpl"))

// Options control the build page.
type Options struct {
	// Title names the build: the log's file name, or the stored build.
	Title string
	// Facts are shown under the title: project, branch, commit, CI run.
	Facts []Fact
	// Generated is shown in the footer; zero leaves it out.
	Generated time.Time
	// Report is passed to report.Explain and report.Schedule (the
	// Dockerfile for line numbers and stage references).
	Report report.Options
	// Mask masks secrets in the build (a copy of it), the title and the
	// facts before anything is shown. nil masks with the built-in
	// patterns of package redact; redact.None() masks nothing (--no-mask).
	Mask *redact.Redactor
}

// Fact is a labelled value about the build that the log does not hold.
type Fact struct {
	Label, Value string
	// URL, when set, links the value (a CI run); only http(s) URLs are
	// linked.
	URL string
}

// tableView is a table of text cells; the first column is a label, the
// others numbers.
type tableView struct {
	Open bool
	Head []string
	Rows [][]string
}

// buildPage is what the build template renders; every string from a log
// has been through text, line or short.
type buildPage struct {
	Title     string
	Facts     []factView
	Status    string
	Headline  string
	Summary   []string
	Generated string

	TimeNote  string
	Waterfall *waterfall
	BarCount  int

	Error    *errorView
	Critical *criticalView
	Slow     []slowView
	SlowNote string
	Breaks   []breakView
	NoBreaks string
	Advice   []adviceView
	Sizes    []sizeView
	Warnings []string
}

type factView struct {
	Label, Value string
	URL          template.URL
}

type errorView struct {
	Step, Location, Message, ExitCode string
	Output                            string
	OutputNote                        string
	Excerpt                           string
}

type criticalView struct {
	Total string
	Note  string
	Steps []criticalStepView
}

type criticalStepView struct {
	Name, Time string
	Pct        float64
}

type slowView struct {
	Name, Kind, Time, Share, Line string
	Pct                           float64
}

type breakView struct {
	Name, Cause, Rebuilt, Line string
	FollowOn                   []string
}

type adviceView struct {
	Message, Where string
}

type sizeView struct {
	What, Detail, Size string
	Pct                float64
}

// WriteBuild writes the HTML report of one build to w. b is not changed.
func WriteBuild(w io.Writer, b *model.Build, opts Options) error {
	b = maskedCopy(b, opts.Mask)
	opts.Title, opts.Facts = opts.Mask.String(opts.Title), maskFacts(opts.Facts, opts.Mask)
	e := report.Explain(b, opts.Report)
	tl := report.Schedule(b, opts.Report)
	return templates.ExecuteTemplate(w, "build.tmpl", newBuildPage(b, e, tl, opts))
}

func newBuildPage(b *model.Build, e *report.Explanation, tl *report.Timeline, opts Options) *buildPage {
	p := &buildPage{Title: line(opts.Title), Status: e.Status}
	if p.Title == "" {
		p.Title = "Docker build"
	}
	for _, f := range opts.Facts {
		fv := factView{Label: line(f.Label), Value: line(f.Value)}
		if strings.HasPrefix(f.URL, "https://") || strings.HasPrefix(f.URL, "http://") {
			fv.URL = template.URL(f.URL) // html/template still escapes it as an attribute
		}
		p.Facts = append(p.Facts, fv)
	}
	if !opts.Generated.IsZero() {
		p.Generated = opts.Generated.UTC().Format("2006-01-02 15:04 UTC")
	}

	switch e.Status {
	case "succeeded":
		p.Headline = "Build succeeded"
	case "failed":
		p.Headline = "Build failed"
	case "canceled":
		p.Headline = "Build cancelled"
	default:
		p.Headline = "Build status unknown"
	}
	if e.DurationSeconds != nil {
		p.Headline += " in " + report.FormatSeconds(*e.DurationSeconds)
	}
	p.Summary = summary(e)

	kinds := make([]string, len(e.Steps))
	for i, s := range e.Steps {
		kinds[i] = s.Kind
	}
	p.Waterfall = layoutWaterfall(tl, kinds, b.Format == model.FormatLegacy)
	p.BarCount = len(tl.Spans)
	p.TimeNote = timeNote(b, tl)

	p.Error = errorSection(e)
	p.Critical = criticalSection(e)
	for _, s := range e.SlowSteps {
		sv := slowView{Name: short(s.Name, 200), Kind: s.Kind, Time: report.FormatSeconds(s.DurationSeconds), Share: "-", Line: optInt(s.Line)}
		if s.Share != nil {
			sv.Share = report.FormatShare(*s.Share)
			sv.Pct = pct(*s.Share)
		}
		p.Slow = append(p.Slow, sv)
	}
	if e.ShareBasis != nil && *e.ShareBasis == "vertex_time" {
		p.SlowNote = "The log does not state the build's total time; shares are of the summed step time."
	}
	for _, cb := range e.CacheBreaks {
		bv := breakView{Name: short(cb.Name, 200), Cause: report.BreakCause(cb), Line: optInt(cb.Line)}
		if cb.Previous != nil {
			bv.Cause += ": " + short(*cb.Previous, 120)
		}
		if c := cb.Cause; c != nil && c.Kind != report.CauseUnknown {
			bv.Cause = short(c.Message, 400)
			switch c.Confidence {
			case report.ConfidenceExact:
				bv.Cause += " (exact)"
			case report.ConfidenceLikely:
				bv.Cause += " (likely)"
			}
		}
		bv.Rebuilt = "-"
		if cb.RebuiltSeconds != nil {
			bv.Rebuilt = report.FormatSeconds(*cb.RebuiltSeconds)
		}
		bv.Rebuilt += fmt.Sprintf(" (%d step%s)", cb.RebuiltSteps, plural(cb.RebuiltSteps))
		for _, f := range cb.FollowOn {
			bv.FollowOn = append(bv.FollowOn, short(f, 120))
		}
		p.Breaks = append(p.Breaks, bv)
	}
	if len(p.Breaks) == 0 {
		p.NoBreaks = "None found."
		if e.StepsRun == 0 && e.StepsCached > 0 {
			p.NoBreaks = "None: every step came from the cache."
		}
	}
	for _, a := range e.Advice {
		av := adviceView{Message: text(a.Message)}
		var where []string
		if a.Step != nil {
			where = append(where, "step: "+short(*a.Step, 160))
		}
		if a.Line != nil {
			where = append(where, "line "+strconv.Itoa(*a.Line))
		}
		av.Where = strings.Join(where, ", ")
		p.Advice = append(p.Advice, av)
	}
	p.Sizes = sizes(b, e)
	for _, w := range e.Warnings {
		s := text(w.Message)
		if w.Step != nil {
			s = short(*w.Step, 160) + ": " + s
		}
		p.Warnings = append(p.Warnings, s)
	}
	return p
}

func summary(e *report.Explanation) []string {
	source := ""
	if e.Source != nil {
		source = *e.Source
	}
	out := []string{line(report.SourceText(source, e.Format))}
	if e.Builder != nil {
		out = append(out, "builder "+line(*e.Builder))
	}
	if e.Truncated {
		out = append(out, "log truncated")
	}
	steps := fmt.Sprintf("%d steps ran, %d cached", e.StepsRun, e.StepsCached)
	if e.CacheHitRate != nil {
		steps += " (cache hit rate " + report.FormatShare(*e.CacheHitRate) + ")"
	}
	out = append(out, steps)
	if e.ContextBytes != nil {
		out = append(out, "context "+report.FormatBytes(*e.ContextBytes))
	}
	if e.BaseImageBytes > 0 {
		out = append(out, "base image layers downloaded "+report.FormatBytes(e.BaseImageBytes))
	}
	if e.ImageLayerBytes != nil {
		out = append(out, "image layers produced "+report.FormatBytes(*e.ImageLayerBytes))
	}
	for _, n := range e.ImageNames {
		out = append(out, "image "+short(n, 120))
	}
	if e.Dockerfile != nil {
		out = append(out, "Dockerfile "+line(*e.Dockerfile))
	}
	return out
}

// timeNote says where the timeline's times come from.
func timeNote(b *model.Build, tl *report.Timeline) string {
	// A build buildstats recorded itself is not a log of some format.
	record := "The " + line(string(b.Format)) + " log"
	if b.Source != "" {
		record = "The build record"
	}
	switch {
	case len(tl.Spans) == 0:
		return record + " shows no build steps."
	case tl.Measured && b.Source != "":
		return "Start and end times are the builder's own, " + line(report.SourceText(b.Source, "")) + "."
	case tl.Measured:
		return "Start and end times are the " + line(string(b.Format)) + " log's own."
	case tl.End == 0:
		return record + " gives no step times: the bars show the steps in the order they ran, one slot each, not their length."
	case tl.Basis == report.BasisSequential:
		return record + " gives step durations but not start times. The timeline is reconstructed: the legacy builder runs one step at a time, in the order shown."
	}
	return record + " gives step durations and order but not start times. The timeline is reconstructed: each step is drawn starting as soon as the steps it depends on had finished (the step before it in its stage, and the stages it copies from or is built on), as BuildKit schedules them."
}

func errorSection(e *report.Explanation) *errorView {
	be := e.Error
	if be == nil {
		return nil
	}
	ev := &errorView{Message: text(be.Message)}
	if be.Step != nil {
		ev.Step = short(*be.Step, 300)
	}
	if be.ExitCode != nil {
		ev.ExitCode = strconv.Itoa(*be.ExitCode)
	}
	if be.Line != nil {
		file := "Dockerfile"
		if be.File != nil {
			file = line(*be.File)
		}
		ev.Location = file + ":" + strconv.Itoa(*be.Line)
	}
	if len(be.Output) > 0 {
		ev.Output = text(strings.Join(be.Output, "\n"))
		ev.OutputNote = fmt.Sprintf("Output (last %d of %d lines)", len(be.Output), max(be.OutputLines, len(be.Output)))
	}
	if len(be.Excerpt) > 0 {
		ev.Excerpt = text(strings.Join(be.Excerpt, "\n"))
	}
	return ev
}

func criticalSection(e *report.Explanation) *criticalView {
	cp := e.CriticalPath
	if cp == nil {
		return nil
	}
	cv := &criticalView{Total: report.FormatSeconds(cp.TotalSeconds)}
	switch cp.Basis {
	case report.BasisGraph:
		cv.Note = "From the build's own step graph."
	case report.BasisStageOrder:
		cv.Note = "Reconstructed from step order and stage references: the log has no step graph."
	case report.BasisSequential:
		cv.Note = "The legacy builder runs one step at a time: every step is on the path."
	}
	for _, s := range cp.Steps {
		sv := criticalStepView{Name: short(s.Name, 200), Time: report.FormatSeconds(s.DurationSeconds)}
		if cp.TotalSeconds > 0 {
			sv.Pct = pct(s.DurationSeconds / cp.TotalSeconds)
		}
		cv.Steps = append(cv.Steps, sv)
	}
	return cv
}

// maxSizeRows bounds the transfer rows, which a log of many small
// downloads could make long.
const maxSizeRows = 40

// sizes lists the bytes the build moved: base image downloads per FROM,
// the context, other transfers with a size, and the layers its steps
// produced (model.Vertex.LayerBytes, known for live Docker Engine builds).
func sizes(b *model.Build, e *report.Explanation) []sizeView {
	var out []sizeView
	for _, v := range b.Vertices {
		if v.Instruction != "FROM" {
			continue
		}
		var n int64
		count := 0
		for _, t := range v.Transfers {
			if strings.HasPrefix(t.Name, "sha256:") {
				n += max(t.Total, t.Bytes)
				count++
			}
		}
		if n > 0 {
			out = append(out, sizeView{What: "base image download", Detail: short(v.Args, 160) + fmt.Sprintf(" (%d layer%s)", count, plural(count)), Size: report.FormatBytes(n), Pct: float64(n)})
		}
	}
	if e.ContextBytes != nil {
		out = append(out, sizeView{What: "build context", Detail: "sent to the builder", Size: report.FormatBytes(*e.ContextBytes), Pct: float64(*e.ContextBytes)})
	}
	var other []sizeView
	for _, v := range b.Vertices {
		if v.Instruction == "FROM" {
			continue
		}
		for _, t := range v.Transfers {
			n := max(t.Total, t.Bytes)
			if n <= 0 || strings.HasPrefix(t.Name, "transferring context") || strings.HasPrefix(t.Name, "transferring dockerfile") {
				continue
			}
			other = append(other, sizeView{What: "transfer", Detail: short(v.Name, 120) + ": " + short(t.Name, 80), Size: report.FormatBytes(n), Pct: float64(n)})
		}
	}
	for _, v := range b.Vertices {
		// Empty layers (a RUN that changed no files, WORKDIR) would be bars of nothing.
		if v.HasLayerBytes && v.LayerBytes > 0 {
			other = append(other, sizeView{What: "produced layer", Detail: short(v.Name, 160), Size: report.FormatBytes(v.LayerBytes), Pct: float64(v.LayerBytes)})
		}
	}
	slices.SortStableFunc(other, func(a, b sizeView) int { return cmp.Compare(b.Pct, a.Pct) })
	out = append(out, other[:min(len(other), maxSizeRows)]...)
	largest := 0.0
	for _, s := range out {
		largest = max(largest, s.Pct)
	}
	for i := range out {
		if largest > 0 {
			out[i].Pct = pct(out[i].Pct / largest)
		}
	}
	return out
}

// pct is a fraction as a percentage for a CSS width, clamped and rounded.
func pct(f float64) float64 {
	f = max(0, min(1, f))
	return float64(int(f*1000+0.5)) / 10
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

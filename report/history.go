package report

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report/safe"
	"github.com/buildstats/buildstats/store"
)

// History is Explanation.History: how the build's use of the layer cache
// differs from the previous build of its project in the build history.
type History struct {
	// BuildID is the build's own id in the history; null when its log has
	// not been ingested.
	BuildID *int64 `json:"build_id"`
	Project string `json:"project"`
	// Basis says which build Previous is: HistoryBasisPrevious or
	// HistoryBasisLatest.
	Basis    string        `json:"basis"`
	Previous PreviousBuild `json:"previous"`
	// CacheLost lists the Dockerfile steps that came from the cache in
	// Previous and ran (or failed) in this build, in this build's order.
	// Steps are matched by platform, stage and instruction text, not by
	// their [n/m] position.
	CacheLost []HistoryStep `json:"cache_lost"`
	// CacheLostSeconds is the time those steps took in this build.
	CacheLostSeconds float64 `json:"cache_lost_seconds"`
}

// History bases.
const (
	// HistoryBasisPrevious: the build is in the history and Previous is
	// the project's build that started before it.
	HistoryBasisPrevious = "previous"
	// HistoryBasisLatest: the log is not in the history and Previous is
	// the project's latest stored build (that started before this one,
	// when the log gives a start time).
	HistoryBasisLatest = "latest"
)

// PreviousBuild is the stored build a History compares with.
type PreviousBuild struct {
	ID              int64     `json:"id"`
	StartedAt       time.Time `json:"started_at"`
	Branch          *string   `json:"branch"`
	Commit          *string   `json:"commit"`
	Status          string    `json:"status"`
	DurationSeconds float64   `json:"duration_seconds"`
	StepsTotal      int       `json:"steps_total"`
	StepsCached     int       `json:"steps_cached"`
}

// PreviousBuildOf turns a history row into a PreviousBuild.
func PreviousBuildOf(s store.BuildSummary) PreviousBuild {
	return PreviousBuild{ID: s.ID, StartedAt: s.StartedAt, Branch: optString(s.Branch), Commit: optString(s.Commit),
		Status: s.Status, DurationSeconds: s.DurationSeconds, StepsTotal: s.StepsTotal, StepsCached: s.StepsCached}
}

// HistoryStep is a step of this build in a History, as Explanation.Steps
// lists it.
type HistoryStep struct {
	Name string `json:"name"`
	Line *int   `json:"line"`
	// Status is Step.Status: "done" or "error".
	Status          string   `json:"status"`
	DurationSeconds *float64 `json:"duration_seconds"`
}

// AddCacheLost records s as a step that was cached in the previous build
// and not in this one.
func (h *History) AddCacheLost(s Step) {
	h.CacheLost = append(h.CacheLost, HistoryStep{Name: s.Name, Line: s.Line, Status: s.Status, DurationSeconds: s.DurationSeconds})
	if s.DurationSeconds != nil {
		h.CacheLostSeconds = round3(h.CacheLostSeconds + *s.DurationSeconds)
	}
}

// historyIntro describes the build compared with, in one sentence.
func historyIntro(h *History) string {
	p := h.Previous
	which := "the previous build of " + h.Project + " in the history"
	if h.Basis == HistoryBasisLatest {
		which = "the latest build of " + h.Project + " in the history (this log is not in it)"
	}
	s := fmt.Sprintf("#%d is %s: %s", p.ID, which, p.Status)
	if p.Branch != nil {
		s += " on " + *p.Branch
	}
	s += ", started " + formatWhen(p.StartedAt) + fmt.Sprintf(", %d steps, %d cached.", p.StepsTotal, p.StepsCached)
	return s
}

// historyLostText sums up History.CacheLost in one sentence.
func historyLostText(h *History) string {
	if len(h.CacheLost) == 0 {
		return fmt.Sprintf("No step that came from the cache in #%d ran this time.", h.Previous.ID)
	}
	n := len(h.CacheLost)
	return fmt.Sprintf("%d step%s came from the cache in #%d and ran this time, taking %s:",
		n, plural(n), h.Previous.ID, FormatSeconds(h.CacheLostSeconds))
}

func historyStatus(s HistoryStep) string {
	if s.Status == "done" {
		return "ran"
	}
	return s.Status
}

func (r *tableRenderer) historySection(ew *errWriter, e *Explanation) {
	h := e.History
	if h == nil {
		return
	}
	r.heading(ew, fmt.Sprintf("Compared with build #%d", h.Previous.ID))
	ew.printf("%s\n%s\n", clean(historyIntro(h)), historyLostText(h))
	if len(h.CacheLost) == 0 {
		return
	}
	var rows [][]string
	for _, s := range h.CacheLost {
		rows = append(rows, []string{s.Name, historyStatus(s), optSeconds(s.DurationSeconds), optInt(s.Line)})
	}
	header, aligns, rows := lineFirst(e.Dockerfile != nil, []string{"Step", "Status", "Time"},
		[]tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignRight}, rows)
	name := len(header) - 3
	writeGrid(ew, false, header, rows, aligns, nameColumn(r.opts, name), styleColumn(name+1, func(s string) string {
		if s == "error" {
			return r.style(ansiRed, s)
		}
		return s
	}))
}

func mdHistory(ew *errWriter, e *Explanation) {
	h := e.History
	if h == nil {
		return
	}
	ew.printf("\n## Compared with build #%d\n\n", h.Previous.ID)
	ew.printf("%s %s\n", mdText(historyIntro(h)), historyLostText(h))
	if len(h.CacheLost) == 0 {
		return
	}
	withLine := e.Dockerfile != nil
	ew.printf("\n")
	mdRow(ew, withLine, "Line", "Step", "Status", "Time")
	mdRow(ew, withLine, "---:", "---", "---", "---:")
	for _, s := range h.CacheLost {
		mdRow(ew, withLine, optInt(s.Line), mdText(shorten(s.Name, mdNameLen)), historyStatus(s), optSeconds(s.DurationSeconds))
	}
}

// CheckFormat returns an error unless format is one of Formats.
func CheckFormat(format string) error {
	for _, f := range Formats {
		if format == f {
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(Formats, ", "))
}

// WriteJSON writes v the way every JSON contract is written: indented,
// HTML characters as they are (the output is JSON, not HTML), and controls
// and bidi characters escaped as \uXXXX (see safe.JSONEncoder).
func WriteJSON(w io.Writer, v any) error {
	enc := safe.NewJSONEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// formatWhen is how the history reports print a time: UTC to the minute.
func formatWhen(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" }

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// RenderBuilds writes history rows (newest first, as Store.History
// returns them) in format; the JSON is a BuildList.
func RenderBuilds(w io.Writer, format string, rows []store.BuildSummary, opts RenderOptions) error {
	if err := CheckFormat(format); err != nil {
		return err
	}
	list := NewBuildList(rows)
	if format == FormatJSON {
		return WriteJSON(w, list)
	}
	ew := &errWriter{w: w}
	md := format == FormatMarkdown
	if md {
		ew.printf("# Build history\n\n")
	}
	if len(list.Builds) == 0 {
		ew.printf("No builds in the history match.\n")
		return ew.err
	}
	summed := false
	var cells [][]string
	r := &tableRenderer{color: opts.Color && !md}
	for _, b := range list.Builds {
		d := optSeconds(b.DurationSeconds)
		if b.DurationBasis != nil && *b.DurationBasis == model.WallTimeSum {
			summed = true
			d = "~" + d
		}
		cells = append(cells, []string{strconv.FormatInt(b.ID, 10), formatWhen(b.StartedAt), b.Project, deref(b.Branch),
			shortCommit(deref(b.Commit)), b.Status, d, strconv.Itoa(b.StepsRun), strconv.Itoa(b.StepsCached),
			shorten(deref(b.Builder), 40), shorten(sourceLabel(b), 36)})
	}
	writeGrid(ew, md, []string{"ID", "Started", "Project", "Branch", "Commit", "Status", "Duration", "Ran", "Cached", "Builder", "Source"}, cells,
		[]tw.Align{tw.AlignRight, tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft, tw.AlignLeft},
		nameColumn(opts, 3), styleColumn(5, r.buildStatus))
	if summed {
		if md {
			ew.printf("\n")
		}
		ew.printf("~ the sum of the step times: the log does not state the build's total, and stages may have overlapped.\n")
	}
	return ew.err
}

func (r *tableRenderer) buildStatus(status string) string {
	switch status {
	case "succeeded":
		return r.style(ansiGreen, status)
	case "failed", "canceled":
		return r.style(ansiRed, status)
	}
	return status
}

// newRawTable is newTable with the header cells printed as given:
// tablewriter's title-casing would turn "p50" into "P 50" and "#12" into
// "# 12". Callers upper-case the header as the explain tables have it.
func newRawTable(ew *errWriter, header []string, aligns ...tw.Align) *pooledTable {
	t := newTable(ew, aligns...)
	t.Options(tablewriter.WithHeaderAutoFormat(tw.Off))
	cells := make([]any, len(header))
	for i, h := range header {
		cells[i] = strings.ToUpper(h)
	}
	t.Header(cells...)
	return t
}

func anyCells(cells []string) []any {
	out := make([]any, len(cells))
	for i, c := range cells {
		out[i] = c
	}
	return out
}

// RenderStoredBuild writes the explanation of a build from the history,
// headed by what the history knows of it. The JSON is a StoredBuild.
func RenderStoredBuild(w io.Writer, format string, b store.BuildSummary, e *Explanation, opts RenderOptions) error {
	return RenderStoredBuildWith(w, format, b, StoredExtras{}, e, opts)
}

// RenderStoredBuildWith is RenderStoredBuild with the build's facts and
// what of its output was kept.
func RenderStoredBuildWith(w io.Writer, format string, b store.BuildSummary, x StoredExtras, e *Explanation, opts RenderOptions) error {
	if err := CheckFormat(format); err != nil {
		return err
	}
	row := NewBuildRow(b)
	if format == FormatJSON {
		return WriteJSON(w, StoredBuild{Build: row, Facts: x.Facts, OutputKept: x.OutputKept, LogKept: x.LogKept, Explanation: e})
	}
	facts := []string{}
	if row.Branch != nil {
		facts = append(facts, "branch "+*row.Branch)
	}
	if row.Commit != nil {
		facts = append(facts, "commit "+shortCommit(*row.Commit))
	}
	facts = append(facts, "started "+formatWhen(row.StartedAt))
	if row.CIProvider != nil {
		facts = append(facts, *row.CIProvider)
	}
	if row.RunURL != nil {
		facts = append(facts, *row.RunURL)
	}
	lines := storedFactLines(row, x)
	title := fmt.Sprintf("Build #%d of %s", row.ID, row.Project)
	r, _ := NewRenderer(format, opts)
	var body bytes.Buffer
	if err := r.Render(&body, e); err != nil {
		return err
	}
	ew := &errWriter{w: w}
	if format == FormatMarkdown {
		ew.printf("# %s\n\n%s\n\n", mdText(title), mdText(strings.Join(facts, " · ")))
		for _, l := range lines {
			ew.printf("%s  \n", mdText(l))
		}
		if len(lines) > 0 {
			ew.printf("\n")
		}
		// This title replaces the explanation's own.
		ew.Write(bytes.TrimPrefix(body.Bytes(), []byte("# Build explanation\n\n")))
		return ew.err
	}
	ew.printf("%s · %s\n", clean(title), clean(strings.Join(facts, " · ")))
	for _, l := range lines {
		ew.printf("%s\n", clean(l))
	}
	ew.printf("\n")
	ew.Write(body.Bytes())
	return ew.err
}

// storedFactLines are show's lines under the title: where the build ran,
// its request as `docker buildx history inspect` shows it, and what of its
// output was kept.
func storedFactLines(row BuildRow, x StoredExtras) []string {
	var out []string
	var where []string
	if row.Builder != nil {
		where = append(where, "builder "+*row.Builder)
	}
	if row.BuildKitRef != nil {
		where = append(where, "BuildKit ref "+*row.BuildKitRef)
	} else if row.Source != nil {
		where = append(where, "from "+*row.Source)
	}
	if len(where) > 0 {
		out = append(out, strings.Join(where, " · "))
	}
	if f := x.Facts; f != nil {
		var req []string
		add := func(label, v string) {
			if v != "" {
				req = append(req, label+" "+v)
			}
		}
		kv := func(m map[string]string) string {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for i, k := range keys {
				keys[i] = k + "=" + m[k]
			}
			return strings.Join(keys, ", ")
		}
		add("dockerfile", f.Dockerfile)
		add("target", f.Target)
		add("platforms", strings.Join(f.Platforms, ", "))
		add("build args", kv(f.BuildArgs))
		add("labels", kv(f.Labels))
		add("contexts", kv(f.Contexts))
		if f.NoCache {
			req = append(req, "no cache")
		}
		if f.Pull {
			req = append(req, "pull")
		}
		add("network", f.Network)
		add("cache from", strings.Join(f.CacheFrom, "; "))
		add("cache to", strings.Join(f.CacheTo, "; "))
		add("attestations", strings.Join(f.Attests, ", "))
		add("secrets", strings.Join(f.Secrets, ", "))
		add("ssh", strings.Join(f.SSH, ", "))
		add("outputs", strings.Join(f.Outputs, ", "))
		if len(req) > 0 {
			out = append(out, "Request: "+strings.Join(req, " · "))
		}
		if f.VCSRevision != "" || f.VCSSource != "" {
			out = append(out, strings.TrimSpace("Source: "+strings.TrimSpace(f.VCSSource+" "+f.VCSRevision)))
		}
		for _, m := range f.Materials {
			d := ""
			if s := m.Digest["sha256"]; s != "" {
				d = " sha256:" + s
			}
			out = append(out, "Material: "+m.URI+d)
		}
	}
	switch {
	case !x.OutputKept && !x.LogKept:
		out = append(out, "Output was not kept: store builds with --keep-logs to keep it.")
	case !x.LogKept:
		out = append(out, "The whole log was not kept (step output was): `buildstats logs` needs build or import --keep-logs.")
	}
	return out
}

// stateText is a step's state in one build of a comparison, with its time
// where it ran.
func stateText(state string, seconds *float64) string {
	switch model.State(state) {
	case store.StateAbsent:
		return "-"
	case model.StateDone:
		return optSeconds(seconds)
	case model.StateError:
		return "failed " + optSeconds(seconds)
	case model.StateCanceled:
		return state + " " + optSeconds(seconds)
	}
	return state
}

// stateWord says a state in a sentence: "ran", "failed", "cached".
func stateWord(s string) string {
	switch model.State(s) {
	case model.StateDone:
		return "ran"
	case model.StateError:
		return "failed"
	}
	return s
}

// signedSeconds formats a time difference with its sign; "-" when unknown.
func signedSeconds(d *float64) string {
	switch {
	case d == nil:
		return "-"
	case *d > 0:
		return "+" + FormatSeconds(*d)
	case *d < 0:
		return "-" + FormatSeconds(-*d)
	}
	return "0s"
}

// sourceLabel says where a history row came from: its BuildKit ref for a
// BuildKit build (what `show` and `logs` accept), else its source.
func sourceLabel(b BuildRow) string {
	if b.BuildKitRef != nil {
		return "buildkit " + *b.BuildKitRef
	}
	return deref(b.Source)
}

// changeNote labels a step of a comparison.
func changeNote(c StepChange) string {
	switch {
	case model.State(c.BeforeState) == store.StateAbsent:
		return "added"
	case model.State(c.AfterState) == store.StateAbsent:
		return "removed"
	case c.CacheChanged && model.State(c.BeforeState) == model.StateCached:
		return noteCacheLost
	case c.CacheChanged:
		return "now cached"
	}
	return ""
}

const noteCacheLost = "cache lost"

// comparisonFacts are the sentences above a comparison's step table.
func comparisonFacts(c *Comparison) []string {
	var out []string
	lost := 0
	for _, s := range c.Steps {
		if s.CacheChanged && model.State(s.BeforeState) == model.StateCached {
			lost++
		}
	}
	if f := c.FirstCacheChange; f != nil {
		if model.State(f.BeforeState) == model.StateCached {
			out = append(out, fmt.Sprintf("The cache first broke at %s: cached in #%d, %s in #%d (%s).",
				shorten(f.Step, mdNameLen), c.Before.ID, stateWord(f.AfterState), c.After.ID, optSeconds(f.AfterSeconds)))
		} else {
			out = append(out, fmt.Sprintf("The first change is %s: %s in #%d (%s), cached in #%d.",
				shorten(f.Step, mdNameLen), stateWord(f.BeforeState), c.Before.ID, optSeconds(f.BeforeSeconds), c.After.ID))
		}
	} else {
		out = append(out, "No step changed between cached and run.")
	}
	if lost > 0 {
		out = append(out, fmt.Sprintf("Lost cache hits cost %s: %d step%s cached in #%d ran in #%d.",
			FormatSeconds(c.CacheLostSeconds), lost, plural(lost), c.Before.ID, c.After.ID))
	}
	if b, a := deref(c.Before.Builder), deref(c.After.Builder); b != "" && a != "" && b != a {
		// Separate builders keep separate caches: a step cached on one
		// and run on the other lost nothing.
		out = append(out, fmt.Sprintf("#%d ran on %s and #%d on %s: their caches are separate, so a step cached in one and run in the other is no lost cache.",
			c.Before.ID, b, c.After.ID, a))
	}
	if c.CacheGainedSeconds > 0 {
		out = append(out, fmt.Sprintf("New cache hits saved %s.", FormatSeconds(c.CacheGainedSeconds)))
	}
	for _, b := range c.BaseImageChanges {
		out = append(out, fmt.Sprintf("Base image changed: %s, %s -> %s.", shorten(b.Step, mdNameLen), shortDigest(b.BeforeDigest), shortDigest(b.AfterDigest)))
	}
	if c.ContextBytesBefore != nil && c.ContextBytesAfter != nil && *c.ContextBytesBefore != *c.ContextBytesAfter {
		out = append(out, fmt.Sprintf("Build context: %s -> %s.", FormatBytes(*c.ContextBytesBefore), FormatBytes(*c.ContextBytesAfter)))
	}
	if n := len(c.Added); n > 0 {
		out = append(out, fmt.Sprintf("%d step%s added: %s.", n, plural(n), identityLabels(c.Added)))
	}
	if n := len(c.Removed); n > 0 {
		out = append(out, fmt.Sprintf("%d step%s removed: %s.", n, plural(n), identityLabels(c.Removed)))
	}
	return out
}

func identityLabels(ids []StepIdentity) string {
	labels := make([]string, len(ids))
	for i, r := range ids {
		labels[i] = shorten(r.Step, 60)
	}
	return strings.Join(labels, "; ")
}

// shortDigest keeps enough of a digest to tell two apart.
func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

// comparisonHead is a comparison's first line.
func comparisonHead(c *Comparison) string {
	head := fmt.Sprintf("Build #%d -> #%d", c.Before.ID, c.After.ID)
	if c.Before.Project == c.After.Project {
		head += " of " + c.After.Project
	}
	return head + fmt.Sprintf(": %s -> %s (%s)", optSeconds(c.Before.DurationSeconds), optSeconds(c.After.DurationSeconds),
		signedSeconds(c.DurationDeltaSeconds))
}

// RenderComparison writes Store.Compare's answer in format: what changed,
// then every step with its state and time in both builds. The JSON is a
// Comparison.
func RenderComparison(w io.Writer, format string, sc *store.Comparison, opts RenderOptions) error {
	return RenderComparisonCauses(w, format, sc, nil, opts)
}

// RenderComparisonCauses is RenderComparison with the after build's cache
// breaks (Explanation.CacheBreaks, explained against the before build):
// what broke the cache between the two, and why.
func RenderComparisonCauses(w io.Writer, format string, sc *store.Comparison, breaks []CacheBreak, opts RenderOptions) error {
	if err := CheckFormat(format); err != nil {
		return err
	}
	c := NewComparison(sc)
	c.mask(opts.Mask)
	c.CacheBreaks = append(c.CacheBreaks, breaks...)
	if format == FormatJSON {
		return WriteJSON(w, c)
	}
	ew := &errWriter{w: w}
	whenText := func(b BuildRow) string {
		s := fmt.Sprintf("#%d: %s, started %s", b.ID, b.Status, formatWhen(b.StartedAt))
		if b.Branch != nil {
			s += ", branch " + *b.Branch
		}
		if b.Commit != nil {
			s += ", commit " + shortCommit(*b.Commit)
		}
		return s
	}
	md := format == FormatMarkdown
	r := &tableRenderer{color: opts.Color && !md}
	if md {
		ew.printf("# %s\n\n", mdText(comparisonHead(c)))
		ew.printf("- %s\n- %s\n\n", mdText(whenText(c.Before)), mdText(whenText(c.After)))
		for _, f := range comparisonFacts(c) {
			ew.printf("%s\n", mdText(f))
		}
		if len(c.CacheBreaks) > 0 {
			ew.printf("\n## Why the cache broke\n\n")
			for _, cb := range c.CacheBreaks {
				if cb.Cause != nil {
					ew.printf("- %s%s\n", mdText(cb.Cause.Message), confidenceNote(cb.Cause))
				}
			}
		}
		ew.printf("\n## Steps\n\n")
	} else {
		ew.printf("%s\n%s\n%s\n", r.style(ansiBold, clean(comparisonHead(c))), clean(whenText(c.Before)), clean(whenText(c.After)))
		for _, f := range comparisonFacts(c) {
			ew.printf("%s\n", clean(f))
		}
		if len(c.CacheBreaks) > 0 {
			r.heading(ew, "Why the cache broke")
			for _, cb := range c.CacheBreaks {
				if cb.Cause != nil {
					r.wrap(ew, "- ", clean(cb.Cause.Message)+confidenceNote(cb.Cause))
				}
			}
		}
		r.heading(ew, "Steps")
	}
	var rows [][]string
	for _, s := range c.Steps {
		rows = append(rows, []string{s.Step, stateText(s.BeforeState, s.BeforeSeconds), stateText(s.AfterState, s.AfterSeconds),
			signedSeconds(s.DeltaSeconds), changeNote(s)})
	}
	writeGrid(ew, md, []string{"Step", fmt.Sprintf("#%d", c.Before.ID), fmt.Sprintf("#%d", c.After.ID), "Change", "Note"}, rows,
		[]tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft}, nameColumn(opts, 0),
		styleColumn(4, func(s string) string {
			if s == noteCacheLost {
				return r.style(ansiYellow, s)
			}
			return s
		}))
	return ew.err
}

// statsScope describes the window for headings: "shop on main since
// 2026-10-24 12:00 UTC (14 builds)".
func statsScope(r *StepStatsReport) string {
	s := "all projects"
	if r.Project != nil {
		s = *r.Project
	}
	if r.Branch != nil {
		s += " on " + *r.Branch
	}
	s += " since " + formatWhen(r.Since)
	if r.Until != nil {
		s += " until " + formatWhen(*r.Until)
	}
	return s + fmt.Sprintf(" (%d build%s)", r.Builds, plural(r.Builds))
}

// RenderStepStats writes a slow or misses report in format.
func RenderStepStats(w io.Writer, format string, r *StepStatsReport, opts RenderOptions) error {
	if err := CheckFormat(format); err != nil {
		return err
	}
	r.mask(opts.Mask)
	if format == FormatJSON {
		return WriteJSON(w, r)
	}
	misses := r.Kind == StatsMisses
	title := "Slowest steps"
	if misses {
		title = "Cache misses"
	}
	label := func(st StepStat) string {
		if r.Project == nil && st.Project != "" {
			return st.Project + ": " + st.Step
		}
		return st.Step
	}
	header := []string{"Step", "Builds", "Runs", "p50", "p95", "Max", "Miss rate", "Total"}
	row := func(st StepStat) []string {
		return []string{label(st), strconv.Itoa(st.Builds), strconv.Itoa(st.Runs), optSeconds(st.P50Seconds), optSeconds(st.P95Seconds),
			optSeconds(st.MaxSeconds), optShare(st.MissRate), st.sumText(st.TotalSeconds)}
	}
	if misses {
		header = []string{"Step", "Builds", "Misses", "Hits", "Miss rate", "p50", "p95", "Max", "Lost"}
		row = func(st StepStat) []string {
			return []string{label(st), strconv.Itoa(st.Builds), strconv.Itoa(st.Runs), strconv.Itoa(st.CacheHits), optShare(st.MissRate),
				optSeconds(st.P50Seconds), optSeconds(st.P95Seconds), optSeconds(st.MaxSeconds), st.sumText(st.LostSeconds)}
		}
	}
	empty := "No step ran in this window."
	if misses {
		empty = "No Dockerfile step missed the cache in this window."
	}
	if r.Builds == 0 {
		empty = "No builds in this window."
	}
	ew := &errWriter{w: w}
	md := format == FormatMarkdown
	if md {
		ew.printf("# %s\n\n%s\n\n", title, mdText(statsScope(r)))
	} else {
		tr := &tableRenderer{color: opts.Color}
		ew.printf("%s: %s\n", tr.style(ansiBold, title), clean(statsScope(r)))
	}
	if len(r.Steps) == 0 {
		ew.printf("%s\n", empty)
		return ew.err
	}
	aligns := make([]tw.Align, len(header))
	for i := range aligns {
		aligns[i] = tw.AlignRight
	}
	aligns[0] = tw.AlignLeft
	var rows [][]string
	for _, st := range r.Steps {
		rows = append(rows, row(st))
	}
	writeGrid(ew, md, header, rows, aligns, nameColumn(opts, 0))
	if md {
		return ew.err
	}
	if !misses {
		ew.printf("Times are of the runs that executed; cache hits are left out.\n")
	} else {
		ew.printf("Lost is the run time of the misses: what the cache would have saved.\n")
	}
	return ew.err
}

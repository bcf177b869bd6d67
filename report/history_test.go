package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

func renderWith(t *testing.T, f func(w *bytes.Buffer) error) string {
	t.Helper()
	var buf bytes.Buffer
	if err := f(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

var day = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func summaries() []store.BuildSummary {
	return []store.BuildSummary{
		{ID: 2, Project: "shop", Branch: "main", Commit: "0123456789abcdef0123", StartedAt: day.Add(24 * time.Hour),
			Status: "failed", DurationSeconds: 3.1, DurationSource: "sum", StepsTotal: 6, StepsCached: 1, StepsRan: 5},
		{ID: 1, Project: "a|b", Branch: "feat/\x1b[31mred", StartedAt: day, Status: "succeeded", DurationSeconds: 12.5,
			DurationSource: "log", StepsTotal: 6, StepsCached: 6},
	}
}

func TestRenderBuilds(t *testing.T) {
	rows := summaries()
	out := renderWith(t, func(w *bytes.Buffer) error { return RenderBuilds(w, FormatTable, rows, RenderOptions{}) })
	for _, want := range []string{"2026-11-21 10:00 UTC", "0123456789ab", "~3.1s", "12.5s", "failed", "~ the sum of the step times", "│ RAN │"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("escape sequence from a branch name reached the terminal:\n%q", out)
	}
	if strings.Index(out, "│  2 │") > strings.Index(out, "│  1 │") {
		t.Errorf("rows not in the given (newest first) order:\n%s", out)
	}

	md := renderWith(t, func(w *bytes.Buffer) error { return RenderBuilds(w, FormatMarkdown, rows, RenderOptions{}) })
	if !strings.HasPrefix(md, "# Build history\n\n| ID |") || !strings.Contains(md, `| a\|b |`) {
		t.Errorf("markdown:\n%s", md)
	}

	js := renderWith(t, func(w *bytes.Buffer) error { return RenderBuilds(w, FormatJSON, nil, RenderOptions{}) })
	if strings.TrimSpace(js) != "{\n  \"schema_version\": 2,\n  \"builds\": []\n}" {
		t.Errorf("no rows as JSON = %q, want an empty list of builds", js)
	}
	empty := renderWith(t, func(w *bytes.Buffer) error { return RenderBuilds(w, FormatTable, nil, RenderOptions{}) })
	if empty != "No builds in the history match.\n" {
		t.Errorf("no rows as a table = %q", empty)
	}
	if err := RenderBuilds(&bytes.Buffer{}, "yaml", rows, RenderOptions{}); err == nil {
		t.Error("unknown format accepted")
	}
}

func ref(stage, text string) store.StepRef {
	return store.StepRef{Identity: model.Identity{Kind: model.KindStep, Stage: stage, Text: text}}
}

func TestRenderComparison(t *testing.T) {
	b := summaries()
	run := store.StepChange{StepRef: ref("base", "RUN make"), BeforeState: model.StateCached, AfterState: model.StateDone,
		AfterSeconds: 2.2, DeltaSeconds: 2.2, CacheChanged: true}
	c := &store.Comparison{
		Before: b[1], After: b[0], DurationDeltaSeconds: -9.4,
		Steps: []store.StepChange{
			{StepRef: ref("base", "FROM alpine"), BeforeState: model.StateCached, AfterState: model.StateCached},
			run,
			{StepRef: ref("base", "RUN new"), BeforeState: store.StateAbsent, AfterState: model.StateError, AfterSeconds: 0.3, DeltaSeconds: 0.3},
			{StepRef: ref("base", "RUN old"), BeforeState: model.StateDone, BeforeSeconds: 1, AfterState: store.StateAbsent, DeltaSeconds: -1},
		},
		FirstCacheChange: &run, CacheLostSeconds: 2.2,
		BaseImageChanges: []store.BaseImageChange{{StepRef: ref("base", "FROM alpine"),
			BeforeDigest: "sha256:" + strings.Repeat("a", 64), AfterDigest: "sha256:" + strings.Repeat("b", 64)}},
		ContextBytesBefore: 54, ContextBytesAfter: 1980000,
		Added: []store.StepRef{ref("base", "RUN new")}, Removed: []store.StepRef{ref("base", "RUN old")},
	}
	out := renderWith(t, func(w *bytes.Buffer) error { return RenderComparison(w, FormatTable, c, RenderOptions{}) })
	for _, want := range []string{
		"Build #1 -> #2: 12.5s -> 3.1s (-9.4s)",
		"The cache first broke at [base] RUN make: cached in #1, ran in #2 (2.2s).",
		"Lost cache hits cost 2.2s: 1 step cached in #1 ran in #2.",
		"Base image changed: [base] FROM alpine, sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb.",
		"Build context: 54 B -> 2.0 MB.",
		"1 step added: [base] RUN new.", "1 step removed: [base] RUN old.",
		"│     #1 │", "cache lost", "failed 0.3s", "added", "removed", "+2.2s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	md := renderWith(t, func(w *bytes.Buffer) error { return RenderComparison(w, FormatMarkdown, c, RenderOptions{}) })
	if !strings.HasPrefix(md, "# Build #1 -&gt; #2:") || !strings.Contains(md, `| \[base\] RUN make | cached | 2.2s | +2.2s | cache lost |`) {
		t.Errorf("markdown:\n%s", md)
	}
	var back Comparison
	js := renderWith(t, func(w *bytes.Buffer) error { return RenderComparison(w, FormatJSON, c, RenderOptions{}) })
	if err := json.Unmarshal([]byte(js), &back); err != nil || back.CacheLostSeconds != 2.2 || len(back.Steps) != 4 {
		t.Errorf("JSON %v:\n%s", err, js)
	}

	// No cache change at all.
	c.FirstCacheChange, c.CacheLostSeconds = nil, 0
	out = renderWith(t, func(w *bytes.Buffer) error { return RenderComparison(w, FormatTable, c, RenderOptions{}) })
	if !strings.Contains(out, "No step changed between cached and run.") {
		t.Errorf("table:\n%s", out)
	}
}

func TestRenderStepStats(t *testing.T) {
	project := "shop"
	steps := []store.StepStats{
		{StepRef: ref("base", "RUN make"), Builds: 3, Runs: 2, CacheHits: 1, MissRate: 0.667, Timed: 2, P50: 1.9, P95: 2.2, Max: 2.2, Total: 4.1, Lost: 4.1},
	}
	r := NewStepStatsReport(StatsMisses, project, "", day, time.Time{}, 3, steps)
	out := renderWith(t, func(w *bytes.Buffer) error { return RenderStepStats(w, FormatTable, r, RenderOptions{}) })
	for _, want := range []string{"Cache misses: shop since 2026-11-20 10:00 UTC (3 builds)", "MISSES", "HITS", "P50", "67%", "4.1s", "Lost is the run time"} {
		if !strings.Contains(out, want) {
			t.Errorf("misses table lacks %q:\n%s", want, out)
		}
	}

	steps = append(steps, store.StepStats{StepRef: store.StepRef{Project: "shop", Identity: model.Identity{Kind: model.KindExport, Text: "exporting to image"}},
		Builds: 1, Runs: 1, Timed: 1, P50: 1, P95: 1, Max: 1, Total: 1})
	r = NewStepStatsReport(StatsSlow, "", "", day, time.Time{}, 3, steps)
	md := renderWith(t, func(w *bytes.Buffer) error { return RenderStepStats(w, FormatMarkdown, r, RenderOptions{}) })
	for _, want := range []string{"# Slowest steps\n\nall projects since", "| Step | Builds | Runs | p50 | p95 | Max | Miss rate | Total |",
		"| shop: exporting to image | 1 | 1 | 1.0s | 1.0s | 1.0s | - | 1.0s |"} {
		if !strings.Contains(md, want) {
			t.Errorf("slow markdown lacks %q:\n%s", want, md)
		}
	}

	js := renderWith(t, func(w *bytes.Buffer) error { return RenderStepStats(w, FormatJSON, r, RenderOptions{}) })
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"kind", "since", "until", "project", "branch", "builds", "steps"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q:\n%s", k, js)
		}
	}

	none := NewStepStatsReport(StatsSlow, "", "", day, time.Time{}, 0, nil)
	out = renderWith(t, func(w *bytes.Buffer) error { return RenderStepStats(w, FormatTable, none, RenderOptions{}) })
	if !strings.Contains(out, "No builds in this window.") {
		t.Errorf("empty window:\n%s", out)
	}
	js = renderWith(t, func(w *bytes.Buffer) error { return RenderStepStats(w, FormatJSON, none, RenderOptions{}) })
	if !strings.Contains(js, `"steps": []`) {
		t.Errorf("empty steps not a list:\n%s", js)
	}
}

// Runs whose time no log told are counted, never timed as 0 s: no run
// with a known time leaves every time null ("-"), some leave the sums as
// lower bounds.
func TestStepStatsWithoutTimes(t *testing.T) {
	steps := []store.StepStats{
		{StepRef: ref("base", "RUN make"), Builds: 2, Runs: 2, MissRate: 1},
		{StepRef: ref("base", "RUN test"), Builds: 3, Runs: 3, MissRate: 1, Timed: 1, P50: 2, P95: 2, Max: 2, Mean: 2, Total: 2, Lost: 2},
	}
	r := NewStepStatsReport(StatsMisses, "shop", "", day, time.Time{}, 3, steps)
	untimed, partial := r.Steps[0], r.Steps[1]
	if untimed.TimedRuns != 0 || untimed.P50Seconds != nil || untimed.MaxSeconds != nil || untimed.MeanSeconds != nil ||
		untimed.TotalSeconds != nil || untimed.LostSeconds != nil {
		t.Errorf("runs without a time got figures: %+v", untimed)
	}
	if partial.TimedRuns != 1 || partial.P50Seconds == nil || *partial.P50Seconds != 2 || partial.LostSeconds == nil {
		t.Errorf("one timed run of three: %+v", partial)
	}
	md := renderWith(t, func(w *bytes.Buffer) error { return RenderStepStats(w, FormatMarkdown, r, RenderOptions{}) })
	for _, want := range []string{"| \\[base\\] RUN make | 2 | 2 | 0 | 100% | - | - | - | - |", "| \\[base\\] RUN test | 3 | 3 | 0 | 100% | 2.0s | 2.0s | 2.0s | ≥2.0s |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	js := renderWith(t, func(w *bytes.Buffer) error { return RenderStepStats(w, FormatJSON, r, RenderOptions{}) })
	if !strings.Contains(js, `"p50_seconds": null`) || !strings.Contains(js, `"timed_runs": 0`) {
		t.Errorf("JSON does not say the time is unknown:\n%s", js)
	}
}

// explainedWithHistory is the multistage cold build compared with a build
// in which every step was cached.
func explainedWithHistory(t *testing.T) *Explanation {
	e := Explain(load(t, "buildkit-probe/multistage-plain-cold.log"), Options{})
	id := int64(2)
	e.History = &History{BuildID: &id, Project: "shop", Basis: HistoryBasisPrevious,
		Previous: PreviousBuildOf(store.BuildSummary{ID: 1, Branch: "main", StartedAt: day, Status: "succeeded", StepsTotal: 6, StepsCached: 6})}
	for _, s := range e.Steps {
		if s.Kind == "step" && !s.Cached {
			e.History.AddCacheLost(s)
		}
	}
	return e
}

func TestExplainHistorySection(t *testing.T) {
	e := explainedWithHistory(t)
	if len(e.History.CacheLost) != 5 || e.History.CacheLostSeconds != 2.6 {
		t.Fatalf("cache lost = %+v, %v s", e.History.CacheLost, e.History.CacheLostSeconds)
	}
	out := renderString(t, FormatTable, RenderOptions{}, e)
	for _, want := range []string{
		"\nCompared with build #1\n#1 is the previous build of shop in the history: succeeded on main, started 2026-11-20 10:00 UTC, 6 steps, 6 cached.\n" +
			"5 steps came from the cache in #1 and ran this time, taking 2.6s:\n",
		"│ [base 2/2] RUN [\"/bin/busybox\",\"sh\",\"-c\",\"for i in 1 2 3; do /bin/…i; /bin/busybox sleep 0.5; done\"] │ ran    │ 2.2s │",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// The section sits between the cache breaks and the slowest steps.
	if i, j, k := strings.Index(out, "Cache breaks"), strings.Index(out, "Compared with"), strings.Index(out, "Slowest"); !(i < j && j < k) {
		t.Errorf("section order: breaks %d, history %d, slowest %d", i, j, k)
	}
	md := renderString(t, FormatMarkdown, RenderOptions{}, e)
	if !strings.Contains(md, "\n## Compared with build #1\n\n\\#1 is the previous build of shop") ||
		!strings.Contains(md, "| \\[second 1/2\\] COPY a.txt /a.txt | ran | 0.0s |") {
		t.Errorf("markdown:\n%s", md)
	}
	js := renderString(t, FormatJSON, RenderOptions{}, e)
	var m struct {
		History map[string]json.RawMessage `json:"history"`
	}
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"build_id", "project", "basis", "previous", "cache_lost", "cache_lost_seconds"} {
		if _, ok := m.History[k]; !ok {
			t.Errorf("history lacks %q: %s", k, js)
		}
	}
	if string(m.History["cache_lost_seconds"]) != "2.6" || string(m.History["build_id"]) != "2" {
		t.Errorf("history = %s", js)
	}

	// Nothing lost: one sentence, no table.
	e.History.Basis, e.History.BuildID, e.History.CacheLost, e.History.CacheLostSeconds = HistoryBasisLatest, nil, []HistoryStep{}, 0
	out = renderString(t, FormatTable, RenderOptions{}, e)
	if !strings.Contains(out, "the latest build of shop in the history (this log is not in it)") ||
		!strings.Contains(out, "No step that came from the cache in #1 ran this time.\n\nSlowest") {
		t.Errorf("table:\n%s", out)
	}
}

func TestRenderStoredBuild(t *testing.T) {
	e := explainedWithHistory(t)
	b := store.BuildSummary{ID: 2, Project: "shop", Branch: "main", Commit: "0123456789abcdef", StartedAt: day, RunURL: "https://ci.example/run/1"}
	out := renderWith(t, func(w *bytes.Buffer) error { return RenderStoredBuild(w, FormatTable, b, e, RenderOptions{}) })
	if !strings.HasPrefix(out, "Build #2 of shop · branch main · commit 0123456789ab · started 2026-11-20 10:00 UTC · https://ci.example/run/1\nOutput was not kept: store builds with --keep-logs to keep it.\n\nBuild succeeded") {
		t.Errorf("table:\n%s", out)
	}
	md := renderWith(t, func(w *bytes.Buffer) error { return RenderStoredBuild(w, FormatMarkdown, b, e, RenderOptions{}) })
	if !strings.HasPrefix(md, "# Build #2 of shop\n\n") || strings.Contains(md, "# Build explanation") || !strings.Contains(md, "\n## Steps\n") {
		t.Errorf("markdown:\n%s", md)
	}
	js := renderWith(t, func(w *bytes.Buffer) error { return RenderStoredBuild(w, FormatJSON, b, e, RenderOptions{}) })
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"build", "schema_version", "steps", "history"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
}

func TestCompareAcrossBuilders(t *testing.T) {
	c := &Comparison{Before: BuildRow{ID: 1, Builder: ptr("docker unix:///a.sock")}, After: BuildRow{ID: 2, Builder: ptr("buildkit unix:///b.sock")}}
	facts := strings.Join(comparisonFacts(c), "\n")
	if !strings.Contains(facts, "#1 ran on docker unix:///a.sock and #2 on buildkit unix:///b.sock: their caches are separate") {
		t.Errorf("facts:\n%s", facts)
	}
	c.After.Builder = c.Before.Builder
	if strings.Contains(strings.Join(comparisonFacts(c), "\n"), "separate") {
		t.Error("one builder said to be two")
	}
}

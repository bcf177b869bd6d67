// Package storetest is the conformance suite of store.Store: every
// implementation runs Run against fresh, empty histories of its own and
// must pass it unchanged, so that every command behaves the same whichever
// database holds the history. Its helpers (fixtures, builds made to order)
// are exported for the implementations' own tests.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/collect/logfile"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// Opener returns a new, empty store; the suite closes it.
type Opener func(t *testing.T) store.Store

// Checker is implemented by stores that can verify their own consistency
// (an SQLite integrity check, foreign keys a backend does not enforce).
// The suite calls it after writing.
type Checker interface {
	CheckIntegrity(ctx context.Context) error
}

// Run runs the conformance suite. Each test gets its own store from open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"HistoryFromFixtures", testHistoryFromFixtures},
		{"SlowAndMissesFromFixtures", testSlowAndMissesFromFixtures},
		{"CompareFromFixtures", testCompareFromFixtures},
		{"Trends", testTrends},
		{"TrendRegressions", testTrendRegressions},
		{"StepPeriods", testStepPeriods},
		{"BranchPeriods", testBranchPeriods},
		{"MissPeriods", testMissPeriods},
		{"IdentityAcrossInsertedLine", testIdentityAcrossInsertedLine},
		{"RoundTripFixtures", testRoundTripFixtures},
		{"DuplicateIngest", testDuplicateIngest},
		{"Resolve", testResolve},
		{"StartTimeAndDuration", testStartTimeAndDuration},
		{"Prune", testPrune},
		{"BatchAllOrNone", testBatchAllOrNone},
		{"NotFound", testNotFound},
		{"Inventory", testInventory},
		{"UnknownTimes", testUnknownTimes},
		{"TruncatedNames", testTruncatedNames},
		{"InputsRoundTrip", testInputsRoundTrip},
		{"InputsContextDiff", testInputsContextDiff},
		{"MissCauses", testMissCauses},
		{"InputsPrune", testInputsPrune},
		{"Claims", testClaims},
		{"LiveFacts", testLiveFacts},
		{"Tokens", testTokens},
		{"Count", testCount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opened := func(t *testing.T) store.Store {
				s := open(t)
				t.Cleanup(func() { s.Close() })
				return s
			}
			tc.fn(t, opened)
		})
	}
}

// Ctx is the context the suite's calls use.
var Ctx = context.Background()

// FixturesDir is the repository's fixtures directory, wherever the test
// that calls it runs from.
func FixturesDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "fixtures")
}

// checkIntegrity asks s to check itself, if it can.
func checkIntegrity(t testing.TB, s store.Store) {
	t.Helper()
	if c, ok := s.(Checker); ok {
		if err := c.CheckIntegrity(Ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func ParseFixture(t testing.TB, path string) *model.Build {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := parse.Parse(f, parse.Options{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

func Probe(name string) string { return filepath.Join(FixturesDir(), "buildkit-probe", name) }

func MustIngest(t testing.TB, s store.Store, b *model.Build, m store.Meta) int64 {
	t.Helper()
	id, created, err := s.Ingest(Ctx, b, m, store.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatalf("ingest of %s: not created", m.ContentHash)
	}
	return id
}

func IngestMulti(t *testing.T, s store.Store) []int64 {
	t.Helper()
	var ids []int64
	for i, name := range Multi {
		m := store.Meta{Project: "multi", Branch: "main", Started: T0.Add(time.Duration(i) * time.Hour), ContentHash: "test:" + name}
		ids = append(ids, MustIngest(t, s, ParseFixture(t, Probe(name)), m))
	}
	return ids
}

// FindStat finds a step identity's figures by stage and text.
func FindStat(t *testing.T, stats []store.StepStats, stage, text string) store.StepStats {
	t.Helper()
	for _, st := range stats {
		if st.Stage == stage && st.Text == text {
			return st
		}
	}
	t.Fatalf("no stats for [%s] %s", stage, text)
	return store.StepStats{}
}

// Near compares figures rounded to milliseconds.
func Near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// step makes a Dockerfile step vertex; d < 0 means cached.
func Step(stage string, i, n int, instr, args string, d time.Duration) *model.Vertex {
	v := &model.Vertex{ID: strconv.Itoa(i), Stage: stage, Index: i, Total: n, Instruction: instr, Args: args, Completed: true}
	v.Name = fmt.Sprintf("[%s %d/%d] %s %s", stage, i, n, instr, args)
	if d < 0 {
		v.Cached = true
	} else {
		v.Duration, v.HasDuration = d, true
	}
	return v
}

// normTimes puts every time of a build in UTC so DeepEqual compares
// instants, not locations.
func NormTimes(b *model.Build) {
	utc := func(t *time.Time) {
		if !t.IsZero() {
			*t = t.UTC()
		}
	}
	utc(&b.Started)
	utc(&b.Completed)
	for _, v := range b.Vertices {
		utc(&v.Started)
		utc(&v.Ended)
	}
}

func FixtureLogs(t *testing.T) []string {
	var out []string
	for _, dir := range []string{"buildkit-probe", "real", "seed"} {
		ents, err := os.ReadDir(filepath.Join(FixturesDir(), dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !e.IsDir() && (strings.HasSuffix(e.Name(), ".log") || strings.HasSuffix(e.Name(), ".jsonl")) {
				out = append(out, filepath.Join(FixturesDir(), dir, e.Name()))
			}
		}
	}
	sort.Strings(out)
	return out
}

// liveBuild decorates a parsed log as a live build of the given source
// would be: the source named and, as the Docker Engine collector does,
// every RUN, COPY and ADD step with the size of the layer it produced
// (some empty, which is not the same as unknown); other steps unknown.
func LiveBuild(b *model.Build, source string) *model.Build {
	b.Source = source
	for i, v := range b.Vertices {
		switch v.Instruction {
		case "RUN", "COPY", "ADD":
			v.LayerBytes, v.HasLayerBytes = int64(i%3)*(1<<20+int64(i)), true
		}
	}
	return b
}

// The multi-stage fixture Dockerfile built five times, one hour apart:
// cold (base COPY cached), warm, docker without cache, native snapshotter
// cold, native warm. The figures below are read off the logs' DONE lines.
var Multi = []string{
	"multistage-plain-cold.log",
	"multistage-plain-warm.log",
	"docker-plain-multistage-nocache.log",
	"native-multistage-plain-cold.log",
	"native-multistage-plain-warm.log",
}

const (
	RunBase   = `RUN ["/bin/busybox","sh","-c","for i in 1 2 3; do /bin/busybox echo step $i; /bin/busybox sleep 0.5; done"]`
	RunSecond = `RUN ["/bin/busybox","sh","-c","/bin/busybox echo to-stderr >&2; /bin/busybox cat /a.txt"]`
)

// t0 is a Monday, so daily and weekly buckets in tests are easy to reason
// about.
var T0 = time.Date(2026, 11, 16, 10, 0, 0, 0, time.UTC)

func testHistoryFromFixtures(t *testing.T, open Opener) {
	s := open(t)
	ids := IngestMulti(t, s)
	h, err := s.History(Ctx, store.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		dur           float64
		total, cached int
		ctx           int64
	}{
		{3.1, 6, 1, 1980000}, // 0+0+0.1 internal, 2.2+0+0.3+0+0.1 steps, 0.4 export
		{0.1, 6, 6, 54},      // everything cached, 0.1 export
		{3.7, 6, 0, 54},      // 0.1 context, 0.1+1.9+0.1+0.4+0+0.1, 1.0 export
		{3.6, 6, 0, 1980000}, // 0.1 x3 internal, 0.2+2.3+0.1+0.6+0+0.1
		{0.3, 6, 6, 54},      // 0.1 x3 internal
	}
	if len(h) != len(want) {
		t.Fatalf("history has %d builds, want %d", len(h), len(want))
	}
	for i, r := range h {
		w := want[len(want)-1-i] // newest first
		if r.ID != ids[len(ids)-1-i] || !Near(r.DurationSeconds, w.dur) || r.StepsTotal != w.total ||
			r.StepsCached != w.cached || r.StepsRan != w.total-w.cached || r.ContextBytes != w.ctx ||
			r.DurationSource != "sum" || r.Status != "succeeded" || r.Project != "multi" || r.Branch != "main" {
			t.Errorf("history[%d] = %+v, want %+v", i, r, w)
		}
	}
	if h, _ := s.History(Ctx, store.HistoryQuery{Limit: 2}); len(h) != 2 || h[0].ID != ids[4] {
		t.Errorf("limit 2: %+v", h)
	}
	if h, _ := s.History(Ctx, store.HistoryQuery{Project: "other"}); len(h) != 0 {
		t.Errorf("other project: %+v", h)
	}
	if h, _ := s.History(Ctx, store.HistoryQuery{Since: T0.Add(90 * time.Minute), Until: T0.Add(3 * time.Hour)}); len(h) != 1 || h[0].ID != ids[2] {
		t.Errorf("window: %+v", h)
	}

	// The JSON a renderer prints.
	data, _ := json.Marshal(h[0])
	var fields map[string]any
	json.Unmarshal(data, &fields)
	for _, k := range []string{"id", "project", "branch", "commit", "started_at", "status", "duration_seconds", "steps_total", "steps_cached"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("history JSON lacks %q: %s", k, data)
		}
	}
	if fields["started_at"] != "2026-11-16T14:00:00Z" {
		t.Errorf("started_at = %v, want RFC 3339", fields["started_at"])
	}
}

func testSlowAndMissesFromFixtures(t *testing.T, open Opener) {
	s := open(t)
	IngestMulti(t, s)
	slow, err := s.Slow(Ctx, store.WindowQuery{Project: "multi"})
	if err != nil {
		t.Fatal(err)
	}
	// [base] RUN: ran 2.2 (cold), 1.9 (nocache), 2.3 (native cold), cached
	// twice. Nearest rank: p50 of {1.9, 2.2, 2.3} is the 2nd, p95 the 3rd.
	st := FindStat(t, slow, "base", RunBase)
	if st.Builds != 5 || st.Runs != 3 || st.CacheHits != 2 || !Near(st.MissRate, 0.6) || !Near(st.P50, 2.2) ||
		!Near(st.P95, 2.3) || !Near(st.Max, 2.3) || !Near(st.Total, 6.4) || !Near(st.Lost, 6.4) || !Near(st.Mean, 2.133) {
		t.Errorf("[base] RUN: %+v", st)
	}
	st = FindStat(t, slow, "second", RunSecond) // 0.3, 0.4, 0.6
	if st.Runs != 3 || !Near(st.P50, 0.4) || !Near(st.P95, 0.6) || !Near(st.Total, 1.3) {
		t.Errorf("[second] RUN: %+v", st)
	}
	st = FindStat(t, slow, "base", "COPY busybox /bin/busybox") // cached, cached, 0.1, 0.2, cached
	if st.Runs != 2 || st.CacheHits != 3 || !Near(st.MissRate, 0.4) || !Near(st.P50, 0.1) || !Near(st.P95, 0.2) {
		t.Errorf("[base] COPY: %+v", st)
	}
	st = FindStat(t, slow, "internal", "[internal] load build context") // 0.1, 0.0, 0.1, 0.1, 0.1
	if st.Kind != model.KindInternal || st.Runs != 5 || !Near(st.Total, 0.4) || st.MissRate != 0 || st.Lost != 0 {
		t.Errorf("build context: %+v", st)
	}
	// Ranked by total time.
	var top []string
	for _, st := range slow[:4] {
		top = append(top, st.Text)
	}
	if want := []string{RunBase, RunSecond, "exporting to image", "exporting to oci image format"}; !reflect.DeepEqual(top, want) {
		t.Errorf("slow ranking = %q, want %q", top, want)
	}
	if only, _ := s.Slow(Ctx, store.WindowQuery{Kinds: []model.Kind{model.KindExport}}); len(only) != 2 {
		t.Errorf("exports only: %+v", only)
	}
	if lim, _ := s.Slow(Ctx, store.WindowQuery{Limit: 1}); len(lim) != 1 || lim[0].Text != RunBase {
		t.Errorf("limit 1: %+v", lim)
	}
	// Steps: only those identities, with the figures they have unfiltered.
	base, second := FindStat(t, slow, "base", RunBase), FindStat(t, slow, "second", RunSecond)
	for _, q := range []store.WindowQuery{{Project: "multi", Steps: []int64{second.StepID, base.StepID}},
		{Project: "multi", Steps: []int64{second.StepID, base.StepID}, Until: time.Now().Add(time.Hour)}} {
		two, err := s.Slow(Ctx, q)
		if err != nil || len(two) != 2 || !reflect.DeepEqual(two[0], base) || !reflect.DeepEqual(two[1], second) {
			t.Errorf("slow of two steps (%+v): %+v %v, want %+v and %+v", q, two, err, base, second)
		}
	}
	if m, err := s.Misses(Ctx, store.WindowQuery{Project: "multi", Steps: []int64{base.StepID}}); err != nil || len(m) != 1 || m[0].StepID != base.StepID {
		t.Errorf("misses of one step: %+v %v", m, err)
	}
	// A window holding the warm build and the no-cache build only.
	win, _ := s.Slow(Ctx, store.WindowQuery{Since: T0.Add(time.Hour), Until: T0.Add(3 * time.Hour)})
	if st := FindStat(t, win, "base", RunBase); st.Builds != 2 || st.Runs != 1 || !Near(st.Total, 1.9) {
		t.Errorf("window: %+v", st)
	}
	if none, _ := s.Slow(Ctx, store.WindowQuery{Branch: "nope"}); len(none) != 0 {
		t.Errorf("unknown branch: %+v", none)
	}

	misses, err := s.Misses(Ctx, store.WindowQuery{Project: "multi"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range misses {
		if st.Kind != model.KindStep {
			t.Errorf("misses lists a %s vertex: %s", st.Kind, st.Text)
		}
		got = append(got, st.Text)
	}
	// Lost time 6.4, 1.3, then two steps that lost 0.3: COPY --from=base
	// (missed 3 of 5) before COPY busybox (2 of 5); COPY a.txt (0.0, 0.1,
	// 0.1) and COPY --from=second (0.0 each time).
	want := []string{RunBase, RunSecond, "COPY --from=base /bin/busybox /bin/busybox", "COPY busybox /bin/busybox",
		"COPY a.txt /a.txt", "COPY --from=second /a.txt /final.txt"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("misses ranking = %q, want %q", got, want)
	}
}

func testCompareFromFixtures(t *testing.T, open Opener) {
	s := open(t)
	ids := IngestMulti(t, s)

	// Warm, then built without cache: every step lost its cache.
	c, err := s.Compare(Ctx, ids[1], ids[2])
	if err != nil {
		t.Fatal(err)
	}
	if c.FirstCacheChange == nil || c.FirstCacheChange.Text != "COPY busybox /bin/busybox" ||
		c.FirstCacheChange.BeforeState != model.StateCached || c.FirstCacheChange.AfterState != model.StateDone ||
		!Near(c.FirstCacheChange.AfterSeconds, 0.1) {
		t.Errorf("first cache change = %+v", c.FirstCacheChange)
	}
	if !Near(c.CacheLostSeconds, 2.6) || c.CacheGainedSeconds != 0 || !Near(c.DurationDeltaSeconds, 3.6) {
		t.Errorf("lost %v gained %v delta %v", c.CacheLostSeconds, c.CacheGainedSeconds, c.DurationDeltaSeconds)
	}
	if c.ContextBytesBefore != 54 || c.ContextBytesAfter != 54 || len(c.Added) != 0 || len(c.Removed) != 0 {
		t.Errorf("context %d -> %d, added %v removed %v", c.ContextBytesBefore, c.ContextBytesAfter, c.Added, c.Removed)
	}
	// The exporter vertex differs (oci tarball vs docker image): one new,
	// one gone, listed in Steps but not as added Dockerfile steps.
	var exports []string
	for _, ch := range c.Steps {
		if ch.Kind == model.KindExport {
			exports = append(exports, string(ch.BeforeState+">"+ch.AfterState))
		}
	}
	if !reflect.DeepEqual(exports, []string{"absent>done", "done>absent"}) {
		t.Errorf("exports: %v", exports)
	}

	// Cold, then warm: the cache came back; in the warm build's order the
	// first step is [second 1/2] COPY a.txt, which had run (0.0s).
	c, _ = s.Compare(Ctx, ids[0], ids[1])
	if c.FirstCacheChange == nil || c.FirstCacheChange.Text != "COPY a.txt /a.txt" || c.FirstCacheChange.AfterState != model.StateCached {
		t.Errorf("first cache change = %+v", c.FirstCacheChange)
	}
	if !Near(c.CacheGainedSeconds, 2.6) || c.CacheLostSeconds != 0 || c.ContextBytesBefore != 1980000 || c.ContextBytesAfter != 54 {
		t.Errorf("gained %v lost %v context %d -> %d", c.CacheGainedSeconds, c.CacheLostSeconds, c.ContextBytesBefore, c.ContextBytesAfter)
	}

	pm, err := s.PreviousMisses(Ctx, ids[2])
	if err != nil {
		t.Fatal(err)
	}
	if pm.Previous == nil || pm.Previous.ID != ids[1] || len(pm.Steps) != 6 {
		t.Errorf("previous misses of the no-cache build: %+v", pm)
	}
	if pm, _ := s.PreviousMisses(Ctx, ids[4]); pm.Previous == nil || pm.Previous.ID != ids[3] || len(pm.Steps) != 0 {
		t.Errorf("previous misses of the warm build: %+v", pm)
	}
	if pm, _ := s.PreviousMisses(Ctx, ids[0]); pm.Previous != nil || len(pm.Steps) != 0 {
		t.Errorf("first build has a previous build: %+v", pm)
	}
	if _, err := s.Compare(Ctx, ids[0], 999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("compare with a missing build: %v", err)
	}
}

// A legacy log without timestamps tells no time of its build or steps:
// its runs and misses count, its times are left out of every figure
// rather than counted as 0 s.
func testUnknownTimes(t *testing.T, open Opener) {
	s := open(t)
	untimed := ParseFixture(t, Probe("docker-legacy-builder-busybox.log"))
	if untimed.HasDuration {
		t.Fatal("the legacy fixture states a duration; the test needs one without")
	}
	timed := ParseFixture(t, Probe("docker-legacy-builder-busybox.log"))
	timed.Duration, timed.HasDuration = 3*time.Second, true
	for _, v := range timed.Vertices {
		v.Duration, v.HasDuration = 1500*time.Millisecond, true
	}
	MustIngest(t, s, untimed, store.Meta{Project: "legacy", Started: T0, ContentHash: "test:untimed"})
	MustIngest(t, s, timed, store.Meta{Project: "legacy", Started: T0.Add(time.Hour), ContentHash: "test:timed"})

	slow, err := s.Slow(Ctx, store.WindowQuery{Project: "legacy"})
	if err != nil {
		t.Fatal(err)
	}
	st := FindStat(t, slow, "", `RUN ["/bin/busybox","sh","-c","/bin/busybox sleep 1; /bin/busybox echo hi"]`)
	if st.Runs != 2 || st.Timed != 1 || !Near(st.P50, 1.5) || !Near(st.Max, 1.5) || !Near(st.Total, 1.5) || !Near(st.Mean, 1.5) {
		t.Errorf("a step that ran twice, once for a known 1.5s: %+v", st)
	}
	tr, err := s.Trends(Ctx, store.TrendQuery{Period: store.Day, Project: "legacy"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Periods) != 1 || tr.Periods[0].Builds != 2 || tr.Periods[0].Timed != 1 || !Near(tr.Periods[0].P50, 3) {
		t.Errorf("a day of two builds, one of a known 3s: %+v", tr.Periods)
	}
}

// A step whose name tty output cut is the step another log printed whole:
// one identity in the history, whether the whole name came first, in the
// same batch, or not at all.
func testTruncatedNames(t *testing.T, open Opener) {
	s := open(t)
	whole := ParseFixture(t, Probe("multistage-plain-cold.log"))
	cut := ParseFixture(t, Probe("docker-tty-multistage-cold.log"))
	n := 0
	for _, v := range cut.Vertices {
		if v.NameTruncated && v.IsStep() {
			n++
		}
	}
	if n < 2 {
		t.Fatalf("the tty fixture has %d cut step names; the test needs some", n)
	}
	MustIngest(t, s, whole, store.Meta{Project: "p", Started: T0, ContentHash: "test:whole"})
	MustIngest(t, s, cut, store.Meta{Project: "p", Started: T0.Add(time.Hour), ContentHash: "test:cut"})
	// The same builds in one batch, in another project.
	if _, err := s.IngestBatch(Ctx, []store.BatchItem{
		{Build: ParseFixture(t, Probe("docker-tty-multistage-cold.log")), Meta: store.Meta{Project: "q", Started: T0, ContentHash: "test:q-cut"}},
		{Build: ParseFixture(t, Probe("multistage-plain-cold.log")), Meta: store.Meta{Project: "q", Started: T0.Add(time.Hour), ContentHash: "test:q-whole"}},
	}); err != nil {
		t.Fatal(err)
	}
	// Only cut names: kept as they are.
	MustIngest(t, s, ParseFixture(t, Probe("docker-tty-multistage-cold.log")), store.Meta{Project: "r", Started: T0, ContentHash: "test:r-cut"})
	for _, project := range []string{"p", "q"} {
		slow, err := s.Slow(Ctx, store.WindowQuery{Project: project})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []struct{ stage, text string }{{"base", RunBase}, {"second", RunSecond}} {
			if got := FindStat(t, slow, st.stage, st.text); got.Builds != 2 || got.Runs != 2 {
				t.Errorf("project %s: [%s] %s in %d builds, %d runs; want both builds", project, st.stage, st.text, got.Builds, got.Runs)
			}
		}
		for _, st := range slow {
			if st.Kind == model.KindStep && st.Builds != 2 {
				t.Errorf("project %s: %s is in %d builds, want 2", project, st.Label(), st.Builds)
			}
		}
	}
	slow, err := s.Slow(Ctx, store.WindowQuery{Project: "r"})
	if err != nil {
		t.Fatal(err)
	}
	cutText := 0
	for _, st := range slow {
		if st.Stage == "base" && st.Instruction == "RUN" && strings.HasPrefix(RunBase, st.Text) && st.Text != RunBase {
			cutText++
		}
	}
	if cutText != 1 {
		t.Errorf("with no whole name stored, the cut step keeps its cut text: %+v", slow)
	}
}

func testTrends(t *testing.T, open Opener) {
	s := open(t)
	IngestMulti(t, s) // Monday
	// Tuesday: a failed build in another project.
	MustIngest(t, s, ParseFixture(t, Probe("run-fail-plain.log")), store.Meta{Project: "fail", Started: T0.Add(24 * time.Hour), ContentHash: "test:fail"})

	tr, err := s.Trends(Ctx, store.TrendQuery{Period: store.Day})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Periods) != 2 {
		t.Fatalf("periods: %+v", tr.Periods)
	}
	d := tr.Periods[0]
	// Durations 0.1, 0.3, 3.1, 3.6, 3.7: p50 is the 3rd, p95 the 5th.
	// Cache hits 1+6+0+0+6 of 30 steps.
	if !d.Start.Equal(time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)) || d.Builds != 5 || d.Failed != 0 ||
		!Near(d.P50, 3.1) || !Near(d.P95, 3.7) || d.StepsTotal != 30 || d.StepsCached != 13 || !Near(d.CacheHitRate, 0.433) {
		t.Errorf("monday = %+v", d)
	}
	if d := tr.Periods[1]; d.Builds != 1 || d.Failed != 1 || d.FailureRate != 1 {
		t.Errorf("tuesday = %+v", d)
	}
	tr, _ = s.Trends(Ctx, store.TrendQuery{Project: "multi", Since: T0.AddDate(0, 0, -9), Until: T0.AddDate(0, 0, 9)})
	// Saturday 7 November to Wednesday 25 November: the weeks of the 2nd,
	// 9th, 16th and 23rd, empty ones included.
	if tr.Period != store.Week || len(tr.Periods) != 4 || tr.Periods[2].Builds != 5 || tr.Periods[0].Builds != 0 ||
		tr.Periods[3].Builds != 0 || !tr.Periods[0].Start.Equal(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("weekly, padded: %+v", tr.Periods)
	}
	if _, err := s.Trends(Ctx, store.TrendQuery{Period: "month"}); err == nil {
		t.Error("unknown period accepted")
	}
}

func testTrendRegressions(t *testing.T, open Opener) {
	s := open(t)
	build := func(day int, make, test time.Duration) {
		b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Vertices: []*model.Vertex{
			Step("", 1, 2, "RUN", "make", make),
			Step("", 2, 2, "RUN", "make test", test),
		}}
		MustIngest(t, s, b, store.Meta{Project: "reg", Started: T0.AddDate(0, 0, day), ContentHash: "reg" + strconv.Itoa(day) + make.String()})
	}
	build(0, 10*time.Second, 5*time.Second)
	build(0, 12*time.Second, 5*time.Second)
	build(1, 9*time.Second, 5*time.Second)
	build(2, 20*time.Second, 4*time.Second)
	tr, err := s.Trends(Ctx, store.TrendQuery{Period: store.Day})
	if err != nil {
		t.Fatal(err)
	}
	// Baseline: days 0 and 1, make ran 9, 10, 12: p50 10; now 20.
	if len(tr.Regressions) != 1 || tr.Regressions[0].Text != "RUN make" || tr.Regressions[0].BaselineSeconds != 10 ||
		tr.Regressions[0].CurrentSeconds != 20 || tr.Regressions[0].DeltaSeconds != 10 || tr.Regressions[0].BaselineRuns != 3 {
		t.Errorf("regressions = %+v", tr.Regressions)
	}
	if tr, _ := s.Trends(Ctx, store.TrendQuery{Period: store.Day, Baseline: 1}); len(tr.Regressions) != 1 || tr.Regressions[0].BaselineSeconds != 9 {
		t.Errorf("baseline of one period: %+v", tr.Regressions)
	}
}

func testIdentityAcrossInsertedLine(t *testing.T, open Opener) {
	s := open(t)
	a := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Vertices: []*model.Vertex{
		Step("", 1, 3, "FROM", "docker.io/library/alpine:3.20@sha256:"+strings.Repeat("a", 64), 0),
		Step("", 2, 3, "RUN", "apk add  git", -1),
		Step("", 3, 3, "RUN", "make", -1),
	}}
	b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Vertices: []*model.Vertex{
		Step("", 1, 4, "FROM", "docker.io/library/alpine:3.20@sha256:"+strings.Repeat("b", 64), 0),
		Step("", 2, 4, "RUN", "apk add git", -1),
		Step("", 3, 4, "RUN", "apk add curl", 3*time.Second),
		Step("", 4, 4, "RUN", "make", 7*time.Second),
	}}
	ia := MustIngest(t, s, a, store.Meta{Project: "p", Started: T0, ContentHash: "a"})
	ib := MustIngest(t, s, b, store.Meta{Project: "p", Started: T0.Add(time.Minute), ContentHash: "b"})
	c, err := s.Compare(Ctx, ia, ib)
	if err != nil {
		t.Fatal(err)
	}
	// "RUN make" moved from 3/3 to 4/4 and is the same step; the new line
	// is the only addition; FROM is one step with a new digest.
	if len(c.Added) != 1 || c.Added[0].Text != "RUN apk add curl" || len(c.Removed) != 0 {
		t.Errorf("added %+v removed %+v", c.Added, c.Removed)
	}
	if c.FirstCacheChange == nil || c.FirstCacheChange.Text != "RUN make" || !Near(c.CacheLostSeconds, 7) {
		t.Errorf("first change %+v lost %v", c.FirstCacheChange, c.CacheLostSeconds)
	}
	if len(c.BaseImageChanges) != 1 || c.BaseImageChanges[0].Text != "FROM alpine:3.20" ||
		c.BaseImageChanges[0].BeforeDigest != "sha256:"+strings.Repeat("a", 64) {
		t.Errorf("base image changes: %+v", c.BaseImageChanges)
	}
	if len(c.Steps) != 4 {
		t.Errorf("%d step identities, want 4: %+v", len(c.Steps), c.Steps)
	}
	// Raw args survive even when they differ from the identity's.
	got, _, err := s.Build(Ctx, ib)
	if err != nil || got.Vertices[1].Args != "apk add git" || got.Vertices[0].Name != b.Vertices[0].Name {
		t.Errorf("build read back: %v %+v", err, got.Vertices[1])
	}
	checkIntegrity(t, s)
}

// Every fixture log reads back as the parser produced it, in both modes,
// and again as a live build would be stored: with its source and the
// layer sizes a Docker Engine build records.
func testRoundTripFixtures(t *testing.T, open Opener) {
	s := open(t)
	IngestFixtures(t, s)
	checkIntegrity(t, s)
}

// IngestFixtures stores every fixture log three times (with and without
// KeepLogs, and as a live build with a source and layer sizes) and checks
// each reads back as the parser produced it.
func IngestFixtures(t *testing.T, s store.Store) {
	t.Helper()
	n := 0
	sources := []string{"docker", "buildkit", "buildkit-history"}
	for i, path := range FixtureLogs(t) {
		f, _ := os.Open(path)
		hr := logfile.NewHashReader(f)
		b, err := parse.Parse(hr, parse.Options{})
		f.Close()
		if err != nil {
			continue // daemon logs and the like
		}
		n++
		for _, mode := range []string{"keep", "nologs", "live"} {
			keep, live := mode == "keep", mode == "live"
			m := store.Meta{Project: "fixtures", Started: T0.Add(time.Duration(i) * time.Minute), ContentHash: hr.Sum()}
			if !keep {
				m.ContentHash += ":" + mode
			}
			source := sources[i%len(sources)]
			if live {
				LiveBuild(b, source)
			}
			id, created, err := s.Ingest(Ctx, b, m, store.IngestOptions{KeepLogs: keep})
			if err != nil || !created {
				t.Fatalf("%s: %v created=%v", path, err, created)
			}
			got, gm, err := s.Build(Ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want := ParseFixture(t, path)
			if !keep {
				// Output, and the error lines taken from it, are kept
				// only when asked.
				want.ErrorContext = nil
				for _, v := range want.Vertices {
					v.Output, v.ErrorLines = nil, nil
				}
			}
			if live {
				LiveBuild(want, source)
			}
			NormTimes(want)
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("%s (%s) reads back differently:\n got %s\nwant %s", path, mode, g, w)
			}
			if gm.ContentHash != m.ContentHash || gm.Project != "fixtures" || !gm.Started.Equal(m.Started) || !reflect.DeepEqual(gm.Tags, b.ImageNames) {
				t.Errorf("%s: meta %+v", path, gm)
			}
		}
	}
	if n < 40 {
		t.Errorf("only %d fixtures parsed", n)
	}
	checkIntegrity(t, s)
}

func testDuplicateIngest(t *testing.T, open Opener) {
	s := open(t)
	b := ParseFixture(t, Probe("multistage-plain-cold.log"))
	id1, created1, err1 := s.Ingest(Ctx, b, store.Meta{Project: "p"}, store.IngestOptions{})
	id2, created2, err2 := s.Ingest(Ctx, ParseFixture(t, Probe("multistage-plain-cold.log")), store.Meta{Project: "p"}, store.IngestOptions{})
	if err1 != nil || err2 != nil || !created1 || created2 || id1 != id2 {
		t.Fatalf("twice: %d %v %v / %d %v %v", id1, created1, err1, id2, created2, err2)
	}
	// The same bytes hashed by HashReader, in a batch with a duplicate.
	data, _ := os.ReadFile(Probe("multistage-plain-warm.log"))
	hr := logfile.NewHashReader(strings.NewReader(string(data)))
	wb, _ := parse.Parse(hr, parse.Options{})
	res, err := s.IngestBatch(Ctx, []store.BatchItem{{Build: wb, Meta: store.Meta{Project: "p", ContentHash: hr.Sum()}}, {Build: wb, Meta: store.Meta{Project: "p", ContentHash: hr.Sum()}}})
	if err != nil || !res[0].Created || res[1].Created || res[0].ID != res[1].ID {
		t.Fatalf("batch: %+v %v", res, err)
	}
	h, err := s.History(Ctx, store.HistoryQuery{})
	if err != nil || len(h) != 2 {
		t.Fatalf("history after duplicates: %d builds, %v; want 2", len(h), err)
	}
	vertices := 0
	for _, r := range h {
		b, _, err := s.Build(Ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		vertices += len(b.Vertices)
	}
	if vertices != 20 {
		t.Errorf("%d vertices stored, want 20", vertices)
	}
	if !strings.HasPrefix(hr.Sum(), "sha256:") || len(hr.Sum()) != 71 {
		t.Errorf("hash %q", hr.Sum())
	}
}

func testResolve(t *testing.T, open Opener) {
	s := open(t)
	ids := IngestMulti(t, s)
	other := MustIngest(t, s, ParseFixture(t, Probe("plain-cold.log")), store.Meta{Project: "other", Started: T0.Add(-time.Hour),
		ContentHash: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"})
	tests := []struct {
		ref, project string
		want         int64
	}{
		{"latest", "", ids[4]},
		{"previous", "", ids[3]},
		{"latest~2", "multi", ids[2]},
		{"latest", "other", other},
		{strconv.Itoa(int(ids[1])), "", ids[1]},
		{"0123456", "", other},
		{"sha256:0123456789ab", "", other},
	}
	for _, tc := range tests {
		if got, err := s.Resolve(Ctx, tc.ref, tc.project); err != nil || got != tc.want {
			t.Errorf("Resolve(%q, %q) = %d, %v; want %d", tc.ref, tc.project, got, err, tc.want)
		}
	}
	for _, ref := range []string{"999", "previous@other", "latest~9", "fffffff"} {
		proj := ""
		if ref == "previous@other" {
			ref, proj = "previous", "other"
		}
		if _, err := s.Resolve(Ctx, ref, proj); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Resolve(%q, %q): %v, want store.ErrNotFound", ref, proj, err)
		}
	}
	if _, err := s.Resolve(Ctx, "yesterday", ""); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Resolve(yesterday): %v", err)
	}
}

func testStartTimeAndDuration(t *testing.T, open Opener) {
	raw := ParseFixture(t, Probe("multistage-rawjson-nocache.jsonl"))
	flag, file := T0, T0.Add(time.Hour)
	if at, src := store.StartTime(raw, flag, file); !at.Equal(raw.Started) || src != "log" {
		t.Errorf("rawjson: %v %s", at, src)
	}
	plain := ParseFixture(t, Probe("multistage-plain-cold.log"))
	if at, src := store.StartTime(plain, flag, file); !at.Equal(flag) || src != "flag" {
		t.Errorf("flag: %v %s", at, src)
	}
	if at, src := store.StartTime(plain, time.Time{}, file); !at.Equal(file) || src != "file" {
		t.Errorf("file: %v %s", at, src)
	}
	s := open(t)
	id := MustIngest(t, s, raw, store.Meta{Project: "p"}) // no Started: the log's
	sum, _ := s.Summary(Ctx, id)
	if !sum.StartedAt.Equal(raw.Started.Truncate(time.Millisecond)) || sum.DurationSource != "log" || !Near(sum.DurationSeconds, 3.525) {
		t.Errorf("rawjson summary: %+v", sum)
	}
	_, m, _ := s.Build(Ctx, id)
	if m.StartedSource != "log" {
		t.Errorf("started source %q", m.StartedSource)
	}
	if _, _, err := s.Ingest(Ctx, raw, store.Meta{ContentHash: "x"}, store.IngestOptions{}); err == nil {
		t.Error("ingest without a project succeeded")
	}
}

package gate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/sqlite"
)

const fixtures = "../../fixtures"

const (
	coldLog    = fixtures + "/buildkit-probe/multistage-plain-cold.log"
	warmLog    = fixtures + "/buildkit-probe/multistage-plain-warm.log"
	multiFile  = fixtures + "/buildkit-probe/dockerfiles/ctx-multi.Dockerfile"
	baseRunArg = `["/bin/busybox","sh","-c","for i in 1 2 3; do /bin/busybox echo step $i; /bin/busybox sleep 0.5; done"]`
)

func loadLog(t *testing.T, path string) *model.Build {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := parse.Parse(f, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// baseRun returns the build's RUN step of stage base (2.2s in the cold
// fixture).
func baseRun(t *testing.T, b *model.Build) *model.Vertex {
	t.Helper()
	for _, v := range b.Vertices {
		if v.Stage == "base" && v.Instruction == "RUN" && v.Args == baseRunArg {
			return v
		}
	}
	t.Fatal("no RUN step in stage base")
	return nil
}

// coldWith is the cold multi-stage build with the base RUN taking d.
func coldWith(t *testing.T, d time.Duration) *model.Build {
	t.Helper()
	b := loadLog(t, coldLog)
	baseRun(t, b).Duration = d
	return b
}

// history is a real database in a temporary directory.
type history struct {
	t   *testing.T
	s   *sqlite.Store
	day int
}

func newHistory(t *testing.T) *history {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &history{t: t, s: s}
}

// add ingests b as the next build of project on branch and returns its
// content hash.
func (h *history) add(b *model.Build, project, branch string) string {
	h.t.Helper()
	h.day++
	m := store.Meta{Project: project, Branch: branch, Started: time.Date(2026, 11, h.day, 12, 0, 0, 0, time.UTC), StartedSource: "flag"}
	m.ContentHash = store.BuildHash(b)
	if _, created, err := h.s.Ingest(context.Background(), b, m, store.IngestOptions{}); err != nil || !created {
		h.t.Fatalf("ingest: created %v, %v", created, err)
	}
	return m.ContentHash
}

func baseKey(t *testing.T, b *model.Build) model.Identity {
	t.Helper()
	keys := b.Identities()
	for i, v := range b.Vertices {
		if v == baseRun(t, b) {
			return keys[i]
		}
	}
	return model.Identity{}
}

func TestLoadBaseline(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t)
	h.add(coldWith(t, 2000*time.Millisecond), "shop", "main")
	failed := coldWith(t, 100*time.Second)
	failed.Status = model.StatusFailed
	h.add(failed, "shop", "main")                             // failures are not a baseline
	h.add(coldWith(t, 3100*time.Millisecond), "shop", "main") // the median is not the mean
	h.add(coldWith(t, 50*time.Second), "shop", "feature")     // another branch
	h.add(coldWith(t, 60*time.Second), "other", "main")       // another project
	h.add(loadLog(t, warmLog), "shop", "main")                // every step cached: no run times
	latest := h.add(coldWith(t, 2200*time.Millisecond), "shop", "main")

	key := baseKey(t, coldWith(t, time.Second))
	base, err := LoadBaseline(ctx, h.s, Query{Project: "shop", Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if base.Builds != 4 || base.Branch != "main" || base.FellBack {
		t.Fatalf("baseline over %d builds of %q (fell back %v), want 4 of main", base.Builds, base.Branch, base.FellBack)
	}
	if got := base.Steps[key]; got.Seconds != 2.2 || got.Runs != 3 {
		t.Errorf("base RUN baseline = %+v, want the median 2.2s of 3 runs", got)
	}

	// The last N builds only, newest first.
	base, err = LoadBaseline(ctx, h.s, Query{Project: "shop", Branch: "main", Builds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := base.Steps[key]; base.Builds != 2 || got.Seconds != 2.2 || got.Runs != 1 {
		t.Errorf("2 builds: %d builds, %+v (want the warm build and the 2.2s one)", base.Builds, got)
	}

	// The build being checked is not its own baseline.
	base, err = LoadBaseline(ctx, h.s, Query{Project: "shop", Branch: "main", Builds: 1, Exclude: latest})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := base.Steps[key]; base.Builds != 1 || ok {
		t.Errorf("excluding the latest: %d builds, steps %v (want only the warm build)", base.Builds, base.Steps)
	}

	// A branch without builds falls back to the default branch.
	base, err = LoadBaseline(ctx, h.s, Query{Project: "shop", Branch: "fix-cache", DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if base.Builds != 4 || base.Branch != "main" || !base.FellBack || !strings.Contains(base.Describe(), "(the default branch; this branch has none yet)") {
		t.Errorf("fallback: %+v", base)
	}

	// Nothing to compare with.
	for _, q := range []Query{
		{Project: "shop", Branch: "fix-cache"},
		{Project: "nosuch", Branch: "main", DefaultBranch: "master"},
		{Project: "shop"},
		{},
	} {
		base, err = LoadBaseline(ctx, h.s, q)
		if err != nil {
			t.Fatal(err)
		}
		if base.Builds != 0 || base.Note == "" {
			t.Errorf("%+v: %+v", q, base)
		}
	}
}

func TestLoadBaselineManyFailures(t *testing.T) {
	// Failures crowd the newest rows: the window must widen past them.
	h := newHistory(t)
	h.add(coldWith(t, 2*time.Second), "shop", "main")
	for i := 0; i < 30; i++ {
		b := coldWith(t, time.Duration(i+1)*time.Second)
		b.Status = model.StatusFailed
		h.add(b, "shop", "main")
	}
	base, err := LoadBaseline(context.Background(), h.s, Query{Project: "shop", Branch: "main", Builds: 3})
	if err != nil {
		t.Fatal(err)
	}
	if base.Builds != 1 {
		t.Errorf("found %d successful builds, want 1", base.Builds)
	}
}

func explain(t *testing.T, b *model.Build) *report.Explanation {
	t.Helper()
	df, err := dockerfile.ParseFile(multiFile)
	if err != nil {
		t.Fatal(err)
	}
	return report.Explain(b, report.Options{Dockerfile: df})
}

func TestRegressionGate(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t)
	for _, ms := range []int{2000, 3100, 2200} {
		h.add(coldWith(t, time.Duration(ms)*time.Millisecond), "shop", "main")
	}
	base, err := LoadBaseline(ctx, h.s, Query{Project: "shop", Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Gates: []string{Regression}, MaxRegression: 0.25, RegressionFloor: 5 * time.Second}

	cur := coldWith(t, 9900*time.Millisecond)
	res := Check(cur, explain(t, cur), base, cfg)
	if len(res) != 1 || res[0].Status != StatusFail || len(res[0].Regressions) != 1 {
		t.Fatalf("9.9s against 2.2s: %+v", res)
	}
	sr := res[0].Regressions[0]
	if sr.Seconds != 9.9 || sr.BaselineSeconds != 2.2 || sr.BaselineRuns != 3 || sr.Change != 3.5 || sr.Line == nil || *sr.Line != 3 {
		t.Errorf("regression = %+v", sr)
	}
	if !strings.Contains(sr.Message, "took 9.9s, 350% longer than its baseline of 2.2s (the median of 3 runs in the last 3 successful builds of shop on main); the limit is +25%") {
		t.Errorf("message = %q", sr.Message)
	}
	if !strings.HasPrefix(res[0].Message, "1 step regressed over the limit of +25% against the median over the last 3 successful builds of shop on main: [base 2/2] RUN") {
		t.Errorf("gate message = %q", res[0].Message)
	}

	// Within the limit, or over it by less than the floor.
	for _, tt := range []struct {
		d     time.Duration
		floor time.Duration
		want  string
	}{
		{2500 * time.Millisecond, 0, StatusPass},       // +14%
		{3 * time.Second, 5 * time.Second, StatusPass}, // +36%, but 0.8s
		{3 * time.Second, 0, StatusFail},               // +36%
		{1 * time.Second, 0, StatusPass},               // faster
	} {
		cur := coldWith(t, tt.d)
		c := cfg
		c.RegressionFloor = tt.floor
		if res := Check(cur, explain(t, cur), base, c); res[0].Status != tt.want {
			t.Errorf("%v with floor %v: %s (%s)", tt.d, tt.floor, res[0].Status, res[0].Message)
		}
	}

	// A cached step has no time to compare; a failed one has an unrelated one.
	warm := loadLog(t, warmLog)
	if res := Check(warm, explain(t, warm), base, cfg); res[0].Status != StatusPass || !strings.Contains(res[0].Message, "so none can have regressed") {
		t.Errorf("warm build: %+v", res[0])
	}
	broken := coldWith(t, time.Minute)
	baseRun(t, broken).Error = "exit code: 1"
	if res := Check(broken, explain(t, broken), base, cfg); res[0].Status != StatusPass {
		t.Errorf("failed step compared: %+v", res[0])
	}

	// Without history the gate fails closed, unless asked to skip.
	for _, b := range []*Baseline{nil, {Note: "no earlier successful build of shop on main in the history"}} {
		res := Check(cur, explain(t, cur), b, cfg)
		if res[0].Status != StatusError || !strings.Contains(res[0].Message, "fails closed") || !Failed(res) {
			t.Errorf("no history: %+v", res[0])
		}
		skip := cfg
		skip.SkipWithoutHistory = true
		res = Check(cur, explain(t, cur), b, skip)
		if res[0].Status != StatusSkip || res[0].Message == "" || Failed(res) {
			t.Errorf("no history, skipping: %+v", res[0])
		}
	}
}

func TestDurationGate(t *testing.T) {
	seed := loadLog(t, fixtures+"/seed/tty-seed-python-docker-demo.log") // 11.7s, stated
	e := report.Explain(seed, report.Options{})
	res := Check(seed, e, nil, Config{Gates: []string{Duration}, MaxDuration: 10 * time.Second})
	if res[0].Status != StatusFail || res[0].Message != "the build took 11.7s, over the limit of 10.0s" {
		t.Errorf("11.7s over 10s: %+v", res[0])
	}
	res = Check(seed, e, nil, Config{Gates: []string{Duration}, MaxDuration: 12 * time.Second})
	if res[0].Status != StatusPass || Failed(res) {
		t.Errorf("11.7s within 12s: %+v", res[0])
	}
	// A plain log states no total: the summed step time, said to be so.
	cold := loadLog(t, coldLog)
	res = Check(cold, explain(t, cold), nil, Config{Gates: []string{Duration}, MaxDuration: 3 * time.Second})
	if res[0].Status != StatusFail || !strings.Contains(res[0].Message, "the build's steps took 3.1s in total (the log states no build time") {
		t.Errorf("plain: %+v", res[0])
	}
	// A log that ends before the build does: over the limit already
	// fails; within it so far cannot pass.
	cut := loadLog(t, fixtures+"/seed/tty-seed-python-docker-demo.log")
	cut.Duration, cut.DurationIsLowerBound = 8*time.Second, true
	if res := Check(cut, report.Explain(cut, report.Options{}), nil, Config{Gates: []string{Duration}, MaxDuration: 5 * time.Second}); res[0].Status != StatusFail ||
		!strings.Contains(res[0].Message, "took at least 8.0s") {
		t.Errorf("at least 8s against 5s: %+v", res[0])
	}
	if res := Check(cut, report.Explain(cut, report.Options{}), nil, Config{Gates: []string{Duration}, MaxDuration: 10 * time.Second}); res[0].Status != StatusError ||
		!Failed(res) || !strings.Contains(res[0].Message, "unknown") {
		t.Errorf("at least 8s against 10s: %+v", res[0])
	}
	// Nothing timed at all.
	empty := &model.Build{Format: model.FormatLegacy, Status: model.StatusSucceeded, Vertices: []*model.Vertex{{Name: "Step 1/1 : FROM x", Index: 1, Total: 1, Instruction: "FROM", Completed: true}}}
	if res := Check(empty, report.Explain(empty, report.Options{}), nil, Config{Gates: []string{Duration}, MaxDuration: time.Second}); res[0].Status != StatusSkip {
		t.Errorf("untimed: %+v", res[0])
	}
}

func TestCacheHitGate(t *testing.T) {
	cold := loadLog(t, coldLog) // 1 of 6 steps cached
	e := explain(t, cold)
	res := Check(cold, e, nil, Config{Gates: []string{CacheHit}, MinCacheHit: 0.5})
	if res[0].Status != StatusFail || res[0].Message != "cache hit rate 17% (1 of 6 steps cached), under the minimum of 50%" {
		t.Errorf("17%% against 50%%: %+v", res[0])
	}
	if res := Check(cold, e, nil, Config{Gates: []string{CacheHit}, MinCacheHit: 0.1}); res[0].Status != StatusPass {
		t.Errorf("17%% against 10%%: %+v", res[0])
	}
	none := &model.Build{Format: model.FormatPlain, Status: model.StatusFailed}
	if res := Check(none, report.Explain(none, report.Options{}), nil, Config{Gates: []string{CacheHit}, MinCacheHit: 0.5}); res[0].Status != StatusSkip {
		t.Errorf("no steps: %+v", res[0])
	}
	// Only the gates asked for run, in a fixed order.
	res = Check(cold, e, nil, Config{Gates: []string{CacheHit, Duration}, MinCacheHit: 0.1, MaxDuration: time.Hour})
	if len(res) != 2 || res[0].Gate != Duration || res[1].Gate != CacheHit {
		t.Errorf("results = %+v", res)
	}
}

func TestStepIdentities(t *testing.T) {
	vs := []*model.Vertex{
		{Name: "[1/3] FROM docker.io/library/python:3.12@sha256:abcd", Index: 1, Total: 3, Instruction: "FROM", Args: "docker.io/library/python:3.12@sha256:abcd"},
		{Name: "[2/3] RUN  make", Index: 2, Total: 3, Instruction: "RUN", Args: " make"},
		{Name: "[3/3] RUN make", Index: 3, Total: 3, Instruction: "RUN", Args: "make"},
		{Name: "[internal] load build context"},
	}
	keys := model.Identities(vs)
	if keys[0].Text != "FROM python:3.12" || keys[1].Text != "RUN make" || keys[1].Occurrence != 0 || keys[2].Occurrence != 1 || keys[3].Kind == model.KindStep {
		t.Errorf("keys = %+v", keys)
	}
	// The [n/m] position is not part of the identity.
	moved := []*model.Vertex{{Name: "[4/9] RUN make", Index: 4, Total: 9, Instruction: "RUN", Args: "make"}}
	if model.Identities(moved)[0] != keys[1] {
		t.Errorf("a moved step changed identity: %+v", model.Identities(moved)[0])
	}
}

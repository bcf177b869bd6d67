package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/collect/buildenv"
	"github.com/buildstats/buildstats/store/sqlite"
)

const probeDir = "../../fixtures/buildkit-probe/"

// The three builds of the multistage fixture Dockerfile, as the logs show
// them (seconds):
//
//	step                   warm     cold     nocache
//	[base 1/2] COPY        cached   cached   0.1
//	[base 2/2] RUN         cached   2.2      1.9
//	[second 1/2] COPY      cached   0.0      0.1
//	[second 2/2] RUN       cached   0.3      0.4
//	[stage-2 1/2] COPY     cached   0.0      0.0
//	[stage-2 2/2] COPY     cached   0.1      0.1
//	export                 0.1      0.4      1.0 ("exporting to image")
//	context                54 B     1.98 MB  54 B
var (
	msWarmLog    = probeDir + "multistage-plain-warm.log"
	msColdLog    = probeDir + "multistage-plain-cold.log"
	msNocacheLog = probeDir + "docker-plain-multistage-nocache.log"
)

const featureCommit = "0123456789abcdef0123456789abcdef01234567"

// testHistory is a test's build history database and the environment that
// points buildstats at it.
type testHistory struct {
	t   *testing.T
	db  string
	env map[string]string
}

func newHistory(t *testing.T) *testHistory {
	dir := t.TempDir()
	db := filepath.Join(dir, "history.db")
	return &testHistory{t: t, db: db, env: map[string]string{"BUILDSTATS_DB": db, "HOME": dir}}
}

func (h *testHistory) run(args ...string) result {
	h.t.Helper()
	return run(h.t, nil, h.env, false, args...)
}

// ok runs buildstats and fails the test unless it exits 0.
func (h *testHistory) ok(args ...string) result {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 {
		h.t.Fatalf("buildstats %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r
}

// jsonOut runs buildstats and decodes its standard output into v.
func (h *testHistory) jsonOut(v any, args ...string) {
	h.t.Helper()
	r := h.ok(args...)
	if err := json.Unmarshal([]byte(r.out), v); err != nil {
		h.t.Fatalf("buildstats %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, r.out)
	}
}

// historyJSON runs buildstats history --format json and decodes its
// builds into v, checking the contract's envelope.
func (h *testHistory) historyJSON(v any, args ...string) {
	h.t.Helper()
	var list struct {
		SchemaVersion int             `json:"schema_version"`
		Builds        json.RawMessage `json:"builds"`
	}
	h.jsonOut(&list, args...)
	if list.SchemaVersion != 2 {
		h.t.Fatalf("buildstats %s: schema_version %d, want 2", strings.Join(args, " "), list.SchemaVersion)
	}
	if err := json.Unmarshal(list.Builds, v); err != nil {
		h.t.Fatalf("buildstats %s: builds: %v", strings.Join(args, " "), err)
	}
}

// demoHistory holds the warm (#1), cold (#2) and nocache (#3) builds of
// project demo, a day apart; the last on branch feature.
func demoHistory(t *testing.T) *testHistory {
	h := newHistory(t)
	h.ok("ingest", "--project", "demo", "--branch", "trunk", "--time", "2026-11-20T10:00:00Z", msWarmLog)
	h.ok("ingest", "--project", "demo", "--branch", "trunk", "--time", "2026-11-21T10:00:00Z", msColdLog)
	h.ok("ingest", "--project", "demo", "--branch", "feature", "--commit", featureCommit, "--time", "2026-11-22T10:00:00Z", msNocacheLog)
	return h
}

type historyRow struct {
	ID              int64    `json:"id"`
	Project         string   `json:"project"`
	Branch          string   `json:"branch"`
	Commit          string   `json:"commit"`
	StartedAt       string   `json:"started_at"`
	Status          string   `json:"status"`
	DurationSeconds float64  `json:"duration_seconds"`
	StepsTotal      int      `json:"steps_total"`
	StepsCached     int      `json:"steps_cached"`
	CIProvider      string   `json:"ci_provider"`
	RunURL          string   `json:"run_url"`
	Runner          string   `json:"runner"`
	Dockerfile      string   `json:"dockerfile"`
	Tags            []string `json:"tags"`
	ContentHash     string   `json:"content_hash"`
}

func TestHistoryJSON(t *testing.T) {
	h := demoHistory(t)
	var raw []map[string]json.RawMessage
	h.historyJSON(&raw, "history", "--format", "json")
	if len(raw) != 3 {
		t.Fatalf("%d builds, want 3", len(raw))
	}
	for _, k := range []string{"id", "project", "branch", "commit", "started_at", "status", "duration_seconds", "steps_total", "steps_cached"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("build lacks %q", k)
		}
	}
	var rows []historyRow
	h.historyJSON(&rows, "history", "--format", "json")
	want := []historyRow{
		{ID: 3, Project: "demo", Branch: "feature", Commit: featureCommit, StartedAt: "2026-11-22T10:00:00Z", Status: "succeeded", DurationSeconds: 3.7, StepsTotal: 6, StepsCached: 0},
		{ID: 2, Project: "demo", Branch: "trunk", StartedAt: "2026-11-21T10:00:00Z", Status: "succeeded", DurationSeconds: 3.1, StepsTotal: 6, StepsCached: 1},
		{ID: 1, Project: "demo", Branch: "trunk", StartedAt: "2026-11-20T10:00:00Z", Status: "succeeded", DurationSeconds: 0.1, StepsTotal: 6, StepsCached: 6},
	}
	for i, w := range want {
		g := rows[i]
		if g.ID != w.ID || g.Project != w.Project || g.Branch != w.Branch || g.Commit != w.Commit || g.StartedAt != w.StartedAt ||
			g.Status != w.Status || g.DurationSeconds != w.DurationSeconds || g.StepsTotal != w.StepsTotal || g.StepsCached != w.StepsCached {
			t.Errorf("row %d = %+v, want %+v", i, g, w)
		}
	}

	// Filters and the limit.
	var some []historyRow
	h.historyJSON(&some, "history", "--format", "json", "--limit", "2")
	if len(some) != 2 || some[0].ID != 3 || some[1].ID != 2 {
		t.Errorf("--limit 2: %+v", some)
	}
	h.historyJSON(&some, "history", "--format", "json", "--branch", "trunk")
	if len(some) != 2 || some[0].ID != 2 {
		t.Errorf("--branch trunk: %+v", some)
	}
	h.historyJSON(&some, "history", "--format", "json", "--since", "2026-11-21")
	if len(some) != 2 || some[1].ID != 2 {
		t.Errorf("--since: %+v", some)
	}
	h.historyJSON(&some, "history", "--format", "json", "--since", "36h") // Now is 2026-11-23 12:00
	if len(some) != 1 || some[0].ID != 3 {
		t.Errorf("--since 36h: %+v", some)
	}
	h.historyJSON(&some, "history", "--format", "json", "--project", "other")
	if some == nil || len(some) != 0 {
		t.Errorf("--project other: %+v, want []", some)
	}
}

func TestHistoryTableAndMarkdown(t *testing.T) {
	h := demoHistory(t)
	out := h.ok("history").out
	for _, want := range []string{"│  3 │ 2026-11-22 10:00 UTC │ demo    │ feature │ 0123456789ab │ succeeded │    ~3.7s │   6 │      0 │",
		"│  1 │ 2026-11-20 10:00 UTC │ demo    │ trunk   │", "~ the sum of the step times"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	md := h.ok("history", "--format", "markdown", "--limit", "1").out
	if !strings.Contains(md, "| 3 | 2026-11-22 10:00 UTC | demo | feature | 0123456789ab | succeeded | ~3.7s | 6 | 0 |") || strings.Contains(md, "| 2 |") {
		t.Errorf("markdown:\n%s", md)
	}
	for _, args := range [][]string{{"history", "--limit", "-1"}, {"history", "--format", "yaml"}, {"history", "--since", "soon"}} {
		if r := h.run(args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2", args, r.code)
		}
	}
}

func TestShow(t *testing.T) {
	h := demoHistory(t)
	out := h.ok("show", "--project", "demo", "2").out
	for _, want := range []string{
		"Build #2 of demo · branch trunk · started 2026-11-21 10:00 UTC\n",
		"\nOutput was not kept: store builds with --keep-logs to keep it.\n\nBuild succeeded · plain log\n",
		"Steps: 5 ran, 1 cached",
		"Compared with build #1\n#1 is the previous build of demo in the history",
		"5 steps came from the cache in #1 and ran this time, taking 2.6s:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show 2 lacks %q:\n%s", want, out)
		}
	}

	var got struct {
		Build struct {
			ID     int64  `json:"id"`
			Branch string `json:"branch"`
			Commit string `json:"commit"`
		} `json:"build"`
		Steps   []map[string]any `json:"steps"`
		History *struct {
			BuildID  int64  `json:"build_id"`
			Basis    string `json:"basis"`
			Previous struct {
				ID int64 `json:"id"`
			} `json:"previous"`
			CacheLost        []map[string]any `json:"cache_lost"`
			CacheLostSeconds float64          `json:"cache_lost_seconds"`
		} `json:"history"`
	}
	// latest of demo is #3; --project names the project.
	h.jsonOut(&got, "show", "--project", "demo", "--format", "json")
	if got.Build.ID != 3 || got.Build.Commit != featureCommit || len(got.Steps) != 10 {
		t.Errorf("show latest: build %+v, %d steps", got.Build, len(got.Steps))
	}
	// #3 ran everything; of that only [base 1/2] was cached in #2.
	if got.History == nil || got.History.BuildID != 3 || got.History.Basis != "previous" || got.History.Previous.ID != 2 ||
		len(got.History.CacheLost) != 1 || got.History.CacheLost[0]["name"] != "[base 1/2] COPY busybox /bin/busybox" || got.History.CacheLostSeconds != 0.1 {
		t.Errorf("show latest history = %+v", got.History)
	}
	// The first build has nothing to compare with.
	got.History = nil
	h.jsonOut(&got, "show", "--format", "json", "1")
	if got.History != nil {
		t.Errorf("the first build has history %+v", got.History)
	}

	md := h.ok("show", "--format", "markdown", "--all-projects", "previous").out
	if !strings.HasPrefix(md, "# Build #2 of demo\n\n") || !strings.Contains(md, "## Compared with build #1") {
		t.Errorf("markdown:\n%s", md)
	}

	// latest of the working directory's project: there is none.
	r := h.run("show")
	if r.code != 2 || !strings.Contains(r.err, "build not found") || !strings.Contains(r.err, "--all-projects") || strings.Count(r.err, "\n") != 1 {
		t.Errorf("show with no builds of the current project: exit %d, stderr %q", r.code, r.err)
	}
	if r := h.run("show", "99"); r.code != 2 || !strings.Contains(r.err, "build 99: build not found") {
		t.Errorf("show 99: exit %d, stderr %q", r.code, r.err)
	}
	if r := h.run("show", "--project", "demo", "--all-projects"); r.code != 2 {
		t.Errorf("--project with --all-projects: exit %d", r.code)
	}
}

// A build stored without --keep-logs has no step output to show.
func TestShowKeepLogs(t *testing.T) {
	type shown struct {
		Error struct {
			Output []string `json:"output"`
		} `json:"error"`
	}
	for _, keep := range []bool{false, true} {
		h := newHistory(t)
		args := []string{"ingest", "--project", "fail", probeDir + "run-fail-plain.log"}
		if keep {
			args = append(args[:1], append([]string{"--keep-logs"}, args[1:]...)...)
		}
		h.ok(args...)
		var got shown
		h.jsonOut(&got, "show", "--format", "json", "1")
		want := 0
		if keep {
			want = 2
		}
		if len(got.Error.Output) != want {
			t.Errorf("keep-logs %v: error output %q, want %d lines", keep, got.Error.Output, want)
		}
	}
}

type comparison struct {
	Before struct {
		ID int64 `json:"id"`
	} `json:"before"`
	After struct {
		ID int64 `json:"id"`
	} `json:"after"`
	DurationDeltaSeconds float64 `json:"duration_delta_seconds"`
	Steps                []struct {
		Text          string  `json:"text"`
		Stage         string  `json:"stage"`
		BeforeState   string  `json:"before_state"`
		AfterState    string  `json:"after_state"`
		BeforeSeconds float64 `json:"before_seconds"`
		AfterSeconds  float64 `json:"after_seconds"`
		CacheChanged  bool    `json:"cache_changed"`
	} `json:"steps"`
	FirstCacheChange *struct {
		Text         string  `json:"text"`
		BeforeState  string  `json:"before_state"`
		AfterState   string  `json:"after_state"`
		AfterSeconds float64 `json:"after_seconds"`
	} `json:"first_cache_change"`
	CacheLostSeconds   float64 `json:"cache_lost_seconds"`
	CacheGainedSeconds float64 `json:"cache_gained_seconds"`
	BaseImageChanges   []struct {
		Text         string `json:"text"`
		BeforeDigest string `json:"before_digest"`
		AfterDigest  string `json:"after_digest"`
	} `json:"base_image_changes"`
	ContextBytesBefore int64 `json:"context_bytes_before"`
	ContextBytesAfter  int64 `json:"context_bytes_after"`
	Added              []struct {
		Text string `json:"text"`
	} `json:"added"`
	Removed []struct {
		Text string `json:"text"`
	} `json:"removed"`
}

func TestComparePreviousLatest(t *testing.T) {
	h := demoHistory(t)
	// previous latest of demo: cold (#2) and nocache (#3).
	var c comparison
	h.jsonOut(&c, "compare", "--project", "demo", "--format", "json")
	if c.Before.ID != 2 || c.After.ID != 3 {
		t.Fatalf("compared #%d with #%d, want #2 with #3", c.Before.ID, c.After.ID)
	}
	// 3.7s - 3.1s of summed step time.
	if c.DurationDeltaSeconds != 0.6 {
		t.Errorf("duration delta %v, want 0.6", c.DurationDeltaSeconds)
	}
	// [base 1/2] is the one step cached in #2; it ran for 0.1s in #3.
	if f := c.FirstCacheChange; f == nil || f.Text != "COPY busybox /bin/busybox" || f.BeforeState != "cached" || f.AfterState != "done" || f.AfterSeconds != 0.1 {
		t.Errorf("first cache change = %+v", c.FirstCacheChange)
	}
	if c.CacheLostSeconds != 0.1 || c.CacheGainedSeconds != 0 {
		t.Errorf("cache lost %v, gained %v; want 0.1, 0", c.CacheLostSeconds, c.CacheGainedSeconds)
	}
	if c.ContextBytesBefore != 1980000 || c.ContextBytesAfter != 54 {
		t.Errorf("context %d -> %d, want 1980000 -> 54", c.ContextBytesBefore, c.ContextBytesAfter)
	}
	if len(c.Added) != 0 || len(c.Removed) != 0 || len(c.BaseImageChanges) != 0 {
		t.Errorf("added %v removed %v base images %v", c.Added, c.Removed, c.BaseImageChanges)
	}
	// #3's ten vertices, then the export only #2 had.
	if len(c.Steps) != 11 {
		t.Fatalf("%d steps, want 11", len(c.Steps))
	}
	for _, s := range c.Steps {
		if s.Stage == "base" && strings.HasPrefix(s.Text, "RUN") && (s.BeforeSeconds != 2.2 || s.AfterSeconds != 1.9 || s.CacheChanged) {
			t.Errorf("[base] RUN = %+v, want 2.2s -> 1.9s", s)
		}
	}
	if last := c.Steps[10]; last.Text != "exporting to oci image format" || last.AfterState != "absent" || last.BeforeSeconds != 0.4 {
		t.Errorf("last step = %+v", last)
	}

	// warm -> cold: the RUN of stage base lost the cache first; the five
	// steps that lost it took 2.2 + 0.0 + 0.3 + 0.0 + 0.1 s.
	h.jsonOut(&c, "compare", "--format", "json", "1", "2")
	if f := c.FirstCacheChange; f == nil || !strings.HasPrefix(f.Text, `RUN ["/bin/busybox","sh","-c","for i in 1 2 3`) || f.AfterSeconds != 2.2 {
		t.Errorf("first cache change = %+v", c.FirstCacheChange)
	}
	if c.CacheLostSeconds != 2.6 || c.ContextBytesBefore != 54 || c.ContextBytesAfter != 1980000 {
		t.Errorf("cache lost %v, context %d -> %d", c.CacheLostSeconds, c.ContextBytesBefore, c.ContextBytesAfter)
	}

	out := h.ok("compare", "1", "2").out
	for _, want := range []string{
		"Build #1 -> #2 of demo: 0.1s -> 3.1s (+3.0s)",
		`The cache first broke at [base] RUN ["/bin/busybox","sh","-c","for i in 1 2 3; do /bin/busybox echo step $i; /bin/busybox sleep 0.5; done"]: cached in #1, ran in #2 (2.2s).`,
		"Lost cache hits cost 2.6s: 5 steps cached in #1 ran in #2.",
		"Build context: 54 B -> 2.0 MB.",
		"│ [second] COPY a.txt /a.txt ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	md := h.ok("compare", "--project", "demo", "--format", "markdown", "1").out // 1 against latest
	if !strings.HasPrefix(md, "# Build #1 -&gt; #3 of demo") || !strings.Contains(md, "| Step | #1 | #3 | Change | Note |") {
		t.Errorf("markdown:\n%s", md)
	}

	if r := h.run("compare", "2", "2"); r.code != 2 || !strings.Contains(r.err, "same build") {
		t.Errorf("compare 2 2: exit %d, %q", r.code, r.err)
	}
	if r := h.run("compare"); r.code != 2 || !strings.Contains(r.err, "--project NAME or --all-projects") {
		t.Errorf("compare in a project without builds: exit %d, %q", r.code, r.err)
	}
}

// Base image digests, and steps added and removed between two Dockerfiles.
func TestCompareBaseImageAndSteps(t *testing.T) {
	h := newHistory(t)
	seed, err := os.ReadFile(seedLog)
	if err != nil {
		t.Fatal(err)
	}
	const oldDigest = "dc927c886433ecf28f70ba5b659dc5f1b8fa1a47bed65ccb7aa01650169aeb6f"
	newDigest := strings.Repeat("ab", 32)
	bumped := filepath.Join(t.TempDir(), "bumped.log")
	if err := os.WriteFile(bumped, bytes.ReplaceAll(seed, []byte(oldDigest), []byte(newDigest)), 0o644); err != nil {
		t.Fatal(err)
	}
	h.ok("ingest", "--project", "py", "--time", "2026-11-20", seedLog)
	h.ok("ingest", "--project", "py", "--time", "2026-11-21", bumped)
	var c comparison
	h.jsonOut(&c, "compare", "--project", "py", "--format", "json")
	if len(c.BaseImageChanges) != 1 || c.BaseImageChanges[0].Text != "FROM python:3.8-slim" ||
		c.BaseImageChanges[0].BeforeDigest != "sha256:"+oldDigest || c.BaseImageChanges[0].AfterDigest != "sha256:"+newDigest {
		t.Errorf("base image changes = %+v", c.BaseImageChanges)
	}
	if out := h.ok("compare", "--project", "py").out; !strings.Contains(out, "Base image changed: FROM python:3.8-slim, sha256:dc927c886433 -> sha256:abababababab.") {
		t.Errorf("table:\n%s", out)
	}

	// multistage cold (#3) against plain-cold (#4), another Dockerfile:
	// its three steps are new, the six of the multistage build gone.
	h.ok("ingest", "--project", "py", "--time", "2026-11-22", msColdLog)
	h.ok("ingest", "--project", "py", "--time", "2026-11-23", probeDir+"plain-cold.log")
	h.jsonOut(&c, "compare", "--project", "py", "--format", "json")
	var added, removed []string
	for _, a := range c.Added {
		added = append(added, a.Text)
	}
	for _, r := range c.Removed {
		removed = append(removed, r.Text)
	}
	if strings.Join(added, "|") != "COPY a.txt /a.txt|COPY big.bin /big.bin|WORKDIR /app" || len(removed) != 6 {
		t.Errorf("added %q, removed %q", added, removed)
	}
	if c.FirstCacheChange != nil {
		t.Errorf("no step is in both builds, yet the first cache change is %+v", c.FirstCacheChange)
	}
}

type stepStats struct {
	Kind    string  `json:"kind"`
	Since   string  `json:"since"`
	Project *string `json:"project"`
	Branch  *string `json:"branch"`
	Builds  int     `json:"builds"`
	Steps   []struct {
		Project   string  `json:"project"`
		Kind      string  `json:"kind"`
		Stage     string  `json:"stage"`
		Text      string  `json:"text"`
		Builds    int     `json:"builds"`
		Runs      int     `json:"runs"`
		CacheHits int     `json:"cache_hits"`
		MissRate  float64 `json:"miss_rate"`
		P50       float64 `json:"p50_seconds"`
		P95       float64 `json:"p95_seconds"`
		Max       float64 `json:"max_seconds"`
		Total     float64 `json:"total_seconds"`
		Lost      float64 `json:"lost_seconds"`
	} `json:"steps"`
}

// step returns the figures of the step of stage whose text starts with
// prefix.
func (s *stepStats) step(t *testing.T, stage, prefix string) int {
	t.Helper()
	for i, st := range s.Steps {
		if st.Stage == stage && strings.HasPrefix(st.Text, prefix) {
			return i
		}
	}
	t.Fatalf("no step [%s] %s in %+v", stage, prefix, s.Steps)
	return -1
}

func TestSlow(t *testing.T) {
	h := demoHistory(t)
	var s stepStats
	h.jsonOut(&s, "slow", "--project", "demo", "--format", "json")
	// The default window is 30 days before Now (2026-11-23 12:00 UTC).
	if s.Kind != "slow" || s.Since != "2026-10-24T12:00:00Z" || s.Project == nil || *s.Project != "demo" || s.Branch != nil || s.Builds != 3 {
		t.Errorf("window = %+v", s)
	}
	// Ranked by total run time: RUN of base 2.2 + 1.9, then the Docker
	// export (1.0), then RUN of second 0.3 + 0.4.
	if len(s.Steps) < 3 {
		t.Fatalf("%d steps", len(s.Steps))
	}
	run := s.Steps[0]
	if run.Stage != "base" || !strings.HasPrefix(run.Text, "RUN") || run.Builds != 3 || run.Runs != 2 || run.CacheHits != 1 ||
		run.P50 != 1.9 || run.P95 != 2.2 || run.Max != 2.2 || run.Total != 4.1 || run.MissRate != 0.667 {
		t.Errorf("first = %+v", run)
	}
	if s.Steps[1].Text != "exporting to image" || s.Steps[1].Total != 1.0 || s.Steps[1].MissRate != 0 {
		t.Errorf("second = %+v", s.Steps[1])
	}
	if st := s.Steps[2]; st.Stage != "second" || st.Runs != 2 || st.P50 != 0.3 || st.P95 != 0.4 || st.Total != 0.7 {
		t.Errorf("third = %+v", st)
	}
	// Steps that were always cached are left out: none here, but [base]
	// COPY ran once in three builds.
	copyStep := s.Steps[s.step(t, "base", "COPY")]
	if copyStep.Runs != 1 || copyStep.CacheHits != 2 || copyStep.MissRate != 0.333 {
		t.Errorf("[base] COPY = %+v", copyStep)
	}

	h.jsonOut(&s, "slow", "--project", "demo", "--format", "json", "--branch", "trunk")
	if st := s.Steps[0]; s.Builds != 2 || st.Runs != 1 || st.CacheHits != 1 || st.Total != 2.2 || st.MissRate != 0.5 {
		t.Errorf("--branch trunk: %d builds, first %+v", s.Builds, st)
	}
	h.jsonOut(&s, "slow", "--project", "demo", "--format", "json", "--since", "2026-11-21T12:00:00Z", "--limit", "1")
	if len(s.Steps) != 1 || s.Builds != 1 || s.Steps[0].P50 != 1.9 || s.Steps[0].Runs != 1 {
		t.Errorf("--since --limit 1: %+v", s)
	}
	h.jsonOut(&s, "slow", "--project", "demo", "--format", "json", "--until", "2026-11-21")
	if s.Builds != 1 || len(s.Steps) != 4 { // the warm build ran only its internal steps and export
		t.Errorf("--until: %+v", s)
	}

	out := h.ok("slow", "--project", "demo").out
	for _, want := range []string{"Slowest steps: demo since 2026-10-24 12:00 UTC (3 builds)", "│ STEP ", "P50", "│ exporting to image ", "│         - │  1.0s │"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	md := h.ok("slow", "--all-projects", "--format", "markdown", "--limit", "1").out
	if !strings.Contains(md, "# Slowest steps\n\nall projects since 2026-10-24 12:00 UTC (3 builds)\n") ||
		!strings.Contains(md, `| demo: \[base\] RUN`) || !strings.Contains(md, "| 3 | 2 | 1.9s | 2.2s | 2.2s | 67% | 4.1s |") {
		t.Errorf("markdown:\n%s", md)
	}

	// The working directory's project has no builds: an empty report and
	// a hint on stderr.
	r := h.ok("slow")
	if !strings.Contains(r.out, "No builds in this window.") || !strings.Contains(r.err, "--all-projects") {
		t.Errorf("slow in another project: %q %q", r.out, r.err)
	}
}

func TestMisses(t *testing.T) {
	h := demoHistory(t)
	var s stepStats
	h.jsonOut(&s, "misses", "--project", "demo", "--format", "json")
	if s.Kind != "misses" || s.Builds != 3 {
		t.Errorf("window = %+v", s)
	}
	// Dockerfile steps only, ranked by the time the misses took.
	var texts []string
	for _, st := range s.Steps {
		if st.Kind != "step" {
			t.Errorf("%s is not a Dockerfile step", st.Text)
		}
		texts = append(texts, st.Stage+" "+strings.Fields(st.Text)[0])
	}
	if len(s.Steps) != 6 || texts[0] != "base RUN" || texts[1] != "second RUN" {
		t.Fatalf("misses = %q", texts)
	}
	if st := s.Steps[0]; st.Lost != 4.1 || st.Runs != 2 || st.CacheHits != 1 || st.MissRate != 0.667 {
		t.Errorf("[base] RUN = %+v", st)
	}
	if st := s.Steps[1]; st.Lost != 0.7 || st.P50 != 0.3 || st.Max != 0.4 {
		t.Errorf("[second] RUN = %+v", st)
	}
	if st := s.Steps[s.step(t, "base", "COPY")]; st.Lost != 0.1 || st.Runs != 1 || st.CacheHits != 2 {
		t.Errorf("[base] COPY = %+v", st)
	}
	out := h.ok("misses", "--project", "demo", "--limit", "2").out
	for _, want := range []string{"Cache misses: demo since", "│ MISSES │ HITS │ MISS RATE │", "│      3 │      2 │    1 │       67% │ 1.9s │ 2.2s │ 2.2s │ 4.1s │"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "COPY") {
		t.Errorf("--limit 2 listed a third step:\n%s", out)
	}
}

// The current project, from the working directory, is where ingest files
// builds without --project and where slow, misses, show and compare look.
func TestDefaultProject(t *testing.T) {
	h := newHistory(t)
	h.ok("ingest", "--time", "2026-11-20", msWarmLog)
	h.ok("ingest", "--time", "2026-11-21", msColdLog)
	cwd, _ := os.Getwd()
	project, git := buildenv.DetectProject(cwd), buildenv.DetectGit(cwd)
	var rows []historyRow
	h.historyJSON(&rows, "history", "--format", "json")
	if rows[0].Project != project || rows[0].Branch != git.Branch || rows[0].Commit != git.Commit {
		t.Errorf("stored as %s/%s/%s, want %s/%s/%s", rows[0].Project, rows[0].Branch, rows[0].Commit, project, git.Branch, git.Commit)
	}
	var s stepStats
	h.jsonOut(&s, "misses", "--format", "json")
	if s.Project == nil || *s.Project != project || s.Builds != 2 {
		t.Errorf("misses looked at %v, %d builds", s.Project, s.Builds)
	}
	var c comparison
	h.jsonOut(&c, "compare", "--format", "json")
	if c.Before.ID != 1 || c.After.ID != 2 || c.CacheLostSeconds != 2.6 {
		t.Errorf("compare: #%d -> #%d, lost %v", c.Before.ID, c.After.ID, c.CacheLostSeconds)
	}
}

// Commands that only read the history never create it.
func TestReadCommandsWithoutHistory(t *testing.T) {
	for _, args := range [][]string{{"history"}, {"show"}, {"show", "1"}, {"compare"}, {"compare", "1", "2"}, {"slow"}, {"misses"}, {"history", "--format", "json"}} {
		h := newHistory(t)
		r := h.run(args...)
		want := fmt.Sprintf("buildstats: no build history at %s (no such file): store builds with buildstats ingest, build, import or annotate --db first\n", h.db)
		if r.code != 2 || r.err != want || r.out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", args, r.code, r.out, r.err, want)
		}
		if _, err := os.Stat(h.db); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v created %s", args, h.db)
		}
		// --db names the file just as well, and an empty file is no
		// history either: SQLite would make it a database.
		if err := os.WriteFile(h.db, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		r = run(t, nil, map[string]string{"HOME": t.TempDir()}, false, append(args, "--db", h.db)...)
		if r.code != 2 || !strings.Contains(r.err, "no build history at "+h.db) {
			t.Errorf("%v --db (empty): exit %d, stderr %q", args, r.code, r.err)
		}
		if st, err := os.Stat(h.db); err != nil || st.Size() != 0 {
			t.Errorf("%v wrote to the empty file", args)
		}
	}
}

// A file that is not a database is refused with one line, and left alone.
func TestReadCommandsCorruptHistory(t *testing.T) {
	h := newHistory(t)
	garbage := []byte(strings.Repeat("these are my notes, not a database\n", 100))
	if err := os.WriteFile(h.db, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"history"}, {"show", "1"}, {"compare", "1", "2"}, {"slow"}, {"misses"}, {"ingest", msColdLog}, {"explain", "--db", h.db, msColdLog}} {
		r := h.run(args...)
		if r.code != 2 || !strings.HasPrefix(r.err, "buildstats: ") || strings.Count(r.err, "\n") != 1 || !strings.Contains(r.err, "not an SQLite database") || !strings.Contains(r.err, h.db) {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.err)
		}
		if data, _ := os.ReadFile(h.db); !bytes.Equal(data, garbage) {
			t.Fatalf("%v changed the file", args)
		}
	}
}

func TestReadCommandsNewerSchema(t *testing.T) {
	h := demoHistory(t)
	s, err := sqlite.Open(h.db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(`UPDATE buildstats_schema SET version = 99`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, args := range [][]string{{"history"}, {"show", "1"}, {"slow", "--all-projects"}, {"ingest", probeDir + "plain-cold.log"}} {
		r := h.run(args...)
		if r.code != 2 || !strings.Contains(r.err, "schema version 99") || strings.Count(r.err, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.err)
		}
	}
}

// explain --db matches a step whose name the tty display cut to the step a
// stored plain log printed whole.
func TestExplainHistoryWithCutNames(t *testing.T) {
	h := newHistory(t)
	h.ok("ingest", "--project", "demo", "--time", "2026-11-20T10:00:00Z", msWarmLog)
	var e struct {
		History struct {
			CacheLost []struct {
				Name string `json:"name"`
			} `json:"cache_lost"`
		} `json:"history"`
	}
	h.jsonOut(&e, "explain", "--project", "demo", "--format", "json", probeDir+"docker-tty-multistage-cold.log")
	var runs []string
	for _, s := range e.History.CacheLost {
		if strings.Contains(s.Name, " RUN ") {
			runs = append(runs, s.Name)
		}
	}
	if len(runs) != 2 {
		t.Errorf("the RUN steps cached in the stored build and run in the cut log: %q, want both", runs)
	}
}

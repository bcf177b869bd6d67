package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
)

var ctx = context.Background()

// t0 is a Monday, so daily and weekly buckets in tests are easy to reason
// about.
var t0 = time.Date(2026, 11, 16, 10, 0, 0, 0, time.UTC)

func openTemp(t testing.TB) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func parseFile(t testing.TB, path string) *model.Build {
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

func probe(name string) string { return filepath.Join("..", "fixtures", "buildkit-probe", name) }

func mustIngest(t testing.TB, s *SQLite, b *model.Build, m Meta) int64 {
	t.Helper()
	id, created, err := s.Ingest(ctx, b, m, IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatalf("ingest of %s: not created", m.ContentHash)
	}
	return id
}

// checkIntegrity runs SQLite's own consistency checks: the b-trees, and
// the foreign keys ingest does not enforce.
func checkIntegrity(t testing.TB, db *sql.DB) {
	t.Helper()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check: %q %v", res, err)
	}
	rows, err := db.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		var table string
		var rowid sql.NullInt64
		var parent string
		var fkid int
		rows.Scan(&table, &rowid, &parent, &fkid)
		t.Fatalf("foreign_key_check: %s row %v has no %s", table, rowid, parent)
	}
}

// The multi-stage fixture Dockerfile built five times, one hour apart:
// cold (base COPY cached), warm, docker without cache, native snapshotter
// cold, native warm. The figures below are read off the logs' DONE lines.
var multi = []string{
	"multistage-plain-cold.log",
	"multistage-plain-warm.log",
	"docker-plain-multistage-nocache.log",
	"native-multistage-plain-cold.log",
	"native-multistage-plain-warm.log",
}

const (
	runBase   = `RUN ["/bin/busybox","sh","-c","for i in 1 2 3; do /bin/busybox echo step $i; /bin/busybox sleep 0.5; done"]`
	runSecond = `RUN ["/bin/busybox","sh","-c","/bin/busybox echo to-stderr >&2; /bin/busybox cat /a.txt"]`
)

func ingestMulti(t *testing.T, s *SQLite) []int64 {
	t.Helper()
	var ids []int64
	for i, name := range multi {
		m := Meta{Project: "multi", Branch: "main", Started: t0.Add(time.Duration(i) * time.Hour), ContentHash: "test:" + name}
		ids = append(ids, mustIngest(t, s, parseFile(t, probe(name)), m))
	}
	return ids
}

func findStat(t *testing.T, stats []StepStats, stage, text string) StepStats {
	t.Helper()
	for _, st := range stats {
		if st.Stage == stage && st.Text == text {
			return st
		}
	}
	t.Fatalf("no stats for [%s] %s", stage, text)
	return StepStats{}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestHistoryFromFixtures(t *testing.T) {
	s, _ := openTemp(t)
	ids := ingestMulti(t, s)
	h, err := s.History(ctx, HistoryQuery{})
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
		if r.ID != ids[len(ids)-1-i] || !near(r.DurationSeconds, w.dur) || r.StepsTotal != w.total ||
			r.StepsCached != w.cached || r.StepsRan != w.total-w.cached || r.ContextBytes != w.ctx ||
			r.DurationSource != "sum" || r.Status != "succeeded" || r.Project != "multi" || r.Branch != "main" {
			t.Errorf("history[%d] = %+v, want %+v", i, r, w)
		}
	}
	if h, _ := s.History(ctx, HistoryQuery{Limit: 2}); len(h) != 2 || h[0].ID != ids[4] {
		t.Errorf("limit 2: %+v", h)
	}
	if h, _ := s.History(ctx, HistoryQuery{Project: "other"}); len(h) != 0 {
		t.Errorf("other project: %+v", h)
	}
	if h, _ := s.History(ctx, HistoryQuery{Since: t0.Add(90 * time.Minute), Until: t0.Add(3 * time.Hour)}); len(h) != 1 || h[0].ID != ids[2] {
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

func TestSlowAndMissesFromFixtures(t *testing.T) {
	s, _ := openTemp(t)
	ingestMulti(t, s)
	slow, err := s.Slow(ctx, WindowQuery{Project: "multi"})
	if err != nil {
		t.Fatal(err)
	}
	// [base] RUN: ran 2.2 (cold), 1.9 (nocache), 2.3 (native cold), cached
	// twice. Nearest rank: p50 of {1.9, 2.2, 2.3} is the 2nd, p95 the 3rd.
	st := findStat(t, slow, "base", runBase)
	if st.Builds != 5 || st.Runs != 3 || st.CacheHits != 2 || !near(st.MissRate, 0.6) || !near(st.P50, 2.2) ||
		!near(st.P95, 2.3) || !near(st.Max, 2.3) || !near(st.Total, 6.4) || !near(st.Lost, 6.4) || !near(st.Mean, 2.133) {
		t.Errorf("[base] RUN: %+v", st)
	}
	st = findStat(t, slow, "second", runSecond) // 0.3, 0.4, 0.6
	if st.Runs != 3 || !near(st.P50, 0.4) || !near(st.P95, 0.6) || !near(st.Total, 1.3) {
		t.Errorf("[second] RUN: %+v", st)
	}
	st = findStat(t, slow, "base", "COPY busybox /bin/busybox") // cached, cached, 0.1, 0.2, cached
	if st.Runs != 2 || st.CacheHits != 3 || !near(st.MissRate, 0.4) || !near(st.P50, 0.1) || !near(st.P95, 0.2) {
		t.Errorf("[base] COPY: %+v", st)
	}
	st = findStat(t, slow, "internal", "[internal] load build context") // 0.1, 0.0, 0.1, 0.1, 0.1
	if st.Kind != KindInternal || st.Runs != 5 || !near(st.Total, 0.4) || st.MissRate != 0 || st.Lost != 0 {
		t.Errorf("build context: %+v", st)
	}
	// Ranked by total time.
	var top []string
	for _, st := range slow[:4] {
		top = append(top, st.Text)
	}
	if want := []string{runBase, runSecond, "exporting to image", "exporting to oci image format"}; !reflect.DeepEqual(top, want) {
		t.Errorf("slow ranking = %q, want %q", top, want)
	}
	if only, _ := s.Slow(ctx, WindowQuery{Kinds: []string{KindExport}}); len(only) != 2 {
		t.Errorf("exports only: %+v", only)
	}
	if lim, _ := s.Slow(ctx, WindowQuery{Limit: 1}); len(lim) != 1 || lim[0].Text != runBase {
		t.Errorf("limit 1: %+v", lim)
	}
	// A window holding the warm build and the no-cache build only.
	win, _ := s.Slow(ctx, WindowQuery{Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)})
	if st := findStat(t, win, "base", runBase); st.Builds != 2 || st.Runs != 1 || !near(st.Total, 1.9) {
		t.Errorf("window: %+v", st)
	}
	if none, _ := s.Slow(ctx, WindowQuery{Branch: "nope"}); len(none) != 0 {
		t.Errorf("unknown branch: %+v", none)
	}

	misses, err := s.Misses(ctx, WindowQuery{Project: "multi"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range misses {
		if st.Kind != KindStep {
			t.Errorf("misses lists a %s vertex: %s", st.Kind, st.Text)
		}
		got = append(got, st.Text)
	}
	// Lost time 6.4, 1.3, then two steps that lost 0.3: COPY --from=base
	// (missed 3 of 5) before COPY busybox (2 of 5); COPY a.txt (0.0, 0.1,
	// 0.1) and COPY --from=second (0.0 each time).
	want := []string{runBase, runSecond, "COPY --from=base /bin/busybox /bin/busybox", "COPY busybox /bin/busybox",
		"COPY a.txt /a.txt", "COPY --from=second /a.txt /final.txt"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("misses ranking = %q, want %q", got, want)
	}
}

func TestCompareFromFixtures(t *testing.T) {
	s, _ := openTemp(t)
	ids := ingestMulti(t, s)

	// Warm, then built without cache: every step lost its cache.
	c, err := s.Compare(ctx, ids[1], ids[2])
	if err != nil {
		t.Fatal(err)
	}
	if c.FirstCacheChange == nil || c.FirstCacheChange.Text != "COPY busybox /bin/busybox" ||
		c.FirstCacheChange.BeforeState != StateCached || c.FirstCacheChange.AfterState != StateRan ||
		!near(c.FirstCacheChange.AfterSeconds, 0.1) {
		t.Errorf("first cache change = %+v", c.FirstCacheChange)
	}
	if !near(c.CacheLostSeconds, 2.6) || c.CacheGainedSeconds != 0 || !near(c.DurationDeltaSeconds, 3.6) {
		t.Errorf("lost %v gained %v delta %v", c.CacheLostSeconds, c.CacheGainedSeconds, c.DurationDeltaSeconds)
	}
	if c.ContextBytesBefore != 54 || c.ContextBytesAfter != 54 || len(c.Added) != 0 || len(c.Removed) != 0 {
		t.Errorf("context %d -> %d, added %v removed %v", c.ContextBytesBefore, c.ContextBytesAfter, c.Added, c.Removed)
	}
	// The exporter vertex differs (oci tarball vs docker image): one new,
	// one gone, listed in Steps but not as added Dockerfile steps.
	var exports []string
	for _, ch := range c.Steps {
		if ch.Kind == KindExport {
			exports = append(exports, ch.BeforeState+">"+ch.AfterState)
		}
	}
	if !reflect.DeepEqual(exports, []string{"absent>ran", "ran>absent"}) {
		t.Errorf("exports: %v", exports)
	}

	// Cold, then warm: the cache came back; in the warm build's order the
	// first step is [second 1/2] COPY a.txt, which had run (0.0s).
	c, _ = s.Compare(ctx, ids[0], ids[1])
	if c.FirstCacheChange == nil || c.FirstCacheChange.Text != "COPY a.txt /a.txt" || c.FirstCacheChange.AfterState != StateCached {
		t.Errorf("first cache change = %+v", c.FirstCacheChange)
	}
	if !near(c.CacheGainedSeconds, 2.6) || c.CacheLostSeconds != 0 || c.ContextBytesBefore != 1980000 || c.ContextBytesAfter != 54 {
		t.Errorf("gained %v lost %v context %d -> %d", c.CacheGainedSeconds, c.CacheLostSeconds, c.ContextBytesBefore, c.ContextBytesAfter)
	}

	pm, err := s.PreviousMisses(ctx, ids[2])
	if err != nil {
		t.Fatal(err)
	}
	if pm.Previous == nil || pm.Previous.ID != ids[1] || len(pm.Steps) != 6 {
		t.Errorf("previous misses of the no-cache build: %+v", pm)
	}
	if pm, _ := s.PreviousMisses(ctx, ids[4]); pm.Previous == nil || pm.Previous.ID != ids[3] || len(pm.Steps) != 0 {
		t.Errorf("previous misses of the warm build: %+v", pm)
	}
	if pm, _ := s.PreviousMisses(ctx, ids[0]); pm.Previous != nil || len(pm.Steps) != 0 {
		t.Errorf("first build has a previous build: %+v", pm)
	}
	if _, err := s.Compare(ctx, ids[0], 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("compare with a missing build: %v", err)
	}
}

func TestTrends(t *testing.T) {
	s, _ := openTemp(t)
	ingestMulti(t, s) // Monday
	// Tuesday: a failed build in another project.
	mustIngest(t, s, parseFile(t, probe("run-fail-plain.log")), Meta{Project: "fail", Started: t0.Add(24 * time.Hour), ContentHash: "test:fail"})

	tr, err := s.Trends(ctx, TrendQuery{Period: Day})
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
		!near(d.P50, 3.1) || !near(d.P95, 3.7) || d.StepsTotal != 30 || d.StepsCached != 13 || !near(d.CacheHitRate, 0.433) {
		t.Errorf("monday = %+v", d)
	}
	if d := tr.Periods[1]; d.Builds != 1 || d.Failed != 1 || d.FailureRate != 1 {
		t.Errorf("tuesday = %+v", d)
	}
	tr, _ = s.Trends(ctx, TrendQuery{Project: "multi", Since: t0.AddDate(0, 0, -9), Until: t0.AddDate(0, 0, 9)})
	// Saturday 7 November to Wednesday 25 November: the weeks of the 2nd,
	// 9th, 16th and 23rd, empty ones included.
	if tr.Period != Week || len(tr.Periods) != 4 || tr.Periods[2].Builds != 5 || tr.Periods[0].Builds != 0 ||
		tr.Periods[3].Builds != 0 || !tr.Periods[0].Start.Equal(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("weekly, padded: %+v", tr.Periods)
	}
	if _, err := s.Trends(ctx, TrendQuery{Period: "month"}); err == nil {
		t.Error("unknown period accepted")
	}
}

// step makes a Dockerfile step vertex; d < 0 means cached.
func step(stage string, i, n int, instr, args string, d time.Duration) *model.Vertex {
	v := &model.Vertex{ID: itoa(i), Stage: stage, Index: i, Total: n, Instruction: instr, Args: args, Completed: true}
	v.Name = canonicalName(v)
	if d < 0 {
		v.Cached = true
	} else {
		v.Duration, v.HasDuration = d, true
	}
	return v
}

func TestTrendRegressions(t *testing.T) {
	s, _ := openTemp(t)
	build := func(day int, make, test time.Duration) {
		b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Vertices: []*model.Vertex{
			step("", 1, 2, "RUN", "make", make),
			step("", 2, 2, "RUN", "make test", test),
		}}
		mustIngest(t, s, b, Meta{Project: "reg", Started: t0.AddDate(0, 0, day), ContentHash: "reg" + itoa(day) + make.String()})
	}
	build(0, 10*time.Second, 5*time.Second)
	build(0, 12*time.Second, 5*time.Second)
	build(1, 9*time.Second, 5*time.Second)
	build(2, 20*time.Second, 4*time.Second)
	tr, err := s.Trends(ctx, TrendQuery{Period: Day})
	if err != nil {
		t.Fatal(err)
	}
	// Baseline: days 0 and 1, make ran 9, 10, 12: p50 10; now 20.
	if len(tr.Regressions) != 1 || tr.Regressions[0].Text != "RUN make" || tr.Regressions[0].BaselineSeconds != 10 ||
		tr.Regressions[0].CurrentSeconds != 20 || tr.Regressions[0].DeltaSeconds != 10 || tr.Regressions[0].BaselineRuns != 3 {
		t.Errorf("regressions = %+v", tr.Regressions)
	}
	if tr, _ := s.Trends(ctx, TrendQuery{Period: Day, Baseline: 1}); len(tr.Regressions) != 1 || tr.Regressions[0].BaselineSeconds != 9 {
		t.Errorf("baseline of one period: %+v", tr.Regressions)
	}
}

func TestIdentityAcrossInsertedLine(t *testing.T) {
	s, _ := openTemp(t)
	a := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Vertices: []*model.Vertex{
		step("", 1, 3, "FROM", "docker.io/library/alpine:3.20@sha256:"+strings.Repeat("a", 64), 0),
		step("", 2, 3, "RUN", "apk add  git", -1),
		step("", 3, 3, "RUN", "make", -1),
	}}
	b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Vertices: []*model.Vertex{
		step("", 1, 4, "FROM", "docker.io/library/alpine:3.20@sha256:"+strings.Repeat("b", 64), 0),
		step("", 2, 4, "RUN", "apk add git", -1),
		step("", 3, 4, "RUN", "apk add curl", 3*time.Second),
		step("", 4, 4, "RUN", "make", 7*time.Second),
	}}
	ia := mustIngest(t, s, a, Meta{Project: "p", Started: t0, ContentHash: "a"})
	ib := mustIngest(t, s, b, Meta{Project: "p", Started: t0.Add(time.Minute), ContentHash: "b"})
	c, err := s.Compare(ctx, ia, ib)
	if err != nil {
		t.Fatal(err)
	}
	// "RUN make" moved from 3/3 to 4/4 and is the same step; the new line
	// is the only addition; FROM is one step with a new digest.
	if len(c.Added) != 1 || c.Added[0].Text != "RUN apk add curl" || len(c.Removed) != 0 {
		t.Errorf("added %+v removed %+v", c.Added, c.Removed)
	}
	if c.FirstCacheChange == nil || c.FirstCacheChange.Text != "RUN make" || !near(c.CacheLostSeconds, 7) {
		t.Errorf("first change %+v lost %v", c.FirstCacheChange, c.CacheLostSeconds)
	}
	if len(c.BaseImageChanges) != 1 || c.BaseImageChanges[0].Text != "FROM alpine:3.20" ||
		c.BaseImageChanges[0].BeforeDigest != "sha256:"+strings.Repeat("a", 64) {
		t.Errorf("base image changes: %+v", c.BaseImageChanges)
	}
	var n int
	s.DB().QueryRow(`SELECT COUNT(*) FROM steps`).Scan(&n)
	if n != 4 {
		t.Errorf("%d step identities, want 4", n)
	}
	// Raw args survive even when they differ from the identity's.
	got, _, err := s.Build(ctx, ib)
	if err != nil || got.Vertices[1].Args != "apk add git" || got.Vertices[0].Name != b.Vertices[0].Name {
		t.Errorf("build read back: %v %+v", err, got.Vertices[1])
	}
	checkIntegrity(t, s.DB())
}

func TestNormalise(t *testing.T) {
	tests := []struct {
		instr, args, want string
	}{
		{"FROM", "docker.io/library/node:20-alpine@sha256:df02558528d3d3d0d621f112e232611aecfee7cbc654f6b375765f72bb262799", "FROM node:20-alpine"},
		{"FROM", "docker.io/library/node:20-alpine@sha256:3c77a043da159c2fc", "FROM node:20-alpine"}, // cut by the tty
		{"FROM", "ghcr.io/prefix-dev/pixi:latest@sha256:e8857b9ba407f92958feb0098c816cae713264251d43bb42217bcedfc8a719fd", "FROM ghcr.io/prefix-dev/pixi:latest"},
		{"FROM", "docker.io/n8nio/base:22.21.0", "FROM n8nio/base:22.21.0"},
		{"RUN", "cd /usr/local/lib/node_modules/n8n && \t\tnpm   rebuild", "RUN cd /usr/local/lib/node_modules/n8n && npm rebuild"},
		{"RUN", "--mount=type=cache,target=/root/.cache  go build ./...", "RUN --mount=type=cache,target=/root/.cache go build ./..."},
		{"COPY", "--from=builder /out /usr/bin", "COPY --from=builder /out /usr/bin"},
		{"WORKDIR", "", "WORKDIR"},
	}
	for _, tc := range tests {
		if got := normaliseInstruction(tc.instr, tc.args); got != tc.want {
			t.Errorf("normaliseInstruction(%q, %q) = %q, want %q", tc.instr, tc.args, got, tc.want)
		}
	}
	if got := normaliseName("exporting  manifest sha256:8576c22fbe22edf8bc4d1fa22d58bdc033a3b0d0dc0581a05a50dabcaa48adb8"); got != "exporting manifest sha256:…" {
		t.Errorf("normaliseName = %q", got)
	}
	// Identical instructions in one stage are told apart by occurrence;
	// the same text in another stage or platform is another step.
	vs := []*model.Vertex{
		step("a", 1, 3, "RUN", "apt-get update", 0),
		step("a", 2, 3, "RUN", "apt-get update", 0),
		step("b", 1, 1, "RUN", "apt-get update", 0),
		{Name: "[internal] load build context", Stage: "internal"},
		{Name: "exporting to image"},
	}
	ids := identify(vs)
	if ids[0].occurrence != 0 || ids[1].occurrence != 1 || ids[2].occurrence != 0 || ids[0].key() == ids[1].key() || ids[0].key() == ids[2].key() {
		t.Errorf("identities: %+v", ids)
	}
	if ids[3].kind != KindInternal || ids[4].kind != KindExport {
		t.Errorf("kinds: %+v", ids[3:])
	}
	for _, tc := range []struct{ name string }{{"[base-builder  1/21] FROM docker.io/library/ubuntu:24.04"}, {"[ 1/10] COPY . ."}, {"[linux/arm64 builder 2/5] RUN go build"}} {
		v := &model.Vertex{}
		parse.ApplyName(v, tc.name)
		if got := canonicalName(v); got != tc.name {
			t.Errorf("canonicalName(%q) = %q", tc.name, got)
		}
	}
}

// normTimes puts every time of a build in UTC so DeepEqual compares
// instants, not locations.
func normTimes(b *model.Build) {
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

func fixtureLogs(t *testing.T) []string {
	var out []string
	for _, dir := range []string{"buildkit-probe", "real", "seed"} {
		ents, err := os.ReadDir(filepath.Join("..", "fixtures", dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !e.IsDir() && (strings.HasSuffix(e.Name(), ".log") || strings.HasSuffix(e.Name(), ".jsonl")) {
				out = append(out, filepath.Join("..", "fixtures", dir, e.Name()))
			}
		}
	}
	sort.Strings(out)
	return out
}

// Every fixture log reads back as the parser produced it, in both modes,
// and again as a live build would be stored: with its source and the
// layer sizes a Docker Engine build records.
func TestRoundTripFixtures(t *testing.T) {
	s, _ := openTemp(t)
	n := 0
	sources := []string{"docker", "buildkit", "buildkit-history"}
	for i, path := range fixtureLogs(t) {
		f, _ := os.Open(path)
		hr := NewHashReader(f)
		b, err := parse.Parse(hr, parse.Options{})
		f.Close()
		if err != nil {
			continue // daemon logs and the like
		}
		n++
		for _, mode := range []string{"keep", "nologs", "live"} {
			keep, live := mode == "keep", mode == "live"
			m := Meta{Project: "fixtures", Started: t0.Add(time.Duration(i) * time.Minute), ContentHash: hr.Sum()}
			if !keep {
				m.ContentHash += ":" + mode
			}
			source := sources[i%len(sources)]
			if live {
				liveBuild(b, source)
			}
			id, created, err := s.Ingest(ctx, b, m, IngestOptions{KeepLogs: keep})
			if err != nil || !created {
				t.Fatalf("%s: %v created=%v", path, err, created)
			}
			got, gm, err := s.Build(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want := parseFile(t, path)
			if !keep {
				want.ErrorContext = nil
				for _, v := range want.Vertices {
					v.Output = nil
				}
			}
			if live {
				liveBuild(want, source)
			}
			normTimes(want)
			dropUnstored(want)
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
	var outputs int
	s.DB().QueryRow(`SELECT COUNT(*) FROM vertex_output v JOIN builds b ON b.id = v.build_id WHERE b.logs_kept = 0`).Scan(&outputs)
	if outputs != 0 {
		t.Errorf("%d output tails stored without --keep-logs", outputs)
	}
	// Logs have neither a source nor layer sizes: NULL, not "" or 0.
	var logSources, logLayers, empty, sized int
	s.DB().QueryRow(`SELECT COUNT(build_source) FROM builds WHERE content_hash NOT LIKE '%:live'`).Scan(&logSources)
	s.DB().QueryRow(`SELECT COUNT(v.layer_bytes) FROM vertices v JOIN builds b ON b.id = v.build_id
		WHERE b.content_hash NOT LIKE '%:live'`).Scan(&logLayers)
	s.DB().QueryRow(`SELECT COUNT(*) FROM vertices WHERE layer_bytes = 0`).Scan(&empty)
	s.DB().QueryRow(`SELECT COUNT(*) FROM vertices WHERE layer_bytes > 0`).Scan(&sized)
	if logSources != 0 || logLayers != 0 {
		t.Errorf("logs stored %d sources and %d layer sizes", logSources, logLayers)
	}
	if empty == 0 || sized == 0 {
		t.Errorf("live builds stored %d empty and %d sized layers: the test tests nothing", empty, sized)
	}
	checkIntegrity(t, s.DB())
}

func TestDuplicateIngest(t *testing.T) {
	s, _ := openTemp(t)
	b := parseFile(t, probe("multistage-plain-cold.log"))
	id1, created1, err1 := s.Ingest(ctx, b, Meta{Project: "p"}, IngestOptions{})
	id2, created2, err2 := s.Ingest(ctx, parseFile(t, probe("multistage-plain-cold.log")), Meta{Project: "p"}, IngestOptions{})
	if err1 != nil || err2 != nil || !created1 || created2 || id1 != id2 {
		t.Fatalf("twice: %d %v %v / %d %v %v", id1, created1, err1, id2, created2, err2)
	}
	// The same bytes hashed by HashReader, in a batch with a duplicate.
	data, _ := os.ReadFile(probe("multistage-plain-warm.log"))
	hr := NewHashReader(strings.NewReader(string(data)))
	wb, _ := parse.Parse(hr, parse.Options{})
	res, err := s.IngestBatch(ctx, []BatchItem{{Build: wb, Meta: Meta{Project: "p", ContentHash: hr.Sum()}}, {Build: wb, Meta: Meta{Project: "p", ContentHash: hr.Sum()}}})
	if err != nil || !res[0].Created || res[1].Created || res[0].ID != res[1].ID {
		t.Fatalf("batch: %+v %v", res, err)
	}
	var builds, vertices int
	s.DB().QueryRow(`SELECT COUNT(*) FROM builds`).Scan(&builds)
	s.DB().QueryRow(`SELECT COUNT(*) FROM vertices`).Scan(&vertices)
	if builds != 2 || vertices != 20 {
		t.Errorf("%d builds, %d vertices; want 2, 20", builds, vertices)
	}
	if !strings.HasPrefix(hr.Sum(), "sha256:") || len(hr.Sum()) != 71 {
		t.Errorf("hash %q", hr.Sum())
	}
}

func TestResolve(t *testing.T) {
	s, _ := openTemp(t)
	ids := ingestMulti(t, s)
	other := mustIngest(t, s, parseFile(t, probe("plain-cold.log")), Meta{Project: "other", Started: t0.Add(-time.Hour),
		ContentHash: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"})
	tests := []struct {
		ref, project string
		want         int64
	}{
		{"latest", "", ids[4]},
		{"previous", "", ids[3]},
		{"latest~2", "multi", ids[2]},
		{"latest", "other", other},
		{itoa(int(ids[1])), "", ids[1]},
		{"0123456", "", other},
		{"sha256:0123456789ab", "", other},
	}
	for _, tc := range tests {
		if got, err := s.Resolve(ctx, tc.ref, tc.project); err != nil || got != tc.want {
			t.Errorf("Resolve(%q, %q) = %d, %v; want %d", tc.ref, tc.project, got, err, tc.want)
		}
	}
	for _, ref := range []string{"999", "previous@other", "latest~9", "fffffff"} {
		proj := ""
		if ref == "previous@other" {
			ref, proj = "previous", "other"
		}
		if _, err := s.Resolve(ctx, ref, proj); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(%q, %q): %v, want ErrNotFound", ref, proj, err)
		}
	}
	if _, err := s.Resolve(ctx, "yesterday", ""); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve(yesterday): %v", err)
	}
}

func TestStartTimeAndDuration(t *testing.T) {
	raw := parseFile(t, probe("multistage-rawjson-nocache.jsonl"))
	flag, file := t0, t0.Add(time.Hour)
	if at, src := StartTime(raw, flag, file); !at.Equal(raw.Started) || src != "log" {
		t.Errorf("rawjson: %v %s", at, src)
	}
	plain := parseFile(t, probe("multistage-plain-cold.log"))
	if at, src := StartTime(plain, flag, file); !at.Equal(flag) || src != "flag" {
		t.Errorf("flag: %v %s", at, src)
	}
	if at, src := StartTime(plain, time.Time{}, file); !at.Equal(file) || src != "file" {
		t.Errorf("file: %v %s", at, src)
	}
	s, _ := openTemp(t)
	id := mustIngest(t, s, raw, Meta{Project: "p"}) // no Started: the log's
	sum, _ := s.Summary(ctx, id)
	if !sum.StartedAt.Equal(raw.Started.Truncate(time.Millisecond)) || sum.DurationSource != "log" || !near(sum.DurationSeconds, 3.525) {
		t.Errorf("rawjson summary: %+v", sum)
	}
	_, m, _ := s.Build(ctx, id)
	if m.StartedSource != "log" {
		t.Errorf("started source %q", m.StartedSource)
	}
	if _, _, err := s.Ingest(ctx, raw, Meta{ContentHash: "x"}, IngestOptions{}); err == nil {
		t.Error("ingest without a project succeeded")
	}
}

func TestFileMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "buildstats")
	path := filepath.Join(dir, "history.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mustIngest(t, s, parseFile(t, probe("plain-cold.log")), Meta{Project: "p"})
	for _, p := range []string{path, path + "-wal"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", st.Mode().Perm())
	}
	s.Close()
	// Reopening keeps the data and the schema version.
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if h, _ := s.History(ctx, HistoryQuery{}); len(h) != 1 {
		t.Errorf("history after reopen: %+v", h)
	}
}

// fakeEnv is a getenv over the given key, value pairs.
func fakeEnv(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestDefaultPath(t *testing.T) {
	tests := []struct {
		env  func(string) string
		want string
	}{
		{fakeEnv("BUILDSTATS_DB", "/x/h.db", "XDG_DATA_HOME", "/d", "HOME", "/home/u"), "/x/h.db"},
		{fakeEnv("XDG_DATA_HOME", "/d", "HOME", "/home/u"), "/d/buildstats/history.db"},
		{fakeEnv("XDG_DATA_HOME", "relative", "HOME", "/home/u"), "/home/u/.local/share/buildstats/history.db"},
		{fakeEnv("HOME", "/home/u"), "/home/u/.local/share/buildstats/history.db"},
	}
	for _, tc := range tests {
		if got, err := DefaultPath(tc.env); err != nil || got != tc.want {
			t.Errorf("DefaultPath = %q, %v; want %q", got, err, tc.want)
		}
	}
}

func TestDetectCI(t *testing.T) {
	tests := []struct {
		name string
		env  func(string) string
		want Meta
	}{
		{"github pull request", fakeEnv("GITHUB_ACTIONS", "true", "GITHUB_SERVER_URL", "https://github.com", "GITHUB_REPOSITORY", "acme/shop",
			"GITHUB_RUN_ID", "42", "GITHUB_RUN_ATTEMPT", "2", "GITHUB_SHA", "abc", "GITHUB_HEAD_REF", "feature", "GITHUB_REF_NAME", "7/merge", "RUNNER_NAME", "gh-1"),
			Meta{Project: "shop", Branch: "feature", Commit: "abc", CIProvider: "github-actions", RunURL: "https://github.com/acme/shop/actions/runs/42/attempts/2", Runner: "gh-1"}},
		{"github push", fakeEnv("GITHUB_ACTIONS", "true", "GITHUB_REPOSITORY", "acme/shop", "GITHUB_REF_NAME", "main", "RUNNER_OS", "Linux", "RUNNER_ARCH", "X64"),
			Meta{Project: "shop", Branch: "main", CIProvider: "github-actions", Runner: "Linux/X64"}},
		{"gitlab", fakeEnv("GITLAB_CI", "true", "CI_JOB_URL", "https://gitlab.com/acme/shop/-/jobs/9", "CI_COMMIT_REF_NAME", "main", "CI_COMMIT_SHA", "def",
			"CI_RUNNER_DESCRIPTION", "shared-1", "CI_PROJECT_NAME", "shop"),
			Meta{Project: "shop", Branch: "main", Commit: "def", CIProvider: "gitlab-ci", RunURL: "https://gitlab.com/acme/shop/-/jobs/9", Runner: "shared-1"}},
		{"buildkite", fakeEnv("BUILDKITE", "true", "BUILDKITE_BUILD_URL", "https://buildkite.com/acme/shop/builds/3", "BUILDKITE_JOB_ID", "j1", "BUILDKITE_BRANCH", "dev",
			"BUILDKITE_COMMIT", "HEAD", "BUILDKITE_AGENT_NAME", "agent-2", "BUILDKITE_REPO", "git@github.com:acme/shop.git"),
			Meta{Project: "shop", Branch: "dev", CIProvider: "buildkite", RunURL: "https://buildkite.com/acme/shop/builds/3#j1", Runner: "agent-2"}},
		{"circleci", fakeEnv("CIRCLECI", "true", "CIRCLE_BUILD_URL", "https://circleci.com/gh/acme/shop/5", "CIRCLE_BRANCH", "main", "CIRCLE_SHA1", "123",
			"CIRCLE_JOB", "build", "CIRCLE_PROJECT_REPONAME", "shop"),
			Meta{Project: "shop", Branch: "main", Commit: "123", CIProvider: "circleci", RunURL: "https://circleci.com/gh/acme/shop/5", Runner: "build"}},
		{"jenkins", fakeEnv("JENKINS_URL", "https://ci/", "BUILD_URL", "https://ci/job/shop/8/", "GIT_BRANCH", "origin/main", "GIT_COMMIT", "456",
			"NODE_NAME", "built-in", "GIT_URL", "https://github.com/acme/shop.git"),
			Meta{Project: "shop", Branch: "main", Commit: "456", CIProvider: "jenkins", RunURL: "https://ci/job/shop/8/", Runner: "built-in"}},
		{"jenkins multibranch", fakeEnv("JENKINS_HOME", "/var/jenkins", "JOB_NAME", "acme/shop/feature-x", "BRANCH_NAME", "feature-x"),
			Meta{Project: "shop", Branch: "feature-x", CIProvider: "jenkins"}},
		{"none", fakeEnv("HOME", "/root"), Meta{}},
	}
	for _, tc := range tests {
		if got := DetectCI(tc.env); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: DetectCI = %+v, want %+v", tc.name, got, tc.want)
		}
	}
	flags := Meta{Branch: "override"}
	merged := flags.Merge(tests[0].want).Merge(Meta{Project: "local", Dockerfile: "Dockerfile"})
	if merged.Branch != "override" || merged.Project != "shop" || merged.Dockerfile != "Dockerfile" {
		t.Errorf("Merge = %+v", merged)
	}
}

func TestDetectGit(t *testing.T) {
	root := filepath.Join(t.TempDir(), "checkout-dir")
	git := filepath.Join(root, ".git")
	sha := strings.Repeat("ab", 20)
	write := func(p, s string) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(git, "HEAD"), "ref: refs/heads/feature/x\n")
	write(filepath.Join(git, "config"), "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://example.com/up/other.git\n[remote \"origin\"]\n\turl = git@github.com:acme/shop.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n")
	write(filepath.Join(git, "packed-refs"), "# pack-refs with: peeled\n"+sha+" refs/heads/feature/x\n")
	sub := filepath.Join(root, "services", "api")
	os.MkdirAll(sub, 0o755)
	if got := DetectGit(sub); got.Project != "shop" || got.Branch != "feature/x" || got.Commit != sha {
		t.Errorf("DetectGit = %+v", got)
	}
	// A loose ref wins over packed-refs; a detached HEAD is a commit.
	loose := strings.Repeat("cd", 20)
	write(filepath.Join(git, "refs", "heads", "feature", "x"), loose+"\n")
	if got := DetectGit(root); got.Commit != loose {
		t.Errorf("loose ref: %+v", got)
	}
	write(filepath.Join(git, "HEAD"), loose+"\n")
	if got := DetectGit(root); got.Branch != "" || got.Commit != loose {
		t.Errorf("detached: %+v", got)
	}
	// A linked worktree: .git is a file pointing into the main repository.
	wt := filepath.Join(t.TempDir(), "wt")
	write(filepath.Join(git, "worktrees", "wt", "HEAD"), "ref: refs/heads/main\n")
	write(filepath.Join(git, "worktrees", "wt", "commondir"), "../..\n")
	write(filepath.Join(git, "refs", "heads", "main"), sha+"\n")
	write(filepath.Join(wt, ".git"), "gitdir: "+filepath.Join(git, "worktrees", "wt")+"\n")
	if got := DetectGit(wt); got.Project != "shop" || got.Branch != "main" || got.Commit != sha {
		t.Errorf("worktree: %+v", got)
	}
	// No remote: the directory name.
	plain := filepath.Join(t.TempDir(), "my-app")
	os.MkdirAll(plain, 0o755)
	if got := DetectProject(plain); got != "my-app" {
		t.Errorf("DetectProject = %q", got)
	}
	if got := DetectProject(sub); got != "shop" {
		t.Errorf("DetectProject in checkout = %q", got)
	}
	for in, want := range map[string]string{"https://github.com/acme/shop.git": "shop", "git@github.com:acme/shop": "shop", "acme/shop/": "shop", "shop": "shop", "": ""} {
		if got := repoName(in); got != want {
			t.Errorf("repoName(%q) = %q, want %q", in, got, want)
		}
	}
}

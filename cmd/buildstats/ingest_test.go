package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/collect/logfile"
	"github.com/buildstats/buildstats/store/sqlite"
)

// copyLog copies a fixture log to dir/name with the given modification
// time (the start time of a log that states none).
func copyLog(t *testing.T, src, dir, name string, mtime time.Time) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dst, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return dst
}

func historyRows(h *testHistory) []historyRow {
	h.t.Helper()
	var rows []historyRow
	h.historyJSON(&rows, "history", "--format", "json", "--limit", "0")
	return rows
}

func TestIngestTwiceStoresOneBuild(t *testing.T) {
	h := newHistory(t)
	r := h.ok("ingest", "--project", "demo", msColdLog)
	if !strings.Contains(r.out, msColdLog+": stored as #1 (succeeded plain log, 6 steps, 1 cached)\n") ||
		!strings.Contains(r.out, "1 file: 1 stored, 0 already stored, 0 failed (history: "+h.db+")") {
		t.Errorf("first ingest: %q", r.out)
	}
	// Again, from standard input this time: the same bytes, the same build.
	log, err := os.ReadFile(msColdLog)
	if err != nil {
		t.Fatal(err)
	}
	r = run(t, bytes.NewReader(log), h.env, false, "ingest", "--project", "demo", "-")
	if r.code != 0 || !strings.Contains(r.out, "stdin: already stored as #1\n") || !strings.Contains(r.out, "0 stored, 1 already stored") {
		t.Errorf("second ingest: exit %d, %q %q", r.code, r.out, r.err)
	}
	rows := historyRows(h)
	if len(rows) != 1 || !strings.HasPrefix(rows[0].ContentHash, "sha256:") {
		t.Fatalf("history = %+v", rows)
	}
	// The hash is of the log's bytes, as NewHashReader computes it.
	hr := logfile.NewHashReader(bytes.NewReader(log))
	if _, err := hr.Read(make([]byte, len(log)+1)); err != nil {
		t.Fatal(err)
	}
	if rows[0].ContentHash != hr.Sum() {
		t.Errorf("content hash %s, want %s", rows[0].ContentHash, hr.Sum())
	}
}

func TestIngestBadFileAmongGood(t *testing.T) {
	h := newHistory(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(bad, []byte("just some notes\nnothing to see\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.log")
	r := h.run("ingest", "--project", "demo", msWarmLog, bad, missing, msColdLog)
	if r.code != 2 {
		t.Errorf("exit %d, want 2", r.code)
	}
	for _, want := range []string{
		"buildstats: " + bad + ": not a Docker or BuildKit build log",
		"buildstats: " + missing + ": no such file\n",
		"buildstats: could not ingest " + bad + ", " + missing + "\n",
	} {
		if !strings.Contains(r.err, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.err)
		}
	}
	if !strings.Contains(r.out, "4 files: 2 stored, 0 already stored, 2 failed") {
		t.Errorf("summary: %q", r.out)
	}
	if rows := historyRows(h); len(rows) != 2 {
		t.Errorf("%d builds stored, want the 2 good ones", len(rows))
	}
}

// Nothing to store: no database is created.
func TestIngestNothingCreatesNoDatabase(t *testing.T) {
	h := newHistory(t)
	r := h.run("ingest", filepath.Join(t.TempDir(), "missing.log"))
	if r.code != 2 || !strings.Contains(r.err, "no such file") {
		t.Errorf("exit %d, stderr %q", r.code, r.err)
	}
	if _, err := os.Stat(h.db); !errors.Is(err, os.ErrNotExist) {
		t.Error("a database was created for nothing")
	}
}

func TestIngestDirectoriesAndGlobs(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	copyLog(t, msWarmLog, dir, "a/warm.log", day)
	copyLog(t, msColdLog, dir, "a/sub/cold.log", day.Add(time.Hour))
	copyLog(t, msNocacheLog, dir, "a/.hidden.log", day)             // hidden: left out
	copyLog(t, probeDir+"plain-cold.log", dir, "a/.git/x.log", day) // in a hidden directory: left out
	copyLog(t, probeDir+"run-fail-plain.log", dir, "b/fail.log", day)
	copyLog(t, probeDir+"plain-warm.log", dir, "b/warm.txt", day)

	h := newHistory(t)
	r := h.ok("ingest", "--project", "demo", filepath.Join(dir, "a"))
	if !strings.Contains(r.out, "2 files: 2 stored") {
		t.Errorf("directory: %q %q", r.out, r.err)
	}
	rows := historyRows(h)
	if len(rows) != 2 || rows[0].StartedAt != "2026-11-20T10:30:00Z" || rows[1].StartedAt != "2026-11-20T09:30:00Z" {
		t.Errorf("directory ingest = %+v (start times from the files' modification times)", rows)
	}

	// A quoted glob, expanded by ingest; a glob matching a file already
	// listed takes it once.
	r = h.ok("ingest", "--project", "demo", filepath.Join(dir, "b", "*.log"), filepath.Join(dir, "b", "fail.log"), filepath.Join(dir, "b", "*.txt"))
	if !strings.Contains(r.out, "2 files: 2 stored") {
		t.Errorf("globs: %q %q", r.out, r.err)
	}
	if n := len(historyRows(h)); n != 4 {
		t.Errorf("%d builds, want 4", n)
	}

	// A glob or directory that names nothing is a failed input.
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	r = h.run("ingest", "--project", "demo", filepath.Join(dir, "none", "*.log"), empty, filepath.Join(dir, "a"))
	if r.code != 2 || !strings.Contains(r.err, "none/*.log: no files match") || !strings.Contains(r.err, "empty: no files in the directory") ||
		!strings.Contains(r.out, "0 stored, 2 already stored, 2 failed") {
		t.Errorf("empty inputs: exit %d, %q %q", r.code, r.out, r.err)
	}
	if r := h.run("ingest", "-", "-"); r.code != 2 {
		t.Errorf("stdin twice: exit %d", r.code)
	}
}

func TestIngestMetadata(t *testing.T) {
	h := newHistory(t)
	h.env["GITHUB_ACTIONS"] = "true"
	h.env["GITHUB_REPOSITORY"] = "acme/shop"
	h.env["GITHUB_SHA"] = featureCommit
	h.env["GITHUB_SERVER_URL"] = "https://github.com"
	h.env["GITHUB_RUN_ID"] = "42"
	h.env["GITHUB_REF_NAME"] = "feature-x"
	h.env["RUNNER_NAME"] = "runner-1"
	h.ok("ingest", "--time", "2026-11-20", msWarmLog)
	// Flags override what the CI says.
	h.ok("ingest", "--project", "api", "--branch", "trunk", "--commit", "abc1234", "--ci-provider", "jenkins",
		"--run-url", "https://ci.example/1", "--runner", "box", "--dockerfile", "build/Dockerfile",
		"--tag", "api:1", "--tag", "api:latest", "--time", "2026-11-21T08:00:00+02:00", msColdLog)
	rows := historyRows(h)
	ci, flags := rows[1], rows[0]
	if ci.Project != "shop" || ci.Branch != "feature-x" || ci.Commit != featureCommit || ci.CIProvider != "github-actions" ||
		ci.RunURL != "https://github.com/acme/shop/actions/runs/42" || ci.Runner != "runner-1" || ci.StartedAt != "2026-11-20T00:00:00Z" {
		t.Errorf("from the CI's environment: %+v", ci)
	}
	if flags.Project != "api" || flags.Branch != "trunk" || flags.Commit != "abc1234" || flags.CIProvider != "jenkins" ||
		flags.RunURL != "https://ci.example/1" || flags.Runner != "box" || flags.Dockerfile != "build/Dockerfile" ||
		strings.Join(flags.Tags, ",") != "api:1,api:latest" || flags.StartedAt != "2026-11-21T06:00:00Z" {
		t.Errorf("from flags: %+v", flags)
	}
	// Another branch than the CI's does not take the CI's commit.
	h.ok("ingest", "--branch", "release", "--time", "2026-11-22", msNocacheLog)
	if rows := historyRows(h); rows[0].Branch != "release" || rows[0].Commit != "" || rows[0].Project != "shop" {
		t.Errorf("--branch release: %+v", rows[0])
	}
	// The log's image names are the default tags.
	h2 := newHistory(t)
	h2.ok("ingest", "--project", "x", msNocacheLog)
	if rows := historyRows(h2); strings.Join(rows[0].Tags, ",") != "docker.io/library/bs-multi:probe" {
		t.Errorf("default tags %q", rows[0].Tags)
	}
	// With no start time anywhere, the time of ingest (App.Now).
	h3 := newHistory(t)
	r := run(t, strings.NewReader(mustRead(t, msColdLog)), h3.env, false, "ingest", "--project", "x", "-")
	if r.code != 0 {
		t.Fatal(r.err)
	}
	if rows := historyRows(h3); rows[0].StartedAt != "2026-11-23T12:00:00Z" {
		t.Errorf("stdin start time %s, want the time of ingest", rows[0].StartedAt)
	}
	for _, bad := range [][]string{{"--time", "yesterday"}, {"--input-format", "xml"}} {
		if r := h.run(append([]string{"ingest"}, append(bad, msColdLog)...)...); r.code != 2 {
			t.Errorf("%v: exit %d", bad, r.code)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// With many files and no terminal, every file gets its line.
func TestIngestManyFilesWithoutTerminal(t *testing.T) {
	dir := t.TempDir()
	log := mustRead(t, msColdLog)
	for i := range 12 { // more than ingest draws a progress bar for, on a terminal
		// Distinct bytes, distinct builds.
		os.WriteFile(filepath.Join(dir, "b"+string(rune('a'+i))+".log"), []byte(log+strings.Repeat("\n", i)), 0o644)
	}
	h := newHistory(t)
	r := h.ok("ingest", "--project", "many", dir)
	if n := strings.Count(r.out, ": stored as #"); n != 12 || strings.Contains(r.err, "\r") {
		t.Errorf("%d stored lines; stderr %q", n, r.err)
	}
}

// explain compares with the history when it can: by the log's hash when
// it was ingested, else with the project's latest build.
func TestExplainHistory(t *testing.T) {
	h := newHistory(t)
	// No database: no history, and none is created.
	var e struct {
		History *struct {
			BuildID  *int64 `json:"build_id"`
			Project  string `json:"project"`
			Basis    string `json:"basis"`
			Previous struct {
				ID        int64  `json:"id"`
				StartedAt string `json:"started_at"`
			} `json:"previous"`
			CacheLost []struct {
				Name            string   `json:"name"`
				Status          string   `json:"status"`
				DurationSeconds *float64 `json:"duration_seconds"`
			} `json:"cache_lost"`
			CacheLostSeconds float64 `json:"cache_lost_seconds"`
		} `json:"history"`
	}
	raw := h.ok("explain", "--format", "json", msColdLog).out
	if !strings.Contains(raw, `"history": null`) {
		t.Errorf("no database, yet history is not null")
	}
	if _, err := os.Stat(h.db); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("explain created the database")
	}
	if r := h.run("explain", "--db", h.db, msColdLog); r.code != 2 || !strings.Contains(r.err, "no build history at "+h.db) {
		t.Errorf("explain --db missing: exit %d, %q", r.code, r.err)
	}
	if _, err := os.Stat(h.db); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("explain --db created the database")
	}

	// The warm build, every step cached, is in the history; the cold log
	// is not: compared with the project's latest build.
	h.ok("ingest", "--project", "demo", "--branch", "trunk", "--time", "2026-11-20T10:00:00Z", msWarmLog)
	h.jsonOut(&e, "explain", "--project", "demo", "--format", "json", msColdLog)
	want := []string{
		`[base 2/2] RUN ["/bin/busybox","sh","-c","for i in 1 2 3; do /bin/busybox echo step $i; /bin/busybox sleep 0.5; done"]`,
		"[second 1/2] COPY a.txt /a.txt",
		`[second 2/2] RUN ["/bin/busybox","sh","-c","/bin/busybox echo to-stderr >&2; /bin/busybox cat /a.txt"]`,
		"[stage-2 1/2] COPY --from=second /a.txt /final.txt",
		"[stage-2 2/2] COPY --from=base /bin/busybox /bin/busybox",
	}
	check := func(basis string, buildID int64) {
		t.Helper()
		hi := e.History
		if hi == nil {
			t.Fatal("no history")
		}
		if hi.Basis != basis || hi.Project != "demo" || hi.Previous.ID != 1 || hi.Previous.StartedAt != "2026-11-20T10:00:00Z" ||
			(buildID == 0) != (hi.BuildID == nil) || hi.BuildID != nil && *hi.BuildID != buildID {
			t.Errorf("history = %+v", hi)
		}
		var names []string
		for _, s := range hi.CacheLost {
			names = append(names, s.Name)
			if s.Status != "done" || s.DurationSeconds == nil {
				t.Errorf("step %+v", s)
			}
		}
		if strings.Join(names, "\n") != strings.Join(want, "\n") || hi.CacheLostSeconds != 2.6 {
			t.Errorf("cache lost %q (%v s), want %q (2.6 s)", names, hi.CacheLostSeconds, want)
		}
	}
	check("latest", 0)
	out := h.ok("explain", "--project", "demo", msColdLog).out
	for _, s := range []string{
		"\nCompared with build #1\n#1 is the latest build of demo in the history (this log is not in it): succeeded on trunk, started 2026-11-20 10:00 UTC, 6 steps, 6 cached.\n" +
			"5 steps came from the cache in #1 and ran this time, taking 2.6s:\n",
		"│ [second 1/2] COPY a.txt /a.txt ",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	md := h.ok("explain", "--project", "demo", "--format", "markdown", msColdLog).out
	if !strings.Contains(md, "\n## Compared with build #1\n") || !strings.Contains(md, "| \\[stage-2 2/2\\] COPY --from=base /bin/busybox /bin/busybox | ran | 0.1s |") {
		t.Errorf("markdown:\n%s", md)
	}

	// Once ingested, the log is found by its hash, whatever --project says,
	// and compared with the build before it.
	h.ok("ingest", "--project", "demo", "--time", "2026-11-21T10:00:00Z", msColdLog)
	h.ok("ingest", "--project", "demo", "--time", "2026-11-22T10:00:00Z", msNocacheLog)
	e.History = nil
	h.jsonOut(&e, "explain", "--project", "elsewhere", "--format", "json", msColdLog)
	check("previous", 2)
	// The store's own answer agrees.
	s, err := sqlite.Open(h.db)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := s.PreviousMisses(context.Background(), 2)
	s.Close()
	if err != nil || pm.Previous == nil || pm.Previous.ID != 1 || len(pm.Steps) != len(want) {
		t.Errorf("PreviousMisses(2) = %+v, %v", pm, err)
	}

	// Steps that ran in both builds are not listed: against the cold
	// build, the nocache build lost only the cache of [base 1/2].
	// (Each log with a line added: the stored bytes are demo's builds.)
	dir := t.TempDir()
	cold, variant := filepath.Join(dir, "cold.log"), filepath.Join(dir, "nocache.log")
	os.WriteFile(cold, []byte(mustRead(t, msColdLog)+"\n"), 0o644)
	os.WriteFile(variant, []byte(mustRead(t, msNocacheLog)+"\n"), 0o644)
	h.ok("ingest", "--project", "p2", "--time", "2026-11-20", cold)
	e.History = nil
	h.jsonOut(&e, "explain", "--project", "p2", "--format", "json", variant)
	if hi := e.History; hi == nil || hi.Basis != "latest" || len(hi.CacheLost) != 1 || hi.CacheLost[0].Name != "[base 1/2] COPY busybox /bin/busybox" || hi.CacheLostSeconds != 0.1 {
		t.Errorf("nocache against cold: %+v", e.History)
	}

	// Another project's log has nothing to compare with.
	raw = h.ok("explain", "--project", "other", "--format", "json", probeDir+"plain-cold.log").out
	if !strings.Contains(raw, `"history": null`) {
		t.Errorf("history of a project without builds:\n%s", raw)
	}
	// The first build of a project has nothing before it.
	raw = h.ok("explain", "--format", "json", msWarmLog).out
	if !strings.Contains(raw, `"history": null`) {
		t.Errorf("history of the first build:\n%s", raw)
	}
}

// A damaged default database does not stop explain: it says so and
// explains without history. Named with --db, it is an error.
func TestExplainCorruptHistory(t *testing.T) {
	h := newHistory(t)
	garbage := []byte(strings.Repeat("not a database\n", 50))
	os.WriteFile(h.db, garbage, 0o600)
	r := h.run("explain", "--format", "json", msColdLog)
	if r.code != 0 || !strings.HasPrefix(r.err, "buildstats: warning: the build history was not used: ") || strings.Count(r.err, "\n") != 1 {
		t.Errorf("exit %d, stderr %q", r.code, r.err)
	}
	var e map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.out), &e); err != nil || string(e["history"]) != "null" {
		t.Errorf("output %v:\n%s", err, r.out)
	}
	if data, _ := os.ReadFile(h.db); !bytes.Equal(data, garbage) {
		t.Error("the file was changed")
	}
}

// A log that holds several builds: explain explains the last and says
// so, --build picks another, ingest stores each once.
func TestSeveralBuildsInOneLog(t *testing.T) {
	const log = "../../fixtures/real/legacy-terminal-three-failed-builds-41.log"
	h := newHistory(t)
	var e struct {
		LogBuild  *int   `json:"log_build"`
		LogBuilds *int   `json:"log_builds"`
		Status    string `json:"status"`
		Error     struct {
			ExitCode *int `json:"exit_code"`
		} `json:"error"`
	}
	h.jsonOut(&e, "explain", "--format", "json", log)
	if e.LogBuild == nil || e.LogBuilds == nil || *e.LogBuild != 3 || *e.LogBuilds != 3 {
		t.Fatalf("explain: build %v of %v, want the last of 3", e.LogBuild, e.LogBuilds)
	}
	h.jsonOut(&e, "explain", "--format", "json", "--build", "1", log)
	if *e.LogBuild != 1 || e.Status != "failed" || e.Error.ExitCode == nil || *e.Error.ExitCode != 2 {
		t.Errorf("--build 1: build %d, %s, exit %v", *e.LogBuild, e.Status, e.Error.ExitCode)
	}
	if r := h.run("explain", "--build", "4", log); r.code != 2 || !strings.Contains(r.err, "holds 3 builds") {
		t.Errorf("--build 4: exit %d, %q", r.code, r.err)
	}
	table := h.ok("explain", log).out
	if !strings.Contains(table, "build 3 of 3 in the log") {
		t.Errorf("the table does not say which build it explains:\n%s", table)
	}
	r := h.ok("ingest", "--project", "three", log)
	if !strings.Contains(r.out, "(build 1 of 3): stored as #1") || !strings.Contains(r.out, "(build 3 of 3): stored as #3") ||
		!strings.Contains(r.out, "3 stored") {
		t.Errorf("ingest:\n%s", r.out)
	}
	if r := h.ok("ingest", "--project", "three", log); !strings.Contains(r.out, "3 already stored") {
		t.Errorf("second ingest:\n%s", r.out)
	}
	if n := len(historyRows(h)); n != 3 {
		t.Errorf("%d builds stored, want 3", n)
	}
}

package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/sqlite"
)

const (
	failLog        = "../../fixtures/buildkit-probe/run-fail-plain.log"
	failDockerfile = "../../fixtures/buildkit-probe/dockerfiles/ctx-fail.Dockerfile"
	coldLog        = "../../fixtures/buildkit-probe/multistage-plain-cold.log"
	multiFile      = "../../fixtures/buildkit-probe/dockerfiles/ctx-multi.Dockerfile"
)

// ciEnv is an environment with HOME in a temporary directory, so no test
// reads or writes the real default history.
func ciEnv(t *testing.T, kv ...string) map[string]string {
	t.Helper()
	env := map[string]string{"HOME": t.TempDir()}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func readText(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestAnnotateGitHub(t *testing.T) {
	summary := writeFile(t, "summary.md", []byte("# Earlier step\n"))
	env := ciEnv(t, "GITHUB_ACTIONS", "true", "GITHUB_STEP_SUMMARY", summary,
		"GITHUB_WORKSPACE", abs(t, "../.."), "GITHUB_SERVER_URL", "https://github.com",
		"GITHUB_REPOSITORY", "acme/shop", "GITHUB_SHA", "0123abc")
	r := run(t, nil, env, false, "annotate", "--dockerfile", failDockerfile, failLog)
	if r.code != 0 || r.err != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.err)
	}
	// Paths relative to the workspace, as the runner wants them.
	want := "::error file=fixtures/buildkit-probe/dockerfiles/ctx-fail.Dockerfile,line=3,title=Build failed%3A exit code 3::"
	if !strings.HasPrefix(r.out, want) || !strings.Contains(r.out, "%0A%0ALast 2 lines of output:%0Aabout to fail%0Aoops\n") {
		t.Errorf("stdout:\n%s", r.out)
	}
	for _, line := range strings.Split(strings.TrimSuffix(r.out, "\n"), "\n") {
		if !strings.HasPrefix(line, "::error ") && !strings.HasPrefix(line, "::warning ") && !strings.HasPrefix(line, "::notice ") {
			t.Errorf("stdout line is not a workflow command: %q", line)
		}
	}
	got := readText(t, summary)
	if !strings.HasPrefix(got, "# Earlier step\n## Docker build failed\n") {
		t.Errorf("summary not appended:\n%s", got)
	}
	if !strings.Contains(got, "[ctx-fail.Dockerfile:3](https://github.com/acme/shop/blob/0123abc/fixtures/buildkit-probe/dockerfiles/ctx-fail.Dockerfile#L3)") {
		t.Errorf("summary lacks the linked location:\n%s", got)
	}

	// --summary replaces the step summary; --ci forces the format.
	own := filepath.Join(t.TempDir(), "own.md")
	r = run(t, nil, ciEnv(t), false, "annotate", "--ci", "github", "--summary", own, coldLog)
	if r.code != 0 || !strings.Contains(r.out, "::warning title=Slow step%3A 2.2s") || !strings.HasPrefix(readText(t, own), "## Docker build succeeded") {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.out)
	}
}

func TestAnnotateGitLab(t *testing.T) {
	dir := t.TempDir()
	log, df := abs(t, coldLog), abs(t, multiFile)
	t.Chdir(dir)
	env := ciEnv(t, "GITLAB_CI", "true", "CI_PROJECT_DIR", filepath.Dir(filepath.Dir(filepath.Dir(df))))
	r := run(t, nil, env, false, "annotate", "--dockerfile", df, log)
	if r.code != 0 || r.err != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.err)
	}
	if !strings.HasPrefix(r.out, "warning: buildkit-probe/dockerfiles/ctx-multi.Dockerfile:3: Slow step: 2.2s") {
		t.Errorf("stdout:\n%s", r.out)
	}
	var issues []struct {
		CheckName   string `json:"check_name"`
		Fingerprint string `json:"fingerprint"`
		Severity    string `json:"severity"`
		Location    struct {
			Path  string `json:"path"`
			Lines struct {
				Begin int `json:"begin"`
			} `json:"lines"`
		} `json:"location"`
	}
	if err := json.Unmarshal([]byte(readText(t, filepath.Join(dir, "gl-code-quality-report.json"))), &issues); err != nil {
		t.Fatal(err)
	}
	if len(issues) != 4 || issues[0].CheckName != "buildstats/slow-step" || issues[0].Location.Path != "buildkit-probe/dockerfiles/ctx-multi.Dockerfile" ||
		issues[0].Location.Lines.Begin != 3 || issues[0].Severity != "minor" || len(issues[0].Fingerprint) != 32 {
		t.Errorf("code quality = %+v", issues)
	}
	if md := readText(t, filepath.Join(dir, "buildstats-summary.md")); !strings.HasPrefix(md, "## Docker build succeeded") {
		t.Errorf("summary:\n%s", md)
	}

	// Explicit paths.
	cq, md := filepath.Join(dir, "cq.json"), filepath.Join(dir, "s.md")
	r = run(t, nil, env, false, "annotate", "--codequality", cq, "--summary", md, log)
	if r.code != 0 || readText(t, cq) != "[]\n" || !strings.Contains(readText(t, md), "| ⚠️ warning | – | **Slow step: 2.2s") {
		t.Errorf("exit %d; without a Dockerfile: %s / %s", r.code, readText(t, cq), readText(t, md))
	}
}

func TestAnnotateBuildkiteAndJUnit(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "junit.xml")
	r := run(t, nil, ciEnv(t, "BUILDKITE", "true"), false, "annotate", "--dockerfile", failDockerfile, "--junit", junit, failLog)
	if r.code != 0 || !strings.HasPrefix(r.out, "## Docker build failed") || !strings.Contains(r.out, "```text\nabout to fail\noops\n```") {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.out)
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Line    string `xml:"line,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(readText(t, junit)), &doc); err != nil {
		t.Fatal(err)
	}
	last := doc.Suites[0].Cases[len(doc.Suites[0].Cases)-1]
	if last.Failure == nil || last.Line != "3" || !strings.HasPrefix(last.Failure.Message, "exit code 3") {
		t.Errorf("failing case = %+v", last)
	}
}

func TestAnnotateTextAndStdin(t *testing.T) {
	log, err := os.ReadFile(failLog)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, strings.NewReader(string(log)), ciEnv(t), false, "annotate", "--dockerfile", failDockerfile, "-")
	want := "error: " + failDockerfile + ":3: Build failed: exit code 3\n"
	if r.code != 0 || !strings.HasPrefix(r.out, want) || !strings.Contains(r.out, "  |   oops\n") {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.out)
	}
	// Thresholds.
	r = run(t, nil, ciEnv(t), false, "annotate", "--slow", "0", "--slow-share", "0", coldLog)
	if r.code != 0 || strings.Contains(r.out, "Slow step") || !strings.Contains(r.out, "Cache miss") {
		t.Errorf("slow rules off: %s", r.out)
	}
	r = run(t, nil, ciEnv(t), false, "annotate", "--slow", "2s", "--slow-share", "0", coldLog)
	if r.code != 0 || strings.Count(r.out, "Slow step") != 1 {
		t.Errorf("--slow 2s: %s", r.out)
	}
}

// A Dockerfile that does not parse (the build failed on it) still lets
// the failure be placed, by the log's own location.
func TestAnnotateBrokenDockerfile(t *testing.T) {
	r := run(t, nil, ciEnv(t), false, "annotate", "--ci", "github",
		"--dockerfile", "../../fixtures/buildkit-probe/dockerfiles/ctx-parse.Dockerfile", "../../fixtures/buildkit-probe/parse-error-plain.log")
	if r.code != 0 || !strings.HasPrefix(r.out, "::error file=../../fixtures/buildkit-probe/dockerfiles/ctx-parse.Dockerfile,line=2,title=Build failed::") {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.out)
	}
	if !strings.HasPrefix(r.err, "buildstats: warning: ") || strings.Count(r.err, "\n") != 1 {
		t.Errorf("stderr = %q", r.err)
	}
}

func TestAnnotateFailOn(t *testing.T) {
	r := run(t, nil, ciEnv(t), false, "annotate", "--ci", "github", "--fail-on", "cache-hit", "--min-cache-hit", "50%", coldLog)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", r.code, r.err)
	}
	if r.err != "buildstats: gate cache-hit failed: cache hit rate 17% (1 of 6 steps cached), under the minimum of 50%\n" {
		t.Errorf("stderr = %q", r.err)
	}
	if !strings.HasPrefix(r.out, "::error title=Gate failed%3A cache-hit::Cache hit rate 17%25") {
		t.Errorf("stdout:\n%s", r.out)
	}
	// Passing gates exit 0; a limit flag alone enables its gate.
	r = run(t, nil, ciEnv(t), false, "annotate", "--min-cache-hit", "0.1", "--max-duration", "1h", coldLog)
	if r.code != 0 || !strings.Contains(r.out, "gate duration: pass:") || !strings.Contains(r.out, "gate cache-hit: pass:") {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.out)
	}
	// Without history a regression gate asked for fails closed (exit 2),
	// after the annotations; --missing-history skip skips it with a notice.
	r = run(t, nil, ciEnv(t), false, "annotate", "--ci", "github", "--fail-on", "regression", coldLog)
	if r.code != 2 || !strings.Contains(r.out, "::error title=Gate could not be evaluated%3A regression::No history database at ") ||
		!strings.HasPrefix(r.err, "buildstats: gate regression could not be evaluated: no history database at ") {
		t.Errorf("exit %d, stdout:\n%s\nstderr %q", r.code, r.out, r.err)
	}
	r = run(t, nil, ciEnv(t), false, "annotate", "--ci", "github", "--fail-on", "regression", "--missing-history", "skip", coldLog)
	if r.code != 0 || !strings.Contains(r.out, "::notice title=Gate skipped%3A regression::No history database at ") {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.out)
	}
}

// variant writes the cold multi-stage log with the base RUN taking secs.
func variant(t *testing.T, dir, secs string) string {
	t.Helper()
	data := readText(t, coldLog)
	if !strings.Contains(data, "#5 DONE 2.2s\n") {
		t.Fatal("fixture changed: no #5 DONE 2.2s")
	}
	path := filepath.Join(dir, "build-"+secs+".log")
	if err := os.WriteFile(path, []byte(strings.Replace(data, "#5 DONE 2.2s\n", "#5 DONE "+secs+"s\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func countBuilds(t *testing.T, db string) int {
	t.Helper()
	s, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.History(context.Background(), store.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

// annotate --db stores builds; check and annotate --fail-on regression
// compare against them.
func TestHistoryGates(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sub", "history.db")
	id := []string{"--db", db, "--project", "shop", "--branch", "main"}
	for _, secs := range []string{"2.0", "3.1", "2.2"} {
		r := run(t, nil, ciEnv(t), false, append(append([]string{"annotate"}, id...), variant(t, dir, secs))...)
		if r.code != 0 || r.err != "" {
			t.Fatalf("annotate --db: exit %d, stderr %q", r.code, r.err)
		}
	}
	// The same log again is the same build.
	run(t, nil, ciEnv(t), false, append(append([]string{"annotate"}, id...), variant(t, dir, "2.2"))...)
	if n := countBuilds(t, db); n != 3 {
		t.Fatalf("%d builds stored, want 3", n)
	}

	slow := variant(t, dir, "9.9")
	r := run(t, nil, ciEnv(t), false, append(append([]string{"check", "--dockerfile", multiFile}, id...), slow)...)
	if r.code != 1 {
		t.Fatalf("check: exit %d, want 1; stdout %s stderr %q", r.code, r.out, r.err)
	}
	if !strings.HasPrefix(r.out, "FAIL  regression  1 step regressed over the limit of +25% against the median over the last 3 successful builds of shop on main: [base 2/2] RUN") ||
		!strings.HasPrefix(r.err, "buildstats: gate regression failed: 1 step regressed") || strings.Count(r.err, "\n") != 1 {
		t.Errorf("stdout %q\nstderr %q", r.out, r.err)
	}
	r = run(t, nil, ciEnv(t), false, append(append([]string{"check"}, id...), variant(t, dir, "2.4"))...)
	if r.code != 0 || !strings.HasPrefix(r.out, "PASS  regression  3 steps compared with the median over the last 3 successful builds of shop on main") {
		t.Errorf("within the limit: exit %d, stdout %q", r.code, r.out)
	}
	// A new branch is compared with the default branch.
	r = run(t, nil, ciEnv(t), false, "check", "--db", db, "--project", "shop", "--branch", "fix", "--default-branch", "main", slow)
	if r.code != 1 || !strings.Contains(r.out, "(the default branch; this branch has none yet)") {
		t.Errorf("fallback: exit %d, stdout %q", r.code, r.out)
	}
	r = run(t, nil, ciEnv(t, "GITLAB_CI", "true", "CI_DEFAULT_BRANCH", "main"), false, "check", "--db", db, "--project", "shop", "--branch", "fix", slow)
	if r.code != 1 {
		t.Errorf("default branch from CI_DEFAULT_BRANCH: exit %d, stdout %q", r.code, r.out)
	}

	// annotate stores the slow build and gates on it, excluding itself
	// from its own baseline.
	r = run(t, nil, ciEnv(t), false, append(append([]string{"annotate", "--ci", "github", "--dockerfile", multiFile, "--fail-on", "regression"}, id...), slow)...)
	if r.code != 1 || !strings.HasPrefix(r.out, "::error file=../../fixtures/buildkit-probe/dockerfiles/ctx-multi.Dockerfile,line=3,title=Step regressed%3A +350%25 (2.2s → 9.9s)::") {
		t.Errorf("annotate --fail-on regression: exit %d, stdout:\n%s\nstderr %q", r.code, r.out, r.err)
	}
	if n := countBuilds(t, db); n != 4 {
		t.Errorf("%d builds stored, want 4", n)
	}
	// BUILDSTATS_DB stands for --db.
	r = run(t, nil, ciEnv(t, "BUILDSTATS_DB", db), false, "annotate", "--project", "shop", "--branch", "main", variant(t, dir, "2.1"))
	if r.code != 0 || countBuilds(t, db) != 5 {
		t.Errorf("BUILDSTATS_DB: exit %d, %d builds", r.code, countBuilds(t, db))
	}
}

func TestCheckWithoutHistory(t *testing.T) {
	r := run(t, nil, ciEnv(t), false, "check", "--project", "shop", "--branch", "main", coldLog)
	if r.code != 0 || !strings.HasPrefix(r.out, "SKIP  regression  no history database at ") || r.err != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
	}
	// An empty database: same, and it is not created by check.
	db := filepath.Join(t.TempDir(), "none.db")
	r = run(t, nil, ciEnv(t), false, "check", "--db", db, coldLog)
	if _, err := os.Stat(db); r.code != 0 || err == nil {
		t.Errorf("exit %d; database created: %v", r.code, err == nil)
	}
}

func TestCheckDurationAndJSON(t *testing.T) {
	r := run(t, nil, ciEnv(t), false, "check", "--max-duration", "10s", "--fail-on", "duration", seedLog)
	if r.code != 1 || r.err != "buildstats: gate duration failed: the build took 11.7s, over the limit of 10.0s\n" {
		t.Errorf("exit %d, stderr %q", r.code, r.err)
	}
	if !strings.Contains(r.out, "FAIL  duration    the build took 11.7s, over the limit of 10.0s\n") {
		t.Errorf("stdout %q", r.out)
	}
	r = run(t, nil, ciEnv(t), false, "check", "--format", "json", "--max-duration", "10s", "--min-cache-hit", "50%", seedLog)
	var got struct {
		Failed bool `json:"failed"`
		Gates  []struct {
			Gate, Status, Message string
		} `json:"gates"`
	}
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatalf("%v: %s", err, r.out)
	}
	if r.code != 1 || !got.Failed || len(got.Gates) != 3 || got.Gates[0].Gate != "duration" || got.Gates[1].Status != "skip" || got.Gates[2].Gate != "cache-hit" || got.Gates[2].Status != "fail" {
		t.Errorf("exit %d, %+v", r.code, got)
	}
	if r.err != "buildstats: 2 gates failed: duration, cache-hit\n" {
		t.Errorf("stderr %q", r.err)
	}
}

// Unusable input or flags: one "buildstats: ..." line, exit status 2.
func TestAnnotateCheckBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"annotate", "--ci", "jenkins", coldLog}, `unknown CI "jenkins"`},
		{[]string{"annotate", "--fail-on", "speed", coldLog}, `--fail-on: unknown gate "speed"`},
		{[]string{"annotate", "--fail-on", "duration", coldLog}, "--fail-on duration needs --max-duration"},
		{[]string{"check", "--fail-on", "cache-hit", coldLog}, "--fail-on cache-hit needs --min-cache-hit"},
		{[]string{"check", "--min-cache-hit", "150%", coldLog}, "--min-cache-hit must be at most 100%"},
		{[]string{"annotate", "--slow-share", "1.5", coldLog}, "--slow-share must be between 0 and 100%"},
		{[]string{"annotate", "--slow-share", "lots", coldLog}, "want a percentage"},
		{[]string{"check", "--baseline-builds", "0", coldLog}, "--baseline-builds must be at least 1"},
		{[]string{"check", "--format", "xml", coldLog}, `unknown output format "xml"`},
		{[]string{"annotate", filepath.Join(dir, "nope.log")}, "nope.log: no such file"},
		{[]string{"check", filepath.Join(dir, "nope.log")}, "nope.log: no such file"},
		{[]string{"annotate", "../../fixtures/buildkit-probe/buildctl-du.txt"}, "not a Docker or BuildKit build log"},
		{[]string{"annotate", "--target", "base", coldLog}, "--target needs --dockerfile"},
		{[]string{"annotate", "--dockerfile", multiFile, "--target", "nosuch", coldLog}, `--target "nosuch"`},
		{[]string{"annotate", "--dockerfile", filepath.Join(dir, "Dockerfile"), coldLog}, "reading Dockerfile"},
		{[]string{"check", "--db", writeFile(t, "junk.db", []byte("not a database at all, just text\n")), coldLog}, "not a buildstats database"},
		{[]string{"annotate"}, "accepts 1 arg(s)"},
		{[]string{"check", coldLog, coldLog}, "accepts 1 arg(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			r := run(t, nil, ciEnv(t), false, tt.args...)
			if r.code != 2 || !strings.HasPrefix(r.err, "buildstats: ") || strings.Count(r.err, "\n") != 1 || !strings.Contains(r.err, tt.want) {
				t.Errorf("%v: exit %d, stderr %q, want one line with %q", tt.args, r.code, r.err, tt.want)
			}
			if r.out != "" {
				t.Errorf("stdout = %q", r.out)
			}
		})
	}
}

func TestAnnotateTarget(t *testing.T) {
	r := run(t, nil, ciEnv(t), false, "annotate", "--dockerfile", multiFile, "--target", "BASE", coldLog)
	if r.code != 0 || !strings.HasPrefix(r.out, "warning: "+multiFile+":3: Slow step") {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.out)
	}
	// Stages the target does not need are not placed.
	if strings.Contains(r.out, multiFile+":6:") || strings.Contains(r.out, multiFile+":10:") {
		t.Errorf("steps outside the target stage located:\n%s", r.out)
	}
}

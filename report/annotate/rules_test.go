package annotate

import (
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/gate"
)

func ranStep(name string, index, total int, d time.Duration) *model.Vertex {
	instr, args, _ := strings.Cut(name[strings.Index(name, "] ")+2:], " ")
	return &model.Vertex{ID: name, Name: name, Index: index, Total: total, Instruction: instr, Args: args,
		Completed: true, Duration: d, HasDuration: true}
}

func findings(r *Report, kind string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

func TestSlowRule(t *testing.T) {
	b := &model.Build{
		Format: model.FormatTTY, Status: model.StatusSucceeded, Duration: 100 * time.Second, HasDuration: true,
		Vertices: []*model.Vertex{
			{ID: "c", Name: "[1/5] FROM alpine", Index: 1, Total: 5, Instruction: "FROM", Args: "alpine", Cached: true, Completed: true},
			ranStep("[2/5] RUN abs", 2, 5, 35*time.Second),   // over 30s
			ranStep("[3/5] RUN share", 3, 5, 25*time.Second), // 25% of the build
			ranStep("[4/5] RUN fine", 4, 5, 15*time.Second),  // neither
			{ID: "e", Name: "[5/5] RUN broke", Index: 5, Total: 5, Instruction: "RUN", Args: "broke", Error: "exit code: 1", ExitCode: 1, Duration: 50 * time.Second, HasDuration: true},
		},
	}
	e := report.Explain(b, report.Options{})
	slow := findings(New(e, Options{Rules: DefaultRules()}), KindSlow)
	var names []string
	for _, f := range slow {
		names = append(names, f.Step)
	}
	// Longest first; the failed step is reported as the failure instead.
	if strings.Join(names, ",") != "[2/5] RUN abs,[3/5] RUN share" {
		t.Errorf("slow steps %v", names)
	}
	if slow[1].Title != "Slow step: 25.0s (25% of the build)" || slow[1].Message != "[3/5] RUN share took 25.0s, 25% of the build (1m40s)." {
		t.Errorf("finding = %+v", slow[1])
	}
	if slow[0].Line != 0 || slow[0].File != "" {
		t.Errorf("located without a Dockerfile: %+v", slow[0])
	}

	// Each threshold alone.
	if got := findings(New(e, Options{Rules: Rules{Slow: 30 * time.Second}}), KindSlow); len(got) != 1 || got[0].Step != "[2/5] RUN abs" {
		t.Errorf("--slow-share 0: %v", got)
	}
	if got := findings(New(e, Options{Rules: Rules{SlowShare: 0.3}}), KindSlow); len(got) != 1 || got[0].Step != "[2/5] RUN abs" {
		t.Errorf("--slow 0 --slow-share 30%%: %v", got)
	}
	if got := findings(New(e, Options{Rules: Rules{}}), KindSlow); len(got) != 0 {
		t.Errorf("both disabled: %v", got)
	}

	// In a tiny build every step is a large share; --slow-min keeps
	// sub-second steps out.
	tiny := &model.Build{Format: model.FormatTTY, Status: model.StatusSucceeded, Duration: time.Second, HasDuration: true,
		Vertices: []*model.Vertex{ranStep("[1/1] COPY . .", 1, 1, 600*time.Millisecond)}}
	if got := findings(New(report.Explain(tiny, report.Options{}), Options{Rules: DefaultRules()}), KindSlow); len(got) != 0 {
		t.Errorf("0.6s step flagged: %v", got)
	}
}

func TestCacheMissRule(t *testing.T) {
	_, r := newReport(t, fixtures+"/buildkit-probe/multistage-plain-cold.log", fixtures+"/buildkit-probe/dockerfiles/ctx-multi.Dockerfile")
	misses := findings(r, KindCacheMiss)
	if len(misses) != 3 {
		t.Fatalf("%d cache-miss findings, want one per stage (3)", len(misses))
	}
	// The break in stage base is the cause; the other stages follow it.
	root := misses[0]
	if root.Line != 3 || root.Seconds != 2.6 || root.Severity != SeverityNotice ||
		!strings.Contains(root.Message, "ran although [base 1/2] COPY busybox /bin/busybox came from the cache") ||
		!strings.Contains(root.Message, "Rebuilt from here: 5 steps (2.6s), including the stages that build on it") {
		t.Errorf("root = %+v", root)
	}
	for _, f := range misses[1:] {
		if !strings.Contains(f.Message, "because the stage builds on [base 2/2] RUN") || !strings.Contains(f.Message, "(line 3)") {
			t.Errorf("follow-on = %+v", f)
		}
	}
	if misses[1].Line != 6 || misses[1].Title != "Cache miss: 2 steps (0.3s) rebuilt" || misses[2].Line != 10 {
		t.Errorf("follow-ons = %+v", misses[1:])
	}

	// A warm build has nothing to say about the cache.
	_, r = newReport(t, fixtures+"/buildkit-probe/multistage-plain-warm.log", fixtures+"/buildkit-probe/dockerfiles/ctx-multi.Dockerfile")
	if got := findings(r, KindCacheMiss); len(got) != 0 {
		t.Errorf("warm build: %v", got)
	}
}

func TestFailureRule(t *testing.T) {
	_, r := newReport(t, fixtures+"/buildkit-probe/run-fail-plain.log", fixtures+"/buildkit-probe/dockerfiles/ctx-fail.Dockerfile")
	fail := findings(r, KindFailed)
	if len(fail) != 1 {
		t.Fatalf("%d failure findings", len(fail))
	}
	f := fail[0]
	if f.Severity != SeverityError || f.Line != 3 || f.File != "Dockerfile" || f.Title != "Build failed: exit code 3" ||
		strings.Join(f.Output, "|") != "about to fail|oops" || !strings.HasPrefix(f.Message, `[2/2] RUN ["/bin/busybox"`) {
		t.Errorf("failure = %+v", f)
	}
	// The failing step's cache miss is not reported on top of its error.
	if got := findings(r, KindCacheMiss); len(got) != 0 {
		t.Errorf("cache miss on the failing step: %v", got)
	}

	// The log says Dockerfile:3, but the given file is another one: no
	// line, and the message keeps the log's location.
	_, r = newReport(t, fixtures+"/buildkit-probe/run-fail-plain.log", fixtures+"/buildkit-probe/dockerfiles/ctx-multi.Dockerfile")
	f = findings(r, KindFailed)[0]
	if f.Line != 0 || f.File != "" || !strings.HasSuffix(f.Message, "(the log locates it at Dockerfile:3)") {
		t.Errorf("failure against the wrong Dockerfile = %+v", f)
	}

	// A Dockerfile parse error has no failing step; the log's location is
	// used when the file has the quoted line there, even though the file
	// itself does not parse.
	b := loadLog(t, fixtures+"/buildkit-probe/parse-error-plain.log")
	e := report.Explain(b, report.Options{})
	r = New(e, Options{File: "app/Dockerfile", Lines: []string{"FROM scratch", "COPYY a.txt /a.txt"}})
	if f := findings(r, KindFailed)[0]; f.Line != 2 || f.File != "app/Dockerfile" || f.Title != "Build failed" {
		t.Errorf("parse error = %+v", f)
	}
	r = New(e, Options{File: "app/Dockerfile", Lines: []string{"FROM scratch", "COPY a.txt /a.txt"}})
	if f := findings(r, KindFailed)[0]; f.Line != 0 {
		t.Errorf("parse error located in a file without that line: %+v", f)
	}
}

func TestTruncatedLog(t *testing.T) {
	b := &model.Build{Format: model.FormatPlain, Status: model.StatusUnknown, Truncated: true,
		Vertices: []*model.Vertex{ranStep("[1/1] RUN make", 1, 1, 40*time.Second)}}
	r := New(report.Explain(b, report.Options{}), Options{Rules: DefaultRules()})
	if got := findings(r, KindTruncated); len(got) != 1 || got[0].Severity != SeverityNotice {
		t.Errorf("truncated: %v", r.Findings)
	}
}

func TestAddGates(t *testing.T) {
	b, r := newReport(t, fixtures+"/buildkit-probe/multistage-plain-cold.log", fixtures+"/buildkit-probe/dockerfiles/ctx-multi.Dockerfile")
	r.AddGates(regressedGates(t, b, r))
	reg := findings(r, KindRegression)
	if len(reg) != 1 || reg[0].Line != 3 || reg[0].Severity != SeverityError || !strings.HasPrefix(reg[0].Title, "Step regressed: +120%") {
		t.Errorf("regression findings = %+v", reg)
	}
	gates := findings(r, KindGate)
	if len(gates) != 2 || gates[0].Title != "Gate failed: duration" || gates[1].Title != "Gate failed: cache-hit" || gates[0].Line != 0 {
		t.Errorf("gate findings = %+v", gates)
	}
	// Errors sort first.
	if r.Findings[0].Kind != KindRegression {
		t.Errorf("first finding = %+v", r.Findings[0])
	}

	_, r = newReport(t, fixtures+"/buildkit-probe/multistage-plain-cold.log", "")
	r.AddGates([]gate.Result{{Gate: gate.Regression, Status: gate.StatusSkip, Message: "no earlier successful build of shop on main in the history"}})
	if g := findings(r, KindGate); len(g) != 1 || g[0].Severity != SeverityNotice || g[0].Title != "Gate skipped: regression" ||
		g[0].Message != "No earlier successful build of shop on main in the history." {
		t.Errorf("skipped gate = %+v", g)
	}
}

func TestRepoPathAndLinks(t *testing.T) {
	env := map[string]string{
		"GITHUB_WORKSPACE": "/home/runner/work/shop/shop", "GITHUB_SERVER_URL": "https://github.com",
		"GITHUB_REPOSITORY": "acme/shop", "GITHUB_SHA": "0123abc",
	}
	getenv := func(k string) string { return env[k] }
	for _, tt := range []struct{ path, cwd, want string }{
		{"Dockerfile", "/home/runner/work/shop/shop", "Dockerfile"},
		{"./docker/Dockerfile", "/home/runner/work/shop/shop", "docker/Dockerfile"},
		{"Dockerfile", "/home/runner/work/shop/shop/services/api", "services/api/Dockerfile"},
		{"/home/runner/work/shop/shop/app/Dockerfile", "/tmp", "app/Dockerfile"},
		{"/etc/Dockerfile", "/tmp", "/etc/Dockerfile"},
	} {
		if got := RepoPath(CIGitHub, getenv, tt.path, tt.cwd); got != tt.want {
			t.Errorf("RepoPath(%q, cwd %q) = %q, want %q", tt.path, tt.cwd, got, tt.want)
		}
	}
	if got := RepoPath(CINone, getenv, "./a/../Dockerfile", "/x"); got != "Dockerfile" {
		t.Errorf("no CI: %q", got)
	}
	link := LineURLFunc(CIGitHub, getenv)
	if got := link("docker/app Dockerfile", 12); got != "https://github.com/acme/shop/blob/0123abc/docker/app%20Dockerfile#L12" {
		t.Errorf("link = %q", got)
	}
	if link("/etc/Dockerfile", 1) != "" || LineURLFunc(CIBuildkite, getenv) != nil {
		t.Error("links outside the repository or without a repository browser")
	}
	gl := LineURLFunc(CIGitLab, func(k string) string {
		return map[string]string{"CI_PROJECT_URL": "https://gitlab.com/acme/shop", "CI_COMMIT_SHA": "abc"}[k]
	})
	if got := gl("Dockerfile", 3); got != "https://gitlab.com/acme/shop/-/blob/abc/Dockerfile#L3" {
		t.Errorf("gitlab link = %q", got)
	}
	for env, want := range map[string]string{"GITHUB_ACTIONS": CIGitHub, "GITLAB_CI": CIGitLab, "BUILDKITE": CIBuildkite, "CI": CINone} {
		if got := DetectCI(func(k string) string {
			if k == env {
				return "true"
			}
			return ""
		}); got != want {
			t.Errorf("DetectCI with %s=true: %q, want %q", env, got, want)
		}
	}
}

func TestGitHubLimit(t *testing.T) {
	var vs []*model.Vertex
	for i := 1; i <= 15; i++ {
		vs = append(vs, ranStep("[1/15] RUN sleep "+strings.Repeat("x", i), i, 15, 40*time.Second))
	}
	b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Vertices: vs}
	r := New(report.Explain(b, report.Options{}), Options{Rules: DefaultRules()})
	var buf strings.Builder
	omitted, err := WriteGitHub(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	// 15 slow steps and one cache miss (the first step ran).
	if got := strings.Count(buf.String(), "::warning "); got != GitHubLimit || omitted != 5 || strings.Count(buf.String(), "::notice ") != 1 {
		t.Errorf("%d warnings written, %d omitted:\n%s", got, omitted, buf.String())
	}
}

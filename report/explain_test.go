package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report/dockerfile"
)

const fixtures = "../fixtures"

func TestMain(m *testing.M) {
	// tablewriter measures box-drawing characters as double width in CJK
	// locales; pin the measure so golden files do not depend on the locale.
	os.Setenv("RUNEWIDTH_EASTASIAN", "0")
	os.Exit(m.Run())
}

// load parses a fixture log.
func load(t *testing.T, name string) *model.Build {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := parse.Parse(f, parse.Options{})
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return b
}

// loadDockerfile parses a fixture Dockerfile.
func loadDockerfile(t *testing.T, name string) *dockerfile.File {
	t.Helper()
	f, err := dockerfile.ParseFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func step(t *testing.T, e *Explanation, prefix string) Step {
	t.Helper()
	for _, s := range e.Steps {
		if strings.HasPrefix(s.Name, prefix) {
			return s
		}
	}
	t.Fatalf("no step %q in %d steps", prefix, len(e.Steps))
	return Step{}
}

func intp(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

func floatp(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

func TestExplainSeed(t *testing.T) {
	b := load(t, "seed/tty-seed-python-docker-demo.log")
	e := Explain(b, Options{Dockerfile: loadDockerfile(t, "seed/Dockerfile.python-docker-demo")})

	if e.Format != "tty" || e.Status != "succeeded" || floatp(e.DurationSeconds) != 11.7 {
		t.Errorf("format, status, duration = %s, %s, %v; want tty, succeeded, 11.7", e.Format, e.Status, floatp(e.DurationSeconds))
	}
	if e.Builder == nil || *e.Builder != "docker:default" {
		t.Errorf("builder = %v", e.Builder)
	}
	if e.StepsTotal != 3 || e.StepsRun != 3 || e.StepsCached != 0 || floatp(e.CacheHitRate) != 0 {
		t.Errorf("steps total/run/cached/hit = %d/%d/%d/%v, want 3/3/0/0", e.StepsTotal, e.StepsRun, e.StepsCached, floatp(e.CacheHitRate))
	}
	if e.ContextBytes == nil || *e.ContextBytes != 392 {
		t.Errorf("context bytes = %v, want 392", e.ContextBytes)
	}
	if len(e.Steps) != 8 {
		t.Errorf("%d steps, want all 8 vertices", len(e.Steps))
	}
	for _, want := range []struct {
		prefix   string
		seconds  float64
		line     int
		instr    string
		firstMis bool
	}{
		{"[1/3] FROM docker.io/library/python:3.8-slim", 6.2, 2, "FROM", true},
		{"[2/3] WORKDIR /usr/src/app", 0.4, 5, "WORKDIR", false},
		{"[3/3] COPY . .", 0.1, 8, "COPY", false},
	} {
		s := step(t, e, want.prefix)
		if floatp(s.DurationSeconds) != want.seconds || s.Cached || s.Status != "done" {
			t.Errorf("%s: duration %v cached %v status %s; want %v, false, done", want.prefix, floatp(s.DurationSeconds), s.Cached, s.Status, want.seconds)
		}
		if intp(s.Line) != want.line || s.Instruction == nil || *s.Instruction != want.instr || intp(s.Total) != 3 {
			t.Errorf("%s: line %d instruction %v total %d; want %d %s 3", want.prefix, intp(s.Line), s.Instruction, intp(s.Total), want.line, want.instr)
		}
		if s.FirstMiss != want.firstMis {
			t.Errorf("%s: first_miss = %v, want %v", want.prefix, s.FirstMiss, want.firstMis)
		}
	}
	meta := step(t, e, "[internal] load metadata")
	if meta.Kind != "internal" || meta.Index != nil || meta.Stage != nil || meta.Line != nil {
		t.Errorf("metadata vertex: kind %s index %v stage %v line %v", meta.Kind, meta.Index, meta.Stage, meta.Line)
	}
	from := step(t, e, "[1/3] FROM")
	if len(from.Transfers) == 0 {
		t.Error("FROM step lost its layer transfers")
	}

	// The base image download broke the (empty) cache: one break, at FROM,
	// that cost every step of the build.
	if len(e.CacheBreaks) != 1 {
		t.Fatalf("cache breaks = %+v, want one", e.CacheBreaks)
	}
	cb := e.CacheBreaks[0]
	if !strings.HasPrefix(cb.Name, "[1/3] FROM") || cb.Reason != ReasonBaseImagePulled || floatp(cb.RebuiltSeconds) != 6.7 || cb.RebuiltSteps != 3 || intp(cb.Line) != 2 || !cb.FirstInStage {
		t.Errorf("cache break = %+v", cb)
	}

	if len(e.SlowSteps) == 0 || !strings.HasPrefix(e.SlowSteps[0].Name, "[1/3] FROM") || floatp(e.SlowSteps[0].Share) != 0.53 {
		t.Errorf("slowest = %+v, want FROM with share 0.53", e.SlowSteps)
	}
	if e.SlowSteps[1].Kind != "base image metadata" || e.SlowSteps[1].DurationSeconds != 4.9 {
		t.Errorf("second slowest = %+v, want the 4.9s metadata load", e.SlowSteps[1])
	}
	if e.ShareBasis == nil || *e.ShareBasis != "build_duration" {
		t.Errorf("share basis = %v", e.ShareBasis)
	}
	if e.Error != nil {
		t.Errorf("error section on a successful build: %+v", e.Error)
	}
	if !hasAdvice(e, AdviceNoCache) || hasAdvice(e, AdviceLargeContext) || hasAdvice(e, AdviceCopyBeforeInstall) {
		t.Errorf("advice = %+v; want no-cache only", e.Advice)
	}
}

func hasAdvice(e *Explanation, kind string) bool {
	for _, a := range e.Advice {
		if a.Kind == kind {
			return true
		}
	}
	return false
}

func adviceOf(t *testing.T, e *Explanation, kind string) Advice {
	t.Helper()
	for _, a := range e.Advice {
		if a.Kind == kind {
			return a
		}
	}
	t.Fatalf("no %s advice in %+v", kind, e.Advice)
	return Advice{}
}

// A Dockerfile that is not the one built must not lend its line numbers.
func TestExplainWrongDockerfileGivesNoLines(t *testing.T) {
	b := load(t, "seed/tty-seed-python-docker-demo.log")
	e := Explain(b, Options{Dockerfile: loadDockerfile(t, "buildkit-probe/dockerfiles/ctx-multi.Dockerfile")})
	for _, s := range e.Steps {
		if s.Line != nil {
			t.Errorf("%s: line %d from the wrong Dockerfile", s.Name, *s.Line)
		}
	}
	for _, cb := range e.CacheBreaks {
		if cb.Line != nil {
			t.Errorf("cache break %s: line %d from the wrong Dockerfile", cb.Name, *cb.Line)
		}
	}
}

type wantBreak struct {
	prefix   string
	reason   string
	line     int // -1: null
	seconds  float64
	steps    int
	followOn []string // prefixes
}

func checkBreaks(t *testing.T, got []CacheBreak, want []wantBreak) {
	t.Helper()
	if len(got) != len(want) {
		var names []string
		for _, cb := range got {
			names = append(names, cb.Name)
		}
		t.Fatalf("cache breaks = %q, want %d", names, len(want))
	}
	for i, w := range want {
		cb := got[i]
		if !strings.HasPrefix(cb.Name, w.prefix) || cb.Reason != w.reason || intp(cb.Line) != w.line ||
			floatp(cb.RebuiltSeconds) != w.seconds || cb.RebuiltSteps != w.steps {
			t.Errorf("break %d = {%q %s line %d %vs %d steps}, want {%q %s line %d %vs %d steps}",
				i, cb.Name, cb.Reason, intp(cb.Line), floatp(cb.RebuiltSeconds), cb.RebuiltSteps,
				w.prefix, w.reason, w.line, w.seconds, w.steps)
		}
		if len(cb.FollowOn) != len(w.followOn) {
			t.Errorf("break %d follow-on = %q, want %q", i, cb.FollowOn, w.followOn)
			continue
		}
		for j, f := range w.followOn {
			if !strings.HasPrefix(cb.FollowOn[j], f) {
				t.Errorf("break %d follow-on %d = %q, want %q", i, j, cb.FollowOn[j], f)
			}
		}
	}
}

// The ctx-multi build: stage "base" (COPY busybox, RUN loop), "second"
// FROM base (COPY a.txt, RUN), and an unnamed final stage copying from both.
func TestExplainMultistageCacheBreaks(t *testing.T) {
	multi := "buildkit-probe/dockerfiles/ctx-multi.Dockerfile"
	tests := []struct {
		log        string
		dockerfile string
		want       []wantBreak
	}{
		{
			// COPY busybox was cached from an earlier build, so the RUN
			// is where the cache broke; "second" is built FROM base and
			// the final stage copies from second: both only follow.
			log: "buildkit-probe/multistage-plain-cold.log", dockerfile: multi,
			want: []wantBreak{{"[base 2/2] RUN", ReasonPreviousCached, 3, 2.6, 5, []string{"[second 1/2]", "[stage-2 1/2]"}}},
		},
		{
			// Without the Dockerfile a plain log does not say that second
			// is built FROM base; COPY --from=second still links the final
			// stage to second.
			log: "buildkit-probe/multistage-plain-cold.log",
			want: []wantBreak{
				{"[base 2/2] RUN", ReasonPreviousCached, -1, 2.2, 1, nil},
				{"[second 1/2] COPY a.txt", ReasonFirstStep, -1, 0.4, 4, []string{"[stage-2 1/2]"}},
			},
		},
		{
			// rawjson carries the vertex graph: no Dockerfile needed.
			log:  "buildkit-probe/multistage-rawjson-nocache.jsonl",
			want: []wantBreak{{"[base 1/2] COPY busybox", ReasonFirstStep, -1, 2.815, 6, []string{"[second 1/2]", "[stage-2 1/2]"}}},
		},
		{
			log: "buildkit-probe/multistage-tty-nocache.log", dockerfile: multi,
			want: []wantBreak{{"[base 1/2] COPY busybox", ReasonFirstStep, 2, 3.0, 6, []string{"[second 1/2]", "[stage-2 1/2]"}}},
		},
		{
			log: "buildkit-probe/docker-plain-multistage-nocache.log", dockerfile: multi,
			want: []wantBreak{{"[base 1/2] COPY busybox", ReasonFirstStep, 2, 2.6, 6, []string{"[second 1/2]", "[stage-2 1/2]"}}},
		},
		{log: "buildkit-probe/multistage-plain-warm.log", dockerfile: multi},
		{log: "real/tty-multistage-named-stages-cached-18.log"},
	}
	for _, tt := range tests {
		name := tt.log
		if tt.dockerfile != "" {
			name += "+dockerfile"
		}
		t.Run(name, func(t *testing.T) {
			var opts Options
			if tt.dockerfile != "" {
				opts.Dockerfile = loadDockerfile(t, tt.dockerfile)
			}
			e := Explain(load(t, tt.log), opts)
			checkBreaks(t, e.CacheBreaks, tt.want)
			// Every stage with a miss has exactly one first miss, and the
			// first break of each stage says so.
			firsts := map[string]int{}
			for _, s := range e.Steps {
				if s.FirstMiss {
					firsts[*s.Stage]++
				}
			}
			for stage, n := range firsts {
				if n != 1 {
					t.Errorf("stage %s has %d first misses", stage, n)
				}
			}
			for _, cb := range e.CacheBreaks {
				if s := step(t, e, cb.Name); s.FirstMiss != cb.FirstInStage {
					t.Errorf("%s: first_miss %v but first_in_stage %v", cb.Name, s.FirstMiss, cb.FirstInStage)
				}
			}
		})
	}
}

func TestExplainWarmBuildAllCached(t *testing.T) {
	e := Explain(load(t, "buildkit-probe/multistage-plain-warm.log"), Options{})
	if e.StepsRun != 0 || e.StepsCached != 6 || floatp(e.CacheHitRate) != 1 {
		t.Errorf("run/cached/hit = %d/%d/%v, want 0/6/1", e.StepsRun, e.StepsCached, floatp(e.CacheHitRate))
	}
	if len(e.CacheBreaks) != 0 || len(e.Advice) != 0 {
		t.Errorf("breaks %+v advice %+v on an all-cached build", e.CacheBreaks, e.Advice)
	}
}

// Real logs: a CI build whose cache broke at COPY package*.json, with the
// dependency install correctly before COPY . . (no advice), and a legacy
// builder log whose cache broke at COPY . ${APP_DIR}.
func TestExplainRealCacheBreaks(t *testing.T) {
	e := Explain(load(t, "real/ci-render-10.log"), Options{})
	checkBreaks(t, e.CacheBreaks, []wantBreak{{"[ 5/11] COPY package*.json ./", ReasonPreviousCached, -1, 24.2, 7, nil}})
	if hasAdvice(e, AdviceCopyBeforeInstall) {
		t.Errorf("copy-before-install advice for a Dockerfile that copies package*.json first: %+v", e.Advice)
	}
	if e.CacheBreaks[0].Previous == nil || *e.CacheBreaks[0].Previous != "[ 4/11] RUN mkdir -p /app/uploads" {
		t.Errorf("previous = %v", e.CacheBreaks[0].Previous)
	}

	e = Explain(load(t, "real/legacy-goxis-cached-timestamped-01.log"), Options{})
	checkBreaks(t, e.CacheBreaks, []wantBreak{{"Step 36/49 : COPY . ${APP_DIR}", ReasonPreviousCached, -1, 36, 14, nil}})

	// Without timestamps the legacy builder gives no durations: the time
	// rebuilt is unknown, not zero.
	e = Explain(load(t, "real/legacy-sc4da-short-19.log"), Options{})
	checkBreaks(t, e.CacheBreaks, []wantBreak{{"Step 19/22 : COPY test.sh .", ReasonPreviousCached, -1, -1, 4, nil}})
	if e.CacheBreaks[0].RebuiltSeconds != nil {
		t.Errorf("rebuilt_seconds = %v for steps without durations", *e.CacheBreaks[0].RebuiltSeconds)
	}
	if a := adviceOf(t, e, AdviceAptUpdateAlone); *a.Step != "Step 12/22 : RUN apt-get update" {
		t.Errorf("apt-get advice on %s", *a.Step)
	}

	// A fresh CI builder pulled the base image: that is the break.
	e = Explain(load(t, "real/ci-render-failed-12.log"), Options{})
	checkBreaks(t, e.CacheBreaks, []wantBreak{{"[1/8] FROM", ReasonBaseImagePulled, -1, 6.06, 5, nil}})
}

// flaskBuild is the tutorial's Flask Dockerfile built after a source edit:
// the base image and WORKDIR came from the cache, COPY . . missed and so
// pip install ran again.
func flaskBuild() *model.Build {
	step := func(i int, instr, args string, cached bool, d time.Duration) *model.Vertex {
		return &model.Vertex{
			ID: instr + args, Name: "[" + string(rune('0'+i)) + "/4] " + instr + " " + args,
			Index: i, Total: 4, Instruction: instr, Args: args,
			Cached: cached, Completed: true, Duration: d, HasDuration: !cached,
		}
	}
	return &model.Build{
		Format: model.FormatPlain, Status: model.StatusSucceeded,
		Vertices: []*model.Vertex{
			{ID: "ctx", Name: "[internal] load build context", Stage: "internal", Completed: true, HasDuration: true, Duration: 300 * time.Millisecond,
				Transfers: []model.Transfer{{Name: "transferring context", Bytes: 12_300, Done: true}}},
			step(1, "FROM", "docker.io/library/python:3.9-slim@sha256:0123", true, 0),
			step(2, "WORKDIR", "/app", true, 0),
			step(3, "COPY", ". .", false, 200*time.Millisecond),
			step(4, "RUN", "pip install -r requirements.txt", false, 42*time.Second),
		},
	}
}

func TestExplainFlaskCopyBeforeInstall(t *testing.T) {
	e := Explain(flaskBuild(), Options{Dockerfile: loadDockerfile(t, "seed/Dockerfile.flask-app")})
	// The file starts with a blank line: FROM is line 3, COPY 9, RUN 12.
	checkBreaks(t, e.CacheBreaks, []wantBreak{{"[3/4] COPY . .", ReasonPreviousCached, 9, 42.2, 2, nil}})
	a := adviceOf(t, e, AdviceCopyBeforeInstall)
	if a.Step == nil || *a.Step != "[4/4] RUN pip install -r requirements.txt" || intp(a.Line) != 12 || floatp(a.Seconds) != 42 {
		t.Errorf("advice step %v line %d seconds %v; want the pip install at line 12, 42s", a.Step, intp(a.Line), floatp(a.Seconds))
	}
	for _, want := range []string{"requirements.txt", "`COPY . .` (line 9)", "42.0s"} {
		if !strings.Contains(a.Message, want) {
			t.Errorf("advice message %q lacks %q", a.Message, want)
		}
	}
	if hasAdvice(e, AdviceNoCache) {
		t.Error("no-cache advice although FROM and WORKDIR were cached")
	}

	// Without a Dockerfile the advice stands but has no line.
	e = Explain(flaskBuild(), Options{})
	if a := adviceOf(t, e, AdviceCopyBeforeInstall); a.Line != nil {
		t.Errorf("line %d without a Dockerfile", *a.Line)
	}

	// When COPY . . hit the cache, the install did too: nothing to say.
	b := flaskBuild()
	for _, v := range b.Vertices[3:] {
		v.Cached, v.HasDuration, v.Duration = true, false, 0
	}
	if e := Explain(b, Options{}); hasAdvice(e, AdviceCopyBeforeInstall) || len(e.CacheBreaks) != 0 {
		t.Errorf("all cached: advice %+v breaks %+v", e.Advice, e.CacheBreaks)
	}
}

func TestAdviceRules(t *testing.T) {
	run := func(i int, args string, cached bool) *model.Vertex {
		v := &model.Vertex{ID: args, Name: "[" + string(rune('0'+i)) + "/5] RUN " + args, Index: i, Total: 5, Instruction: "RUN", Args: args, Completed: true, Cached: cached}
		if !cached {
			v.HasDuration, v.Duration = true, time.Second
		}
		return v
	}
	t.Run("apt-get update alone", func(t *testing.T) {
		b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Vertices: []*model.Vertex{
			run(1, "apt-get update", true),
			run(2, "apt-get install -y curl", false),
			run(3, "apt-get update && apt-get install -y git", false),
		}}
		e := Explain(b, Options{})
		var got []string
		for _, a := range e.Advice {
			if a.Kind == AdviceAptUpdateAlone {
				got = append(got, *a.Step)
			}
		}
		if len(got) != 1 || got[0] != "[1/5] RUN apt-get update" {
			t.Errorf("apt-get advice for %q, want only the lone update", got)
		}
	})
	t.Run("truncated names are not judged", func(t *testing.T) {
		v := run(1, "apt-get update && apt-", false)
		v.NameTruncated = true
		e := Explain(&model.Build{Vertices: []*model.Vertex{v}}, Options{})
		if hasAdvice(e, AdviceAptUpdateAlone) {
			t.Error("advice on a cut-off name")
		}
	})
	t.Run("remote ADD and volatile build arg", func(t *testing.T) {
		add := &model.Vertex{ID: "add", Name: "[2/5] ADD https://example.com/tool.tgz /opt/", Index: 2, Total: 5, Instruction: "ADD", Args: "https://example.com/tool.tgz /opt/", Completed: true, HasDuration: true, Duration: 3 * time.Second}
		b := &model.Build{Vertices: []*model.Vertex{
			run(1, "echo hi", true),
			add,
			run(3, `echo "built at ${BUILD_DATE}" > /etc/build`, false),
		}}
		e := Explain(b, Options{})
		if a := adviceOf(t, e, AdviceRemoteAdd); *a.Step != add.Name {
			t.Errorf("remote-add advice on %s", *a.Step)
		}
		// The RUN only follows the ADD's break, so the arg is not evidence.
		if hasAdvice(e, AdviceVolatileArg) {
			t.Errorf("volatile-arg advice on a step that did not break the cache: %+v", e.Advice)
		}
		b.Vertices[1].Cached, b.Vertices[1].HasDuration = true, false
		e = Explain(b, Options{})
		if a := adviceOf(t, e, AdviceVolatileArg); !strings.Contains(a.Message, "$BUILD_DATE") {
			t.Errorf("volatile-arg message %q", a.Message)
		}
	})
	t.Run("large context", func(t *testing.T) {
		e := Explain(load(t, "real/plain-n8n-07.log"), Options{})
		a := adviceOf(t, e, AdviceLargeContext)
		if !strings.Contains(a.Message, "764.2 MB") || a.Step == nil || *a.Step != "[internal] load build context" || floatp(a.Seconds) != 12.7 {
			t.Errorf("large-context advice = %+v", a)
		}
		if e := Explain(load(t, "real/ci-render-failed-12.log"), Options{}); hasAdvice(e, AdviceLargeContext) {
			t.Error("large-context advice for a 42.7 MB context (threshold 50 MB)")
		}
	})
	t.Run("large base image", func(t *testing.T) {
		from := &model.Vertex{ID: "from", Name: "[1/2] FROM docker.io/library/python:3.12@sha256:ab", Index: 1, Total: 2, Instruction: "FROM", Args: "docker.io/library/python:3.12@sha256:ab",
			Completed: true, HasDuration: true, Duration: 30 * time.Second, Transfers: []model.Transfer{
				{Name: "sha256:aa", Bytes: 150_000_000, Total: 150_000_000, Done: true},
				{Name: "sha256:bb", Bytes: 90_000_000, Total: 90_000_000, Done: true},
			}}
		e := Explain(&model.Build{Vertices: []*model.Vertex{from, run(2, "make", false)}}, Options{})
		a := adviceOf(t, e, AdviceLargeBaseImage)
		if !strings.Contains(a.Message, "240.0 MB") || !strings.Contains(a.Message, "-slim") {
			t.Errorf("large-base-image message %q", a.Message)
		}
		if e.BaseImageBytes != 240_000_000 {
			t.Errorf("base image bytes = %d", e.BaseImageBytes)
		}
		from.Transfers = from.Transfers[1:]
		if e := Explain(&model.Build{Vertices: []*model.Vertex{from}}, Options{}); hasAdvice(e, AdviceLargeBaseImage) {
			t.Error("large-base-image advice for 90 MB")
		}
	})
	t.Run("OS packages after COPY . .", func(t *testing.T) {
		cp := &model.Vertex{ID: "cp", Name: "[1/5] COPY --chown=app . /src", Index: 1, Total: 5, Instruction: "COPY", Args: "--chown=app . /src", Completed: true, HasDuration: true}
		b := &model.Build{Vertices: []*model.Vertex{cp, run(2, "apk add --no-cache git", false), run(3, "npm run build", false)}}
		a := adviceOf(t, Explain(b, Options{}), AdviceCopyBeforeInstall)
		if *a.Step != "[2/5] RUN apk add --no-cache git" || !strings.Contains(a.Message, "Install system packages before COPY . .") {
			t.Errorf("advice = %+v", a)
		}
		// COPY --from of another stage is not the build context.
		cp.Args, cp.Name = "--from=build . /src", "[1/5] COPY --from=build . /src"
		if hasAdvice(Explain(b, Options{}), AdviceCopyBeforeInstall) {
			t.Error("COPY --from treated as a context copy")
		}
	})
}

func TestExplainErrors(t *testing.T) {
	tests := []struct {
		log, dockerfile string
		step            string // prefix; "" for none
		exit            int
		line            int
		output          []string
		excerptFrom     string
		excerptHas      string
	}{
		{log: "buildkit-probe/run-fail-plain.log", step: "[2/2] RUN", exit: 3, line: 3, output: []string{"about to fail", "oops"}, excerptFrom: "log", excerptHas: ">>> RUN"},
		{log: "buildkit-probe/run-fail-rawjson.jsonl", step: "[2/2] RUN", exit: 3, line: 3, output: []string{"about to fail", "oops"}, excerptFrom: "log", excerptHas: ">>> RUN"},
		// The legacy builder prints no excerpt: it comes from the Dockerfile.
		{log: "buildkit-probe/docker-legacy-builder-fail.log", dockerfile: "buildkit-probe/dockerfiles/ctx-fail.Dockerfile",
			step: "Step 3/3 : RUN", exit: 3, line: 3, output: []string{"about to fail", "oops"}, excerptFrom: "dockerfile", excerptHas: "   3 | >>> RUN"},
		{log: "buildkit-probe/docker-legacy-builder-fail.log", step: "Step 3/3 : RUN", exit: 3, line: -1, output: []string{"about to fail", "oops"}},
		{log: "real/ci-render-failed-12.log", step: "[5/8] RUN npm ci", exit: 1, line: 14, excerptFrom: "log", excerptHas: ">>> RUN npm ci --only=production"},
		// Compose cancelled the build before the failing step showed up.
		{log: "real/tty-compose-canceled-17.log", exit: 1, line: -1},
	}
	for _, tt := range tests {
		t.Run(tt.log, func(t *testing.T) {
			var opts Options
			if tt.dockerfile != "" {
				opts.Dockerfile = loadDockerfile(t, tt.dockerfile)
			}
			e := Explain(load(t, tt.log), opts)
			be := e.Error
			if e.Status != "failed" || be == nil {
				t.Fatalf("status %s, error %+v", e.Status, be)
			}
			if tt.step == "" && be.Step != nil || tt.step != "" && (be.Step == nil || !strings.HasPrefix(*be.Step, tt.step)) {
				t.Errorf("step = %v, want %q", be.Step, tt.step)
			}
			if intp(be.ExitCode) != tt.exit || intp(be.Line) != tt.line {
				t.Errorf("exit %d line %d, want %d %d", intp(be.ExitCode), intp(be.Line), tt.exit, tt.line)
			}
			if be.Message == "" {
				t.Error("empty message")
			}
			if tt.output != nil && strings.Join(be.Output, "\n") != strings.Join(tt.output, "\n") {
				t.Errorf("output = %q, want %q", be.Output, tt.output)
			}
			if len(be.Output) > ErrorOutputLines {
				t.Errorf("%d output lines kept, limit %d", len(be.Output), ErrorOutputLines)
			}
			if tt.excerptFrom == "" {
				if be.ExcerptSource != nil || len(be.Excerpt) != 0 {
					t.Errorf("excerpt %q from %v, want none", be.Excerpt, be.ExcerptSource)
				}
				return
			}
			if be.ExcerptSource == nil || *be.ExcerptSource != tt.excerptFrom || !strings.Contains(strings.Join(be.Excerpt, "\n"), tt.excerptHas) {
				t.Errorf("excerpt %q from %v, want %q from %s", be.Excerpt, be.ExcerptSource, tt.excerptHas, tt.excerptFrom)
			}
		})
	}
}

// fixtureLogs lists every fixture the parser accepts.
func fixtureLogs(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{"seed", "real", "buildkit-probe"} {
		entries, err := os.ReadDir(filepath.Join(fixtures, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range entries {
			name := filepath.Join(dir, ent.Name())
			if ent.IsDir() || !(strings.HasSuffix(name, ".log") || strings.HasSuffix(name, ".jsonl")) {
				continue
			}
			f, err := os.Open(filepath.Join(fixtures, name))
			if err != nil {
				t.Fatal(err)
			}
			_, err = parse.Parse(f, parse.Options{})
			f.Close()
			if err == nil {
				out = append(out, name)
			}
		}
	}
	if len(out) < 40 {
		t.Fatalf("only %d fixture logs parse", len(out))
	}
	return out
}

// The JSON contract: every key present on every fixture, lists never null.
func TestJSONContractOnAllFixtures(t *testing.T) {
	topKeys := []string{"schema_version", "format", "source", "status", "truncated", "builder", "dockerfile", "duration_seconds",
		"steps_total", "steps_run", "steps_cached", "cache_hit_rate", "context_bytes", "base_image_bytes", "image_layer_bytes",
		"image_id", "image_names", "steps", "cache_breaks", "slow_steps", "share_basis", "advice", "error", "warnings", "history"}
	listKeys := []string{"image_names", "steps", "cache_breaks", "slow_steps", "advice", "warnings"}
	stepKeys := []string{"name", "kind", "stage", "platform", "index", "total", "instruction", "line", "status", "cached", "first_miss", "error", "exit_code", "duration_seconds", "layer_bytes", "transfers"}
	for _, name := range fixtureLogs(t) {
		e := Explain(load(t, name), Options{})
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range topKeys {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: key %q missing", name, k)
			}
		}
		for _, k := range listKeys {
			if _, ok := m[k].([]any); !ok {
				t.Errorf("%s: %q is %v, want a list", name, k, m[k])
			}
		}
		steps, _ := m["steps"].([]any)
		if len(steps) != len(e.Steps) {
			t.Errorf("%s: %d steps", name, len(steps))
		}
		for _, s := range steps {
			s := s.(map[string]any)
			for _, k := range stepKeys {
				if _, ok := s[k]; !ok {
					t.Errorf("%s: step %v lacks %q", name, s["name"], k)
				}
			}
			if _, ok := s["transfers"].([]any); !ok {
				t.Errorf("%s: step %v transfers = %v", name, s["name"], s["transfers"])
			}
			if s["kind"] != "step" && s["index"] != nil {
				t.Errorf("%s: non-step %v has an index", name, s["name"])
			}
		}
		for _, cb := range e.CacheBreaks {
			if cb.FollowOn == nil {
				t.Errorf("%s: follow_on null", name)
			}
		}
		if (e.Status == "failed") != (e.Error != nil) {
			t.Errorf("%s: status %s but error %v", name, e.Status, e.Error)
		}
	}
}

func TestFormatters(t *testing.T) {
	for in, want := range map[float64]string{0: "0.0s", 0.1: "0.1s", 6.2: "6.2s", 1.897: "1.9s", 5: "5.0s", 24.2: "24.2s", 36: "36.0s", 59.96: "1m00s", 83.24: "1m23s", 3599.4: "59m59s", 3600: "1h00m", 7385: "2h03m"} {
		if got := FormatSeconds(in); got != want {
			t.Errorf("FormatSeconds(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int64]string{0: "0 B", 392: "392 B", 1980000: "2.0 MB", 764240000: "764.2 MB", 999_999: "1.0 MB", 1_500_000_000: "1.5 GB"} {
		if got := FormatBytes(in); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{0: "0%", 0.53: "53%", 0.009: "0.9%", 1: "100%"} {
		if got := FormatShare(in); got != want {
			t.Errorf("FormatShare(%v) = %q, want %q", in, got, want)
		}
	}
}

// vtx builds a finished Dockerfile-step vertex; d == 0 means cached.
func vtx(platform, stage string, i, n int, instr, args string, d time.Duration) *model.Vertex {
	label := strings.TrimSpace(platform + " " + stage)
	if label != "" {
		label += " "
	}
	v := &model.Vertex{
		ID: platform + stage + instr + args, Name: "[" + label + strconv.Itoa(i) + "/" + strconv.Itoa(n) + "] " + instr + " " + args,
		Platform: platform, Stage: stage, Index: i, Total: n, Instruction: instr, Args: args, Completed: true,
	}
	if d == 0 {
		v.Cached = true
	} else {
		v.Duration, v.HasDuration = d, true
	}
	return v
}

func TestCacheBreakChains(t *testing.T) {
	s := time.Second
	t.Run("platforms are separate chains", func(t *testing.T) {
		b := &model.Build{Vertices: []*model.Vertex{
			vtx("linux/amd64", "", 1, 2, "COPY", "go.mod .", 0),
			vtx("linux/arm64", "", 1, 2, "COPY", "go.mod .", 0),
			vtx("linux/amd64", "", 2, 2, "RUN", "go build", 3*s),
			vtx("linux/arm64", "", 2, 2, "RUN", "go build", 9*s),
		}}
		checkBreaks(t, Explain(b, Options{}).CacheBreaks, []wantBreak{
			{"[linux/amd64 2/2] RUN", ReasonPreviousCached, -1, 3, 1, nil},
			{"[linux/arm64 2/2] RUN", ReasonPreviousCached, -1, 9, 1, nil},
		})
	})
	t.Run("COPY --from=<number> follows that stage", func(t *testing.T) {
		b := &model.Build{Vertices: []*model.Vertex{
			vtx("", "stage-0", 1, 2, "COPY", ". .", 0),
			vtx("", "stage-0", 2, 2, "RUN", "make", 5*s),
			vtx("", "stage-1", 1, 1, "COPY", "--from=0 /out /out", 1*s),
		}}
		checkBreaks(t, Explain(b, Options{}).CacheBreaks, []wantBreak{
			{"[stage-0 2/2] RUN make", ReasonPreviousCached, -1, 6, 2, []string{"[stage-1 1/1] COPY"}},
		})
	})
	t.Run("a later miss in a dependent stage is its own cause", func(t *testing.T) {
		b := &model.Build{Vertices: []*model.Vertex{
			vtx("", "base", 1, 1, "RUN", "make", 5*s),
			vtx("", "app", 1, 2, "COPY", "--from=base /a /a", 0),
			vtx("", "app", 2, 2, "RUN", "test", 2*s),
		}}
		checkBreaks(t, Explain(b, Options{}).CacheBreaks, []wantBreak{
			{"[base 1/1] RUN make", ReasonFirstStep, -1, 5, 1, nil},
			{"[app 2/2] RUN test", ReasonPreviousCached, -1, 2, 1, nil},
		})
	})
	t.Run("legacy stages split at FROM", func(t *testing.T) {
		lstep := func(i int, instr, args string, cached bool) *model.Vertex {
			v := &model.Vertex{ID: strconv.Itoa(i), Name: "Step " + strconv.Itoa(i) + "/6 : " + instr + " " + args, Index: i, Total: 6, Instruction: instr, Args: args, Completed: true, Cached: cached}
			if !cached {
				v.Duration, v.HasDuration = s, true
			}
			return v
		}
		b := &model.Build{Format: model.FormatLegacy, Vertices: []*model.Vertex{
			lstep(1, "ARG", "V=1", false), // global ARG: in no stage
			lstep(2, "FROM", "golang:1.22 AS build", false),
			lstep(3, "COPY", ". .", false),
			lstep(4, "RUN", "go build", false),
			lstep(5, "FROM", "build", false),
			lstep(6, "RUN", "go test", false),
		}}
		e := Explain(b, Options{})
		// FROM golang took a second: a download. FROM build is the
		// earlier stage, and its RUN only follows that stage's rebuild.
		checkBreaks(t, e.CacheBreaks, []wantBreak{{"Step 2/6 : FROM golang", ReasonBaseImagePulled, -1, 4, 4, []string{"Step 6/6 : RUN"}}})
		if !step(t, e, "Step 6/6").FirstMiss || step(t, e, "Step 1/6").FirstMiss || step(t, e, "Step 5/6").FirstMiss {
			t.Error("first misses wrong")
		}
	})
}

// A Dockerfile that is not the one the log built gives no line numbers,
// never a wrong one, and the explanation says why.
func TestDockerfileThatDoesNotMatch(t *testing.T) {
	b := load(t, "seed/tty-seed-python-docker-demo.log")
	data, err := os.ReadFile(filepath.Join(fixtures, "seed/Dockerfile.flask-app"))
	if err != nil {
		t.Fatal(err)
	}
	df, err := parseDockerfile(data)
	if err != nil {
		t.Fatal(err)
	}
	e := Explain(b, Options{Dockerfile: df})
	for _, s := range e.Steps {
		if s.Line != nil {
			t.Errorf("%s got line %d from a Dockerfile the log did not build", s.Name, *s.Line)
		}
	}
	found := false
	for _, w := range e.Warnings {
		found = found || strings.Contains(w.Message, "does not match the build in the log")
	}
	if !found {
		t.Errorf("no warning that the Dockerfile does not match: %+v", e.Warnings)
	}
	// The right one still gives lines.
	data, _ = os.ReadFile(filepath.Join(fixtures, "seed/Dockerfile.python-docker-demo"))
	df, _ = parseDockerfile(data)
	if e := Explain(b, Options{Dockerfile: df}); e.Steps[3].Line == nil {
		t.Errorf("the seed's own Dockerfile gives no line: %+v", e.Steps[3])
	}
}

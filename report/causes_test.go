package report

import (
	"crypto/sha256"
	"encoding/json"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report/dockerfile"
)

// A build for the cause tests: one stage of Dockerfile steps, each "hit"
// (cached) or "ran", named as BuildKit names them.
type testStep struct {
	instr, args string
	state       string // "hit", "ran", "error"
	stage       string
}

func causeBuild(steps []testStep) *model.Build {
	b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded}
	counts := map[string]int{}
	for _, s := range steps {
		counts[s.stage]++
	}
	idx := map[string]int{}
	for i, s := range steps {
		idx[s.stage]++
		v := &model.Vertex{ID: string(rune('a' + i)), Stage: s.stage, Index: idx[s.stage], Total: counts[s.stage],
			Instruction: s.instr, Args: s.args, Completed: true}
		label := ""
		if s.stage != "" {
			label = s.stage + " "
		}
		v.Name = "[" + label + itoa(v.Index) + "/" + itoa(v.Total) + "] " + s.instr + " " + s.args
		switch s.state {
		case "hit":
			v.Cached = true
		case "ran":
			v.Duration, v.HasDuration = time.Second, true
		case "error":
			v.Error, v.Duration, v.HasDuration = "exit code: 1", time.Second, true
		}
		b.Vertices = append(b.Vertices, v)
	}
	return b
}

// manifest builds a context manifest from path -> content.
func manifest(files map[string]string) *model.ContextManifest {
	m := &model.ContextManifest{Nodes: map[model.Hash]*model.ContextDir{}, Source: model.FromFlag}
	var build func(prefix string) model.Hash
	build = func(prefix string) model.Hash {
		d := &model.ContextDir{}
		seen := map[string]bool{}
		for p, content := range files {
			rest, ok := strings.CutPrefix(p, prefix)
			if !ok || rest == "" {
				continue
			}
			name, _, isDir := strings.Cut(rest, "/")
			if seen[name] {
				continue
			}
			seen[name] = true
			if isDir {
				d.Entries = append(d.Entries, model.ContextEntry{Name: name, Mode: fs.ModeDir | 0o755, Hash: build(prefix + name + "/")})
				continue
			}
			m.Files++
			m.Bytes += int64(len(content))
			d.Entries = append(d.Entries, model.ContextEntry{Name: name, Mode: 0o644, Size: int64(len(content)), Hash: sha256.Sum256([]byte(content))})
		}
		d.SortEntries()
		h := d.Hash()
		m.Nodes[h] = d
		return h
	}
	m.Root = build("")
	return m
}

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
const digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

const causeDockerfile = `FROM alpine:3.20
ARG VERSION=1
ARG NPM_TOKEN
COPY src/ /src/
RUN make
COPY docs/ /docs/
`

var baseFiles = map[string]string{"Dockerfile": causeDockerfile, "src/app.py": "1", "src/lib/u.py": "u", "docs/a.md": "a", "README": "r"}

// The usual shape: FROM, COPY src/, RUN make, COPY docs/.
func appSteps(states ...string) []testStep {
	return []testStep{
		{instr: "FROM", args: "docker.io/library/alpine:3.20@" + digestA, state: states[0]},
		{instr: "COPY", args: "src/ /src/", state: states[1]},
		{instr: "RUN", args: "make", state: states[2]},
		{instr: "COPY", args: "docs/ /docs/", state: states[3]},
	}
}

// inputs records everything for a build of causeDockerfile.
func inputs(df string, files map[string]string, args map[string]string, digest string) *model.Inputs {
	in := &model.Inputs{Context: manifest(files)}
	if df != "" {
		in.Dockerfile = model.NewDockerfileInput("Dockerfile", []byte(df), model.FromFlag)
	}
	if args != nil {
		in.Args = model.NewBuildArgs(args, model.FromLive)
	}
	if digest != "" {
		in.BaseImages = []model.BaseImage{{Ref: "alpine:3.20", Digest: digest, Source: model.FromLog}}
	}
	return in
}

func with(files map[string]string, changes map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range files {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func TestCauses(t *testing.T) {
	full := func() *model.Inputs {
		return inputs(causeDockerfile, baseFiles, map[string]string{"VERSION": "1"}, digestA)
	}
	cases := []struct {
		name       string
		prev       *model.Inputs // nil: no baseline at all
		prevSteps  []testStep    // default: all cached
		cur        *model.Inputs
		steps      []testStep
		transfer   int64
		kind, conf string
		files      []string
		args       []string
		msg        string // a part of the message
	}{
		{
			name: "no-cache recorded", prev: full(),
			cur: func() *model.Inputs {
				in := full()
				in.NoCache = &model.NoCache{All: true, Source: model.FromLive}
				return in
			}(),
			steps: appSteps("hit", "ran", "ran", "ran"), kind: CauseNoCache, conf: ConfidenceExact, msg: "--no-cache",
		},
		{
			name: "no-cache seen in the context transfer", prev: full(),
			cur: func() *model.Inputs {
				in := full()
				in.Context = manifest(with(baseFiles, map[string]string{"big.bin": strings.Repeat("x", 200<<10)}))
				return in
			}(),
			steps: appSteps("hit", "ran", "ran", "ran"), transfer: 120, kind: CauseNoCache, conf: ConfidenceLikely, msg: "likely ran with --no-cache",
		},
		{
			// Nothing came from the cache and little was sent, as with
			// --no-cache, but a file the first step copies changed.
			name: "a changed file, nothing cached, the context sent incrementally",
			prev: func() *model.Inputs {
				in := full()
				in.Context = manifest(with(baseFiles, map[string]string{"big.bin": strings.Repeat("x", 200<<10)}))
				return in
			}(),
			cur: func() *model.Inputs {
				in := full()
				in.Context = manifest(with(baseFiles, map[string]string{"big.bin": strings.Repeat("x", 200<<10), "src/app.py": "2"}))
				return in
			}(),
			steps: appSteps("hit", "ran", "ran", "ran"), transfer: 120, kind: CauseContextFiles, conf: ConfidenceExact, files: []string{"src/app.py"},
		},
		{
			name: "pruned: the whole context was sent", prev: full(),
			cur: func() *model.Inputs {
				in := full()
				in.Context = manifest(with(baseFiles, map[string]string{"big.bin": strings.Repeat("x", 200<<10)}))
				return in
			}(),
			// The COPY src/ does not copy big.bin, the one file that changed.
			steps: appSteps("hit", "ran", "ran", "ran"), transfer: 200 << 10, kind: CauseCacheUnavailable, conf: ConfidenceExact,
			msg: "the whole build context was sent (204.8 kB): a fresh runner, or its cache was pruned",
		},
		{
			name: "base image moved", prev: full(),
			cur:   inputs(causeDockerfile, baseFiles, map[string]string{"VERSION": "1"}, digestB),
			steps: appSteps("ran", "ran", "ran", "ran"), kind: CauseBaseImage, conf: ConfidenceExact, msg: "alpine:3.20 moved",
		},
		{
			name: "base digest moved, but a step before the break came from the cache", prev: full(),
			cur:   inputs(causeDockerfile, with(baseFiles, map[string]string{"docs/a.md": "b"}), map[string]string{"VERSION": "1"}, digestB),
			steps: appSteps("hit", "hit", "hit", "ran"), kind: CauseContextFiles, conf: ConfidenceExact, files: []string{"docs/a.md"},
		},
		{
			name: "instruction edited", prev: full(),
			cur:   inputs(strings.Replace(causeDockerfile, "RUN make", "RUN make all", 1), baseFiles, map[string]string{"VERSION": "1"}, digestA),
			steps: func() []testStep { s := appSteps("hit", "hit", "ran", "ran"); s[2].args = "make all"; return s }(),
			kind:  CauseInstruction, conf: ConfidenceExact, msg: "its instruction changed since build #41 (Dockerfile line 5)",
		},
		{
			name: "instruction edited, no Dockerfiles recorded", prev: inputs("", baseFiles, nil, digestA),
			cur:   inputs("", baseFiles, nil, digestA),
			steps: func() []testStep { s := appSteps("hit", "hit", "ran", "ran"); s[2].args = "make all"; return s }(),
			kind:  CauseInstruction, conf: ConfidenceLikely, msg: `it was "RUN make"`,
		},
		{
			name: "USER before the step changed", prev: full(),
			cur:   inputs(strings.Replace(causeDockerfile, "RUN make", "USER app\nRUN make", 1), baseFiles, map[string]string{"VERSION": "1"}, digestA),
			steps: appSteps("hit", "hit", "ran", "ran"), kind: CauseInstruction, conf: ConfidenceExact, msg: "the USER before it changed",
		},
		{
			name: "build arg changed", prev: full(),
			cur:   inputs(causeDockerfile, baseFiles, map[string]string{"VERSION": "2"}, digestA),
			steps: appSteps("hit", "hit", "ran", "ran"), kind: CauseBuildArg, conf: ConfidenceExact, args: []string{"VERSION"},
			msg: "build arg VERSION changed since build #41",
		},
		{
			name: "a secret build arg changed: named, its value never shown", prev: inputs(causeDockerfile, baseFiles, map[string]string{"VERSION": "1", "NPM_TOKEN": "old-secret"}, digestA),
			cur:   inputs(causeDockerfile, baseFiles, map[string]string{"VERSION": "1", "NPM_TOKEN": "new-secret"}, digestA),
			steps: appSteps("hit", "hit", "ran", "ran"), kind: CauseBuildArg, conf: ConfidenceExact, args: []string{"NPM_TOKEN"},
		},
		{
			name: "an ARG default changed", prev: full(),
			cur:   inputs(strings.Replace(causeDockerfile, "VERSION=1", "VERSION=3", 1), baseFiles, map[string]string{}, digestA),
			steps: appSteps("hit", "hit", "ran", "ran"), kind: CauseBuildArg, conf: ConfidenceExact, args: []string{"VERSION"},
		},
		{
			name: "build args not recorded", prev: inputs(causeDockerfile, baseFiles, nil, digestA),
			cur:   inputs(causeDockerfile, baseFiles, nil, digestA),
			steps: appSteps("hit", "hit", "ran", "ran"), kind: CauseBuildArg, conf: ConfidenceLikely, args: []string{"NPM_TOKEN", "VERSION"},
		},
		{
			name: "an ENV changed", prev: inputs(strings.Replace(causeDockerfile, "RUN make", "ENV MODE=fast\nRUN make", 1), baseFiles, map[string]string{"VERSION": "1"}, digestA),
			cur:   inputs(strings.Replace(causeDockerfile, "RUN make", "ENV MODE=slow\nRUN make", 1), baseFiles, map[string]string{"VERSION": "1"}, digestA),
			steps: appSteps("hit", "hit", "ran", "ran"), kind: CauseBuildArg, conf: ConfidenceExact, args: []string{"MODE"}, msg: "ENV MODE changed",
		},
		{
			name: "a file a RUN bind-mounts from the context changed",
			prev: inputs(strings.Replace(causeDockerfile, "RUN make", "RUN --mount=type=bind,source=docs,target=/docs make", 1), baseFiles, map[string]string{"VERSION": "1"}, digestA),
			cur: inputs(strings.Replace(causeDockerfile, "RUN make", "RUN --mount=type=bind,source=docs,target=/docs make", 1),
				with(baseFiles, map[string]string{"docs/a.md": "changed"}), map[string]string{"VERSION": "1"}, digestA),
			prevSteps: func() []testStep {
				s := appSteps("hit", "hit", "hit", "hit")
				s[2].args = "--mount=type=bind,source=docs,target=/docs make"
				return s
			}(),
			steps: func() []testStep {
				s := appSteps("hit", "hit", "ran", "ran")
				s[2].args = "--mount=type=bind,source=docs,target=/docs make"
				return s
			}(),
			kind: CauseContextFiles, conf: ConfidenceExact, files: []string{"docs/a.md"},
		},
		{
			name: "a file under the COPY changed", prev: full(),
			cur:   inputs(causeDockerfile, with(baseFiles, map[string]string{"src/app.py": "2", "docs/a.md": "x"}), map[string]string{"VERSION": "1"}, digestA),
			steps: appSteps("hit", "ran", "ran", "ran"), kind: CauseContextFiles, conf: ConfidenceExact, files: []string{"src/app.py"},
			msg: "COPY src/ /src/ missed: src/app.py changed since build #41",
		},
		{
			name: "files added and removed under the COPY", prev: full(),
			cur:   inputs(causeDockerfile, with(baseFiles, map[string]string{"src/lib/u.py": "", "src/new.py": "n", "src/pkg/x.py": "x"}), map[string]string{"VERSION": "1"}, digestA),
			steps: appSteps("hit", "ran", "ran", "ran"), kind: CauseContextFiles, conf: ConfidenceExact,
			files: []string{"src/lib/", "src/new.py", "src/pkg/"}, msg: "src/lib/ and 2 more files changed",
		},
		{
			name: "files changed, no contexts recorded", prev: inputs(causeDockerfile, nil, map[string]string{"VERSION": "1"}, digestA),
			cur:   func() *model.Inputs { in := full(); in.Context = nil; return in }(),
			steps: appSteps("hit", "hit", "hit", "ran"), kind: CauseContextFiles, conf: ConfidenceLikely, msg: "--context",
		},
		{
			name: "inputs unchanged, the step failed last time", prev: full(),
			prevSteps: func() []testStep {
				s := appSteps("hit", "hit", "hit", "hit")
				s[2].state = "error"
				s[3].state = ""
				return s
			}(),
			cur: full(), steps: appSteps("hit", "hit", "ran", "ran"), kind: CauseCacheUnavailable, conf: ConfidenceExact,
			msg: "it did not finish in build #41",
		},
		{
			name: "the previous build stopped before the step", prev: full(),
			prevSteps: func() []testStep {
				s := appSteps("hit", "hit", "hit", "hit")
				s[1].state = "error"
				s[2].state = ""
				return s
			}(),
			cur: full(), steps: appSteps("hit", "hit", "ran", "ran"), kind: CauseCacheUnavailable, conf: ConfidenceLikely,
			msg: "build #41 stopped before it",
		},
		{
			name: "inputs unchanged, nothing came from the cache", prev: full(),
			cur: full(), steps: appSteps("ran", "ran", "ran", "ran"), kind: CauseCacheUnavailable, conf: ConfidenceExact,
			msg: "its inputs are the same as in build #41; its image was downloaded",
		},
		{
			name: "no baseline, nothing came from the cache", cur: full(), steps: appSteps("ran", "ran", "ran", "ran"),
			kind: CauseCacheUnavailable, conf: ConfidenceLikely, msg: "a fresh runner",
		},
		{
			name: "no baseline", cur: full(), steps: appSteps("hit", "hit", "ran", "ran"),
			kind: CauseUnknown, conf: ConfidenceUnknown, msg: "no earlier build",
		},
		{
			name: "hostile file names", prev: full(),
			cur:   inputs(causeDockerfile, with(baseFiles, map[string]string{"src/\x1b[31mred\n.py": "x"}), map[string]string{"VERSION": "1"}, digestA),
			steps: appSteps("hit", "ran", "ran", "ran"), kind: CauseContextFiles, conf: ConfidenceExact, files: []string{"src/\x1b[31mred\n.py"},
			msg: `src/\x1b[31mred\x0a.py changed`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := causeBuild(c.steps)
			b.Inputs = c.cur
			if c.transfer > 0 {
				b.Vertices = append([]*model.Vertex{{ID: "ctx", Name: "[internal] load build context", Completed: true,
					Transfers: []model.Transfer{{Name: "transferring context", Bytes: c.transfer, Done: true}}}}, b.Vertices...)
			}
			var base *Baseline
			if c.prev != nil {
				steps := c.prevSteps
				if steps == nil {
					steps = appSteps("hit", "hit", "hit", "hit")
				}
				pb := causeBuild(steps)
				// "" is a step the build never reached; "error" fails it.
				var kept []*model.Vertex
				for i, v := range pb.Vertices {
					if steps[i].state != "" {
						kept = append(kept, v)
					}
					if steps[i].state == "error" {
						pb.Status = model.StatusFailed
					}
				}
				pb.Vertices = kept
				pb.Inputs = c.prev
				base = &Baseline{ID: 41, Build: pb}
				// A stored baseline holds its nodes in the store.
				nodes := c.prev.Context
				if nodes != nil {
					stored := nodes.Nodes
					cp := *nodes
					cp.Nodes = nil
					c.prev.Context = &cp
					base.Nodes = func(hs []model.Hash) (map[model.Hash]*model.ContextDir, error) {
						out := map[model.Hash]*model.ContextDir{}
						for _, h := range hs {
							if d := stored[h]; d != nil {
								out[h] = d
							}
						}
						return out, nil
					}
				}
			}
			var df *dockerfile.File
			if c.cur.Dockerfile != nil {
				df, _ = dockerfile.Parse(strings.NewReader(c.cur.Dockerfile.Content), "Dockerfile")
			}
			e := Explain(b, Options{Dockerfile: df, Baseline: base})
			if len(e.CacheBreaks) == 0 {
				t.Fatal("no cache break")
			}
			cause := e.CacheBreaks[0].Cause
			if cause == nil {
				t.Fatal("no cause")
			}
			data, _ := json.Marshal(cause)
			if cause.Kind != c.kind || cause.Confidence != c.conf {
				t.Fatalf("cause %s, want %s/%s", data, c.kind, c.conf)
			}
			if c.files != nil && !slices.Equal(cause.Files, c.files) {
				t.Errorf("files %q, want %q", cause.Files, c.files)
			}
			if c.args != nil && !slices.Equal(cause.Args, c.args) {
				t.Errorf("args %q, want %q", cause.Args, c.args)
			}
			if !strings.Contains(cause.Message, c.msg) {
				t.Errorf("message %q does not say %q", cause.Message, c.msg)
			}
			if strings.ContainsAny(cause.Message, "\x1b\n") {
				t.Errorf("message %q holds control characters", cause.Message)
			}
			for _, secret := range []string{"old-secret", "new-secret"} {
				if strings.Contains(string(data), secret) {
					t.Errorf("the cause shows a secret value: %s", data)
				}
			}
			switch {
			case c.prev == nil && cause.PreviousBuild != nil, c.prev != nil && (cause.PreviousBuild == nil || *cause.PreviousBuild != 41):
				t.Errorf("previous_build %v", cause.PreviousBuild)
			}
			if cause.Files == nil || cause.Args == nil {
				t.Error("files and args must be lists, never null")
			}
		})
	}
}

// An upstream stage that rebuilt is named; a break folded into it has no
// cause of its own.
func TestCauseUpstream(t *testing.T) {
	steps := []testStep{
		{instr: "COPY", args: "busybox /bin/busybox", state: "hit", stage: "base"},
		{instr: "RUN", args: "make", state: "ran", stage: "base"},
		{instr: "COPY", args: "a /a", state: "hit", stage: "app"},
		{instr: "COPY", args: "--from=base /out /out", state: "ran", stage: "app"},
	}
	b := causeBuild(steps)
	prev := causeBuild([]testStep{
		{instr: "COPY", args: "busybox /bin/busybox", state: "hit", stage: "base"},
		{instr: "RUN", args: "make", state: "hit", stage: "base"},
		{instr: "COPY", args: "a /a", state: "hit", stage: "app"},
		{instr: "COPY", args: "--from=base /out /out", state: "hit", stage: "app"},
	})
	e := Explain(b, Options{Baseline: &Baseline{ID: 7, Build: prev}})
	if len(e.CacheBreaks) != 1 || len(e.CacheBreaks[0].FollowOn) != 1 {
		t.Fatalf("breaks: %+v", e.CacheBreaks)
	}
	// Without folding (a graph that does not show it), the cause says so.
	a := newAnalysis(b, nil)
	a.base = &Baseline{ID: 7, Build: prev}
	a.cacheBreaks()
	cz := newCauser(a, a.base)
	k := a.breakAt[b.Vertices[3]]
	if cs := cz.cause(k); cs.Kind != CauseUpstream || !strings.Contains(cs.Message, "stage base") {
		t.Errorf("cause %+v", cs)
	}
}

func TestContextMounts(t *testing.T) {
	for args, want := range map[string]string{
		"--mount=type=bind,source=go.sum,target=/src/go.sum go mod download": "go.sum",
		"--mount=type=bind,target=/src make":                                 ".",
		"--mount=target=/src,src=web make":                                   "web",
		"--mount=type=cache,target=/root/.cache make":                        "",
		"--mount=type=bind,from=build,source=/out,target=/out ls":            "",
		"--mount=type=secret,id=npm npm ci":                                  "",
		"make":                                                               "",
	} {
		if got := strings.Join(contextMounts(args), ","); got != want {
			t.Errorf("contextMounts(%q) = %q, want %q", args, got, want)
		}
	}
}

func TestUnderSource(t *testing.T) {
	for _, c := range []struct {
		p   string
		dir bool
		src string
		ok  bool
	}{
		{"src/app.py", false, "src", true},
		{"src", true, "src", true},
		{"srcx/a", false, "src", false},
		{"docs/a.md", false, "", true},
		{"src", true, "src/app.py", true},
		{"src/other.py", false, "src/app.py", false},
		{"a.py", false, "*.py", true},
		{"lib/a.py", false, "*.py", false},
		{"pkg/a/b.go", false, "pkg/*/b.go", true},
		{"pkg/a", true, "pkg/*/b.go", true},
		{"pkg/a/c.go", false, "pkg/*/b.go", false},
	} {
		if got := underSource(c.p, c.dir, c.src); got != c.ok {
			t.Errorf("underSource(%q, %v, %q) = %v", c.p, c.dir, c.src, got)
		}
	}
}

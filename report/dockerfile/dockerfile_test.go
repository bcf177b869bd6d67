package dockerfile

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
)

const (
	seedDir  = "../../fixtures/seed"
	probeDir = "../../fixtures/buildkit-probe"
)

func probeDockerfile(ctx string) string {
	return filepath.Join(probeDir, "dockerfiles", "ctx-"+ctx+".Dockerfile")
}

func mustParseFile(t *testing.T, path string) *File {
	t.Helper()
	f, err := ParseFile(path)
	if err != nil {
		t.Fatalf("ParseFile(%s): %v", path, err)
	}
	return f
}

func mustParse(t *testing.T, src string) *File {
	t.Helper()
	f, err := Parse(strings.NewReader(src), "Dockerfile")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func parseLog(t *testing.T, path string) *model.Build {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	b, err := parse.Parse(fh, parse.Options{})
	if err != nil {
		t.Fatalf("parse.Parse(%s): %v", path, err)
	}
	return b
}

// vertex builds a vertex the way the log parsers do, from its printed name.
func vertex(name string) *model.Vertex {
	v := &model.Vertex{}
	parse.ApplyName(v, name)
	if strings.HasPrefix(name, "Step ") {
		// The legacy parser's shape: "Step n/m : INSTR args".
		var idx, total int
		rest := name[strings.Index(name, " : ")+3:]
		fmt.Sscanf(name, "Step %d/%d", &idx, &total)
		kw, args, _ := strings.Cut(rest, " ")
		v.Index, v.Total, v.Instruction, v.Args = idx, total, strings.ToUpper(kw), args
	}
	return v
}

func truncated(name string) *model.Vertex {
	v := vertex(name)
	v.NameTruncated = true
	return v
}

// TestRealLogs maps every Dockerfile step of real BuildKit and legacy logs
// to the line of the Dockerfile that produced it. Keys are "stage n/m".
func TestRealLogs(t *testing.T) {
	multi := map[string]int{
		"base 1/2": 2, "base 2/2": 3,
		"second 1/2": 6, "second 2/2": 7,
		"stage-2 1/2": 10, "stage-2 2/2": 11,
	}
	features := map[string]int{
		"stage-0 1/5": 5, "stage-0 2/5": 6, "stage-0 3/5": 7, "stage-0 4/5": 8, "stage-0 5/5": 9,
	}
	scratch := map[string]int{" 1/3": 2, " 2/3": 3, " 3/3": 4}
	busybox := map[string]int{" 1/2": 2, " 2/2": 3}
	legacy := map[string]int{" 1/3": 1, " 2/3": 2, " 3/3": 3}
	tests := []struct {
		log, dockerfile string
		want            map[string]int
	}{
		{filepath.Join(seedDir, "tty-seed-python-docker-demo.log"), filepath.Join(seedDir, "Dockerfile.python-docker-demo"),
			map[string]int{" 1/3": 2, " 2/3": 5, " 3/3": 8}},
		{"multistage-plain-cold.log", probeDockerfile("multi"), multi},
		{"multistage-plain-warm.log", probeDockerfile("multi"), multi},
		{"multistage-rawjson-nocache.jsonl", probeDockerfile("multi"), multi},
		{"multistage-tty-nocache.log", probeDockerfile("multi"), multi}, // truncated RUN names
		{"docker-tty-multistage-cold.log", probeDockerfile("multi"), multi},
		{"docker-plain-multistage-nocache.log", probeDockerfile("multi"), multi},
		{"dockercli28-buildx-multistage-plain.log", probeDockerfile("multi"), multi},
		{"dockercli28-buildx-multistage-rawjson-nocache.jsonl", probeDockerfile("multi"), multi},
		{"buildx-remote-multistage-plain-nocache.log", probeDockerfile("multi"), multi},
		{"features-plain-cold.log", probeDockerfile("features"), features},
		{"features-rawjson-nocache.jsonl", probeDockerfile("features"), features},
		{"buildx-remote-features-rawjson-nocache.jsonl", probeDockerfile("features"), features},
		{"plain-cold.log", probeDockerfile("scratch"), scratch},
		{"tty-cold.log", probeDockerfile("scratch"), scratch},
		{"rawjson-warm.jsonl", probeDockerfile("scratch"), scratch},
		{"docker-plain-cold.log", probeDockerfile("scratch"), scratch},
		{"run-plain-cold.log", probeDockerfile("busybox"), busybox},
		{"run-fail-plain.log", probeDockerfile("fail"), busybox},
		{"docker-run-fail-plain.log", probeDockerfile("fail"), busybox},
		{"lint-warnings-plain.log", probeDockerfile("lint"), map[string]int{" 1/2": 3, " 2/2": 4}},
		{"docker-legacy-builder-busybox.log", probeDockerfile("busybox"), legacy},
		{"docker-legacy-builder-fail.log", probeDockerfile("fail"), legacy},
	}
	for _, tt := range tests {
		logPath := tt.log
		if !strings.Contains(logPath, "/") {
			logPath = filepath.Join(probeDir, logPath)
		}
		t.Run(filepath.Base(logPath), func(t *testing.T) {
			f := mustParseFile(t, tt.dockerfile)
			b := parseLog(t, logPath)
			seen := map[string]bool{}
			for _, v := range b.Steps() {
				key := fmt.Sprintf("%s %d/%d", v.Stage, v.Index, v.Total)
				want, ok := tt.want[key]
				if !ok {
					t.Errorf("unexpected step %q (key %q)", v.Name, key)
					continue
				}
				seen[key] = true
				got, ok := f.Line(v)
				if !ok || got != want {
					t.Errorf("Line(%q) = %d, %v; want %d, true", v.Name, got, ok, want)
				}
			}
			if len(seen) != len(tt.want) {
				t.Errorf("log has %d of the %d expected steps", len(seen), len(tt.want))
			}
		})
	}
}

// TestTruncatedFixture makes sure the tty fixture really exercises
// truncated names, so TestRealLogs covers prefix matching.
func TestTruncatedFixture(t *testing.T) {
	b := parseLog(t, filepath.Join(probeDir, "multistage-tty-nocache.log"))
	f := mustParseFile(t, probeDockerfile("multi"))
	n := 0
	for _, v := range b.Steps() {
		if v.NameTruncated {
			n++
			if _, ok := f.Line(v); !ok {
				t.Errorf("truncated %q not matched", v.Name)
			}
		}
	}
	if n == 0 {
		t.Fatal("fixture has no truncated step names")
	}
}

// TestErrorExcerptMatchesBuildKit compares Excerpt with the excerpts
// BuildKit printed in real failed builds. BuildKit also prints the empty
// "line" after the final newline; Excerpt does not.
func TestErrorExcerptMatchesBuildKit(t *testing.T) {
	tests := []struct{ log, ctx string }{
		{"run-fail-plain.log", "fail"},
		{"registry-unreachable-plain.log", "registry"},
	}
	for _, tt := range tests {
		t.Run(tt.log, func(t *testing.T) {
			b := parseLog(t, filepath.Join(probeDir, tt.log))
			if b.ErrorLine == 0 || len(b.ErrorContext) == 0 {
				t.Fatalf("log has no error excerpt")
			}
			f := mustParseFile(t, probeDockerfile(tt.ctx))
			got := f.Excerpt(b.ErrorLine, 2)
			want := b.ErrorContext
			if len(want) != len(got)+1 || strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(want[len(want)-1]), "|")) != fmt.Sprint(len(got)+1) {
				t.Fatalf("unexpected BuildKit excerpt shape %q for %q", want, got)
			}
			if !reflect.DeepEqual(got, want[:len(got)]) {
				t.Errorf("Excerpt(%d, 2) =\n%q\nBuildKit printed\n%q", b.ErrorLine, got, want)
			}
		})
	}
}

func TestErrorLineAgreesWithBuildKit(t *testing.T) {
	// BuildKit's own error location for the failing step must be what
	// Line returns for that step.
	b := parseLog(t, filepath.Join(probeDir, "run-fail-plain.log"))
	f := mustParseFile(t, probeDockerfile("fail"))
	var failed *model.Vertex
	for _, v := range b.Steps() {
		if v.Error != "" {
			failed = v
		}
	}
	if failed == nil {
		t.Fatal("no failed step in log")
	}
	if got, ok := f.Line(failed); !ok || got != b.ErrorLine {
		t.Errorf("Line(failed) = %d, %v; BuildKit says %d", got, ok, b.ErrorLine)
	}
}

// syntaxDockerfile exercises directives, the backtick escape, comments,
// blank lines, continuations, lowercase instructions, heredocs, ONBUILD,
// variables and a WORKDIR / (which BuildKit counts but does not number).
const syntaxDockerfile = "# syntax=docker/dockerfile:1\n" + // 1
	"# escape=`\n" + // 2
	"\n" + // 3
	"ARG BASE=alpine:3.20\n" + // 4
	"ARG VERSION=1.0\n" + // 5
	"\n" + // 6
	"# builder stage\n" + // 7
	"from golang:1.22 as Builder\n" + // 8
	"workdir /src\n" + // 9
	"COPY go.mod go.sum ./\n" + // 10
	"run go mod download && `\n" + // 11
	"    # a comment inside the continuation\n" + // 12
	"    go mod verify\n" + // 13
	"ENV CGO_ENABLED=0\n" + // 14
	"COPY . .\n" + // 15
	"RUN go build -ldflags \"-X main.version=${VERSION}\" -o /out/app ./cmd/app\n" + // 16
	"\n" + // 17
	"FROM ${BASE} AS runtime\n" + // 18
	"ONBUILD RUN echo never-in-this-build\n" + // 19
	"RUN <<EOF\n" + // 20
	"apk add --no-cache ca-certificates\n" + // 21
	"update-ca-certificates\n" + // 22
	"EOF\n" + // 23
	"COPY --link --from=builder /out/app /usr/local/bin/app\n" + // 24
	"WORKDIR /\n" + // 25
	"COPY <<EOT /etc/motd\n" + // 26
	"hello\n" + // 27
	"EOT\n" + // 28
	"LABEL a=b\n" + // 29
	"CMD [\"app\"]\n" // 30

func TestLineSyntax(t *testing.T) {
	f := mustParse(t, syntaxDockerfile)
	tests := []struct {
		v    *model.Vertex
		want int // 0: no match expected
	}{
		{vertex("[builder 1/6] FROM docker.io/library/golang:1.22@sha256:0123abcd"), 8},
		{vertex("[builder 2/6] WORKDIR /src"), 9},
		{vertex("[builder 3/6] COPY go.mod go.sum ./"), 10},
		// Continuation joined by BuildKit, inner comment dropped.
		{vertex("[builder 4/6] RUN go mod download &&     go mod verify"), 11},
		{vertex("[builder 5/6] COPY . ."), 15},
		// BuildKit prints the expanded build arg.
		{vertex(`[builder 6/6] RUN go build -ldflags "-X main.version=2.0" -o /out/app ./cmd/app`), 16},
		{truncated(`[builder 6/6] RUN go build -ldflags "-X main.ver`), 16},
		{vertex("[linux/arm64 builder 3/6] COPY go.mod go.sum ./"), 10},
		// BASE=alpine: the FROM is numbered; WORKDIR / is counted in m
		// but takes no number, so the heredoc COPY is 4/5, not 5/5.
		{vertex("[runtime 1/5] FROM docker.io/library/alpine:3.20"), 18},
		{vertex("[runtime 2/5] RUN <<EOF (apk add --no-cache ca-certificates...)"), 20},
		{truncated("[runtime 2/5] RUN <<EOF (apk add --no-c"), 20},
		{vertex("[runtime 3/5] COPY --link --from=builder /out/app /usr/local/bin/app"), 24},
		{vertex("[runtime 3/5] LINK COPY --link --from=builder /out/app /usr/local/bin/app"), 24},
		{vertex("[runtime 4/5] COPY <<EOT /etc/motd"), 26},
		// BASE=scratch (or a stage): the FROM is not counted.
		{vertex("[runtime 1/4] RUN <<EOF (apk add --no-cache ca-certificates...)"), 20},
		{vertex("[runtime 3/4] COPY <<EOT /etc/motd"), 26},
		// A trigger from the external base image is located at the FROM.
		{vertex("[runtime 2/6] ONBUILD RUN echo from-base"), 18},
		// The file changed after the build: position and keyword agree,
		// the text does not, nothing else matches: position wins.
		{vertex("[builder 4/6] RUN go mod download -x"), 11},

		// No confident match.
		{vertex("[builder 1/6] FROM docker.io/library/node:20"), 0},                    // different image
		{vertex("[builder 3/6] RUN go mod download && go mod verify"), 0},              // 3/6 is a COPY
		{vertex("[builder 7/7] RUN make"), 0},                                          // other file, no such RUN
		{vertex("[builder 5/6] ENV CGO_ENABLED=0"), 0},                                 // ENV is never numbered
		{vertex("[nosuch 1/2] RUN go mod download && go mod verify"), 0},               // no such stage
		{vertex("[stage-1 2/5] RUN <<EOF (apk add --no-cache ca-certificates...)"), 0}, // stage 1 is named
		{vertex("[runtime 4/5] WORKDIR /"), 0},                                         // WORKDIR / makes no vertex
		{vertex("[internal] load build context"), 0},
		{vertex("[builder 4/6] " + `RUN go build -ldflags "-X main.version=2.0" -o /out/app ./cmd/app`), 0}, // text says 6/6
		{vertex("[runtime 2/4] ONBUILD RUN x"), 18},
		{nil, 0},
	}
	for _, tt := range tests {
		name := "<nil>"
		if tt.v != nil {
			name = tt.v.Name
		}
		got, ok := f.Line(tt.v)
		if tt.want == 0 {
			if ok {
				t.Errorf("Line(%q) = %d, true; want no match", name, got)
			}
			continue
		}
		if !ok || got != tt.want {
			t.Errorf("Line(%q) = %d, %v; want %d, true", name, got, ok, tt.want)
		}
	}
}

func TestStages(t *testing.T) {
	tests := []struct {
		src  string
		want []Stage
	}{
		{syntaxDockerfile, []Stage{
			{Name: "builder", Base: "golang:1.22", Line: 8, Index: 0},
			{Name: "runtime", Base: "${BASE}", Line: 18, Index: 1},
		}},
		{mustRead(t, probeDockerfile("multi")), []Stage{
			{Name: "base", Base: "scratch", Line: 1, Index: 0},
			{Name: "second", Base: "base", Line: 5, Index: 1},
			{Name: "", Base: "scratch", Line: 9, Index: 2},
		}},
		{"FROM --platform=$BUILDPLATFORM golang AS b\nRUN x\n", []Stage{
			{Name: "b", Base: "golang", Line: 1, Index: 0},
		}},
	}
	for i, tt := range tests {
		if got := mustParse(t, tt.src).Stages(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%d: Stages() = %+v, want %+v", i, got, tt.want)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLineAmbiguous covers files where the position alone is not enough.
func TestLineAmbiguous(t *testing.T) {
	tests := []struct {
		name, src string
		v         *model.Vertex
		want      int
	}{
		// WORKDIR $DIR takes a number only if $DIR is not "/": RUN b
		// may be 2/3 or 3/3, and the text decides.
		{"workdir var, text decides", "FROM scratch\nWORKDIR $DIR\nRUN a\nRUN b\n", vertex("[2/3] RUN b"), 4},
		{"workdir var, text decides 2", "FROM scratch\nWORKDIR $DIR\nRUN a\nRUN b\n", vertex("[2/3] RUN a"), 3},
		{"workdir var expanded", "FROM scratch\nWORKDIR $DIR\nRUN a\nRUN b\n", vertex("[1/3] WORKDIR /app"), 2},
		{"workdir var, identical runs", "FROM scratch\nWORKDIR $DIR\nRUN make\nRUN make\n", vertex("[2/3] RUN make"), 0},
		// Relative WORKDIR .. may resolve to "/".
		{"workdir dotdot", "FROM alpine\nWORKDIR ..\nRUN a\n", vertex("[2/3] RUN a"), 3},
		// Totals disagree (e.g. ONBUILD triggers of the base image):
		// only a unique text match is accepted.
		{"total differs, unique", "FROM alpine\nRUN a\nRUN b\n", vertex("[4/5] RUN b"), 3},
		{"total differs, twice", "FROM alpine\nRUN make\nRUN make\n", vertex("[4/5] RUN make"), 0},
		{"total differs, truncated prefix of two", "FROM alpine\nRUN make all\nRUN make test\n", truncated("[4/5] RUN make"), 0},
		{"total differs, truncated unique", "FROM alpine\nRUN make all\nRUN make test\n", truncated("[4/5] RUN make t"), 3},
		// Position agrees but the text belongs to another step: the file
		// is not the one that was built.
		{"position vs text", "FROM alpine\nRUN a\nRUN b\n", vertex("[2/3] RUN b"), 0},
		// COPY: BuildKit's word expansion drops quotes and escapes.
		{"copy quotes", "FROM alpine\nCOPY \"my file.txt\" /dst/\n", vertex("[2/2] COPY my file.txt /dst/"), 2},
		{"copy quotes, total differs", "FROM alpine\nCOPY \"my file.txt\" /dst/\nRUN x\n", vertex("[3/5] COPY my file.txt /dst/"), 2},
		// BuildKit drops the triggers of a stage base, so an ONBUILD
		// vertex cannot come from a stage built FROM another stage.
		{"onbuild from stage base", "FROM alpine AS a\nONBUILD RUN x\nFROM a AS b\nRUN y\n", vertex("[b 1/2] ONBUILD RUN x"), 0},
		{"onbuild from image", "FROM alpine AS a\nONBUILD RUN x\nFROM a AS b\nRUN y\n", vertex("[a 1/2] ONBUILD RUN z"), 1},
		// Single-stage build that BuildKit labels stage-0 (RUN --mount).
		{"stage-0 single", "FROM alpine\nRUN --mount=type=cache,target=/c make\n", vertex("[stage-0 2/2] RUN --mount=type=cache,target=/c make"), 2},
		{"stage-1 missing", "FROM alpine\nRUN make\n", vertex("[stage-1 2/2] RUN make"), 0},
		// No stage label: the last stage.
		{"no label last stage", "FROM alpine AS a\nRUN make\nFROM a\nRUN make\n", vertex("[1/1] RUN make"), 4},
		// FROM <stage> is not numbered.
		{"from stage not numbered", "FROM alpine AS a\nRUN x\nFROM a AS b\nRUN y\n", vertex("[b 1/1] RUN y"), 4},
		// Identical RUN lines: only the position can tell them apart, so
		// these check the counting rules themselves.
		{"scratch not numbered", "FROM scratch\nRUN make\nRUN make\n", vertex("[1/2] RUN make"), 2},
		{"scratch not numbered 2", "FROM scratch\nRUN make\nRUN make\n", vertex("[2/2] RUN make"), 3},
		{"image numbered", "FROM alpine\nRUN make\nRUN make\n", vertex("[2/3] RUN make"), 2},
		{"stage base not numbered", "FROM alpine AS a\nRUN x\nFROM a AS b\nRUN make\nRUN make\n", vertex("[b 2/2] RUN make"), 5},
		{"variable base is an image", "ARG B=alpine\nFROM $B\nRUN make\nRUN make\n", vertex("[2/3] RUN make"), 3},
		{"variable base is scratch", "ARG B=alpine\nFROM $B\nRUN make\nRUN make\n", vertex("[1/2] RUN make"), 3},
		{"variable base, impossible total", "ARG B=alpine\nFROM $B\nRUN make\nRUN make\n", vertex("[1/4] RUN make"), 0},
		{"env not numbered", "FROM alpine\nENV A=1\nRUN make\nLABEL x=y\nRUN make\n", vertex("[3/3] RUN make"), 5},
		{"from stage wrong total", "FROM alpine AS a\nRUN x\nFROM a AS b\nRUN y\nRUN z\n", vertex("[b 3/3] RUN z"), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.src)
			got, ok := f.Line(tt.v)
			if tt.want == 0 {
				if ok {
					t.Errorf("Line(%q) = %d, true; want no match", tt.v.Name, got)
				}
				return
			}
			if !ok || got != tt.want {
				t.Errorf("Line(%q) = %d, %v; want %d, true", tt.v.Name, got, ok, tt.want)
			}
		})
	}
}

const legacyDockerfile = `ARG GO=1.22
FROM golang:${GO} AS build
WORKDIR /src
ENV X=1
COPY . .
RUN go build -o /app

from alpine
COPY . .
COPY --from=build /app /app
CMD ["/app"]
`

func TestLineLegacy(t *testing.T) {
	f := mustParse(t, legacyDockerfile)
	tests := []struct {
		target string
		v      *model.Vertex
		want   int
	}{
		{"", vertex("Step 1/10 : ARG GO=1.22"), 1},
		{"", vertex("Step 2/10 : FROM golang:${GO} AS build"), 2},
		{"", vertex("Step 4/10 : ENV X=1"), 4},
		{"", vertex("Step 5/10 : COPY . ."), 5},
		{"", vertex("Step 7/10 : from alpine"), 8},
		{"", vertex("Step 8/10 : COPY . ."), 9},
		{"", vertex(`Step 10/10 : CMD ["/app"]`), 11},
		{"", vertex(`Step 11/10 : CMD ["/app"]`), 0},
		{"", vertex(`Step 9/10 : CMD ["/app"]`), 0}, // step 9 is the COPY --from
		{"", vertex("Step 6/11 : RUN go build -o /app"), 6},
		{"", vertex("Step 5/11 : COPY . ."), 0}, // other file, COPY . . twice
		{"", vertex("Step 4/10 : RUN x"), 0},
		// --target build: m counts the instructions up to the target.
		{"build", vertex("Step 5/6 : COPY . ."), 5},
		{"build", vertex("Step 6/6 : RUN go build -o /app"), 6},
		{"build", vertex("Step 9/10 : COPY --from=build /app /app"), 0}, // after the target
	}
	for _, tt := range tests {
		g := f
		if tt.target != "" {
			g = f.WithTarget(tt.target)
		}
		got, ok := g.Line(tt.v)
		if tt.want == 0 {
			if ok {
				t.Errorf("target %q: Line(%q) = %d, true; want no match", tt.target, tt.v.Name, got)
			}
			continue
		}
		if !ok || got != tt.want {
			t.Errorf("target %q: Line(%q) = %d, %v; want %d, true", tt.target, tt.v.Name, got, ok, tt.want)
		}
	}
}

func TestWithTarget(t *testing.T) {
	multi := mustParseFile(t, probeDockerfile("multi"))
	mounts := mustParse(t, "FROM alpine AS a\nRUN a\n"+
		"FROM alpine AS b\nRUN b\n"+
		"FROM alpine AS c\nRUN --mount=from=a,target=/a x\n"+
		"FROM alpine AS d\nCOPY --from=1 /b /b\n")
	tests := []struct {
		name   string
		f      *File
		target string
		v      *model.Vertex
		want   int
	}{
		// No stage label: the target stage, not the last one.
		{"unlabelled goes to target", multi, "second", vertex(`[2/2] RUN ["/bin/busybox","sh","-c","/bin/busybox echo to-stderr >&2; /bin/busybox cat /a.txt"]`), 7},
		{"target case-insensitive", multi, "SECOND", vertex("[1/2] COPY a.txt /a.txt"), 6},
		{"dependency by FROM", multi, "second", vertex("[base 1/2] COPY busybox /bin/busybox"), 2},
		{"stage after target", multi, "second", vertex("[stage-2 1/2] COPY --from=second /a.txt /final.txt"), 0},
		{"no target", multi, "", vertex("[stage-2 1/2] COPY --from=second /a.txt /final.txt"), 10},
		{"unknown target", multi, "nosuch", vertex("[base 1/2] COPY busybox /bin/busybox"), 0},
		{"dependency by RUN --mount", mounts, "c", vertex("[a 2/2] RUN a"), 2},
		{"not a dependency", mounts, "c", vertex("[b 2/2] RUN b"), 0},
		{"dependency by COPY --from index", mounts, "d", vertex("[b 2/2] RUN b"), 4},
		{"not a dependency 2", mounts, "d", vertex("[a 2/2] RUN a"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f.WithTarget(tt.target)
			got, ok := f.Line(tt.v)
			if tt.want == 0 {
				if ok {
					t.Errorf("Line(%q) = %d, true; want no match", tt.v.Name, got)
				}
				return
			}
			if !ok || got != tt.want {
				t.Errorf("Line(%q) = %d, %v; want %d, true", tt.v.Name, got, ok, tt.want)
			}
		})
	}
	if got := multi.WithTarget("Second").Target(); got != "second" {
		t.Errorf("Target() = %q, want second", got)
	}
	if got := multi.WithTarget("second").WithTarget("").Target(); got != "" {
		t.Errorf("Target() after clearing = %q", got)
	}
	if multi.Target() != "" {
		t.Error("WithTarget modified the receiver")
	}
}

func TestExcerpt(t *testing.T) {
	seed := mustParseFile(t, filepath.Join(seedDir, "Dockerfile.python-docker-demo"))
	syn := mustParse(t, syntaxDockerfile)
	tests := []struct {
		name          string
		f             *File
		line, context int
		want          []string
	}{
		{"seed workdir", seed, 5, 1, []string{
			"   4 |     # Set the working directory in the container",
			"   5 | >>> WORKDIR /usr/src/app",
			"   6 |     ",
		}},
		{"clipped at start", seed, 2, 2, []string{
			"   1 |     # Use an official Python runtime as a parent image",
			"   2 | >>> FROM python:3.8-slim",
			"   3 |     ",
			"   4 |     # Set the working directory in the container",
		}},
		{"clipped at end", seed, 11, 1, []string{
			"  10 |     # Run app.py when the container launches",
			`  11 | >>> CMD ["python", "./app.py"]`,
		}},
		{"no context", seed, 8, 0, []string{"   8 | >>> COPY . ."}},
		{"multi-line instruction", syn, 11, 1, []string{
			"  10 |     COPY go.mod go.sum ./",
			"  11 | >>> run go mod download && `",
			"  12 | >>>     # a comment inside the continuation",
			"  13 | >>>     go mod verify",
			"  14 |     ENV CGO_ENABLED=0",
		}},
		{"heredoc", syn, 20, 0, []string{
			"  20 | >>> RUN <<EOF",
			"  21 | >>> apk add --no-cache ca-certificates",
			"  22 | >>> update-ca-certificates",
			"  23 | >>> EOF",
		}},
		{"comment line", syn, 7, 1, []string{
			"   6 |     ",
			"   7 | >>> # builder stage",
			"   8 |     from golang:1.22 as Builder",
		}},
		{"line 0", seed, 0, 2, nil},
		{"past end", seed, 12, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Excerpt(tt.line, tt.context); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Excerpt(%d, %d) =\n%q\nwant\n%q", tt.line, tt.context, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	_, err := ParseFile(probeDockerfile("parse"))
	if err == nil || !strings.Contains(err.Error(), "ctx-parse.Dockerfile:2:") || !strings.Contains(err.Error(), "COPYY") {
		t.Errorf("ParseFile(ctx-parse) error = %v; want it to name line 2 and COPYY", err)
	}
	if _, err := Parse(strings.NewReader("# only a comment\n"), "Empty"); err == nil || !strings.HasPrefix(err.Error(), "Empty") {
		t.Errorf("Parse(comment only) error = %v", err)
	}
	if _, err := ParseFile(filepath.Join(probeDir, "no-such-file")); err == nil {
		t.Error("ParseFile(missing) succeeded")
	}
	f := mustParse(t, "FROM alpine\n")
	if f.Name() != "Dockerfile" {
		t.Errorf("Name() = %q", f.Name())
	}
	if got := mustParseFile(t, probeDockerfile("multi")).Name(); got != probeDockerfile("multi") {
		t.Errorf("Name() = %q", got)
	}
}

// A "# check=" comment above an instruction used to crash BuildKit's
// instruction parser when given no linter.
func TestCheckDirectiveComment(t *testing.T) {
	f := mustParse(t, "# check=skip=all\nFROM alpine\n# check=error=true;skip=JSONArgsRecommended\nRUN x\n")
	if got, ok := f.Line(vertex("[2/2] RUN x")); !ok || got != 4 {
		t.Errorf("Line = %d, %v; want 4", got, ok)
	}
}

func TestCRLFAndBOM(t *testing.T) {
	f := mustParse(t, "\xef\xbb\xbfFROM alpine\r\nRUN a \\\r\n  b\r\nRUN c\r\n")
	if got, ok := f.Line(vertex("[3/3] RUN c")); !ok || got != 4 {
		t.Errorf("Line = %d, %v; want 4", got, ok)
	}
	if got, ok := f.Line(vertex("[2/3] RUN a   b")); !ok || got != 2 {
		t.Errorf("Line = %d, %v; want 2", got, ok)
	}
	want := []string{"   1 | >>> FROM alpine", "   2 |     RUN a \\"}
	if got := f.Excerpt(1, 1); !reflect.DeepEqual(got, want) {
		t.Errorf("Excerpt = %q, want %q", got, want)
	}
}

// Agrees tells an instruction written as the log shows it from one that
// only stands at the same place.
func TestAgrees(t *testing.T) {
	f := mustParse(t, "FROM python:3.9-slim AS base\nARG V\nRUN pip install flask==$V\nCOPY --chown=app . /src\nFROM base\nRUN echo ${V}\n")
	for _, c := range []struct {
		name string
		line int
		want bool
	}{
		{"[base 1/3] FROM docker.io/library/python:3.9-slim@sha256:" + strings.Repeat("a", 64), 1, true},
		{"[base 1/3] FROM docker.io/library/python:3.8-slim", 1, false},
		{"[base 1/3] FROM docker.io/library/node:3.9-slim", 1, false},
		{"[base 1/3] FROM docker.io/library/python@sha256:" + strings.Repeat("a", 64), 1, true},
		{"[base 2/3] RUN pip install flask==2.0", 3, true},
		{"[base 2/3] RUN pip install django", 3, false},
		{"[base 2/3] RUN pip install flask==***", 3, true}, // masked: the keyword agrees
		{"[base 2/3] COPY . /src", 3, false},               // masked or not, another keyword
		{"[base 3/3] COPY --chown=app . /src", 4, true},
		{"[base 3/3] COPY . /elsewhere", 4, false},
		{"[stage-1 1/1] RUN echo 1", 6, true},
	} {
		if got := f.Agrees(vertex(c.name), c.line); got != c.want {
			t.Errorf("Agrees(%q, %d) = %v, want %v", c.name, c.line, got, c.want)
		}
	}
}

package parse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

func mustParse(t *testing.T, log string) *model.Build {
	t.Helper()
	b, err := Parse(strings.NewReader(log), Options{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return b
}

func vertexNamed(t *testing.T, b *model.Build, name string) *model.Vertex {
	t.Helper()
	for _, v := range b.Vertices {
		if v.Name == name {
			return v
		}
	}
	var names []string
	for _, v := range b.Vertices {
		names = append(names, v.Name)
	}
	t.Fatalf("no vertex %q in %q", name, names)
	return nil
}

func TestStripPrefixes(t *testing.T) {
	tests := []struct {
		in, want string
		ts       string // RFC3339Nano, empty for none
	}{
		{"2025-07-03T02:19:55.407831572Z #1 [internal] load", "#1 [internal] load", "2025-07-03T02:19:55.407831572Z"},
		{"2025-07-03T02:19:58.1147142Z #4 DONE 0.2s", "#4 DONE 0.2s", "2025-07-03T02:19:58.1147142Z"},
		{"2024-01-02T03:04:05Z Step 1/3 : FROM x", "Step 1/3 : FROM x", "2024-01-02T03:04:05Z"},
		{"2024-01-02T03:04:05.5+02:00 #1 DONE 0.1s", "#1 DONE 0.1s", "2024-01-02T01:04:05.5Z"},
		{"2024/03/29 14:00:00 Step 7/49 : ARG ARCH", "Step 7/49 : ARG ARCH", "2024-03-29T14:00:00Z"},
		{"[Docker Build] #5 [2/3] RUN make", "#5 [2/3] RUN make", ""},
		{"[build] 2024-01-02T03:04:05Z  => [1/2] FROM x", " => [1/2] FROM x", "2024-01-02T03:04:05Z"},
		{"[+] Building 1.0s (1/1) FINISHED", "[+] Building 1.0s (1/1) FINISHED", ""},
		{"[internal] load build context", "[internal] load build context", ""},
		{"2024-01-02 not a timestamp", "2024-01-02 not a timestamp", ""},
		{"#5 0.512 2024-01-02T03:04:05Z inner", "#5 0.512 2024-01-02T03:04:05Z inner", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		got, ts := stripPrefixes([]byte(tc.in))
		if string(got) != tc.want {
			t.Errorf("stripPrefixes(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if tc.ts == "" {
			if !ts.IsZero() {
				t.Errorf("stripPrefixes(%q) found timestamp %v", tc.in, ts)
			}
			continue
		}
		want, err := time.Parse(time.RFC3339Nano, tc.ts)
		if err != nil {
			t.Fatal(err)
		}
		if !ts.Equal(want) {
			t.Errorf("stripPrefixes(%q) timestamp %v, want %v", tc.in, ts, want)
		}
	}
}

func TestCleanLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"\x1b[34m => [1/2] FROM x   0.1s\r", " => [1/2] FROM x   0.1s"},
		{"\x1b[1A\x1b[0G\x1b[?25l[+] Building 0.1s (4/9)  \r", "[+] Building 0.1s (4/9)  "},
		// A CR inside a line is kept: the line's start says what it is.
		{"progress 10%\rprogress 100%", "progress 10%\rprogress 100%"},
		{"#5 0.1 x\r#1 DONE 1e19s", "#5 0.1 x\r#1 DONE 1e19s"},
		{"done\r\r", "done"},
		{"text\x1b]0;title\x07 more", "text more"},
		{"plain", "plain"},
	}
	for _, tc := range tests {
		var scratch []byte
		if got := cleanLine([]byte(tc.in), false, false, &scratch); string(got) != tc.want {
			t.Errorf("cleanLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestShownText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"progress 10%\rprogress 100%", "progress 100%"},
		{"progress 10%\rprogress 100%\r  ", "progress 100%"},
		{"plain", "plain"},
		{"\r", ""},
	}
	for _, tc := range tests {
		if got := shownText([]byte(tc.in)); string(got) != tc.want {
			t.Errorf("shownText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestApplyName(t *testing.T) {
	tests := []struct {
		name              string
		platform, stage   string
		index, total      int
		instruction, args string
	}{
		{"[builder 2/5] RUN go mod download", "", "builder", 2, 5, "RUN", "go mod download"},
		{"[stage-0  1/24] FROM docker.io/library/golang:1.22", "", "stage-0", 1, 24, "FROM", "docker.io/library/golang:1.22"},
		{"[ 1/10] COPY . .", "", "", 1, 10, "COPY", ". ."},
		{"[linux/arm64 builder 4/4] RUN make", "linux/arm64", "builder", 4, 4, "RUN", "make"},
		{"[linux/arm/v7 3/3] COPY a b", "linux/arm/v7", "", 3, 3, "COPY", "a b"},
		{"[internal] load build context", "", "internal", 0, 0, "", ""},
		{"[linux/amd64 internal] load metadata for docker.io/library/alpine:3.20", "linux/amd64", "internal", 0, 0, "", ""},
		{"[auth] library/node:pull token", "", "auth", 0, 0, "", ""},
		{"exporting to image", "", "", 0, 0, "", ""},
		{"[2/3] workdir /app", "", "", 2, 3, "WORKDIR", "/app"},
		{"[3/3] RUN", "", "", 3, 3, "RUN", ""},
		{"[app 2/4] LINK COPY --from=build /out /app", "", "app", 2, 4, "COPY", "--from=build /out /app"},
		{"[broken", "", "", 0, 0, "", ""},
	}
	for _, tc := range tests {
		var v model.Vertex
		ApplyName(&v, tc.name)
		if v.Name != tc.name || v.Platform != tc.platform || v.Stage != tc.stage || v.Index != tc.index || v.Total != tc.total || v.Instruction != tc.instruction || v.Args != tc.args {
			t.Errorf("ApplyName(%q) = platform %q stage %q %d/%d %q %q", tc.name, v.Platform, v.Stage, v.Index, v.Total, v.Instruction, v.Args)
		}
	}
}

func TestParseStatusText(t *testing.T) {
	tests := []struct {
		in             string
		name           string
		current, total int64
		hasBytes, done bool
		dur            time.Duration
	}{
		{"sha256:2f44 29.13MB / 29.13MB 4.4s done", "sha256:2f44", 29130000, 29130000, true, true, 4400 * time.Millisecond},
		{"transferring context: 392B", "transferring context", 392, 0, true, false, 0},
		{"transferring context: 1.98MB 0.1s done", "transferring context", 1980000, 0, true, true, 100 * time.Millisecond},
		{"transferring dockerfile: 1.22kB done", "transferring dockerfile", 1220, 0, true, true, 0},
		{"extracting sha256:abc 0.7s done", "extracting sha256:abc", 0, 0, false, true, 700 * time.Millisecond},
		{"loading layer db937c2d6218 121B / 121B 0.1s done", "loading layer db937c2d6218", 121, 121, true, true, 100 * time.Millisecond},
		{"exporting layers", "exporting layers", 0, 0, false, false, 0},
		{"sha256:ab 3.00MiB / 8.00MiB", "sha256:ab", 3 << 20, 8 << 20, true, false, 0},
	}
	for _, tc := range tests {
		st := parseStatusText(tc.in)
		if st.name != tc.name || st.current != tc.current || st.total != tc.total || st.hasBytes != tc.hasBytes || st.done != tc.done || st.duration != tc.dur {
			t.Errorf("parseStatusText(%q) = %+v", tc.in, st)
		}
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		in      string
		want    model.Format
		errPart string
	}{
		{"#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n", model.FormatPlain, ""},
		{"[+] Building 1.2s (3/3) FINISHED\n => [1/1] FROM x  0.1s\n", model.FormatTTY, ""},
		{`{"vertexes":[{"digest":"sha256:a","name":"x"}]}` + "\n", model.FormatRawJSON, ""},
		{"Sending build context to Docker daemon  2.048kB\nStep 1/2 : FROM scratch\n", model.FormatLegacy, ""},
		{"$ docker build .\n2024-01-01T00:00:00Z #1 [internal] load .dockerignore\n", model.FormatPlain, ""},
		{"", "", "empty"},
		{"   \n\n", "", "empty"},
		{"\x00\x01\x02binary\xff\xfe", "", "binary"},
		{"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "", "HTML"},
		{"just some text\nnothing to see\n", "", "no BuildKit"},
	}
	for _, tc := range tests {
		got, err := Detect([]byte(tc.in))
		if tc.errPart != "" {
			if err == nil || !errors.Is(err, ErrNotBuildLog) || !strings.Contains(err.Error(), tc.errPart) {
				t.Errorf("Detect(%q) error = %v, want ErrNotBuildLog mentioning %q", tc.in, err, tc.errPart)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Detect(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// The seed log is the tutorial build this project grew from.
func TestSeedFacts(t *testing.T) {
	b := mustParseFile(t, "../fixtures/seed/tty-seed-python-docker-demo.log")
	if b.Format != model.FormatTTY || b.Status != model.StatusSucceeded {
		t.Fatalf("format %s status %s", b.Format, b.Status)
	}
	if !b.HasDuration || b.Duration != 11700*time.Millisecond {
		t.Errorf("duration %v, want 11.7s", b.Duration)
	}
	want := map[string]time.Duration{"FROM": 6200 * time.Millisecond, "WORKDIR": 400 * time.Millisecond, "COPY": 100 * time.Millisecond}
	steps := b.Steps()
	if len(steps) != 3 {
		t.Fatalf("%d steps, want 3", len(steps))
	}
	for i, s := range steps {
		if s.Index != i+1 || s.Total != 3 || s.Cached || s.Duration != want[s.Instruction] {
			t.Errorf("step %d: %q %d/%d cached=%v %v", i, s.Name, s.Index, s.Total, s.Cached, s.Duration)
		}
	}
	if got := b.ContextBytes(); got != 392 {
		t.Errorf("context %d B, want 392", got)
	}
	if got := b.BaseImageBytes(); got != 29130000+13750000+3510000+3130000+243+1370+6970+1860 {
		t.Errorf("base image bytes %d", got)
	}
	if b.Builder != "docker:default" || len(b.Vertices) != 8 {
		t.Errorf("builder %q, %d vertices (want 8)", b.Builder, len(b.Vertices))
	}
}

func mustParseFile(t *testing.T, path string) *model.Build {
	t.Helper()
	data := readFile(t, path)
	return mustParse(t, string(data))
}

func TestPlainDetails(t *testing.T) {
	b := mustParseFile(t, "../fixtures/buildkit-probe/run-fail-plain.log")
	if b.Status != model.StatusFailed || b.ErrorFile != "Dockerfile" || b.ErrorLine != 3 {
		t.Fatalf("status %s error at %s:%d", b.Status, b.ErrorFile, b.ErrorLine)
	}
	run := vertexNamed(t, b, `[2/2] RUN ["/bin/busybox","sh","-c","/bin/busybox echo about to fail; /bin/busybox echo oops >&2; exit 3"]`)
	if run.ExitCode != 3 || !strings.Contains(run.Error, "did not complete successfully") {
		t.Errorf("exit %d error %q", run.ExitCode, run.Error)
	}
	if strings.Join(run.Output, "|") != "about to fail|oops" || run.OutputLines != 2 {
		t.Errorf("output %q (%d lines)", run.Output, run.OutputLines)
	}
	if !strings.HasPrefix(b.Error, "failed to solve: process") {
		t.Errorf("summary %q", b.Error)
	}
	if len(b.ErrorContext) != 4 || !strings.Contains(b.ErrorContext[2], ">>> RUN") {
		t.Errorf("error context %q", b.ErrorContext)
	}
	cached := vertexNamed(t, b, "[1/2] COPY busybox /bin/busybox")
	if !cached.Cached || cached.Ran() {
		t.Errorf("COPY should be cached")
	}
}

func TestPlainVariants(t *testing.T) {
	t.Run("interleaved vertex resumes", func(t *testing.T) {
		b := mustParse(t, "#1 [internal] load metadata for x\n#1 ...\n\n#2 [auth] token\n#2 DONE 0.0s\n\n#1 [internal] load metadata for x\n#1 DONE 2.6s\n")
		if len(b.Vertices) != 2 || b.Vertices[0].Duration != 2600*time.Millisecond {
			t.Fatalf("%d vertices, first %v", len(b.Vertices), b.Vertices[0].Duration)
		}
	})
	t.Run("canceled is failed", func(t *testing.T) {
		b := mustParse(t, "#1 [1/2] FROM x\n#1 DONE 0.1s\n#2 [2/2] RUN sleep 100\n#2 CANCELED\n")
		if b.Status != model.StatusFailed || !b.Vertices[1].Canceled {
			t.Fatalf("status %s", b.Status)
		}
	})
	t.Run("cache import error is a warning", func(t *testing.T) {
		b := mustParse(t, "#1 importing cache manifest from ghcr.io/x/y:cache\n#1 ERROR: failed to fetch manifest: not found\n#2 [1/1] FROM x\n#2 DONE 1.0s\n#3 exporting to image\n#3 DONE 0.1s\n")
		if b.Status != model.StatusSucceeded || len(b.Warnings) != 1 || b.Vertices[0].Error != "" {
			t.Fatalf("status %s warnings %v err %q", b.Status, b.Warnings, b.Vertices[0].Error)
		}
	})
	t.Run("summary variants", func(t *testing.T) {
		for _, last := range []string{
			"ERROR: failed to solve: boom",
			"error: failed to solve: boom",
			"failed to solve: boom",
			"ERROR: failed to build: failed to solve: boom",
		} {
			b := mustParse(t, "#1 [1/1] RUN x\n#1 ERROR: boom\n"+last+"\n")
			if b.Status != model.StatusFailed || !strings.HasSuffix(b.Error, "boom") || strings.HasPrefix(strings.ToLower(b.Error), "error:") {
				t.Errorf("%q: status %s error %q", last, b.Status, b.Error)
			}
		}
	})
	t.Run("begins mid-vertex", func(t *testing.T) {
		b := mustParse(t, "#17 extracting sha256:abc 0.7s done\n#17 DONE 12.0s\n\n#18 [3/3] COPY . .\n#18 DONE 0.1s\n")
		if !b.BeganMidBuild || b.Truncated || b.Status != model.StatusSucceeded || len(b.Vertices) != 2 || b.Vertices[0].Name != "" || b.Vertices[0].Duration != 12*time.Second {
			t.Fatalf("began mid-build=%v truncated=%v status %s vertices=%d", b.BeganMidBuild, b.Truncated, b.Status, len(b.Vertices))
		}
	})
	t.Run("crlf tabs no final newline shell noise", func(t *testing.T) {
		b := mustParse(t, "user@host:~$ docker build --progress=plain .\r\n#1 [1/1] RUN\tmake\r\n#1 0.100 out\tput\r\n#1 DONE 3.5s")
		v := b.Vertices[0]
		if v.Name != "[1/1] RUN\tmake" || v.Duration != 3500*time.Millisecond || v.Output[0] != "out\tput" {
			t.Fatalf("%+v", v)
		}
	})
	t.Run("old docker cli digest line", func(t *testing.T) {
		b := mustParse(t, "#1 [1/1] FROM x\n#1 sha256:"+strings.Repeat("ab", 32)+"\n#1 DONE 0.1s\n")
		if b.Vertices[0].Digest != "sha256:"+strings.Repeat("ab", 32) || len(b.Vertices[0].Transfers) != 0 {
			t.Fatalf("%+v", b.Vertices[0])
		}
	})
	t.Run("huge line", func(t *testing.T) {
		long := strings.Repeat("x", 3<<20)
		b := mustParse(t, "#1 [1/1] RUN echo\n#1 0.1 "+long+"\n#1 DONE 1.0s\n")
		if v := b.Vertices[0]; !v.Completed || len(v.Output) != 1 || len(v.Output[0]) != maxOutputLine {
			t.Fatalf("completed=%v output %d lines", v.Completed, len(v.Output))
		}
	})
	t.Run("output tail is bounded", func(t *testing.T) {
		var sb strings.Builder
		sb.WriteString("#1 [1/1] RUN seq 100\n")
		for i := range 100 {
			sb.WriteString("#1 0.001 line " + strconvI(i) + "\n")
		}
		b := mustParse(t, sb.String())
		v := b.Vertices[0]
		if v.OutputLines != 100 || len(v.Output) != model.OutputTailLines || v.Output[len(v.Output)-1] != "line 99" {
			t.Fatalf("%d lines kept %d last %q", v.OutputLines, len(v.Output), v.Output[len(v.Output)-1])
		}
	})
}

func strconvI(i int) string { return itoa(i) }

func TestTTYRedrawFinalStateWins(t *testing.T) {
	b := mustParseFile(t, "../fixtures/buildkit-probe/multistage-tty-nocache.log")
	if b.Status != model.StatusSucceeded || len(b.Vertices) != 9 {
		t.Fatalf("status %s, %d vertices", b.Status, len(b.Vertices))
	}
	var run *model.Vertex
	for _, v := range b.Vertices {
		if v.Stage == "base" && v.Index == 2 {
			run = v
		}
	}
	if run == nil || run.Duration != 2200*time.Millisecond || !run.NameTruncated || !strings.HasPrefix(run.Args, `["/bin/busybox","sh","-c","for i in 1 2 3; do`) {
		t.Fatalf("%+v", run)
	}
}

func TestTTYVariants(t *testing.T) {
	t.Run("error and summary", func(t *testing.T) {
		b := mustParse(t, "[+] Building 2.0s (5/5) FINISHED\n => [1/2] FROM x  0.1s\n => ERROR [2/2] RUN make  1.2s\n------\n > [2/2] RUN make:\n0.5 cc: error\n------\nERROR: failed to solve: process \"/bin/sh -c make\" did not complete successfully: exit code: 2\n")
		v := b.Vertices[1]
		if b.Status != model.StatusFailed || v.ExitCode != 2 || !strings.Contains(v.Error, "exit code: 2") || v.Output[0] != "cc: error" {
			t.Fatalf("status %s vertex %+v", b.Status, v)
		}
	})
	t.Run("canceled compose", func(t *testing.T) {
		b := mustParseFile(t, "../fixtures/real/tty-compose-canceled-17.log")
		if b.Status != model.StatusFailed || !b.Vertices[1].Canceled {
			t.Fatalf("status %s", b.Status)
		}
	})
	t.Run("cache import error then finished", func(t *testing.T) {
		b := mustParse(t, "[+] Building 5.0s (3/3) FINISHED\n => ERROR importing cache manifest from ghcr.io/a/b:cache  0.4s\n => [1/1] FROM x  1.0s\n => exporting to image  0.1s\n")
		if b.Status != model.StatusSucceeded || len(b.Warnings) != 1 {
			t.Fatalf("status %s warnings %v", b.Status, b.Warnings)
		}
	})
}

func TestLegacy(t *testing.T) {
	b := mustParseFile(t, "../fixtures/real/legacy-goxis-cached-timestamped-01.log")
	if b.Status != model.StatusSucceeded || len(b.Steps()) != 49 {
		t.Fatalf("status %s, %d steps", b.Status, len(b.Steps()))
	}
	cached := 0
	for _, s := range b.Steps() {
		if s.Cached {
			cached++
		}
	}
	if cached != 29 {
		t.Errorf("%d cached steps, want 29", cached)
	}
	s46 := b.Steps()[45]
	if s46.Index != 46 || s46.Instruction != "RUN" || s46.Duration != 24*time.Second {
		t.Errorf("step 46 %+v", s46)
	}
	f := mustParseFile(t, "../fixtures/buildkit-probe/docker-legacy-builder-fail.log")
	last := f.Steps()[2]
	if f.Status != model.StatusFailed || last.ExitCode != 3 || strings.Join(last.Output, "|") != "about to fail|oops" {
		t.Errorf("status %s exit %d output %q", f.Status, last.ExitCode, last.Output)
	}
}

func TestRawJSON(t *testing.T) {
	b := mustParseFile(t, "../fixtures/buildkit-probe/run-fail-rawjson.jsonl")
	if b.Format != model.FormatRawJSON || b.Status != model.StatusFailed || b.ErrorLine != 3 {
		t.Fatalf("format %s status %s line %d", b.Format, b.Status, b.ErrorLine)
	}
	var run *model.Vertex
	for _, v := range b.Vertices {
		if v.Instruction == "RUN" {
			run = v
		}
	}
	if run == nil || run.ExitCode != 3 || strings.Join(run.Output, "|") != "about to fail|oops" || run.Started.IsZero() {
		t.Fatalf("%+v", run)
	}
	warm := mustParseFile(t, "../fixtures/buildkit-probe/rawjson-warm.jsonl")
	for _, s := range warm.Steps() {
		if !s.Cached {
			t.Errorf("%s not cached in warm build", s.Name)
		}
	}
	ms := mustParseFile(t, "../fixtures/buildkit-probe/multistage-rawjson-nocache.jsonl")
	for _, v := range ms.Vertices {
		if v.IsStep() && len(v.Inputs) == 0 {
			t.Errorf("%s has no inputs: the vertex graph is lost", v.Name)
		}
	}
}

func TestMergedDuration(t *testing.T) {
	at := func(s float64) time.Time { return time.Unix(0, 0).Add(time.Duration(s * float64(time.Second))) }
	tests := []struct {
		ivals []interval
		want  time.Duration
	}{
		{nil, 0},
		{[]interval{{at(0), at(1)}}, time.Second},
		{[]interval{{at(0), at(1)}, {at(2), at(3)}}, 2 * time.Second},
		{[]interval{{at(2), at(3)}, {at(0), at(2.5)}}, 3 * time.Second},
		{[]interval{{at(0), at(4)}, {at(1), at(2)}}, 4 * time.Second},
		{[]interval{{at(0), at(1)}, {at(2), time.Time{}}}, time.Second},
	}
	for i, tc := range tests {
		if got := mergedDuration(tc.ivals); got != tc.want {
			t.Errorf("case %d: %v, want %v", i, got, tc.want)
		}
	}
}

// Random and mangled input must never panic.
func TestRandomBytesNeverPanic(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	seeds := [][]byte{readFile(t, "../fixtures/buildkit-probe/run-fail-plain.log"), readFile(t, "../fixtures/buildkit-probe/multistage-tty-nocache.log"), readFile(t, "../fixtures/buildkit-probe/run-fail-rawjson.jsonl"), readFile(t, "../fixtures/buildkit-probe/docker-legacy-builder-fail.log")}
	for i := range 2000 {
		var data []byte
		if i%2 == 0 {
			data = make([]byte, rng.Intn(4096))
			rng.Read(data)
		} else {
			seed := seeds[rng.Intn(len(seeds))]
			data = bytes.Clone(seed[:rng.Intn(len(seed))])
			for range rng.Intn(20) + 1 {
				if len(data) > 0 {
					data[rng.Intn(len(data))] = byte(rng.Intn(256))
				}
			}
		}
		for _, f := range []model.Format{"", model.FormatPlain, model.FormatTTY, model.FormatRawJSON, model.FormatLegacy} {
			_, _ = Parse(bytes.NewReader(data), Options{Format: f})
		}
	}
}

func TestPlainTwoBuildsInOneLog(t *testing.T) {
	one := "#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n\n#2 [1/1] FROM a\n#2 DONE 1.0s\n\n"
	two := "#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n\n#2 [1/1] FROM b\n#2 DONE 2.0s\n"
	builds, err := ParseAll(strings.NewReader(one+two), Options{})
	if err != nil || len(builds) != 2 {
		t.Fatalf("%d builds, %v", len(builds), err)
	}
	a, b := builds[0], builds[1]
	if len(a.Vertices) != 2 || a.Vertices[1].Args != "a" || a.LogIndex != 1 || a.LogBuilds != 2 {
		t.Errorf("first build: %d vertices, %d of %d", len(a.Vertices), a.LogIndex, a.LogBuilds)
	}
	if len(b.Vertices) != 2 || b.Vertices[1].Args != "b" || b.Vertices[1].Duration != 2*time.Second || b.LogIndex != 2 || b.LogBuilds != 2 {
		t.Errorf("second build: %d vertices, %d of %d", len(b.Vertices), b.LogIndex, b.LogBuilds)
	}
	if last := mustParse(t, one+two); last.LogIndex != 2 || last.Vertices[1].Args != "b" {
		t.Errorf("Parse returned build %d, want the last", last.LogIndex)
	}
}

// A log whose first build line comes after 600 KB of other CI output is
// still detected: the detection window is 1 MiB.
func TestDetectAfterLongPreamble(t *testing.T) {
	preamble := strings.Repeat("npm WARN deprecated something@1.0.0: this is just noise\n", 600<<10/56)
	b := mustParse(t, preamble+"#1 [1/1] FROM x\n#1 DONE 1.5s\n")
	if b.Format != model.FormatPlain || len(b.Vertices) != 1 {
		t.Fatalf("format %s, %d vertices", b.Format, len(b.Vertices))
	}
}

// A forced format on text without a build is ErrNotBuildLog from Parse
// itself, as detection would say, so embedders get the CLI's answer.
func TestForcedFormatWithoutBuild(t *testing.T) {
	for _, f := range []model.Format{model.FormatTTY, model.FormatPlain, model.FormatRawJSON, model.FormatLegacy} {
		_, err := Parse(strings.NewReader("hello\nthis is not a build log\n"), Options{Format: f})
		if !errors.Is(err, ErrNotBuildLog) {
			t.Errorf("%s: %v, want ErrNotBuildLog", f, err)
		}
	}
	if b, err := Parse(strings.NewReader("#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n"), Options{Format: model.FormatPlain}); err != nil || len(b.Vertices) != 1 {
		t.Errorf("a real plain log forced as plain: %v", err)
	}
}

func TestErrorish(t *testing.T) {
	for _, yes := range []string{"npm ERR! code 1", "error: linker failed", "Traceback (most recent call last):", "fatal: not a git repository", "E: Package 'x' has no installation candidate; missing", "TypeError: x is undefined", "process exited with exit code 2", "Build FAILED.", "sh: foo: not found", "panic: runtime error"} {
		if !errorish([]byte(yes)) {
			t.Errorf("errorish(%q) = false", yes)
		}
	}
	for _, no := range []string{"Unpacking liberror-perl (0.17029-2) ...", "gcc -O2 -c main.c", "Setting up libssl3", "Downloading packages", ""} {
		if errorish([]byte(no)) {
			t.Errorf("errorish(%q) = true", no)
		}
	}
}

func TestEscapeGlyph(t *testing.T) {
	var scratch []byte
	if got := cleanLine([]byte("␛[36;1mdocker build .␛[0m"), false, false, &scratch); string(got) != "docker build ." {
		t.Errorf("cleanLine = %q", got)
	}
}

// TestLineReaderPlain checks the reader's claim that a line holds no ESC
// and no 0xe2 (which lets cleanLine skip its search) on lines with those
// bytes anywhere, read whole and a byte at a time, so the bytes it has
// looked ahead at end anywhere in a line.
func TestLineReaderPlain(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var log bytes.Buffer
	for range 2000 {
		n := rng.Intn(40)
		for range n {
			switch rng.Intn(20) {
			case 0:
				log.WriteByte(0x1b)
			case 1:
				log.WriteString("␛")
			case 2:
				log.WriteByte('\r')
			default:
				log.WriteByte(byte('a' + rng.Intn(26)))
			}
		}
		log.WriteByte('\n')
	}
	for _, r := range []io.Reader{bytes.NewReader(log.Bytes()), &oneByteReader{data: log.Bytes()}} {
		lr := newLineReader(r, maxKeptLine)
		plain, lines := 0, 0
		for {
			line, err := lr.next()
			if err != nil {
				break
			}
			lines++
			if lr.plain {
				plain++
				if bytes.IndexByte(line, 0x1b) >= 0 || bytes.IndexByte(line, 0xe2) >= 0 {
					t.Fatalf("line %d %q is not plain", lines, line)
				}
			}
		}
		if lines != 2000 || plain == 0 {
			t.Fatalf("%d lines, %d plain", lines, plain)
		}
	}
}

// stripANSIByByte is the byte-at-a-time stripANSI the run-copying one
// replaced, kept as its reference.
func stripANSIByByte(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != 0x1b {
			dst = append(dst, c)
			continue
		}
		if i+1 >= len(s) {
			break
		}
		switch s[i+1] {
		case '[':
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
		case ']', '_', 'P', '^':
			j := i + 2
			for j < len(s) && s[j] != 0x07 && !(s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\') {
				j++
			}
			if j < len(s) && s[j] == 0x1b {
				j++
			}
			i = j
		default:
			i++
		}
	}
	return dst
}

func FuzzStripANSI(f *testing.F) {
	for _, s := range []string{"\x1b[34m => [1/2] FROM x   0.1s\r", "\x1b]0;title\x07text", "\x1b]8;;url\x1b\\link\x1b]8;;\x1b\\", "a\x1b", "\x1b[", "\x1b[12", "\x1bPq\x1b\\x", "\x1b(Bx", "\x1b\x1b[1A", "\x1b[0m\x1b[34m => x 0.1s\r", "\x1b[?25h\x1b[1A\x1b[0G\x1b[?25l[+] Building", "\x1b[1mx\x1b[0m", "\x1b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		if got, want := stripANSI(nil, s), stripANSIByByte(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("stripANSI(%q) = %q, want %q", s, got, want)
		}
		var scratch []byte
		if got, want := stripANSIInPlace(s, &scratch), stripANSIByByte(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("stripANSIInPlace(%q) = %q, want %q", s, got, want)
		}
	})
}

// parseStatusTextByFields is the strings.Fields-based parseStatusText that
// parseStatus replaced, kept as its reference.
func parseStatusTextByFields(s string) statusText {
	var st statusText
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutSuffix(s, " done"); ok {
		st.done, s = true, rest
	} else if s == "done" {
		return st
	}
	fields := strings.Fields(s)
	if n := len(fields); n > 1 {
		if d, ok := parseSeconds([]byte(fields[n-1])); ok && strings.Contains(fields[n-1], ".") {
			st.duration = d
			fields = fields[:n-1]
		}
	}
	n := len(fields)
	switch {
	case n >= 4 && fields[n-2] == "/":
		a, ok1 := parseSize([]byte(fields[n-3]))
		b, ok2 := parseSize([]byte(fields[n-1]))
		if ok1 && ok2 {
			st.current, st.total, st.hasBytes = a, b, true
			fields = fields[:n-3]
		}
	case n >= 2:
		if a, ok := parseSize([]byte(fields[n-1])); ok {
			st.current, st.hasBytes = a, true
			fields = fields[:n-1]
		}
	}
	st.name = strings.TrimSuffix(strings.Join(fields, " "), ":")
	return st
}

func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"sha256:2f44 29.13MB / 29.13MB 4.4s done", "transferring context: 392B 0.0s", "  a\t b  c: 1.0s", "naming to docker.io/x done", "x\u00a0y 1B", "\u2003a b\u3000c", "done", "a /  1B / 2B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := parseStatusTextByFields(s)
		var scratch []byte
		got := parseStatus([]byte(s), &scratch)
		if string(got.name) != want.name || got.current != want.current || got.total != want.total || got.hasBytes != want.hasBytes || got.duration != want.duration || got.done != want.done {
			t.Fatalf("parseStatus(%q) = %+v (name %q), want %+v", s, got, got.name, want)
		}
		if parseStatusText(s) != want {
			t.Fatalf("parseStatusText(%q) = %+v, want %+v", s, parseStatusText(s), want)
		}
		var fields []string
		for _, f := range appendFields(nil, []byte(s)) {
			fields = append(fields, string(f))
		}
		if want := strings.Fields(s); !slices.Equal(fields, want) {
			t.Fatalf("appendFields(%q) = %q, want %q", s, fields, want)
		}
	})
}

// parseSecondsByParseFloat is parseSeconds before its fast path.
func parseSecondsByParseFloat(b []byte) (time.Duration, bool) {
	if len(b) < 2 || b[len(b)-1] != 's' {
		return 0, false
	}
	num := b[:len(b)-1]
	for _, c := range num {
		if !isDigit(c) && c != '.' {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > model.MaxDuration.Seconds() {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

func FuzzParseSeconds(f *testing.F) {
	for _, s := range []string{"12.3s", "0.1s", "5.s", ".5s", "1.2.3s", "2678399.999999999s", "123456789012345.6s", "0.000000001s", "99999999999999.9s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseSeconds([]byte(s))
		wd, wok := parseSecondsByParseFloat([]byte(s))
		if d != wd || ok != wok {
			t.Fatalf("parseSeconds(%q) = %v %v, want %v %v", s, d, ok, wd, wok)
		}
	})
}

// TestParseSecondsEveryTenth checks the fast path on every time of the
// form the displays print, 0.0s to 999.9s and 0.000s to 9.999s.
func TestParseSecondsEveryTenth(t *testing.T) {
	for i := 0; i < 10000; i++ {
		for _, s := range []string{strconv.Itoa(i/10) + "." + strconv.Itoa(i%10) + "s", strconv.Itoa(i/1000) + "." + fmt.Sprintf("%03d", i%1000) + "s"} {
			d, ok := parseSeconds([]byte(s))
			wd, wok := parseSecondsByParseFloat([]byte(s))
			if d != wd || ok != wok {
				t.Fatalf("parseSeconds(%q) = %v, want %v", s, d, wd)
			}
		}
	}
}

// FuzzLogOffsetDuration checks the one-pass offset reader against
// logOffset's rules and offsetDuration's value.
func FuzzLogOffsetDuration(f *testing.F) {
	for _, s := range []string{"0.512 out", "12.3", "1.", ".5 x", "99999999999999999999.1 x", "1.1234567891234 x", "3.14x", "0.000000001 y", "2678400.5 z"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		off, d, ok := logOffsetDuration(b)
		// logOffset before it read the duration.
		wantOK, wantOff := func() (bool, int) {
			i := 0
			for i < len(b) && isDigit(b[i]) {
				i++
			}
			if i == 0 || i >= len(b) || b[i] != '.' {
				return false, 0
			}
			j := i + 1
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			if j == i+1 {
				return false, 0
			}
			if j == len(b) {
				return true, j
			}
			if b[j] != ' ' {
				return false, 0
			}
			return true, j + 1
		}()
		if ok != wantOK || off != wantOff {
			t.Fatalf("logOffsetDuration(%q) = %d %v, want %d %v", b, off, ok, wantOff, wantOK)
		}
		if ok {
			want := offsetDuration(b[:off])
			if validDuration(d) != validDuration(want) || validDuration(d) && d != want {
				t.Fatalf("logOffsetDuration(%q) read %v, offsetDuration %v", b, d, want)
			}
		}
	})
}

// TestAppendLogCRs checks rawjson log chunks split into the lines a
// terminal shows, with and without CRs in a chunk (a chunk without one
// takes a shorter path).
func TestAppendLogCRs(t *testing.T) {
	s := &vstate{v: &model.Vertex{Completed: true}}
	for _, chunk := range []string{"a\nb\r\nc", "d\n", "e\rf\ng\n", "h\r\r\ni\n", "j\nk\n"} {
		appendLog(s, []byte(chunk))
	}
	s.flushOutput()
	want := []string{"a", "b", "cd", "f", "g", "h", "i", "j", "k"}
	if !slices.Equal(s.v.Output, want) || s.v.OutputLines != len(want) {
		t.Fatalf("output %q (%d lines), want %q", s.v.Output, s.v.OutputLines, want)
	}
}

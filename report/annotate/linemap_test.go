package annotate

import (
	"bytes"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
)

// syntaxDockerfile has everything that moves instructions away from a
// naive line count: parser directives, comments, blank lines, a comment
// inside a line continuation, multi-line continuations and heredocs.
const syntaxDockerfile = "# syntax=docker/dockerfile:1\n" + // 1
	"# escape=\\\n" + // 2
	"\n" + // 3
	"# Build stage: a comment\n" + // 4
	"ARG GO_VERSION=1.22\n" + // 5
	"\n" + // 6
	"FROM golang:${GO_VERSION} AS build\n" + // 7
	"WORKDIR /src\n" + // 8
	"# a comment between instructions\n" + // 9
	"COPY go.mod go.sum ./\n" + // 10
	"RUN go mod download \\\n" + // 11
	"    # a comment inside the continuation\n" + // 12
	"    && go mod verify\n" + // 13
	"\n" + // 14
	"COPY . .\n" + // 15
	"RUN <<EOF\n" + // 16
	"go build -o /out/app ./cmd/app\n" + // 17
	"go test ./...\n" + // 18
	"EOF\n" + // 19
	"\n" + // 20
	"FROM alpine:3.20 AS final\n" + // 21
	"RUN apk add --no-cache \\\n" + // 22
	"      ca-certificates \\\n" + // 23
	"      tzdata\n" + // 24
	"COPY --from=build /out/app /usr/local/bin/app\n" + // 25
	"COPY <<EOT /etc/motd\n" + // 26
	"hello\n" + // 27
	"EOT\n" + // 28
	"CMD [\"app\"]\n" // 29

// syntaxLog is the plain-progress log BuildKit prints for syntaxDockerfile
// with a warm cache up to the go.mod download.
const syntaxLog = `#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 612B done
#1 DONE 0.0s

#2 [internal] load metadata for docker.io/library/golang:1.22
#2 DONE 1.0s

#3 [internal] load metadata for docker.io/library/alpine:3.20
#3 DONE 0.9s

#4 [build 1/6] FROM docker.io/library/golang:1.22@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
#4 CACHED

#5 [final 1/4] FROM docker.io/library/alpine:3.20@sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210
#5 CACHED

#6 [build 2/6] WORKDIR /src
#6 CACHED

#7 [build 3/6] COPY go.mod go.sum ./
#7 CACHED

#8 [build 4/6] RUN go mod download     && go mod verify
#8 CACHED

#9 [final 2/4] RUN apk add --no-cache       ca-certificates       tzdata
#9 DONE 31.0s

#10 [internal] load build context
#10 transferring context: 2.10kB done
#10 DONE 0.1s

#11 [build 5/6] COPY . .
#11 DONE 0.5s

#12 [build 6/6] RUN <<EOF (go build -o /out/app ./cmd/app...)
#12 DONE 45.0s

#13 [final 3/4] COPY --from=build /out/app /usr/local/bin/app
#13 DONE 0.2s

#14 [final 4/4] COPY <<EOT /etc/motd
#14 DONE 0.1s

#15 exporting to image
#15 exporting layers 0.3s done
#15 DONE 0.3s
`

func reportFor(t *testing.T, log, dockerfileText, target string) *Report {
	t.Helper()
	b, err := parse.Parse(strings.NewReader(log), parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var df *dockerfile.File
	if dockerfileText != "" {
		if df, err = dockerfile.Parse(strings.NewReader(dockerfileText), "Dockerfile"); err != nil {
			t.Fatal(err)
		}
		if target != "" {
			df = df.WithTarget(target)
		}
	}
	e := report.Explain(b, report.Options{Dockerfile: df})
	return New(e, Options{Rules: DefaultRules(), Dockerfile: df})
}

// located lists the findings as "kind step-prefix line" for comparison.
func located(r *Report) map[string]int {
	out := map[string]int{}
	for _, f := range r.Findings {
		out[f.Kind+" "+f.Step] = f.Line
	}
	return out
}

func TestLineMappingSurvivesSyntax(t *testing.T) {
	r := reportFor(t, syntaxLog, syntaxDockerfile, "")
	want := map[string]int{
		"slow-step [build 6/6] RUN <<EOF (go build -o /out/app ./cmd/app...)":              16,
		"slow-step [final 2/4] RUN apk add --no-cache       ca-certificates       tzdata":  22,
		"cache-miss [build 5/6] COPY . .":                                                  15,
		"cache-miss [final 2/4] RUN apk add --no-cache       ca-certificates       tzdata": 22,
	}
	got := located(r)
	for k, line := range want {
		if got[k] != line {
			t.Errorf("%s: line %d, want %d", k, got[k], line)
		}
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	// The same lines reach the CI outputs.
	var gh bytes.Buffer
	if _, err := WriteGitHub(&gh, r); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"line=16,", "line=22,", "line=15,"} {
		if !strings.Contains(gh.String(), "file=Dockerfile,"+l) {
			t.Errorf("GitHub output lacks file=Dockerfile,%s:\n%s", l, gh.String())
		}
	}
	doc := JUnit(r)
	lines := map[string]string{}
	for _, tc := range doc.Suites[0].Cases {
		lines[tc.Classname+" "+tc.Name] = tc.Line
	}
	for k, v := range map[string]string{
		"docker.build.stage.build FROM docker.io/library/golang:1.22@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": "7",
		"docker.build.stage.build WORKDIR /src":                                  "8",
		"docker.build.stage.build COPY go.mod go.sum ./":                         "10",
		"docker.build.stage.build RUN go mod download && go mod verify":          "11",
		"docker.build.stage.final COPY --from=build /out/app /usr/local/bin/app": "25",
		"docker.build.stage.final COPY <<EOT /etc/motd":                          "26",
	} {
		if lines[k] != v {
			t.Errorf("JUnit %s: line %q, want %q", k, lines[k], v)
		}
	}
}

// A finding whose step the Dockerfile cannot place has no line at all:
// never a guessed one.
func TestUnmatchedStepHasNoLine(t *testing.T) {
	// The final stage has another instruction count than the log's m=4,
	// and no RUN compatible with the logged one.
	other := strings.Replace(syntaxDockerfile, "RUN apk add --no-cache \\\n      ca-certificates \\\n      tzdata\n",
		"RUN apk add curl\nWORKDIR /srv\n", 1)
	r := reportFor(t, syntaxLog, other, "")
	for _, f := range r.Findings {
		if strings.Contains(f.Step, "apk add") && (f.Line != 0 || f.File != "") {
			t.Errorf("%s %s placed at %s:%d", f.Kind, f.Step, f.File, f.Line)
		}
		if strings.Contains(f.Step, "[build 6/6]") && f.Line != 16 {
			t.Errorf("%s: line %d, want 16 (the build stage still matches)", f.Step, f.Line)
		}
	}
	var gh bytes.Buffer
	if _, err := WriteGitHub(&gh, r); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(gh.String()), "\n") {
		if strings.Contains(l, "apk add") && strings.Contains(l, "file=") {
			t.Errorf("unmatched step annotated with a location: %s", l)
		}
	}
	// Without a Dockerfile nothing has a location.
	r = reportFor(t, syntaxLog, "", "")
	for _, f := range r.Findings {
		if f.Line != 0 || f.File != "" {
			t.Errorf("%s located at %s:%d without a Dockerfile", f.Step, f.File, f.Line)
		}
	}
}

const targetDockerfile = `FROM golang:1.22 AS build
RUN go build -o /app .
RUN go test ./...

FROM alpine:3.20 AS final
RUN apk add curl
RUN echo done
`

// A --target build of a multi-stage file can print steps without a stage
// label; they belong to the target stage, not the last one.
const targetLog = `#1 [internal] load build definition from Dockerfile
#1 DONE 0.0s

#2 [1/3] FROM docker.io/library/golang:1.22@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
#2 DONE 0.1s

#3 [2/3] RUN go build -o /app .
#3 DONE 12.0s

#4 [3/3] RUN go test ./...
#4 DONE 40.0s
`

func TestTargetStage(t *testing.T) {
	r := reportFor(t, targetLog, targetDockerfile, "build")
	got := located(r)
	if got["slow-step [3/3] RUN go test ./..."] != 3 || got["cache-miss [2/3] RUN go build -o /app ."] != 2 {
		t.Errorf("with --target build: %v", got)
	}
	// Read without --target, the unlabelled steps would be taken for the
	// last stage, whose [3/3] is also a RUN: no line rather than line 7.
	r = reportFor(t, targetLog, targetDockerfile, "")
	for _, f := range r.Findings {
		if f.Line != 0 {
			t.Errorf("without --target, %s %s placed at line %d", f.Kind, f.Step, f.Line)
		}
	}
	for _, tc := range JUnit(r).Suites[0].Cases {
		if tc.Line != "" {
			t.Errorf("without --target, JUnit case %s has line %s", tc.Name, tc.Line)
		}
	}
}

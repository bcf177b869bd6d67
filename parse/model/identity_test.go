package model

import (
	"strings"
	"testing"
)

func TestNormaliseImage(t *testing.T) {
	tests := map[string]string{
		"python:3.8-slim":                   "python:3.8-slim",
		"docker.io/library/python:3.8-slim": "python:3.8-slim",
		"docker.io/library/python:3.8-slim@sha256:3d0b8cc2d6e7e1d0cbd1b1a5c6b0b6f1f1e2c3d4e5f60718293a4b5c6d7e8f90": "python:3.8-slim",
		"index.docker.io/library/node:20": "node:20",
		"docker.io/acme/app:1.2":          "acme/app:1.2",
		"python":                          "python",
		"python:latest":                   "python",
		"docker.io/library/python:latest@sha256:3d0b": "python", // cut short by the tty display
		"ghcr.io/acme/base:2":                         "ghcr.io/acme/base:2",
		"localhost:5000/base":                         "localhost:5000/base",
		"${BASE_IMAGE}":                               "${BASE_IMAGE}",
		"builder":                                     "builder", // a stage
	}
	for in, want := range tests {
		if got := NormaliseImage(in); got != want {
			t.Errorf("NormaliseImage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormaliseInstruction(t *testing.T) {
	tests := []struct{ instr, args, want string }{
		{"RUN", "  npm   ci\t--omit=dev ", "RUN npm ci --omit=dev"},
		{"FROM", "--platform=$BUILDPLATFORM docker.io/library/golang:1.22@sha256:aa AS Builder", "FROM --platform=$BUILDPLATFORM golang:1.22 AS Builder"},
		{"FROM", "python:latest", "FROM python"},
		{"COPY", "--from=build /out /app", "COPY --from=build /out /app"},
		{"WORKDIR", "", "WORKDIR"},
	}
	for _, tt := range tests {
		if got := NormaliseInstruction(tt.instr, tt.args); got != tt.want {
			t.Errorf("NormaliseInstruction(%q, %q) = %q, want %q", tt.instr, tt.args, got, tt.want)
		}
	}
}

func TestIdentities(t *testing.T) {
	vs := []*Vertex{
		{Name: "[internal] load build definition from Dockerfile", Stage: "internal"},
		{Name: "[Builder 1/4] FROM docker.io/library/golang:1.22@sha256:aa", Stage: "Builder", Index: 1, Total: 4, Instruction: "FROM", Args: "docker.io/library/golang:1.22@sha256:aa"},
		{Name: "[builder 2/4] RUN make", Stage: "builder", Index: 2, Total: 4, Instruction: "RUN", Args: "make"},
		{Name: "[builder 3/4] RUN make", Stage: "builder", Index: 3, Total: 4, Instruction: "RUN", Args: "make"},
		{Name: "[linux/arm64 builder 2/4] RUN make", Platform: "linux/arm64", Stage: "builder", Index: 2, Total: 4, Instruction: "RUN", Args: "make"},
		{Name: "importing cache manifest from ghcr.io/acme/app:cache"},
		{Name: "exporting to image"},
	}
	ids := Identities(vs)
	want := []Identity{
		{Kind: KindInternal, Stage: "internal", Text: "[internal] load build definition from Dockerfile"},
		{Kind: KindStep, Stage: "builder", Instruction: "FROM", Text: "FROM golang:1.22"},
		{Kind: KindStep, Stage: "builder", Instruction: "RUN", Text: "RUN make"},
		{Kind: KindStep, Stage: "builder", Instruction: "RUN", Text: "RUN make", Occurrence: 1},
		{Kind: KindStep, Platform: "linux/arm64", Stage: "builder", Instruction: "RUN", Text: "RUN make"},
		{Kind: KindCache, Text: "importing cache manifest from ghcr.io/acme/app:cache"},
		{Kind: KindExport, Text: "exporting to image"},
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Errorf("vertex %d: identity %+v, want %+v", i, ids[i], want[i])
		}
	}
	// Position does not matter: the same step moved down keeps its key.
	moved := *vs[2]
	moved.Index, moved.Total, moved.Name = 5, 7, "[builder 5/7] RUN make"
	if got := Identities([]*Vertex{&moved})[0]; got.Key() != ids[2].Key() {
		t.Errorf("moved step has key %s, want %s", got.Key(), ids[2].Key())
	}
	if ids[2].Key() == ids[3].Key() || ids[2].Key() == ids[4].Key() {
		t.Error("distinct identities share a key")
	}
	if got := ids[3].Label(); got != "[builder] RUN make (#2)" {
		t.Errorf("Label() = %q", got)
	}
}

func TestImageDigest(t *testing.T) {
	full := "sha256:3d0b8cc2d6e7e1d0cbd1b1a5c6b0b6f1f1e2c3d4e5f60718293a4b5c6d7e8f90"
	tests := []struct {
		v    Vertex
		want string
	}{
		{Vertex{Instruction: "FROM", Args: "docker.io/library/python:3.8@" + full}, full},
		{Vertex{Instruction: "FROM", Args: "docker.io/library/python:3.8@SHA256:" + full[7:]}, ""},
		{Vertex{Instruction: "FROM", Args: "docker.io/library/python:3.8@sha256:3d0b8cc2"}, ""},
		{Vertex{Instruction: "RUN", Args: "echo @" + full}, ""},
	}
	for _, tt := range tests {
		if got := tt.v.ImageDigest(); got != tt.want {
			t.Errorf("ImageDigest(%q) = %q, want %q", tt.v.Args, got, tt.want)
		}
	}
}

// Identities of real step names: the forms BuildKit prints and the tty cuts.
func TestNormaliseInstructionRealNames(t *testing.T) {
	tests := []struct{ instr, args, want string }{
		{"FROM", "docker.io/library/node:20-alpine@sha256:df02558528d3d3d0d621f112e232611aecfee7cbc654f6b375765f72bb262799", "FROM node:20-alpine"},
		{"FROM", "docker.io/library/node:20-alpine@sha256:3c77a043da159c2fc", "FROM node:20-alpine"}, // cut by the tty
		{"FROM", "ghcr.io/prefix-dev/pixi:latest@sha256:e8857b9ba407f92958feb0098c816cae713264251d43bb42217bcedfc8a719fd", "FROM ghcr.io/prefix-dev/pixi"},
		{"FROM", "docker.io/n8nio/base:22.21.0", "FROM n8nio/base:22.21.0"},
		{"RUN", "cd /usr/local/lib/node_modules/n8n && \t\tnpm   rebuild", "RUN cd /usr/local/lib/node_modules/n8n && npm rebuild"},
		{"RUN", "--mount=type=cache,target=/root/.cache  go build ./...", "RUN --mount=type=cache,target=/root/.cache go build ./..."},
		{"COPY", "--from=builder /out /usr/bin", "COPY --from=builder /out /usr/bin"},
	}
	for _, tc := range tests {
		if got := NormaliseInstruction(tc.instr, tc.args); got != tc.want {
			t.Errorf("NormaliseInstruction(%q, %q) = %q, want %q", tc.instr, tc.args, got, tc.want)
		}
	}
	if got := normaliseName("exporting  manifest sha256:8576c22fbe22edf8bc4d1fa22d58bdc033a3b0d0dc0581a05a50dabcaa48adb8"); got != "exporting manifest sha256:…" {
		t.Errorf("normaliseName = %q", got)
	}
	// The same text in another stage or platform is another step.
	vs := []*Vertex{
		{Stage: "a", Index: 1, Total: 3, Instruction: "RUN", Args: "apt-get update"},
		{Stage: "a", Index: 2, Total: 3, Instruction: "RUN", Args: "apt-get update"},
		{Stage: "b", Index: 1, Total: 1, Instruction: "RUN", Args: "apt-get update"},
	}
	ids := Identities(vs)
	if ids[0].Occurrence != 0 || ids[1].Occurrence != 1 || ids[2].Occurrence != 0 || ids[0].Key() == ids[1].Key() || ids[0].Key() == ids[2].Key() {
		t.Errorf("identities: %+v", ids)
	}
}

// A step whose name tty output cut takes the identity of the one full step
// it abbreviates, and only then.
func TestResolveTruncated(t *testing.T) {
	step := func(stage, args string, cut bool) *Vertex {
		return &Vertex{Name: "[" + stage + " 2/3] RUN " + args, Stage: stage, Index: 2, Total: 3, Instruction: "RUN", Args: args, NameTruncated: cut}
	}
	known := Identities([]*Vertex{
		step("build", "npm ci --omit=dev --no-audit", false),
		step("build", "npm run build -- --mode production", false),
		step("test", "npm run build -- --mode test", false),
		step("test", "npm run build -- --mode testing", false),
	})
	for _, c := range []struct {
		name string
		v    *Vertex
		want string // the resolved text; "" for unchanged
	}{
		{"one full step fits", step("build", "npm ci --omit=d", true), "RUN npm ci --omit=dev --no-audit"},
		{"stage names differ in case only", step("Build", "npm ci --omit=d", true), "RUN npm ci --omit=dev --no-audit"},
		{"two full steps fit", step("test", "npm run build -- --mode te", true), ""},
		{"another stage", step("lint", "npm ci --omit=d", true), ""},
		{"not cut", step("build", "npm ci --omit=d", false), ""},
		{"too short to tell", step("build", "npm", true), ""},
		{"text that no full step starts with", step("build", "npm ci --only=prod", true), ""},
	} {
		vs := []*Vertex{c.v}
		ids := Identities(vs)
		before := ids[0]
		n := ResolveTruncated(vs, ids, known)
		switch {
		case c.want == "" && (n != 0 || ids[0] != before):
			t.Errorf("%s: resolved to %q", c.name, ids[0].Text)
		case c.want != "" && (n != 1 || ids[0].Text != c.want):
			t.Errorf("%s: %q (%d), want %q", c.name, ids[0].Text, n, c.want)
		}
	}
}

// The single-spaced fast path gives what splitting and joining gives.
func FuzzNormaliseInstructionFastPath(f *testing.F) {
	for _, s := range []string{"", "npm ci", " npm ci", "npm  ci", "npm ci ", "a\tb", "a\u00a0b", "a\u2003b", "--mount=type=cache,target=/root go build ./...", "x\n", "é é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, args string) {
		want := "RUN"
		if fields := strings.Fields(args); len(fields) > 0 {
			want += " " + strings.Join(fields, " ")
		}
		if got := NormaliseInstruction("RUN", args); got != want {
			t.Errorf("NormaliseInstruction(RUN, %q) = %q, want %q", args, got, want)
		}
	})
}

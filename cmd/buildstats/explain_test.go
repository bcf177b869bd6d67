package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/store/postgres/pgtest"
)

const (
	seedLog        = "../../fixtures/seed/tty-seed-python-docker-demo.log"
	seedDockerfile = "../../fixtures/seed/Dockerfile.python-docker-demo"
)

func TestMain(m *testing.M) {
	// Pin tablewriter's width rules so output does not depend on locale.
	os.Setenv("RUNEWIDTH_EASTASIAN", "0")
	pgtest.Main(m) // stops the private PostgreSQL server if a test started one
}

type result struct {
	code     int
	out, err string
}

// run executes buildstats with args on buffers, the way main does on the
// process streams.
func run(t *testing.T, stdin io.Reader, env map[string]string, terminal bool, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	wd, _ := os.Getwd()
	app := &cli.Factory{
		IO:      cli.IOStreams{In: stdin, Out: &out, ErrOut: &errOut, OutIsTerminal: terminal},
		WorkDir: wd,
		Getenv:  func(k string) string { return env[k] },
		Now:     func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) },
	}
	code := Execute(context.Background(), app, args)
	return result{code, out.String(), errOut.String()}
}

func TestExplainTable(t *testing.T) {
	r := run(t, nil, nil, false, "explain", seedLog)
	if r.code != 0 || r.err != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.err)
	}
	for _, want := range []string{"Build succeeded in 11.7s", "3 ran, 0 cached", "context 392 B", "[1/3] FROM", "6.2s", "cache break", "No step came from the cache"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "\x1b[") {
		t.Error("colour written to a non-terminal")
	}
}

func TestExplainJSONContract(t *testing.T) {
	r := run(t, nil, nil, false, "explain", "--format", "json", "--dockerfile", seedDockerfile, seedLog)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var got struct {
		Format          string   `json:"format"`
		Status          string   `json:"status"`
		DurationSeconds *float64 `json:"duration_seconds"`
		Steps           []map[string]json.RawMessage
		CacheBreaks     []map[string]json.RawMessage `json:"cache_breaks"`
		Advice          []map[string]json.RawMessage `json:"advice"`
	}
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r.out)
	}
	if got.Format != "tty" || got.Status != "succeeded" || got.DurationSeconds == nil || *got.DurationSeconds != 11.7 {
		t.Errorf("format %q status %q duration %v", got.Format, got.Status, got.DurationSeconds)
	}
	if len(got.Steps) != 8 {
		t.Fatalf("%d steps, want 8", len(got.Steps))
	}
	for _, k := range []string{"name", "stage", "platform", "index", "total", "instruction", "cached", "error", "duration_seconds", "transfers", "line", "exit_code"} {
		if _, ok := got.Steps[3][k]; !ok {
			t.Errorf("step lacks %q", k)
		}
	}
	if string(got.Steps[3]["name"]) != `"[1/3] FROM docker.io/library/python:3.8-slim@sha256:dc927c886433ecf28f70ba5b659dc5f1b8fa1a47bed65ccb7aa01650169aeb6f"` ||
		string(got.Steps[3]["index"]) != "1" || string(got.Steps[3]["line"]) != "2" || string(got.Steps[3]["stage"]) != "null" {
		t.Errorf("FROM step = %s", got.Steps[3])
	}
	if string(got.Steps[0]["index"]) != "null" || string(got.Steps[0]["transfers"]) == "null" {
		t.Errorf("internal step = %s", got.Steps[0])
	}
	if len(got.CacheBreaks) != 1 || string(got.CacheBreaks[0]["rebuilt_seconds"]) != "6.7" || string(got.CacheBreaks[0]["line"]) != "2" {
		t.Errorf("cache breaks = %s", got.CacheBreaks)
	}
	for _, a := range got.Advice {
		for _, k := range []string{"step", "line", "message"} {
			if _, ok := a[k]; !ok {
				t.Errorf("advice lacks %q: %s", k, a)
			}
		}
	}
}

func TestExplainMarkdown(t *testing.T) {
	r := run(t, nil, nil, false, "explain", "--format=markdown", seedLog)
	if r.code != 0 || !strings.HasPrefix(r.out, "# Build explanation\n") || !strings.Contains(r.out, "| \\[3/3\\] COPY . . | ran | 0.1s |") {
		t.Errorf("exit %d, output:\n%s", r.code, r.out)
	}
}

func TestExplainStdin(t *testing.T) {
	log, err := os.ReadFile(seedLog)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, bytes.NewReader(log), nil, false, "explain", "--format", "json", "-")
	if r.code != 0 || !strings.Contains(r.out, `"duration_seconds": 11.7`) {
		t.Errorf("exit %d stderr %q", r.code, r.err)
	}
	r = run(t, strings.NewReader(""), nil, false, "explain", "-")
	if r.code != 2 || !strings.Contains(r.err, "stdin: not a Docker or BuildKit build log") {
		t.Errorf("empty stdin: exit %d stderr %q", r.code, r.err)
	}
}

func TestExplainInputFormatOverride(t *testing.T) {
	r := run(t, nil, nil, false, "explain", "--input-format", "tty", "--format", "json", seedLog)
	if r.code != 0 || !strings.Contains(r.out, `"format": "tty"`) {
		t.Errorf("exit %d stderr %q", r.code, r.err)
	}
	// Read as a legacy log, the tty output holds no steps.
	r = run(t, nil, nil, false, "explain", "--input-format", "legacy", seedLog)
	if r.code != 2 || !strings.Contains(r.err, "not a Docker or BuildKit build log: no legacy build steps found") {
		t.Errorf("wrong forced format: exit %d stderr %q", r.code, r.err)
	}
}

func TestExplainColour(t *testing.T) {
	r := run(t, nil, nil, true, "explain", seedLog)
	if !strings.Contains(r.out, "\x1b[32mBuild succeeded\x1b[0m") {
		t.Errorf("no colour on a terminal:\n%s", r.out)
	}
	r = run(t, nil, map[string]string{"NO_COLOR": "1"}, true, "explain", seedLog)
	if strings.Contains(r.out, "\x1b[") {
		t.Error("colour despite NO_COLOR")
	}
	r = run(t, nil, nil, true, "explain", "--format", "json", seedLog)
	if strings.Contains(r.out, "\x1b[") {
		t.Error("colour in JSON")
	}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Bad input: one "buildstats: ..." line on stderr, nothing on stdout,
// exit status 2.
func TestExplainBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"binary", []string{"explain", writeFile(t, "a.bin", []byte{0x7f, 'E', 'L', 'F', 0, 0, 1, 2, 0xff, 0xfe})}, "binary"},
		{"empty", []string{"explain", writeFile(t, "empty.log", nil)}, "empty"},
		{"html", []string{"explain", writeFile(t, "page.html", []byte("<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n"))}, "HTML"},
		{"not a log", []string{"explain", "../../fixtures/buildkit-probe/buildctl-du.txt"}, "not a Docker or BuildKit build log"},
		{"missing file", []string{"explain", filepath.Join(dir, "nope.log")}, "nope.log: no such file"},
		{"directory", []string{"explain", dir}, "is a directory"},
		{"missing Dockerfile", []string{"explain", "--dockerfile", filepath.Join(dir, "Dockerfile"), seedLog}, "reading Dockerfile"},
		{"broken Dockerfile", []string{"explain", "--dockerfile", writeFile(t, "Dockerfile", []byte("FROM scratch\nCOPYY a b\n")), seedLog}, "reading Dockerfile"},
		{"bad format", []string{"explain", "--format", "yaml", seedLog}, `unknown output format "yaml"`},
		{"bad input format", []string{"explain", "--input-format", "xml", seedLog}, `unknown input format "xml"`},
		{"no file", []string{"explain"}, "accepts 1 arg(s)"},
		{"two files", []string{"explain", seedLog, seedLog}, "accepts 1 arg(s)"},
		{"unknown flag", []string{"explain", "--colour", seedLog}, "unknown flag: --colour"},
		{"unknown command", []string{"explian", seedLog}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, nil, nil, false, tt.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", r.code, r.err)
			}
			if !strings.HasPrefix(r.err, "buildstats: ") || strings.Count(r.err, "\n") != 1 || !strings.Contains(r.err, tt.want) {
				t.Errorf("stderr = %q, want one buildstats: line with %q", r.err, tt.want)
			}
			if r.out != "" {
				t.Errorf("stdout = %q, want nothing", r.out)
			}
		})
	}
}

func TestRootHelp(t *testing.T) {
	r := run(t, nil, nil, false)
	if r.code != 0 || !strings.Contains(r.out, "explain") {
		t.Errorf("exit %d, help:\n%s", r.code, r.out)
	}
	r = run(t, nil, nil, false, "explain", "--help")
	if r.code != 0 || !strings.Contains(r.out, "--dockerfile") || !strings.Contains(r.out, "--input-format") {
		t.Errorf("exit %d, help:\n%s", r.code, r.out)
	}
}

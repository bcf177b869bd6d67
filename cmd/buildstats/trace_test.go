package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/report/otlp/otlptest"
)

// buildstats links no OpenTelemetry: trace, and ingest given --otlp, run in
// buildstats-live, which sends to a real collector; ingest without --otlp
// stays here.
func TestTraceRunsInBuildstatsLive(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both programs")
	}
	col := otlptest.Start(t)
	dir := t.TempDir()
	for _, pkg := range []string{".", "../buildstats-live"} {
		if out, err := exec.Command("go", "build", "-o", dir+"/", pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	bs, db := filepath.Join(dir, "buildstats"), filepath.Join(dir, "h.db")
	env := append(os.Environ(), "HOME="+dir, "CI=", "GITHUB_ACTIONS=")
	runBS := func(args ...string) (string, int) {
		cmd := exec.Command(bs, args...)
		cmd.Env = env
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}

	log := abs(t, "../../fixtures/buildkit-probe/run-fail-rawjson.jsonl")
	out, code := runBS("--no-mask", "ingest", "--db", db, "--project", "shop", "--otlp", "grpc://"+col.GRPC, log)
	if code != 0 || !strings.Contains(out, "stored as #1") || !strings.Contains(out, "build #1: sent as trace ") {
		t.Fatalf("ingest --otlp: exit %d\n%s", code, out)
	}
	out, code = runBS("trace", "--db", db, "--all-projects", "--otlp", "http://"+col.HTTP, "1")
	if code != 0 || !strings.Contains(out, "build #1: sent as trace ") {
		t.Fatalf("trace: exit %d\n%s", code, out)
	}
	spans := col.Spans(12)
	if len(spans) != 12 || spans[0].TraceID != spans[11].TraceID {
		t.Errorf("%d spans received, want the same trace of 6 twice", len(spans))
	}
	if out, code := runBS("trace", "--help"); code != 0 || !strings.Contains(out, "--otlp-protocol") {
		t.Errorf("trace --help: exit %d\n%s", code, out)
	}
	if out, _ := runBS("--help"); !strings.Contains(out, "trace ") {
		t.Errorf("help does not list trace:\n%s", out)
	}

	// Without buildstats-live, ingest still works without --otlp and says
	// where --otlp runs.
	os.Remove(filepath.Join(dir, "buildstats-live"))
	env = append(env, "PATH=/nonexistent")
	if out, code := runBS("ingest", "--db", db, abs(t, coldLog)); code != 0 || !strings.Contains(out, "stored as #2") {
		t.Errorf("ingest without buildstats-live: exit %d\n%s", code, out)
	}
	if out, code := runBS("ingest", "--db", db, "--otlp", "grpc://"+col.GRPC, abs(t, failLog)); code != 2 || !strings.Contains(out, "buildstats-live") {
		t.Errorf("ingest --otlp without buildstats-live: exit %d\n%s", code, out)
	}
}

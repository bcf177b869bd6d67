package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildstats runs build, import and layers in buildstats-live, found next
// to it, with the same arguments, streams and exit status; without it, it
// says how to install it.
func TestLiveCommandsRunInBuildstatsLive(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both programs")
	}
	dir := t.TempDir()
	for _, pkg := range []string{".", "../buildstats-live"} {
		if out, err := exec.Command("go", "build", "-o", dir+"/", pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	bs := filepath.Join(dir, "buildstats")
	out, err := exec.Command(bs, "layers", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Layers reads a local image's history") || !strings.Contains(string(out), "--addr") {
		t.Errorf("layers --help through buildstats-live: %v\n%s", err, out)
	}
	cmd := exec.Command(bs, "build", "--addr", "unix://"+filepath.Join(dir, "none.sock"), "--no-store", dir)
	cmd.Env = append(os.Environ(), "BUILDKIT_HOST=")
	out, err = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 || strings.Count(string(out), "buildstats: ") != 1 {
		t.Errorf("build without a daemon: exit %d, %v\n%s", code, err, out)
	}
	if out, _ := exec.Command(bs, "--help").CombinedOutput(); !strings.Contains(string(out), "build ") || !strings.Contains(string(out), "import ") {
		t.Errorf("help does not list the live commands:\n%s", out)
	}

	// Without buildstats-live.
	os.Remove(filepath.Join(dir, "buildstats-live"))
	cmd = exec.Command(bs, "layers", "app")
	cmd.Env = append(os.Environ(), "PATH=/nonexistent")
	out, _ = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "go install ./cmd/...") {
		t.Errorf("without buildstats-live: exit %d\n%s", code, out)
	}
}

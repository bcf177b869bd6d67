package parse

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden from the current parser output")

// fixtureLogs lists every build log the repository ships: real logs people
// posted, the tutorial seed, and the output of a real buildkitd/dockerd.
func fixtureLogs(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"../fixtures/real/*.log", "../fixtures/seed/*.log", "../fixtures/buildkit-probe/*.log", "../fixtures/buildkit-probe/*.jsonl", "../fixtures/generated/*.log", "../fixtures/generated/*.jsonl"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 40 {
		t.Fatalf("found only %d fixture logs; is ../fixtures there?", len(files))
	}
	return files
}

func goldenName(path string) string {
	dir := filepath.Base(filepath.Dir(path))
	return filepath.Join("testdata", "golden", dir+"__"+filepath.Base(path)+".golden")
}

// TestGolden parses every fixture and compares the whole model, as JSON,
// with a reviewed golden file. Regenerate with `go test ./parse -update`
// and read the diff.
func TestGolden(t *testing.T) {
	for _, path := range fixtureLogs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got := renderGolden(t, path)
			golden := goldenName(path)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("missing golden file (run go test ./parse -update): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s; rerun with -update and review the diff\n%s", path, golden, firstDiff(string(want), string(got)))
			}
		})
	}
}

func renderGolden(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	builds, err := ParseAll(f, Options{})
	var out bytes.Buffer
	if err != nil {
		out.WriteString("error: " + err.Error() + "\n")
		return out.Bytes()
	}
	// One JSON document per build: logs with several builds show each.
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	for _, b := range builds {
		if err := enc.Encode(b); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestGeneratedStatusMatchesExitCode checks every log fixtures/regenerate.sh
// recorded from real daemons against the exit status of the command that
// printed it: exit 0 must parse as succeeded, anything else as failed.
func TestGeneratedStatusMatchesExitCode(t *testing.T) {
	index := string(readFile(t, "../fixtures/generated/README.txt"))
	checked := 0
	for _, line := range strings.Split(index, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasPrefix(f[1], "[exit") || !(strings.HasSuffix(f[0], ".log") || strings.HasSuffix(f[0], ".jsonl")) {
			continue
		}
		code := strings.TrimSuffix(f[2], ",")
		b, err := Parse(bytes.NewReader(readFile(t, "../fixtures/generated/"+f[0])), Options{})
		if err != nil {
			t.Errorf("%s: %v", f[0], err)
			continue
		}
		want := "succeeded"
		if code != "0" {
			want = "failed"
		}
		if string(b.Status) != want {
			t.Errorf("%s: exit %s, parsed status %s", f[0], code, b.Status)
		}
		checked++
	}
	if checked < 15 {
		t.Fatalf("checked only %d generated logs", checked)
	}
}

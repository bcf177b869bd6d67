package safetest

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Corpus is the hostile-input corpus in fixtures/hostile.
type Corpus struct {
	// Logs are the paths of its build logs, sorted.
	Logs []string
	// Secrets are the fake secret values the logs print (tokens.txt):
	// pass them to Check as Options.Secrets.
	Secrets []string
}

// LoadCorpus reads the corpus in dir (fixtures/hostile, relative to the
// calling test's package). Every file but README.txt and tokens.txt is a
// build log.
func LoadCorpus(t testing.TB, dir string) Corpus {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var c Corpus
	for _, e := range ents {
		if e.IsDir() || e.Name() == "README.txt" || e.Name() == "tokens.txt" {
			continue
		}
		c.Logs = append(c.Logs, filepath.Join(dir, e.Name()))
	}
	sort.Strings(c.Logs)
	f, err := os.Open(filepath.Join(dir, "tokens.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		_, value, ok := strings.Cut(line, "\t")
		if !ok || value == "" {
			t.Fatalf("tokens.txt: %q is not name<TAB>value", line)
		}
		c.Secrets = append(c.Secrets, value)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(c.Logs) < 6 || len(c.Secrets) < 20 {
		t.Fatalf("%s: %d logs and %d secrets: is the corpus there?", dir, len(c.Logs), len(c.Secrets))
	}
	return c
}

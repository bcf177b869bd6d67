package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The pairs of real builds in fixtures/dockerbuild (made by
// cmd/buildstats-live's TestCausesFromRealBuilds against buildkitd, see its
// README), read back without a daemon: the .dockerbuild files alone, and
// the plain logs alone. Each source names what it can know.
const causeFixtures = "../../fixtures/dockerbuild"

type fixtureCause struct {
	kind, conf string
}

var fixturePairs = []struct {
	name string
	// file: from the two .dockerbuild files (the record has the build
	// args, --no-cache, the Dockerfile and named contexts, not the
	// context's files).
	file fixtureCause
	// log: from the two plain logs with no flags (digests and step texts
	// only).
	log fixtureCause
}{
	{"file-under-a-copy", fixtureCause{"context_files", "likely"}, fixtureCause{"context_files", "likely"}},
	{"file-under-the-first-step-s-copy", fixtureCause{"context_files", "likely"}, fixtureCause{"context_files", "likely"}},
	{"file-mode", fixtureCause{"context_files", "likely"}, fixtureCause{"context_files", "likely"}},
	{"file-a-run-bind-mounts", fixtureCause{"context_files", "likely"}, fixtureCause{"context_files", "likely"}},
	{"file-excluded-by--dockerignore", fixtureCause{}, fixtureCause{}},
	{"build-arg", fixtureCause{"build_arg", "exact"}, fixtureCause{"instruction", "likely"}},
	{"build-arg-the-step-s-text-does-not-show", fixtureCause{"build_arg", "exact"}, fixtureCause{"instruction", "likely"}},
	{"base-image", fixtureCause{"base_image", "exact"}, fixtureCause{"base_image", "exact"}},
	// A log alone does not show an ENV: nothing it holds says why.
	{"env-before-the-step", fixtureCause{"build_arg", "exact"}, fixtureCause{"unknown", "unknown"}},
	{"edited-instruction", fixtureCause{"instruction", "exact"}, fixtureCause{"instruction", "likely"}},
	{"new-step", fixtureCause{"instruction", "exact"}, fixtureCause{"instruction", "likely"}},
	{"pruned-cache", fixtureCause{"cache_unavailable", "likely"}, fixtureCause{"cache_unavailable", "likely"}},
	// A log does not say --no-cache, and without the context recorded an
	// incremental transfer does not tell it from a changed file: the
	// cause is a guess, and says it may be --no-cache (plain logs with
	// --context name it; see TestCausesFromRealBuilds).
	{"no-cache", fixtureCause{"no_cache", "exact"}, fixtureCause{"context_files", "likely"}},
}

func explainedCause(t *testing.T, out string) *fixtureCause {
	t.Helper()
	var e struct {
		CacheBreaks []struct {
			Cause struct {
				Kind       string `json:"kind"`
				Confidence string `json:"confidence"`
				Message    string `json:"message"`
			} `json:"cause"`
		} `json:"cache_breaks"`
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("not explain's JSON: %v\n%s", err, out)
	}
	if len(e.CacheBreaks) == 0 {
		return &fixtureCause{}
	}
	c := e.CacheBreaks[0].Cause
	if strings.Contains(c.Message, "secret-") {
		t.Errorf("the cause quotes a secret value: %s", c.Message)
	}
	return &fixtureCause{c.Kind, c.Confidence}
}

func TestCausesFromDockerbuildFixtures(t *testing.T) {
	for _, p := range fixturePairs {
		t.Run(p.name, func(t *testing.T) {
			h := newHistory(t)
			for i := 1; i <= 2; i++ {
				f := filepath.Join(causeFixtures, p.name+"-"+string(rune('0'+i))+".dockerbuild")
				r := h.ok("ingest", "--project", "p", f)
				if !strings.Contains(r.out, "read from a .dockerbuild file") {
					t.Errorf("ingest %s: %s", f, r.out)
				}
			}
			got := explainedCause(t, h.ok("show", "--project", "p", "--format", "json", "latest").out)
			if *got != p.file {
				t.Errorf("from the .dockerbuild files: %+v, want %+v", *got, p.file)
			}
			// The same builds again are stored once: they are known by
			// their history refs.
			r := h.ok("ingest", "--project", "p", filepath.Join(causeFixtures, p.name+"-2.dockerbuild"))
			if !strings.Contains(r.out, "already stored") {
				t.Errorf("a second ingest of the same build: %s", r.out)
			}
		})
	}
}

func TestCausesFromLogFixtures(t *testing.T) {
	for _, p := range fixturePairs {
		t.Run(p.name, func(t *testing.T) {
			h := newHistory(t)
			dir := t.TempDir()
			// Copies with file times in order: a plain log has no times of
			// its own, and ingest dates it by its file.
			var logs [2]string
			for i := range logs {
				data, err := os.ReadFile(filepath.Join(causeFixtures, p.name+"-"+string(rune('1'+i))+".log"))
				if err != nil {
					t.Fatal(err)
				}
				logs[i] = filepath.Join(dir, string(rune('1'+i))+".log")
				os.WriteFile(logs[i], data, 0o644)
				at := time.Date(2026, 11, 20, 10, i, 0, 0, time.UTC)
				os.Chtimes(logs[i], at, at)
			}
			h.ok("ingest", "--project", "p", logs[0])
			got := explainedCause(t, h.ok("explain", "--project", "p", "--format", "json", logs[1]).out)
			if *got != p.log {
				t.Errorf("from the plain logs: %+v, want %+v", *got, p.log)
			}
		})
	}
}

// The CI flow with contexts recorded at ingest: explaining a stored log
// later, without --context, still names the files, from the stored
// manifests.
func TestCausesFromStoredContexts(t *testing.T) {
	h := newHistory(t)
	dir := t.TempDir()
	ctxDir := func(name, content string) string {
		d := filepath.Join(dir, name)
		os.MkdirAll(filepath.Join(d, "src"), 0o755)
		os.WriteFile(filepath.Join(d, "src", "app.txt"), []byte(content), 0o644)
		os.WriteFile(filepath.Join(d, "src", "other.txt"), []byte("x\n"), 0o644)
		os.WriteFile(filepath.Join(d, "busybox"), []byte("not the real one"), 0o755)
		return d
	}
	first, second := ctxDir("a", "one\n"), ctxDir("b", "two, longer\n")
	var logs [2]string
	for i := range logs {
		data, err := os.ReadFile(filepath.Join(causeFixtures, "file-under-a-copy-"+string(rune('1'+i))+".log"))
		if err != nil {
			t.Fatal(err)
		}
		logs[i] = filepath.Join(dir, string(rune('1'+i))+".log")
		os.WriteFile(logs[i], data, 0o644)
		at := time.Date(2026, 11, 20, 10, i, 0, 0, time.UTC)
		os.Chtimes(logs[i], at, at)
	}
	h.ok("ingest", "--project", "p", "--context", first, logs[0])
	h.ok("ingest", "--project", "p", "--context", second, logs[1])
	out := h.ok("explain", "--project", "p", "--format", "json", logs[1]).out
	var e struct {
		History *struct {
			Basis string `json:"basis"`
		} `json:"history"`
		CacheBreaks []struct {
			Cause struct {
				Kind       string   `json:"kind"`
				Confidence string   `json:"confidence"`
				Files      []string `json:"files"`
				Previous   *int64   `json:"previous_build"`
			} `json:"cause"`
		} `json:"cache_breaks"`
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil || len(e.CacheBreaks) == 0 {
		t.Fatalf("%v\n%s", err, out)
	}
	c := e.CacheBreaks[0].Cause
	if e.History == nil || e.History.Basis != "previous" || c.Kind != "context_files" || c.Confidence != "exact" ||
		len(c.Files) != 1 || c.Files[0] != "src/app.txt" || c.Previous == nil || *c.Previous != 1 {
		t.Errorf("cause %+v, history %+v", c, e.History)
	}
	// And the causes were stored for misses --by-cause.
	r := h.ok("misses", "--project", "p", "--by-cause", "--since", "2026-11-01", "--format", "json")
	var bc struct {
		Causes []struct {
			Kind string  `json:"kind"`
			Area *string `json:"area"`
		} `json:"causes"`
	}
	json.Unmarshal([]byte(r.out), &bc)
	// The first build had none to compare with: nothing came from the
	// cache; the second's break came from src/.
	var kinds []string
	for _, c := range bc.Causes {
		area := ""
		if c.Area != nil {
			area = *c.Area
		}
		kinds = append(kinds, c.Kind+" "+area)
	}
	if strings.Join(kinds, ", ") != "cache_unavailable , context_files src/" {
		t.Errorf("misses --by-cause: %q\n%s", kinds, r.out)
	}
}

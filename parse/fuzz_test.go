package parse

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/buildstats/buildstats/parse/model"
)

// addSeeds gives each fuzz target the real fixtures as its corpus.
func addSeeds(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, _ := filepath.Glob(p)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err == nil && len(data) < 256<<10 {
				f.Add(data)
			}
		}
	}
}

// checkBuild asserts invariants every parse result must hold.
func checkBuild(t *testing.T, b *model.Build) {
	if b == nil {
		t.Fatal("nil build without error")
	}
	switch b.Status {
	case model.StatusSucceeded, model.StatusFailed, model.StatusUnknown:
	default:
		t.Fatalf("status %q", b.Status)
	}
	for _, v := range b.Vertices {
		if len(v.Output) > model.OutputTailLines {
			t.Fatalf("output tail %d lines", len(v.Output))
		}
		if v.Duration < 0 {
			t.Fatalf("negative duration")
		}
	}
}

func FuzzParse(f *testing.F) {
	addSeeds(f, "../fixtures/*/*.log", "../fixtures/*/*.jsonl")
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse(bytes.NewReader(data), Options{})
		if err == nil {
			checkBuild(t, b)
		}
	})
}

func FuzzParsePlain(f *testing.F) {
	addSeeds(f, "../fixtures/*/plain-*.log", "../fixtures/real/ci-*.log")
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParsePlain(bytes.NewReader(data))
		if err == nil {
			checkBuild(t, b)
		}
	})
}

func FuzzParseTTY(f *testing.F) {
	addSeeds(f, "../fixtures/*/tty-*.log", "../fixtures/buildkit-probe/*tty*.log")
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseTTY(bytes.NewReader(data))
		if err == nil {
			checkBuild(t, b)
		}
	})
}

func FuzzParseRawJSON(f *testing.F) {
	addSeeds(f, "../fixtures/buildkit-probe/*.jsonl")
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseRawJSON(bytes.NewReader(data))
		if err == nil {
			checkBuild(t, b)
		}
	})
}

func FuzzParseLegacy(f *testing.F) {
	addSeeds(f, "../fixtures/*/legacy-*.log", "../fixtures/buildkit-probe/docker-legacy-*.log")
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseLegacy(bytes.NewReader(data))
		if err == nil {
			checkBuild(t, b)
		}
	})
}

func FuzzDetect(f *testing.F) {
	addSeeds(f, "../fixtures/*/*.log")
	f.Fuzz(func(t *testing.T, data []byte) {
		format, err := Detect(data)
		if err == nil && format == "" {
			t.Fatal("no format and no error")
		}
	})
}

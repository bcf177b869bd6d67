package model

import (
	"testing"
	"time"
)

func TestWallTime(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		b     Build
		want  time.Duration
		basis string
	}{
		{"stated", Build{Duration: 11700 * time.Millisecond, HasDuration: true}, 11700 * time.Millisecond, WallTimeLog},
		{"build times", Build{Started: t0, Completed: t0.Add(3 * time.Second)}, 3 * time.Second, WallTimeLog},
		{"vertex span beats the sum of overlapping vertices", Build{Vertices: []*Vertex{
			{Started: t0, Ended: t0.Add(2 * time.Second), Duration: 2 * time.Second, HasDuration: true},
			{Started: t0.Add(time.Second), Duration: 2 * time.Second, HasDuration: true},
		}}, 3 * time.Second, WallTimeTimestamps},
		{"sum without times", Build{Vertices: []*Vertex{
			{Duration: 2 * time.Second, HasDuration: true},
			{Duration: 500 * time.Millisecond, HasDuration: true},
			{},
		}}, 2500 * time.Millisecond, WallTimeSum},
		{"nothing known", Build{Vertices: []*Vertex{{}}}, 0, ""},
	}
	for _, tc := range tests {
		d, basis := tc.b.WallTime()
		if d != tc.want || basis != tc.basis {
			t.Errorf("%s: WallTime() = %v, %q; want %v, %q", tc.name, d, basis, tc.want, tc.basis)
		}
	}
}

func TestAddOutputKeepsTail(t *testing.T) {
	var v Vertex
	for i := range OutputTailLines + 5 {
		v.AddOutput(string(rune('a' + i)))
	}
	if v.OutputLines != OutputTailLines+5 || len(v.Output) != OutputTailLines || v.Output[0] != "f" {
		t.Fatalf("%d lines, kept %d, first %q", v.OutputLines, len(v.Output), v.Output[0])
	}
}

func TestContextBytes(t *testing.T) {
	b := Build{Vertices: []*Vertex{
		{Name: "[internal] load .dockerignore", Transfers: []Transfer{{Name: "transferring context", Bytes: 2}}},
		{Name: "[internal] load build context", Transfers: []Transfer{{Name: "transferring context", Bytes: 392}}},
	}}
	if got := b.ContextBytes(); got != 392 {
		t.Errorf("ContextBytes = %d, want 392 (not the .dockerignore transfer)", got)
	}
	if got := (&Build{}).ContextBytes(); got != -1 {
		t.Errorf("ContextBytes of an empty build = %d, want -1", got)
	}
}

func TestWallTimeDerivedFromTimestamps(t *testing.T) {
	b := Build{Duration: 90 * time.Second, HasDuration: true, DurationFromTimestamps: true}
	if d, basis := b.WallTime(); d != 90*time.Second || basis != WallTimeTimestamps {
		t.Errorf("WallTime() = %v, %q; want 1m30s from timestamps", d, basis)
	}
}

func TestSumsSaturate(t *testing.T) {
	if got := AddDurations(MaxDuration, time.Hour); got != MaxDuration {
		t.Errorf("AddDurations saturates at %v, got %v", MaxDuration, got)
	}
	if got := AddDurations(time.Second, time.Second); got != 2*time.Second {
		t.Errorf("AddDurations(1s, 1s) = %v", got)
	}
	if got := AddBytes(MaxBytes-1, 10); got != MaxBytes {
		t.Errorf("AddBytes saturates at %d, got %d", MaxBytes, got)
	}
	b := Build{Vertices: []*Vertex{{Duration: MaxDuration, HasDuration: true}, {Duration: MaxDuration, HasDuration: true}}}
	if d, basis := b.WallTime(); d != MaxDuration || basis != WallTimeSum {
		t.Errorf("WallTime of two maximal vertices = %v, %q", d, basis)
	}
}

func TestResolvedLocally(t *testing.T) {
	tests := []struct {
		name string
		v    Vertex
		want bool
	}{
		{"FROM in 0.0s", Vertex{Instruction: "FROM", Completed: true, HasDuration: true}, true},
		{"FROM that pulled", Vertex{Instruction: "FROM", Completed: true, HasDuration: true, Duration: 4 * time.Second,
			Transfers: []Transfer{{Name: "sha256:ab", Bytes: 29e6, Total: 29e6}}}, false},
		{"FROM that took time", Vertex{Instruction: "FROM", Completed: true, HasDuration: true, Duration: time.Second}, false},
		{"cached FROM", Vertex{Instruction: "FROM", Completed: true, Cached: true}, false},
		{"legacy FROM, no output", Vertex{Instruction: "FROM", Completed: true}, true},
		{"legacy FROM that pulled", Vertex{Instruction: "FROM", Completed: true, OutputLines: 5}, false},
		{"failed FROM", Vertex{Instruction: "FROM", Completed: true, Error: "not found"}, false},
		{"RUN", Vertex{Instruction: "RUN", Completed: true, HasDuration: true}, false},
	}
	for _, tc := range tests {
		if got := tc.v.ResolvedLocally(); got != tc.want {
			t.Errorf("%s: ResolvedLocally() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Times that span more than MaxDuration are not a build's: WallTime does
// not report them.
func TestWallTimeRejectsAbsurdSpans(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := Build{Vertices: []*Vertex{{Started: t0}, {Started: t0.AddDate(1, 0, 0)}}}
	if d, basis := b.WallTime(); basis == WallTimeTimestamps {
		t.Errorf("a year-long span became a wall time %v", d)
	}
	b = Build{Started: t0, Completed: t0.AddDate(0, 3, 0)}
	if d, basis := b.WallTime(); basis == WallTimeLog {
		t.Errorf("a three-month build became a wall time %v", d)
	}
}

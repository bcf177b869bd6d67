package parse

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// scaleCases are inputs whose cost once grew with the square of their size:
// each is made of n repetitions of one shape, so parsing 4n must cost about
// four times parsing n.
var scaleCases = []struct {
	name string
	gen  func(n int) []byte
}{
	{"rawjson vertex re-sent with a new start", func(n int) []byte {
		var b bytes.Buffer
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range n {
			s := t0.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
			fmt.Fprintf(&b, `{"vertexes":[{"digest":"sha256:a","name":"[1/1] RUN x","started":%q,"completed":%q}]}`+"\n", s, s)
		}
		return b.Bytes()
	}},
	{"rawjson vertices", func(n int) []byte {
		var b bytes.Buffer
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range n {
			s := t0.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
			fmt.Fprintf(&b, `{"vertexes":[{"digest":"sha256:%d","name":"[%d/%d] RUN x","started":%q,"completed":%q}]}`+"\n", i, i+1, n, s, s)
		}
		return b.Bytes()
	}},
	{"tty vertices without a position", func(n int) []byte {
		var b bytes.Buffer
		b.WriteString("[+] Building 1.0s (1/1) FINISHED\n")
		for i := range n {
			fmt.Fprintf(&b, " => [internal] load metadata for registry.example.com/some/image-%d:latest  0.1s\n", i)
		}
		return b.Bytes()
	}},
	{"tty truncated names", func(n int) []byte {
		var b bytes.Buffer
		b.WriteString("[+] Building 1.0s (1/1) FINISHED\n")
		for i := range n {
			fmt.Fprintf(&b, " => resolve image config for registry.example.com/some/image-%08d:lat  0.1s\n", i)
		}
		return b.Bytes()
	}},
	{"plain vertices", func(n int) []byte {
		var b bytes.Buffer
		for i := range n {
			fmt.Fprintf(&b, "#%d [stage-%d 1/1] RUN x\n#%d DONE 0.1s\n", i+1, i, i+1)
		}
		return b.Bytes()
	}},
	{"plain transfers of one vertex", func(n int) []byte {
		var b bytes.Buffer
		b.WriteString("#1 [1/1] FROM x\n")
		for i := range n {
			fmt.Fprintf(&b, "#1 sha256:%064x 1.00MB / 2.00MB 0.1s\n", i)
		}
		b.WriteString("#1 DONE 1.0s\n")
		return b.Bytes()
	}},
	{"plain warnings", func(n int) []byte {
		var b bytes.Buffer
		b.WriteString("#1 [1/1] FROM x\n")
		for i := range n {
			fmt.Fprintf(&b, "#1 WARN: warning number %d\n", i)
		}
		b.WriteString("#1 DONE 1.0s\n")
		return b.Bytes()
	}},
	{"plain error boxes", func(n int) []byte {
		var b bytes.Buffer
		for i := range n {
			fmt.Fprintf(&b, "#%d [s%d 1/1] RUN x\n#%d ERROR: boom\n", i+1, i, i+1)
		}
		for i := range n {
			fmt.Fprintf(&b, "------\n > [s%d 1/1] RUN x:\n0.1 boom\n------\n", i)
		}
		return b.Bytes()
	}},
	{"legacy steps", func(n int) []byte {
		var b bytes.Buffer
		for i := range n {
			fmt.Fprintf(&b, "Step %d/%d : RUN x\n ---> Running in %012x\nout\nRemoving intermediate container %012x\n ---> %012x\n", i+1, n, i, i, i)
		}
		b.WriteString("Successfully built 123456789abc\n")
		return b.Bytes()
	}},
}

// parseCost parses data a few times and returns the least CPU time one
// parse took (CPU time of the whole process, so the garbage collector's
// work counts, other processes' does not) and its allocations.
func parseCost(t *testing.T, data []byte) (time.Duration, uint64) {
	t.Helper()
	best := time.Duration(1 << 62)
	var allocs uint64
	for range 3 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := cpuTime()
		if _, err := Parse(bytes.NewReader(data), Options{}); err != nil {
			t.Fatal(err)
		}
		best = min(best, cpuTime()-start)
		runtime.ReadMemStats(&after)
		allocs = after.Mallocs - before.Mallocs
	}
	return best, allocs
}

// TestNothingQuadratic parses each scale case at n and 4n vertices (or
// lines) and fails when the cost grows much faster than the input: a
// linear parser costs about 4x, a quadratic one 16x. The budget is relative
// to the same parser on the smaller input, so a slow or busy machine does
// not make it flaky.
func TestNothingQuadratic(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 5000
	}
	for _, tc := range scaleCases {
		t.Run(tc.name, func(t *testing.T) {
			small, large := tc.gen(n), tc.gen(4*n)
			ts, as := parseCost(t, small)
			tl, al := parseCost(t, large)
			ratio := float64(tl) / float64(max(ts, time.Microsecond))
			aratio := float64(al) / float64(max(as, 1))
			t.Logf("n=%d: %v, 4n: %v (x%.1f); allocs %d -> %d (x%.1f)", n, ts, tl, ratio, as, al, aratio)
			if ratio > 9 {
				t.Errorf("4x the input took %.1fx the time (%v -> %v): quadratic", ratio, ts, tl)
			}
			if aratio > 6 {
				t.Errorf("4x the input made %.1fx the allocations: quadratic", aratio)
			}
		})
	}
}

// TestMemoryPerVertex parses 100,000 plain vertices and checks the heap
// per vertex, both the peak while parsing and what the result holds.
func TestMemoryPerVertex(t *testing.T) {
	n := 100000
	var data bytes.Buffer
	for i := range n {
		fmt.Fprintf(&data, "#%d [builder %d/%d] RUN make -C src/module_%d\n#%d 0.100 compiling\n#%d DONE 0.2s\n", i+1, i+1, n, i, i+1, i+1)
	}
	raw := data.Bytes()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	src := &peakHeapReader{r: bytes.NewReader(raw), every: 512 << 10, gc: true}
	b, err := Parse(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	peak := (int64(src.peak) - int64(before.HeapAlloc)) / int64(n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(n)
	runtime.KeepAlive(b)
	t.Logf("%d vertices: peak live heap while parsing %d bytes per vertex, %d bytes each held by the result", len(b.Vertices), peak, held)
	if len(b.Vertices) != n {
		t.Fatalf("%d vertices", len(b.Vertices))
	}
	if peak > 1024 || held > 1024 {
		t.Errorf("%d bytes per vertex at peak, %d held; want under 1 KB", peak, held)
	}
}

// TestMillionVertices parses a million-vertex log of each format in under
// 10 s of CPU and 1 GB of heap (garbage included). It takes a while: set
// BUILDSTATS_BIG=1.
func TestMillionVertices(t *testing.T) {
	if os.Getenv("BUILDSTATS_BIG") == "" {
		t.Skip("set BUILDSTATS_BIG=1 to parse a million vertices")
	}
	const n = 1000000
	for _, format := range []string{"plain", "tty", "rawjson", "legacy"} {
		t.Run(format, func(t *testing.T) {
			var r = map[string]func() []byte{
				"plain":   func() []byte { return scaleCases[4].gen(n) },
				"tty":     func() []byte { return scaleCases[2].gen(n) },
				"rawjson": func() []byte { return scaleCases[1].gen(n) },
				"legacy":  func() []byte { return scaleCases[8].gen(n) },
			}[format]()
			runtime.GC()
			src := &peakHeapReader{r: bytes.NewReader(r), every: 1 << 20}
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			start, cpu0 := time.Now(), cpuTime()
			b, err := Parse(src, Options{})
			if err != nil {
				t.Fatal(err)
			}
			elapsed, cpu := time.Since(start), cpuTime()-cpu0
			var end runtime.MemStats
			runtime.ReadMemStats(&end)
			peak := max(src.peak, end.HeapAlloc) - base.HeapAlloc
			t.Logf("%s: %d vertices from %d MB in %v wall, %v CPU, peak heap above the input %d MB", format, len(b.Vertices), len(r)>>20, elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond), peak>>20)
			if len(b.Vertices) != n {
				t.Errorf("%d vertices", len(b.Vertices))
			}
			// CPU time, not wall time: the machine may be shared.
			if cpu > 10*time.Second || peak > 1<<30 {
				t.Errorf("took %v of CPU and %d MB", cpu, peak>>20)
			}
		})
	}
}

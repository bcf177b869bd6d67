package buildkit

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildstats/buildstats/collect/daemontest"
	"github.com/buildstats/buildstats/parse"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
)

// synthStream is a BuildKit-like status stream of n vertices: each vertex is
// announced, started and completed in separate updates, depends on the one
// before, writes 40 log lines in 4 chunks and has a transfer reported 5
// times, as layer pulls and context transfers are.
func synthStream(n int) []*client.SolveStatus {
	base := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var out []*client.SolveStatus
	var prev digest.Digest
	for i := 0; i < n; i++ {
		d := digest.FromString(fmt.Sprintf("vertex-%d", i))
		name := fmt.Sprintf("[stage-%d %d/%d] RUN /bin/sh -c make target-%d && ./run-tests --shard %d", i/50, i%50+1, 50, i, i)
		var inputs []digest.Digest
		if prev != "" {
			inputs = []digest.Digest{prev}
		}
		start := base.Add(time.Duration(i) * 100 * time.Millisecond)
		end := start.Add(90 * time.Millisecond)
		out = append(out, &client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Inputs: inputs, Name: name}}})
		out = append(out, &client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Inputs: inputs, Name: name, Started: &start}}})
		for c := 0; c < 4; c++ {
			var data []byte
			for l := 0; l < 10; l++ {
				data = fmt.Appendf(data, "vertex %d chunk %d line %d: compiling module with some realistic length output text\n", i, c, l)
			}
			out = append(out, &client.SolveStatus{Logs: []*client.VertexLog{{Vertex: d, Stream: 1, Data: data, Timestamp: start.Add(time.Duration(c) * time.Millisecond)}}})
		}
		for p := 1; p <= 5; p++ {
			ts := start.Add(time.Duration(p) * 10 * time.Millisecond)
			st := &client.VertexStatus{ID: "sha256:" + d.Encoded()[:12], Vertex: d, Total: 50 << 20, Current: int64(p) * 10 << 20, Timestamp: ts, Started: &start}
			if p == 5 {
				st.Completed = &ts
			}
			out = append(out, &client.SolveStatus{Statuses: []*client.VertexStatus{st}})
		}
		out = append(out, &client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Inputs: inputs, Name: name, Started: &start, Completed: &end}}})
		prev = d
	}
	return out
}

// peakHeap samples the in-use heap every millisecond until stop is called,
// and returns the highest value seen above the baseline.
func peakHeap() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseline := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		if peak.Load() < baseline {
			return 0
		}
		return peak.Load() - baseline
	}
}

// TestMemory500Vertices runs a 500-vertex stream through what `buildstats
// build` runs: Convert, the recorder and BuildKit's plain progress display.
// Target: under 50 MB of heap.
func TestMemory500Vertices(t *testing.T) {
	sts := synthStream(500)
	stop := peakHeap()
	in := make(chan *client.SolveStatus)
	disp := make(chan *client.SolveStatus)
	rec := parse.NewRecorder()
	go func() {
		for _, st := range sts {
			in <- st
		}
		close(in)
	}()
	go Record(rec, in, disp)
	d, err := progressui.NewDisplay(io.Discard, progressui.PlainMode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.UpdateFrom(context.Background(), disp); err != nil {
		t.Fatal(err)
	}
	b := rec.Build()
	peak := stop()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if len(b.Vertices) != 500 || b.Vertices[499].OutputLines != 40 || len(b.Vertices[499].Inputs) != 1 {
		t.Fatalf("record: %d vertices", len(b.Vertices))
	}
	t.Logf("500-vertex stream (%d updates): peak heap in use %.1f MB (recorder + display), record kept %.1f MB live heap", len(sts), float64(peak)/(1<<20), float64(ms.HeapAlloc)/(1<<20))
	if peak > 50<<20 {
		t.Fatalf("peak heap %.1f MB, over the 50 MB target", float64(peak)/(1<<20))
	}
	runtime.KeepAlive(b)
}

// BenchmarkRecord500 is the recorder's cost per 500-vertex stream, without
// the display: what buildstats adds to a build.
func BenchmarkRecord500(b *testing.B) {
	sts := synthStream(500)
	b.ReportAllocs()
	for b.Loop() {
		rec := parse.NewRecorder()
		for _, st := range sts {
			rec.Add(Convert(st))
		}
		rec.Build()
	}
}

// TestOverheadFigures measures a real build with and without buildstats
// attached, same cache state (--no-cache, so every run does the same work),
// alternating to spread machine noise: "without" is the client solving with
// BuildKit's plain display only, as buildctl does; "with" is Build, which
// adds Convert and the recorder. It also times the recorder's own work in
// the build. Run with BUILDSTATS_FIGURES=1; it takes about a minute.
func TestOverheadFigures(t *testing.T) {
	if os.Getenv("BUILDSTATS_FIGURES") != "1" {
		t.Skip("figures run with BUILDSTATS_FIGURES=1")
	}
	d := daemontest.StartBuildKit(t)
	dir := daemontest.Context(t, daemontest.MultiStage, nil)
	opts := BuildOptions{Addr: d.Addr, ContextDir: dir, NoCache: true, Progress: "plain", ProgressOut: io.Discard}
	without := func() time.Duration {
		so, _, err := opts.solveOpt()
		if err != nil {
			t.Fatal(err)
		}
		c, err := Connect(t.Context(), d.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		disp, _ := progressui.NewDisplay(io.Discard, progressui.PlainMode)
		ch := make(chan *client.SolveStatus)
		done := make(chan struct{})
		go func() { disp.UpdateFrom(context.Background(), ch); close(done) }()
		t0 := time.Now()
		if _, err := c.Solve(t.Context(), nil, so, ch); err != nil {
			t.Fatal(err)
		}
		<-done
		return time.Since(t0)
	}
	with := func() time.Duration {
		t0 := time.Now()
		if _, err := Build(t.Context(), opts); err != nil {
			t.Fatal(err)
		}
		return time.Since(t0)
	}
	with() // warm the daemon and the client code paths
	without()
	const n = 8
	var tw, to []time.Duration
	for i := 0; i < n; i++ {
		to = append(to, without())
		tw = append(tw, with())
	}
	med := func(xs []time.Duration) time.Duration {
		s := append([]time.Duration(nil), xs...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	mw, mo := med(tw), med(to)
	t.Logf("multi-stage --no-cache build, median of %d: without buildstats %v, with %v: %+.2f%% (noise of single runs: %v..%v)", n, mo, mw, 100*(float64(mw)-float64(mo))/float64(mo), minDur(to), maxDur(to))

	// The recorder's own CPU time in one such build.
	var spent time.Duration
	rec := parse.NewRecorder()
	c, _ := Connect(t.Context(), d.Addr)
	defer c.Close()
	so, _, _ := opts.solveOpt()
	ch := make(chan *client.SolveStatus)
	done := make(chan struct{})
	updates := 0
	go func() {
		for st := range ch {
			t0 := time.Now()
			rec.Add(Convert(st))
			spent += time.Since(t0)
			updates++
		}
		t0 := time.Now()
		rec.Build()
		spent += time.Since(t0)
		close(done)
	}()
	t0 := time.Now()
	if _, err := c.Solve(t.Context(), nil, so, ch); err != nil {
		t.Fatal(err)
	}
	<-done
	wall := time.Since(t0)
	t.Logf("recorder work in one build: %v for %d updates, %.3f%% of the %v build", spent, updates, 100*float64(spent)/float64(wall), wall)
}

func minDur(xs []time.Duration) time.Duration {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func maxDur(xs []time.Duration) time.Duration {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

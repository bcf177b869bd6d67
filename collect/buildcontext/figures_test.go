package buildcontext

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// makeTree writes n files of about 2 KiB, 100 per directory, in directories
// nested three deep: the shape of a large repository.
func makeTree(t testing.TB, dir string, n int) {
	t.Helper()
	buf := make([]byte, 4096)
	rand.Read(buf)
	for i := range n {
		d := filepath.Join(dir, fmt.Sprintf("pkg%02d", i/10000), fmt.Sprintf("mod%02d", i/1000%10), fmt.Sprintf("dir%d", i/100%10))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		size := 1024 + i%2048
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("file%03d.txt", i%100)), buf[i%1024:i%1024+size], 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// peakHeap samples the heap in use while f runs.
// It returns the growth over the heap in use before f.
func peakHeap(f func()) (peak uint64) {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	defer func() { peak -= min(peak, base.HeapInuse) }()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak
}

// nodeBytes is what storing every node of m costs, encoded.
func nodeBytes(m *model.ContextManifest) (n int) {
	for _, d := range m.Nodes {
		n += len(d.Encode()) + 32
	}
	return n
}

// TestManifestFigures measures a 100,000-file context: time and peak heap
// of Read, and what one changed file adds to a store of nodes. Run with
// BUILDSTATS_FIGURES=1 (it writes 200 MB of files); otherwise a 5,000-file
// tree checks the same bounds per file.
func TestManifestFigures(t *testing.T) {
	n := 5000
	if os.Getenv("BUILDSTATS_FIGURES") == "1" {
		n = 100000
	}
	dir := t.TempDir()
	start := time.Now()
	makeTree(t, dir, n)
	t.Logf("wrote %d files in %v", n, time.Since(start).Round(time.Millisecond))

	var m *model.ContextManifest
	var took time.Duration
	peak := peakHeap(func() {
		start := time.Now()
		m = read(t, dir, Options{})
		took = time.Since(start)
	})
	if m.Files != n {
		t.Fatalf("files %d, want %d", m.Files, n)
	}
	all := nodeBytes(m)
	t.Logf("%d files, %d dirs, %.1f MB: read in %v, heap grew %.1f MB at most, %d nodes, %.2f MB encoded",
		m.Files, m.Dirs, float64(m.Bytes)/1e6, took.Round(time.Millisecond), float64(peak)/1e6, len(m.Nodes), float64(all)/1e6)

	// One changed file: only the nodes on its path are new.
	p := filepath.Join(dir, "pkg00", "mod00", "dir0", "file007.txt")
	if err := os.WriteFile(p, []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	m2 := read(t, dir, Options{})
	added, addedBytes := 0, 0
	for h, d := range m2.Nodes {
		if m.Nodes[h] == nil {
			added++
			addedBytes += len(d.Encode()) + 32
		}
	}
	t.Logf("one changed file adds %d nodes, %d bytes", added, addedBytes)
	if added != 4 {
		t.Errorf("one changed file added %d nodes, want 4 (its directory and each parent)", added)
	}
	// Bounds that hold on a loaded 2-core machine with room to spare.
	if perFile := float64(peak) / float64(n); perFile > 1000 {
		t.Errorf("peak heap %.0f bytes per file", perFile)
	}
	if took > time.Duration(n)*200*time.Microsecond {
		t.Errorf("reading %d files took %v", n, took)
	}
}

func BenchmarkRead(b *testing.B) {
	dir := b.TempDir()
	makeTree(b, dir, 20000)
	b.ResetTimer()
	for b.Loop() {
		read(b, dir, Options{})
	}
}

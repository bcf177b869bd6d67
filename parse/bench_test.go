package parse

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// plainLogGen streams a synthetic --progress=plain log of a given size: a
// fixed number of vertices, each with transfer lines, a long run of output
// lines and a DONE line, so the vertex count stays put while bytes grow.
type plainLogGen struct {
	size, written int64
	vertices      int
	vertex        int
	line          int
	buf           bytes.Buffer
	done          bool
}

func newPlainLogGen(size int64, vertices int) *plainLogGen {
	return &plainLogGen{size: size, vertices: vertices}
}

func (g *plainLogGen) fill() {
	perVertex := g.size / int64(g.vertices)
	for g.buf.Len() < 64<<10 && !g.done {
		n := g.vertex%g.vertices + 1
		if g.line == 0 {
			fmt.Fprintf(&g.buf, "\n#%d [builder %d/%d] RUN make -C src/%d all\n", n, n, g.vertices, n)
			fmt.Fprintf(&g.buf, "#%d sha256:%064x 12.34MB / 29.13MB 1.2s\n", n, n)
		}
		g.line++
		fmt.Fprintf(&g.buf, "#%d %d.%03d gcc -O2 -c src/module_%d/%s_%d.c -o build/module_%d/%s_%d.o -Wall -Wextra\n",
			n, g.line/100, g.line%1000, n, srcFile(g.line), g.line, n, srcFile(g.line), g.line)
		if g.written+int64(g.buf.Len()) >= int64(g.vertex+1)*perVertex {
			fmt.Fprintf(&g.buf, "#%d DONE %d.%ds\n", n, g.line/50, g.line%10)
			g.vertex++
			g.line = 0
			if g.vertex >= g.vertices {
				g.done = true
			}
		}
	}
}

func (g *plainLogGen) Read(p []byte) (int, error) {
	if g.buf.Len() == 0 {
		g.fill()
		if g.buf.Len() == 0 {
			return 0, io.EOF
		}
	}
	n, _ := g.buf.Read(p)
	g.written += int64(n)
	return n, nil
}

func generatePlainLog(size int64, vertices int) []byte {
	var out bytes.Buffer
	out.Grow(int(size + size/50))
	if _, err := io.Copy(&out, newPlainLogGen(size, vertices)); err != nil {
		panic(err)
	}
	return out.Bytes()
}

// benchData holds each format's 100 MB generated log, made once per run.
var benchData = map[string][]byte{}

func benchLog(format string) []byte {
	if data, ok := benchData[format]; ok {
		return data
	}
	const vertices = 500
	size := int64(100 << 20)
	// BUILDSTATS_BENCH_MB sets another size, for quick runs and for
	// counting instructions under callgrind.
	if mb, err := strconv.Atoi(os.Getenv("BUILDSTATS_BENCH_MB")); err == nil && mb > 0 {
		size = int64(mb) << 20
	}
	var data []byte
	switch format {
	case "plain":
		data = generatePlainLog(size, vertices)
	case "tty":
		data = readAllGen(ttyLogGen(size, vertices), size)
	case "rawjson":
		data = readAllGen(rawjsonLogGen(size, vertices), size)
	case "legacy":
		data = readAllGen(legacyLogGen(size, vertices), size)
	}
	benchData[format] = data
	return data
}

func benchParse(b *testing.B, format string) {
	data := benchLog(format)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		build, err := Parse(bytes.NewReader(data), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if string(build.Format) != format || len(build.Vertices) < 500 {
			b.Fatalf("format %s, %d vertices", build.Format, len(build.Vertices))
		}
	}
	reportCPU(b, len(data), cpuTime()-cpu0)
}

// reportCPU adds throughput per CPU second: on a shared machine wall time
// also counts the time other processes held the CPU.
func reportCPU(b *testing.B, size int, cpu time.Duration) {
	if cpu > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/(1<<20)/cpu.Seconds(), "MB/cpu-s")
	}
}

// BenchmarkParsePlain parses a 100 MB generated plain log held in memory.
func BenchmarkParsePlain(b *testing.B) { benchParse(b, "plain") }

// BenchmarkParseTTY parses a 100 MB tty capture: redraw frames with cursor
// movement, ANSI colour and CRLF.
func BenchmarkParseTTY(b *testing.B) { benchParse(b, "tty") }

// BenchmarkParseRawJSON parses 100 MB of rawjson: vertex re-sends, statuses
// and base64 log chunks.
func BenchmarkParseRawJSON(b *testing.B) { benchParse(b, "rawjson") }

// BenchmarkParseLegacy parses 100 MB of legacy builder output.
func BenchmarkParseLegacy(b *testing.B) { benchParse(b, "legacy") }

// BenchmarkScanLines is the floor: it only splits each format's log into
// lines, the least any parser must do, so the ratio of each Parse benchmark
// to its floor is visible in one run.
func BenchmarkScanLines(b *testing.B) {
	for _, format := range []string{"plain", "tty", "rawjson", "legacy"} {
		b.Run(format, func(b *testing.B) {
			data := benchLog(format)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			defer func() { reportCPU(b, len(data), cpuTime()-cpu0) }()
			for range b.N {
				lr := newLineReader(bytes.NewReader(data), maxKeptLine)
				n := 0
				for {
					_, err := lr.next()
					if err != nil {
						break
					}
					n++
				}
				if n == 0 {
					b.Fatal("no lines")
				}
			}
		})
	}
}

// peakHeapReader samples the live heap while the parser reads from it.
type peakHeapReader struct {
	r     io.Reader
	read  int64
	next  int64
	peak  uint64
	every int64
	gc    bool // collect before each sample: measure live memory, not garbage
}

func (p *peakHeapReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.read += int64(n)
	if p.read >= p.next {
		p.next = p.read + p.every
		var ms runtime.MemStats
		if p.gc {
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > p.peak {
			p.peak = ms.HeapAlloc
		}
	}
	return n, err
}

// TestParseMemoryIsFlat streams a 256 MB log of each format through the
// parser without holding it and checks the heap stays far below the log
// size: memory grows with vertices, not lines. tty once held up to 32 MB of
// output waiting to be scanned for error lines, and its peak grew with the
// log until it reached that.
func TestParseMemoryIsFlat(t *testing.T) {
	size := int64(256 << 20)
	if testing.Short() {
		size = 32 << 20
	}
	for _, format := range []string{"plain", "tty", "rawjson", "legacy"} {
		t.Run(format, func(t *testing.T) {
			runtime.GC()
			src := &peakHeapReader{r: genLog(format, size, 500), every: 4 << 20}
			start := time.Now()
			build, err := Parse(src, Options{})
			if err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(start)
			if len(build.Vertices) < 500 {
				t.Fatalf("got %d vertices, want at least 500", len(build.Vertices))
			}
			const limit = 64 << 20
			if src.peak > limit {
				t.Errorf("peak heap %d MB while parsing %d MB, want under %d MB", src.peak>>20, src.read>>20, limit>>20)
			}
			t.Logf("parsed %d MB in %v (%.0f MB/s), peak heap %.1f MB", src.read>>20, elapsed, float64(src.read)/(1<<20)/elapsed.Seconds(), float64(src.peak)/(1<<20))
		})
	}
}

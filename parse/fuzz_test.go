package parse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

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

// checkBuild asserts invariants every parse result must hold: a known
// status, never succeeded when truncated, no negative, non-finite or absurd
// durations or sizes, bounded output and error lines.
func checkBuild(t *testing.T, b *model.Build) {
	t.Helper()
	if b == nil {
		t.Fatal("nil build without error")
	}
	switch b.Status {
	case model.StatusSucceeded, model.StatusFailed, model.StatusUnknown:
	default:
		t.Fatalf("status %q", b.Status)
	}
	if b.Truncated && b.Status == model.StatusSucceeded {
		t.Fatal("a truncated build is succeeded")
	}
	checkDuration(t, "build", b.Duration, b.HasDuration)
	if b.LogBuilds == 1 || b.LogBuilds > 1 && (b.LogIndex < 1 || b.LogIndex > b.LogBuilds) || b.LogBuilds == 0 && b.LogIndex != 0 {
		t.Fatalf("build %d of %d", b.LogIndex, b.LogBuilds)
	}
	for _, v := range b.Vertices {
		checkDuration(t, v.Name, v.Duration, v.HasDuration)
		if len(v.Output) > model.OutputTailLines || v.OutputLines < len(v.Output) {
			t.Fatalf("output tail %d lines of %d", len(v.Output), v.OutputLines)
		}
		if len(v.ErrorLines) > model.ErrorLinesMax {
			t.Fatalf("%d error lines", len(v.ErrorLines))
		}
		for _, l := range v.ErrorLines {
			if len(l) > model.ErrorLineMaxBytes {
				t.Fatalf("error line of %d bytes", len(l))
			}
		}
		for _, tr := range v.Transfers {
			if tr.Bytes < 0 || tr.Bytes > model.MaxBytes || tr.Total < 0 || tr.Total > model.MaxBytes {
				t.Fatalf("transfer size %d / %d", tr.Bytes, tr.Total)
			}
			checkDuration(t, tr.Name, tr.Duration, true)
		}
	}
	if d, _ := b.WallTime(); d < 0 || d > model.MaxDuration {
		t.Fatalf("wall time %v", d)
	}
}

func checkDuration(t *testing.T, what string, d time.Duration, has bool) {
	t.Helper()
	if d < 0 || d > model.MaxDuration || (!has && d != 0) {
		t.Fatalf("%s: duration %v (has %v)", what, d, has)
	}
}

func checkAll(t *testing.T, builds []*model.Build, err error) {
	t.Helper()
	if err != nil {
		return
	}
	if len(builds) == 0 {
		t.Fatal("no build and no error")
	}
	for _, b := range builds {
		checkBuild(t, b)
	}
}

func FuzzParse(f *testing.F) {
	addSeeds(f, "../fixtures/*/*.log", "../fixtures/*/*.jsonl")
	f.Fuzz(func(t *testing.T, data []byte) {
		builds, err := ParseAll(bytes.NewReader(data), Options{})
		checkAll(t, builds, err)
		b, err2 := Parse(bytes.NewReader(data), Options{})
		if (err == nil) != (err2 == nil) || err == nil && (b.LogBuilds != len(builds) && len(builds) > 1 || len(b.Vertices) != len(builds[len(builds)-1].Vertices)) {
			t.Fatalf("Parse and ParseAll disagree")
		}
	})
}

func FuzzParsePlain(f *testing.F) {
	addSeeds(f, "../fixtures/*/plain-*.log", "../fixtures/real/ci-*.log")
	f.Fuzz(func(t *testing.T, data []byte) {
		builds, err := parsePlainAll(bytes.NewReader(data))
		checkAll(t, builds, err)
	})
}

func FuzzParseTTY(f *testing.F) {
	addSeeds(f, "../fixtures/*/tty-*.log", "../fixtures/buildkit-probe/*tty*.log")
	f.Fuzz(func(t *testing.T, data []byte) {
		builds, err := parseTTYAll(bytes.NewReader(data))
		checkAll(t, builds, err)
	})
}

func FuzzParseRawJSON(f *testing.F) {
	addSeeds(f, "../fixtures/buildkit-probe/*.jsonl")
	f.Fuzz(func(t *testing.T, data []byte) {
		builds, err := parseRawJSONAll(bytes.NewReader(data))
		checkAll(t, builds, err)
	})
}

func FuzzParseLegacy(f *testing.F) {
	addSeeds(f, "../fixtures/*/legacy-*.log", "../fixtures/buildkit-probe/docker-legacy-*.log")
	f.Fuzz(func(t *testing.T, data []byte) {
		builds, err := parseLegacyAll(bytes.NewReader(data))
		checkAll(t, builds, err)
	})
}

func FuzzDetect(f *testing.F) {
	addSeeds(f, "../fixtures/*/*.log")
	f.Fuzz(func(t *testing.T, data []byte) {
		format, err := Detect(data)
		if err == nil && format == "" {
			t.Fatal("no format and no error")
		}
		if err != nil && !errors.Is(err, ErrNotBuildLog) {
			t.Fatalf("Detect error %v does not wrap ErrNotBuildLog", err)
		}
	})
}

// FuzzPlainOutputIsInert appends an output line with arbitrary text
// ("#N 0.123 <text>", CRs and all) for a vertex of the log: it may add
// output, error lines, and raise a running vertex's lower-bound time, but
// never create a vertex or change anything else about one or the build.
func FuzzPlainOutputIsInert(f *testing.F) {
	addSeeds(f, "../fixtures/*/plain-*.log", "../fixtures/buildkit-probe/run-fail-plain.log")
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		// The last byte picks the text's length from the data's end.
		n := int(data[len(data)-1]) % 64
		data = data[:len(data)-1]
		text := ""
		if n <= len(data) {
			text = strings.ReplaceAll(string(data[len(data)-n:]), "\n", " ")
		}
		base, err := parsePlainAll(bytes.NewReader(data))
		if err != nil || len(base) == 0 {
			return
		}
		num := 1
		if vs := base[len(base)-1].Vertices; len(vs) > 0 {
			if k, err := strconv.Atoi(vs[len(vs)-1].ID); err == nil {
				num = k
			}
		}
		line := func(s string) []byte {
			return append(bytes.Clone(data), "\n#"+strconv.Itoa(num)+" 0.123 "+s+"\n"...)
		}
		a, errA := parsePlainAll(bytes.NewReader(line("x")))
		b, errB := parsePlainAll(bytes.NewReader(line(text)))
		if (errA == nil) != (errB == nil) || len(a) != len(b) {
			t.Fatalf("%d builds, then %d", len(a), len(b))
		}
		for i := range a {
			ba, bb := a[i], b[i]
			if ba.Status != bb.Status || ba.Error != bb.Error || ba.Truncated != bb.Truncated || ba.ImageID != bb.ImageID || len(ba.Vertices) != len(bb.Vertices) || ba.Duration != bb.Duration {
				t.Fatalf("output text %q changed the build: %s/%s %q/%q %d/%d vertices", text, ba.Status, bb.Status, ba.Error, bb.Error, len(ba.Vertices), len(bb.Vertices))
			}
			for j, va := range ba.Vertices {
				vb := bb.Vertices[j]
				if va.ID != vb.ID || va.Name != vb.Name || va.Cached != vb.Cached || va.Completed != vb.Completed || va.Canceled != vb.Canceled || va.Error != vb.Error || len(va.Transfers) != len(vb.Transfers) || va.Digest != vb.Digest {
					t.Fatalf("output text %q changed vertex %s: %+v / %+v", text, va.ID, va, vb)
				}
				if (va.Duration != vb.Duration || va.HasDuration != vb.HasDuration) && !(va.DurationIsLowerBound || vb.DurationIsLowerBound) {
					t.Fatalf("output text %q changed the time of vertex %s: %v / %v", text, va.ID, va.Duration, vb.Duration)
				}
			}
		}
	})
}

// FuzzLineReaderLookahead checks the line reader's look-aheads against the
// lines themselves: a line it calls plain holds no ESC and no 0xe2, one it
// calls noE2 no 0xe2, one it calls noCR no carriage return but those that end it, and the lines are
// those of a plain split. The first byte picks the buffer: a tiny one
// makes lines straddle refills and take the long-line path.
func FuzzLineReaderLookahead(f *testing.F) {
	addSeeds(f, "../fixtures/*/legacy-*.log", "../fixtures/*/tty-*.log")
	f.Add([]byte("\x00a\r\nb\r\nc\nd\re\n\r\n\x1bx\n"))
	f.Add([]byte("\x01" + strings.Repeat("line\r\n", 40) + "a\rb\nc\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		size := 16 + int(data[0])%64
		if data[0]%2 == 0 {
			size = 256 << 10
		}
		data = data[1:]
		lr := &lineReader{r: bufio.NewReaderSize(bytes.NewReader(data), size), limit: maxKeptLine}
		want := bytes.Split(data, []byte("\n"))
		if len(want[len(want)-1]) == 0 {
			want = want[:len(want)-1]
		}
		for i := 0; ; i++ {
			line, err := lr.next()
			if err == io.EOF {
				if i != len(want) {
					t.Fatalf("%d lines, want %d", i, len(want))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if i >= len(want) || !bytes.Equal(line, want[i]) {
				t.Fatalf("line %d is %q", i, line)
			}
			if lr.plain && (bytes.IndexByte(line, 0x1b) >= 0 || bytes.IndexByte(line, 0xe2) >= 0) {
				t.Fatalf("line %d %q called plain", i, line)
			}
			if lr.noE2 && bytes.IndexByte(line, 0xe2) >= 0 {
				t.Fatalf("line %d %q called free of 0xe2", i, line)
			}
			if lr.noCR && bytes.IndexByte(bytes.TrimRight(line, "\r"), '\r') >= 0 {
				t.Fatalf("line %d %q called free of CRs", i, line)
			}
		}
	})
}

// FuzzTTYSlotsSameBuild checks the tty decoder's frame-position caches:
// a log gives the same builds with them as without.
func FuzzTTYSlotsSameBuild(f *testing.F) {
	addSeeds(f, "../fixtures/*/tty-*.log", "../fixtures/buildkit-probe/*tty*.log")
	frame := func(t string, lines ...string) string {
		return "[+] Building " + t + " (1/3)\n" + strings.Join(lines, "\n") + "\n"
	}
	f.Add([]byte(frame("0.1s", " => [1/2] FROM a  0.1s", " => => sha256:ab 1MB / 2MB  0.1s", " => [internal] load x  0.0s") +
		frame("0.2s", " => [1/2] FROM a  0.2s", " => => sha256:ab 1MB / 2MB  0.1s", " => [internal] load x  0.0s") +
		frame("0.3s", " => [internal] load x  0.0s", " => => sha256:ab 1MB / 2MB  0.1s", " => CACHED [1/2] FROM a  0.2s") +
		frame("0.4s", " => [internal] load x…  0.0s", " => => sha256:ab 2MB / 2MB  0.1s", " => ERROR [2/2] RUN b  0.2s") +
		frame("0.5s", " => [internal] load x…  0.0s", " => => sha256:ab 2MB / 2MB  0.1s", " => ERROR [2/2] RUN b  0.2s")))
	f.Fuzz(func(t *testing.T, data []byte) {
		ttySlotsOff = true
		want, werr := parseTTYAll(bytes.NewReader(data))
		ttySlotsOff = false
		got, err := parseTTYAll(bytes.NewReader(data))
		if (err == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("with the caches:\n%+v\nwithout:\n%+v", got, want)
		}
	})
}

// markerAtByByte is markerAt without the eight-byte skip, its reference.
func markerAtByByte(line []byte) int {
	for i := 0; i < min(len(line), maxPrefix+1); i++ {
		if markerFirst[line[i]] && (i == 0 || markerAfter[line[i-1]]) && isMarker(line[i:]) {
			return i
		}
	}
	return -1
}

func FuzzMarkerAt(f *testing.F) {
	for _, s := range []string{"#5 [1/2] FROM x", "2024-01-01T00:00:00Z #5 DONE", "[INFO] Step 1/3 : FROM x", "gcc -O2 -c src/a.c", "x ] => [1/2] y", strings.Repeat("a", 150) + " #1 x", "abcdefg {\"logs\":[]}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if got, want := markerAt(line), markerAtByByte(line); got != want {
			t.Fatalf("markerAt(%q) = %d, want %d", line, got, want)
		}
	})
}

// FuzzFrameLineKind checks frameLineKind against bytes.HasPrefix, which it
// replaced.
func FuzzFrameLineKind(f *testing.F) {
	for _, s := range []string{"=> ", "=> => #", "[+] Building", "=>", "=> =>", "[+]", "=> [1/2]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := ttyOther
		switch {
		case bytes.HasPrefix(b, []byte("[+] ")):
			want = ttyHeader
		case bytes.HasPrefix(b, []byte("=> => ")):
			want = ttySub
		case bytes.HasPrefix(b, []byte("=> ")):
			want = ttyVertex
		}
		if got := frameLineKind(b); got != want {
			t.Fatalf("frameLineKind(%q) = %d, want %d", b, got, want)
		}
	})
}

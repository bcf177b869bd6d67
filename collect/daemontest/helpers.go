package daemontest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
)

// The helpers below check what the BuildKit and Docker collectors record
// from builds on these daemons; both collectors' tests use them.

// ModelJSON is the comparison form of a record: every field, in a diffable
// text.
func ModelJSON(t testing.TB, b *model.Build) string {
	t.Helper()
	data, err := json.MarshalIndent(b, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// FirstDiff shows where two records part, instead of two whole dumps.
func FirstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			lo := max(0, i-3)
			return "line " + strconv.Itoa(i+1) + ":\n live: " + strings.Join(al[lo:i+1], "\n       ") + "\n file: " + strings.Join(bl[lo:i+1], "\n       ")
		}
	}
	return "lengths differ: " + strconv.Itoa(len(al)) + " vs " + strconv.Itoa(len(bl)) + " lines"
}

// CheckRawJSON fails t unless recorded, the ModelJSON of a live build's
// record, equals what parse.ParseRawJSON makes of progress, the rawjson
// display output of the same build: the two paths, stream and file, must
// agree for every build.
func CheckRawJSON(t testing.TB, recorded string, progress []byte) {
	t.Helper()
	file, err := parse.ParseRawJSON(bytes.NewReader(progress))
	if err != nil {
		t.Fatalf("parse the rawjson display output: %v", err)
	}
	if fj := ModelJSON(t, file); fj != recorded {
		t.Fatalf("live record differs from its rawjson output: %s", FirstDiff(recorded, fj))
	}
}

// VertexNamed returns the first vertex of b whose name contains substr, and
// fails t if there is none.
func VertexNamed(t testing.TB, b *model.Build, substr string) *model.Vertex {
	t.Helper()
	for _, v := range b.Vertices {
		if strings.Contains(v.Name, substr) {
			return v
		}
	}
	var names []string
	for _, v := range b.Vertices {
		names = append(names, v.Name)
	}
	t.Fatalf("no vertex named like %q among %q", substr, names)
	return nil
}

// SignalWriter keeps what is written to it and closes Seen the first time
// the text contains what it waits for: a test acts on it mid-build.
type SignalWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	want   string
	seen   chan struct{}
	closed bool
}

// NewSignalWriter returns a SignalWriter waiting for want.
func NewSignalWriter(want string) *SignalWriter {
	return &SignalWriter{want: want, seen: make(chan struct{})}
}

// Seen is closed once the text written contains want.
func (w *SignalWriter) Seen() <-chan struct{} { return w.seen }

func (w *SignalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.closed && strings.Contains(w.buf.String(), w.want) {
		close(w.seen)
		w.closed = true
	}
	return len(p), nil
}

// SlowContext is a build context whose RUN prints "started <marker>" and
// then sleeps a minute. The marker is unique so the test can look for its
// processes.
func SlowContext(t testing.TB) (dir, marker string) {
	marker = fmt.Sprintf("bs-marker-%d", time.Now().UnixNano())
	df := strings.Replace(Slow, "echo started", "echo started "+marker, 1)
	return Context(t, df, nil), marker
}

// processesWith lists the pids, other than this process, whose command line
// contains s.
func processesWith(s string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(s)) && e.Name() != fmt.Sprint(os.Getpid()) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// WaitNoProcesses waits up to within for every process whose command line
// contains marker to end, and fails t if any is still running then.
func WaitNoProcesses(t testing.TB, marker string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		pids := processesWith(marker)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("build processes still running: pids %v", pids)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/collect/daemontest"
	"github.com/buildstats/buildstats/report/otlp/otlptest"
	"github.com/buildstats/buildstats/store/sqlite"
)

// build --otlp and import --otlp send what they store, with the times the
// daemon recorded, to a real collector; build's stdout stays the
// explanation (JSON here), the trace lines go to stderr.
func TestBuildAndImportOTLP(t *testing.T) {
	d := daemontest.StartBuildKit(t)
	col := otlptest.Start(t)
	c := newLiveCLI(t)
	failing := daemontest.Context(t, daemontest.Failing, nil)

	r := c.want(1, "build", "--addr", d.Addr, "--progress", "quiet", "--db", c.db, "--project", "live",
		"--format", "json", "--otlp", "grpc://"+col.GRPC, failing)
	var e struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(r.out), &e); err != nil || e.Status != "failed" {
		t.Errorf("stdout is not the JSON explanation (%v):\n%s", err, r.out)
	}
	m := sentLine.FindStringSubmatch(r.err)
	if m == nil || m[1] != "build #1" {
		t.Fatalf("stderr:\n%s", r.err)
	}

	s, err := sqlite.OpenReadOnly(c.db)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.Build(t.Context(), 1)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	spans := col.Spans(len(b.Vertices) + 1)
	if len(spans) != len(b.Vertices)+1 {
		t.Fatalf("%d spans, want %d", len(spans), len(b.Vertices)+1)
	}
	root := rootOf(t, spans)
	if root.TraceID != m[2] || root.StatusCode != "error" || root.Attributes["buildstats.build.source"] != "buildkit" {
		t.Errorf("root %+v", root)
	}
	byName := map[string]otlptest.Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	failed := 0
	for _, v := range b.Vertices {
		s, ok := byName[v.Name]
		if !ok {
			t.Errorf("no span for %q", v.Name)
			continue
		}
		// The daemon's own times, to the nanosecond.
		if v.Started.IsZero() || !s.Start.Equal(v.Started) || !v.Ended.IsZero() && !s.End.Equal(v.Ended) {
			t.Errorf("%q: span %v..%v, vertex %v..%v", v.Name, s.Start, s.End, v.Started, v.Ended)
		}
		if v.Error != "" {
			failed++
			if s.StatusCode != "error" || s.Attributes["code.line.number"] != int64(3) {
				t.Errorf("failed step %q: %s %v", v.Name, s.StatusCode, s.Attributes)
			}
		}
	}
	if failed != 1 {
		t.Errorf("%d failed vertices", failed)
	}

	// A build run behind buildstats' back, imported.
	ok := daemontest.Context(t, daemontest.Simple, nil)
	if _, err := d.RunBuildctl(t.Context(), "build", "--frontend", "dockerfile.v0", "--local", "context="+ok, "--local", "dockerfile="+ok); err != nil {
		t.Fatalf("buildctl build: %v", err)
	}
	r = c.want(0, "import", "--addr", d.Addr, "--db", c.db, "--project", "live", "--otlp", "http://"+col.HTTP)
	if n := len(sentLine.FindAllString(r.err, -1)); n != 1 || !strings.Contains(r.err, "build #2: sent as trace") {
		t.Errorf("import sent %d builds:\n%s", n, r.err)
	}
	n := len(spans)
	spans = col.Spans(n + 1)[n:]
	if len(spans) == 0 {
		t.Fatal("nothing received from import")
	}
	if root := rootOf(t, spans); root.StatusCode != "ok" || root.Attributes["buildstats.build.id"] != int64(2) {
		t.Errorf("imported root %+v", root)
	}
}

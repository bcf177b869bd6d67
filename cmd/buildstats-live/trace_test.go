package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/report/otlp/otlptest"
)

const (
	traceFailRawJSON = "../../fixtures/buildkit-probe/run-fail-rawjson.jsonl"
	traceColdPlain   = "../../fixtures/buildkit-probe/multistage-plain-cold.log"
)

var sentLine = regexp.MustCompile(`(?m)^(the build|build #\d+): sent as trace ([0-9a-f]{32}) \((\d+) spans\) to (\S+) \((grpc|http/protobuf)\)$`)

// trace LOG and trace BUILD of the same build send the same trace, over
// gRPC and HTTP, to a real collector; the spans are the build's vertices
// under one root, with the stored id once the build is in the history.
func TestTraceLogAndStoredBuild(t *testing.T) {
	col := otlptest.Start(t)
	db := filepath.Join(t.TempDir(), "h.db")
	env := map[string]string{"HOME": t.TempDir(), "GITHUB_ACTIONS": "true", "GITHUB_WORKFLOW": "images",
		"GITHUB_RUN_ID": "991", "GITHUB_REPOSITORY": "acme/shop", "GITHUB_SHA": "c0ffee", "GITHUB_REF_NAME": "main"}

	r := run(t, nil, env, false, "trace", "--otlp", "grpc://"+col.GRPC, traceFailRawJSON)
	m := sentLine.FindStringSubmatch(r.out)
	if r.code != 0 || m == nil || m[1] != "the build" || m[3] != "6" || m[5] != "grpc" {
		t.Fatalf("trace LOG: exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
	}
	logTrace := m[2]
	spans := col.Spans(6)
	if len(spans) != 6 {
		t.Fatalf("%d spans, want 6 (5 vertices and the build)", len(spans))
	}
	root := rootOf(t, spans)
	if root.TraceID != logTrace || root.Attributes["cicd.pipeline.name"] != "images" || root.Attributes["cicd.pipeline.run.id"] != "991" ||
		root.Attributes["vcs.ref.head.revision"] != "c0ffee" || root.Attributes["vcs.ref.head.name"] != "main" ||
		root.Attributes["cicd.pipeline.run.url.full"] != nil || root.StatusCode != "error" {
		t.Errorf("root %+v", root)
	}

	if r := run(t, nil, env, false, "ingest", "--db", db, traceFailRawJSON); r.code != 0 {
		t.Fatalf("ingest: exit %d: %s", r.code, r.err)
	}
	r = run(t, nil, map[string]string{"HOME": env["HOME"]}, false, "trace", "--db", db, "--all-projects", "--otlp", "http://"+col.HTTP, "latest")
	m = sentLine.FindStringSubmatch(r.out)
	if r.code != 0 || m == nil || m[1] != "build #1" || m[2] != logTrace || m[5] != "http/protobuf" {
		t.Fatalf("trace BUILD: exit %d, stdout %q, stderr %q (want trace %s)", r.code, r.out, r.err, logTrace)
	}
	spans = col.Spans(12)[6:]
	if len(spans) != 6 {
		t.Fatalf("%d spans, want 6", len(spans))
	}
	root = rootOf(t, spans)
	if root.Attributes["buildstats.build.id"] != int64(1) || root.Attributes["vcs.ref.head.revision"] != "c0ffee" ||
		root.Attributes["cicd.pipeline.name"] != nil {
		// The stored build keeps its commit; the pipeline is not this
		// process's, so it is not named from the environment.
		t.Errorf("stored root attributes %v", root.Attributes)
	}
	for _, s := range spans {
		if s.TraceID != logTrace {
			t.Errorf("%q in trace %s, want %s", s.Name, s.TraceID, logTrace)
		}
	}
}

// ingest --otlp sends each build it stores, once; a plain log's spans say
// their times are unknown.
func TestIngestOTLP(t *testing.T) {
	col := otlptest.Start(t)
	db := filepath.Join(t.TempDir(), "h.db")
	env := map[string]string{"HOME": t.TempDir()}
	r := run(t, nil, env, false, "ingest", "--db", db, "--project", "shop", "--otlp", col.HTTP, "--otlp-protocol", "http/protobuf",
		"--otlp-insecure", traceFailRawJSON, traceColdPlain)
	if r.code != 0 || len(sentLine.FindAllString(r.out, -1)) != 2 {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
	}
	if !strings.Contains(r.out, "build #1: sent as trace") || !strings.Contains(r.out, "build #2: sent as trace") ||
		!strings.Contains(r.out, "2 stored, 0 already stored, 0 failed, 2 sent as traces") {
		t.Errorf("stdout %q", r.out)
	}
	want := 0
	for _, m := range sentLine.FindAllStringSubmatch(r.out, -1) {
		n, _ := strconv.Atoi(m[3])
		want += n
	}
	spans := col.Spans(want)
	if len(spans) != want {
		t.Errorf("%d spans received, %d sent", len(spans), want)
	}
	roots := 0
	for _, s := range spans {
		if s.ParentSpanID != "" {
			continue
		}
		roots++
		if s.Name != "docker build shop" || s.Attributes["buildstats.project"] != "shop" {
			t.Errorf("root %q %v", s.Name, s.Attributes)
		}
		if s.Attributes["buildstats.build.format"] == "plain" && s.Attributes["buildstats.times_known"] != false {
			t.Errorf("plain log root: %v", s.Attributes)
		}
	}
	if roots != 2 {
		t.Errorf("%d builds received, want 2", roots)
	}
	n := len(spans)

	// Already stored: nothing is sent again.
	r = run(t, nil, env, false, "ingest", "--db", db, "--project", "shop", "--otlp", "http://"+col.HTTP, traceFailRawJSON)
	if r.code != 0 || strings.Contains(r.out, "sent as trace ") || !strings.Contains(r.out, "1 already stored, 0 failed, 0 sent as traces") {
		t.Errorf("again: exit %d, stdout %q", r.code, r.out)
	}
	time.Sleep(500 * time.Millisecond) // for what the collector would write
	if got := len(col.Spans(0)); got != n {
		t.Errorf("%d spans after ingesting a stored build again, want %d", got, n)
	}
}

// Step names are masked as every command masks them.
func TestTraceMasksSecrets(t *testing.T) {
	col := otlptest.Start(t)
	const token = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"
	data, err := os.ReadFile(traceFailRawJSON)
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "secret.jsonl")
	if err := os.WriteFile(log, []byte(strings.ReplaceAll(string(data), "COPY busybox /bin/busybox", "COPY busybox /bin/"+token)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, map[string]string{"HOME": t.TempDir()}, false, "trace", "--otlp", "http://"+col.HTTP, log)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	found := false
	for _, s := range col.Spans(6) {
		if strings.Contains(s.Name, "ghp_") {
			t.Errorf("span name %q holds the token", s.Name)
		}
		if strings.HasPrefix(s.Name, "[1/2] COPY busybox /bin/") && strings.Contains(s.Name, "***") {
			found = true
		}
	}
	if !found {
		t.Error("no masked COPY step")
	}
}

// Unusable endpoints: one line and exit status 2, before anything is read
// or stored; a collector that is not there fails within the retry bound.
func TestTraceEndpointErrors(t *testing.T) {
	home := t.TempDir()
	db := filepath.Join(home, "h.db")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", traceFailRawJSON}, "no OTLP endpoint"},
		{[]string{"trace", "--otlp", "ftp://h:1", traceFailRawJSON}, `scheme "ftp"`},
		{[]string{"trace", "--otlp", "http://127.0.0.1:1", traceFailRawJSON}, "sending to http://127.0.0.1:1/v1/traces"},
		{[]string{"ingest", "--db", db, "--otlp", "localhost", traceFailRawJSON}, "want a URL"},
	} {
		start := time.Now()
		r := run(t, nil, map[string]string{"HOME": home}, false, c.args...)
		if r.code != 2 || strings.Count(r.err, "buildstats: ") != 1 || !strings.Contains(r.err, c.want) {
			t.Errorf("%v: exit %d, stderr %q", c.args, r.code, r.err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%v took %v", c.args, d)
		}
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("ingest with an unusable endpoint created the history")
	}
	// Environment: the endpoint from OTEL_EXPORTER_OTLP_ENDPOINT.
	r := run(t, nil, map[string]string{"HOME": home, "OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://127.0.0.1:1"}, false, "trace", traceFailRawJSON)
	if r.code != 2 || !strings.Contains(r.err, "sending to http://127.0.0.1:1 (grpc)") {
		t.Errorf("from the environment: exit %d, stderr %q", r.code, r.err)
	}
}

func rootOf(t *testing.T, spans []otlptest.Span) otlptest.Span {
	t.Helper()
	var root *otlptest.Span
	for i, s := range spans {
		if s.ParentSpanID == "" {
			if root != nil {
				t.Fatalf("two roots: %q, %q", root.Name, s.Name)
			}
			root = &spans[i]
		}
	}
	if root == nil {
		t.Fatal("no root span")
	}
	for _, s := range spans {
		if s.ParentSpanID != "" && s.ParentSpanID != root.SpanID {
			t.Errorf("%q: parent %s, want the build %s", s.Name, s.ParentSpanID, root.SpanID)
		}
	}
	return *root
}

// A log on standard input has no file time: its build is sent at the time
// sent, and says so. Terminal controls in a step name are made visible.
func TestTraceStdinAndHostileNames(t *testing.T) {
	col := otlptest.Start(t)
	// A plain log has no clock times; this one names a step with a
	// terminal hyperlink, a bell and a workflow command.
	plain := strings.ReplaceAll(readPlain(t), "COPY busybox /bin/busybox", "COPY busybox /bin/\x1b]8;;http://x\x07bb\x1b]8;;\x07 \x07::error::x")
	r := run(t, strings.NewReader(plain), map[string]string{"HOME": t.TempDir()}, false, "trace", "--otlp", "http://"+col.HTTP, "-")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) // run's clock
	sawCopy := false
	for _, s := range col.Spans(1) {
		if strings.ContainsAny(s.Name, "\x1b\x07") {
			t.Errorf("span name %q holds a control character", s.Name)
		}
		if strings.Contains(s.Name, "COPY busybox") {
			sawCopy = true
			t.Logf("sent as %q", s.Name)
		}
		if !s.Start.Equal(now) {
			t.Errorf("%q starts %v, want the time sent %v", s.Name, s.Start, now)
		}
		if s.ParentSpanID == "" && s.Attributes["buildstats.build.started_source"] != "sent" {
			t.Errorf("root attributes %v", s.Attributes)
		}
	}
	if !sawCopy {
		t.Error("no COPY span")
	}
}

func readPlain(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../fixtures/buildkit-probe/run-fail-plain.log")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

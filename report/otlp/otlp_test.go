package otlp_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/report/otlp"
	"github.com/buildstats/buildstats/report/otlp/otlptest"
	"github.com/buildstats/buildstats/store"
)

const (
	failRawJSON = "../../fixtures/buildkit-probe/run-fail-rawjson.jsonl"
	failPlain   = "../../fixtures/buildkit-probe/run-fail-plain.log"
	failDocker  = "../../fixtures/buildkit-probe/dockerfiles/ctx-fail.Dockerfile"
)

func parseFile(t *testing.T, path string) *model.Build {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := parse.Parse(f, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func send(t *testing.T, ep otlp.Endpoint, builds ...otlp.Build) []otlp.Sent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	x, err := otlp.NewExporter(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close(ctx)
	res, err := otlp.Resource(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	sent, err := x.Send(ctx, builds, res)
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

// TestSendToCollector sends a real failed build (cached, done and failed
// vertices, rawjson times) to a real collector over gRPC and over HTTP and
// reads the spans back from what the collector wrote.
func TestSendToCollector(t *testing.T) {
	col := otlptest.Start(t)
	b := parseFile(t, failRawJSON)
	df, err := dockerfile.ParseFile(failDocker)
	if err != nil {
		t.Fatal(err)
	}
	meta := store.Meta{Project: "shop", Branch: "main", Commit: "0123abcd", RunURL: "https://ci.example/run/7",
		Runner: "runner-1", CIProvider: "github-actions", Dockerfile: "ctx-fail.Dockerfile", ContentHash: "sha256:feed"}
	in := otlp.Build{Build: b, Meta: meta, ID: 42, Explanation: report.Explain(b, report.Options{Dockerfile: df}),
		Pipeline: otlp.Pipeline{Name: "CI", RunID: "7"}}
	wantTrace := otlp.TraceID("sha256:feed").String()

	for i, ep := range []otlp.Endpoint{
		{URL: "grpc://" + col.GRPC},
		{URL: "http://" + col.HTTP},
	} {
		t.Run(ep.URL[:strings.Index(ep.URL, ":")], func(t *testing.T) {
			sent := send(t, ep, in)
			if len(sent) != 1 || sent[0].TraceID != wantTrace || sent[0].Spans != len(b.Vertices)+1 {
				t.Fatalf("sent %+v, want trace %s of %d spans", sent, wantTrace, len(b.Vertices)+1)
			}
			all := col.Spans((i + 1) * (len(b.Vertices) + 1))
			spans := all[i*(len(b.Vertices)+1):]
			checkTrace(t, spans, b, wantTrace)
		})
	}
}

func checkTrace(t *testing.T, spans []otlptest.Span, b *model.Build, wantTrace string) {
	t.Helper()
	if len(spans) != len(b.Vertices)+1 {
		t.Fatalf("%d spans, want %d (vertices + build)", len(spans), len(b.Vertices)+1)
	}
	var root *otlptest.Span
	byName := map[string]otlptest.Span{}
	for i, s := range spans {
		if s.TraceID != wantTrace {
			t.Errorf("span %q in trace %s, want %s", s.Name, s.TraceID, wantTrace)
		}
		if s.ParentSpanID == "" {
			if root != nil {
				t.Fatalf("two root spans: %q and %q", root.Name, s.Name)
			}
			root = &spans[i]
			continue
		}
		byName[s.Name] = s
	}
	if root == nil {
		t.Fatal("no root span")
	}
	if root.Name != "docker build shop" || !root.Start.Equal(b.Started) || !root.End.Equal(b.Completed) {
		t.Errorf("root %q %v..%v, want %v..%v", root.Name, root.Start, root.End, b.Started, b.Completed)
	}
	if root.StatusCode != "error" || !strings.Contains(root.StatusMessage, "exit code: 3") {
		t.Errorf("root status %s %q", root.StatusCode, root.StatusMessage)
	}
	for k, want := range map[string]any{
		"cicd.pipeline.name": "CI", "cicd.pipeline.run.id": "7", "cicd.pipeline.run.url.full": "https://ci.example/run/7",
		"cicd.worker.name": "runner-1", "vcs.ref.head.name": "main", "vcs.ref.head.revision": "0123abcd",
		"vcs.ref.head.type": "branch", "buildstats.build.id": int64(42), "buildstats.build.status": "failed",
		"buildstats.times_known": true, "cicd.pipeline.task.run.result": "failure",
	} {
		if got := root.Attributes[k]; got != want {
			t.Errorf("root %s = %#v, want %#v", k, got, want)
		}
	}
	if root.Resource["service.name"] != "buildstats" || root.Resource["service.version"] != "test" {
		t.Errorf("resource %v", root.Resource)
	}

	states := map[string]int{}
	for _, v := range b.Vertices {
		s, ok := byName[v.Name]
		if !ok {
			t.Errorf("no span for vertex %q", v.Name)
			continue
		}
		if s.ParentSpanID != root.SpanID || !otlptest.IsHexID(s.SpanID, 8) {
			t.Errorf("%q: parent %s span %s, want parent %s", v.Name, s.ParentSpanID, s.SpanID, root.SpanID)
		}
		// rawjson times are to the nanosecond; OTLP carries nanoseconds.
		if !s.Start.Equal(v.Started) || !s.End.Equal(v.Ended) {
			t.Errorf("%q: %v..%v, want %v..%v", v.Name, s.Start, s.End, v.Started, v.Ended)
		}
		if s.Attributes["buildstats.vertex.cached"] != v.Cached || s.Attributes["buildstats.vertex.digest"] != v.Digest ||
			s.Attributes["buildstats.times_known"] != true {
			t.Errorf("%q: attributes %v", v.Name, s.Attributes)
		}
		state := v.State()
		states[string(state)]++
		switch state {
		case model.StateError:
			if s.StatusCode != "error" || s.StatusMessage != v.Error || s.Attributes["buildstats.vertex.exit_code"] != int64(3) {
				t.Errorf("%q: status %s %q, attributes %v", v.Name, s.StatusCode, s.StatusMessage, s.Attributes)
			}
			if s.Attributes["code.line.number"] != int64(3) || s.Attributes["code.file.path"] != "ctx-fail.Dockerfile" {
				t.Errorf("%q: Dockerfile line %v of %v, want 3", v.Name, s.Attributes["code.line.number"], s.Attributes["code.file.path"])
			}
		case model.StateDone, model.StateCached:
			if s.StatusCode != "ok" {
				t.Errorf("%q: status %s", v.Name, s.StatusCode)
			}
		}
		if v.IsStep() && s.Attributes["buildstats.vertex.instruction"] != v.Instruction {
			t.Errorf("%q: instruction %v", v.Name, s.Attributes["buildstats.vertex.instruction"])
		}
	}
	if states["cached"] == 0 || states["done"] == 0 || states["error"] == 0 {
		t.Errorf("the fixture should have cached, done and failed vertices: %v", states)
	}
}

// TestUntimedLog: a plain log states durations but no absolute times; its
// spans are zero-length at the build's start and say so, with the stated
// duration as an attribute. Nothing is sent over the network.
func TestUntimedLog(t *testing.T) {
	col := otlptest.Start(t)
	b := parseFile(t, failPlain)
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sent := send(t, otlp.Endpoint{URL: col.GRPC, Insecure: true},
		otlp.Build{Build: b, Meta: store.Meta{Started: start, StartedSource: "file", ContentHash: "plain"}})
	spans := col.Spans(sent[0].Spans)
	if len(spans) != len(b.Vertices)+1 {
		t.Fatalf("%d spans, want %d", len(spans), len(b.Vertices)+1)
	}
	timed := 0
	for _, s := range spans {
		if s.Attributes["buildstats.times_known"] != false {
			t.Errorf("%q: times_known %v", s.Name, s.Attributes["buildstats.times_known"])
		}
		if !s.Start.Equal(start) {
			t.Errorf("%q starts %v, want the build's start %v", s.Name, s.Start, start)
		}
		if s.ParentSpanID == "" {
			if s.Attributes["buildstats.build.started_source"] != "file" || s.Name != "docker build" {
				t.Errorf("root %q attributes %v", s.Name, s.Attributes)
			}
			continue
		}
		if !s.End.Equal(s.Start) {
			t.Errorf("%q: %v..%v, want zero length", s.Name, s.Start, s.End)
		}
		if _, ok := s.Attributes["buildstats.duration_ns"]; ok {
			timed++
		}
	}
	if timed == 0 {
		t.Error("no vertex span carries the log's stated duration")
	}
}

// TestSameBuildSameTrace: sending a build twice gives the same ids.
func TestSameBuildSameTrace(t *testing.T) {
	col := otlptest.Start(t)
	b := parseFile(t, failRawJSON)
	in := otlp.Build{Build: b, Meta: store.Meta{ContentHash: "sha256:abc"}}
	ep := otlp.Endpoint{URL: "http://" + col.HTTP}
	first, second := send(t, ep, in), send(t, ep, in)
	if first[0].TraceID != second[0].TraceID {
		t.Errorf("trace ids %s and %s", first[0].TraceID, second[0].TraceID)
	}
	spans := col.Spans(2 * first[0].Spans)
	n := first[0].Spans
	for i := 0; i < n; i++ {
		if spans[i].SpanID != spans[n+i].SpanID || spans[i].TraceID != spans[n+i].TraceID {
			t.Errorf("span %d: %s/%s then %s/%s", i, spans[i].TraceID, spans[i].SpanID, spans[n+i].TraceID, spans[n+i].SpanID)
		}
	}
}

// TestCollectorDown: an endpoint with nothing listening is an error within
// the exporter's retry bound, not a hang.
func TestCollectorDown(t *testing.T) {
	b := parseFile(t, failRawJSON)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	x, err := otlp.NewExporter(ctx, otlp.Endpoint{URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close(ctx)
	if _, err := x.Send(ctx, []otlp.Build{{Build: b}}, nil); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("err = %v", err)
	}
}

func TestEndpoints(t *testing.T) {
	for _, c := range []struct {
		ep      otlp.Endpoint
		want    string // Description, or the error's start
		wantErr bool
	}{
		{otlp.Endpoint{URL: "http://localhost:4318"}, "http://localhost:4318/v1/traces (http/protobuf)", false},
		{otlp.Endpoint{URL: "https://otel.example:443/otlp/v1/traces"}, "https://otel.example:443/otlp/v1/traces (http/protobuf)", false},
		{otlp.Endpoint{URL: "http://localhost:4317", Protocol: "grpc"}, "http://localhost:4317 (grpc)", false},
		{otlp.Endpoint{URL: "grpcs://otel.example:4317"}, "https://otel.example:4317 (grpc)", false},
		{otlp.Endpoint{URL: "localhost:4317"}, "https://localhost:4317 (grpc)", false},
		{otlp.Endpoint{URL: "localhost:4317", Insecure: true}, "http://localhost:4317 (grpc)", false},
		{otlp.Endpoint{URL: "localhost:4318", Protocol: "http/protobuf", Insecure: true}, "http://localhost:4318/v1/traces (http/protobuf)", false},
		{otlp.Endpoint{URL: "http://user:pw@localhost:4318"}, "OTLP endpoint: credentials", true},
		{otlp.Endpoint{URL: "ftp://localhost:21"}, "OTLP endpoint \"ftp://localhost:21\": scheme", true},
		{otlp.Endpoint{URL: "http://localhost"}, "OTLP endpoint \"http://localhost\": no port", true},
		{otlp.Endpoint{URL: "localhost"}, "OTLP endpoint \"localhost\": want a URL", true},
		{otlp.Endpoint{URL: "grpc://h:1", Protocol: "http/protobuf"}, "OTLP endpoint \"grpc://h:1\" is gRPC", true},
		{otlp.Endpoint{URL: "h:1", Protocol: "thrift"}, "OTLP protocol \"thrift\"", true},
	} {
		x, err := otlp.NewExporter(context.Background(), c.ep)
		switch {
		case c.wantErr && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
			t.Errorf("%+v: err %v, want %q", c.ep, err, c.want)
		case !c.wantErr && err != nil:
			t.Errorf("%+v: %v", c.ep, err)
		case !c.wantErr && x.Description != c.want:
			t.Errorf("%+v: %q, want %q", c.ep, x.Description, c.want)
		}
		if x != nil {
			x.Close(context.Background())
		}
	}
}

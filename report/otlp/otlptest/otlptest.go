// Package otlptest runs a real OpenTelemetry Collector for tests: an OTLP
// receiver (gRPC and HTTP) on loopback ports and the file exporter writing
// what it receives as OTLP JSON, which Spans reads back.
//
// The collector is built by report/otlp/install-test-deps.sh (.ci/run runs
// it). Without it the tests skip and say why; in CI (CI or
// BUILDSTATS_REQUIRE_DAEMONS set) they fail instead.
package otlptest

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Version is the collector version install-test-deps.sh builds by default.
const Version = "v0.161.0"

// InstallHint says how to get the collector.
const InstallHint = "run report/otlp/install-test-deps.sh"

// Binary is the collector's path: $BUILDSTATS_OTELCOL_DIR/bin, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/buildstats/otelcol-<Version>/bin.
func Binary() string {
	dir := os.Getenv("BUILDSTATS_OTELCOL_DIR")
	if dir == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				home = "/root"
			}
			cache = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(cache, "buildstats", "otelcol-"+Version)
	}
	return filepath.Join(dir, "bin", "otelcol-buildstats")
}

// Collector is a running collector.
type Collector struct {
	// GRPC and HTTP are the receiver's host:port addresses.
	GRPC, HTTP string
	out        string
	cmd        *exec.Cmd
	done       chan struct{}
	t          testing.TB
}

func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("BUILDSTATS_REQUIRE_DAEMONS") != "" || os.Getenv("CI") != "" {
		t.Fatalf("%s (in CI the collector is required)", msg)
	}
	t.Skip(msg)
}

// Start starts a collector for t and stops it, by its PID, when t ends.
func Start(t testing.TB) *Collector {
	t.Helper()
	bin := Binary()
	if _, err := os.Stat(bin); err != nil {
		unavailable(t, "OpenTelemetry Collector not found at %s; %s", bin, InstallHint)
	}
	dir := t.TempDir()
	c := &Collector{GRPC: freeAddr(t), HTTP: freeAddr(t), out: filepath.Join(dir, "traces.jsonl"), done: make(chan struct{}), t: t}
	// No telemetry of its own: its metrics port (8888) would collide with
	// other collectors on the machine.
	config := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
exporters:
  file:
    path: %s
    flush_interval: 50ms
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
`, c.GRPC, c.HTTP, c.out)
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "collector.log"))
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(bin, "--config", "file:"+cfg)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start collector: %v", err)
	}
	go func() { c.cmd.Wait(); logf.Close(); close(c.done) }()
	t.Cleanup(c.stop)
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range []string{c.GRPC, c.HTTP} {
		for {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-c.done:
				log, _ := os.ReadFile(logf.Name())
				t.Fatalf("collector exited: %s", log)
			default:
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(logf.Name())
				t.Fatalf("collector not listening on %s after 30s: %s", addr, log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// stop ends the collector by its PID: SIGTERM, then SIGKILL after 10s.
func (c *Collector) stop() {
	if c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.t.Logf("collector (pid %d) ignored SIGTERM for 10s; killing it", c.cmd.Process.Pid)
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Span is a span as the collector received it.
type Span struct {
	TraceID, SpanID, ParentSpanID string
	Name                          string
	Start, End                    time.Time
	// Attributes are the span's attributes: string, bool, int64, float64
	// or []any values.
	Attributes map[string]any
	// StatusCode is "unset", "ok" or "error".
	StatusCode    string
	StatusMessage string
	// Resource holds the resource's attributes.
	Resource map[string]any
}

// Spans waits up to 20s until the collector has written at least n spans
// and returns every span it has written.
func (c *Collector) Spans(n int) []Span {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		spans, err := c.read()
		if err != nil {
			c.t.Fatal(err)
		}
		if len(spans) >= n || time.Now().After(deadline) {
			return spans
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The file exporter's JSON: OTLP's JSON mapping of
// ExportTraceServiceRequest, one per line.
type fileLine struct {
	ResourceSpans []struct {
		Resource struct {
			Attributes []kv `json:"attributes"`
		} `json:"resource"`
		ScopeSpans []struct {
			Spans []struct {
				TraceID           string `json:"traceId"`
				SpanID            string `json:"spanId"`
				ParentSpanID      string `json:"parentSpanId"`
				Name              string `json:"name"`
				StartTimeUnixNano string `json:"startTimeUnixNano"`
				EndTimeUnixNano   string `json:"endTimeUnixNano"`
				Attributes        []kv   `json:"attributes"`
				Status            struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"status"`
			} `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

type kv struct {
	Key   string   `json:"key"`
	Value anyValue `json:"value"`
}

type anyValue struct {
	StringValue *string  `json:"stringValue"`
	BoolValue   *bool    `json:"boolValue"`
	IntValue    *string  `json:"intValue"` // int64 as a JSON string
	DoubleValue *float64 `json:"doubleValue"`
	ArrayValue  *struct {
		Values []anyValue `json:"values"`
	} `json:"arrayValue"`
}

func (v anyValue) value() any {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.BoolValue != nil:
		return *v.BoolValue
	case v.IntValue != nil:
		n, _ := strconv.ParseInt(*v.IntValue, 10, 64)
		return n
	case v.DoubleValue != nil:
		return *v.DoubleValue
	case v.ArrayValue != nil:
		var out []any
		for _, x := range v.ArrayValue.Values {
			out = append(out, x.value())
		}
		return out
	}
	return nil
}

func attrs(kvs []kv) map[string]any {
	m := map[string]any{}
	for _, a := range kvs {
		m[a.Key] = a.Value.value()
	}
	return m
}

func unixNano(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (c *Collector) read() ([]Span, error) {
	f, err := os.Open(c.out)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Span
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var l fileLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			// A line being written: read again later.
			return out, nil
		}
		for _, rs := range l.ResourceSpans {
			res := attrs(rs.Resource.Attributes)
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					code := map[int]string{0: "unset", 1: "ok", 2: "error"}[s.Status.Code]
					out = append(out, Span{TraceID: s.TraceID, SpanID: s.SpanID, ParentSpanID: s.ParentSpanID, Name: s.Name,
						Start: unixNano(s.StartTimeUnixNano), End: unixNano(s.EndTimeUnixNano), Attributes: attrs(s.Attributes),
						StatusCode: code, StatusMessage: s.Status.Message, Resource: res})
				}
			}
		}
	}
	return out, sc.Err()
}

// IsHexID reports whether s is a hex id of n bytes.
func IsHexID(s string, n int) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == n
}

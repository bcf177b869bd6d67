package buildkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/collect/daemontest"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
)

// readStatuses decodes the SolveStatus lines of a rawjson log into BuildKit's
// own type, as a live client receives them. Non-JSON lines (the error
// trailer of a failed build) are returned apart.
func readStatuses(t testing.TB, path string) (sts []*client.SolveStatus, jsonLines []byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var st client.SolveStatus
		if err := json.Unmarshal(line, &st); err != nil {
			continue
		}
		sts = append(sts, &st)
		jsonLines = append(append(jsonLines, line...), '\n')
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sts, jsonLines
}

// TestConvertMatchesRawJSONFixtures feeds the real rawjson fixtures through
// BuildKit's client type and Convert, and checks the record equals what
// parse.ParseRawJSON makes of the same lines.
func TestConvertMatchesRawJSONFixtures(t *testing.T) {
	paths, _ := filepath.Glob("../../fixtures/buildkit-probe/*rawjson*.jsonl")
	if len(paths) == 0 {
		t.Fatal("no rawjson fixtures found under fixtures/buildkit-probe")
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			sts, lines := readStatuses(t, p)
			if len(sts) == 0 {
				t.Fatal("no status lines")
			}
			rec := parse.NewRecorder()
			for _, st := range sts {
				rec.Add(Convert(st))
			}
			live := rec.Build()
			file, err := parse.ParseRawJSON(bytes.NewReader(lines))
			if err != nil {
				t.Fatal(err)
			}
			if len(live.Vertices) == 0 {
				t.Fatal("no vertices recorded")
			}
			if a, b := daemontest.ModelJSON(t, live), daemontest.ModelJSON(t, file); a != b {
				t.Fatalf("live record differs from the rawjson parse: %s", daemontest.FirstDiff(a, b))
			}
		})
	}
}

// TestConvertEdgeCases covers what real streams rarely carry: invalid UTF-8
// (JSON replaces it), nil entries, monotonic clock readings.
func TestConvertEdgeCases(t *testing.T) {
	now := time.Now() // carries a monotonic reading
	later := now.Add(1500 * time.Millisecond)
	d := digest.FromString("x")
	sts := []*client.SolveStatus{
		{Vertexes: []*client.Vertex{nil, {Digest: d, Name: "[1/1] RUN echo \xff\xfe bad", Started: &now}}},
		{Logs: []*client.VertexLog{nil, {Vertex: d, Data: []byte("partial "), Timestamp: now}}, Statuses: []*client.VertexStatus{nil}},
		{Logs: []*client.VertexLog{{Vertex: d, Data: []byte("line\nnext\n"), Timestamp: later}}},
		{Warnings: []*client.VertexWarning{nil, {Vertex: d, Short: []byte("careful"), Level: 1}}},
		{Vertexes: []*client.Vertex{{Digest: d, Name: "[1/1] RUN echo \xff\xfe bad", Started: &now, Completed: &later, Error: "exit code: 2 \xc3"}}},
		nil,
	}
	rec := parse.NewRecorder()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, st := range sts {
		rec.Add(Convert(st))
		if st != nil {
			enc.Encode(st)
		}
	}
	live := rec.Build()
	file, err := parse.ParseRawJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := daemontest.ModelJSON(t, live), daemontest.ModelJSON(t, file); a != b {
		t.Fatalf("live record differs from the JSON round trip: %s", daemontest.FirstDiff(a, b))
	}
	v := live.Vertices[0]
	if !strings.Contains(v.Name, "\uFFFD\uFFFD") || v.ExitCode != 2 || v.Duration != 1500*time.Millisecond {
		t.Fatalf("vertex = %+v", v)
	}
	if got := strings.Join(v.Output, "|"); got != "partial line|next" {
		t.Fatalf("output = %q", got)
	}
}

// TestProgressUIRawJSONRoundTrip checks the claim the live test relies on:
// progressui's rawjson display writes lines ParseRawJSON reads back into the
// record the recorder makes of the same updates.
func TestProgressUIRawJSONRoundTrip(t *testing.T) {
	sts, _ := readStatuses(t, "../../fixtures/buildkit-probe/multistage-rawjson-nocache.jsonl")
	var buf bytes.Buffer
	disp, err := progressui.NewDisplay(&buf, progressui.RawJSONMode)
	if err != nil {
		t.Fatal(err)
	}
	in := make(chan *client.SolveStatus)
	out := make(chan *client.SolveStatus)
	rec := parse.NewRecorder()
	go func() {
		for _, st := range sts {
			in <- st
		}
		close(in)
	}()
	go Record(rec, in, out)
	if _, err := disp.UpdateFrom(t.Context(), out); err != nil {
		t.Fatal(err)
	}
	live := rec.Build()
	file, err := parse.ParseRawJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := daemontest.ModelJSON(t, live), daemontest.ModelJSON(t, file); a != b {
		t.Fatalf("differs: %s", daemontest.FirstDiff(a, b))
	}
}

func TestParseOutputs(t *testing.T) {
	dir := t.TempDir()
	ok := []string{
		"type=image,name=app:dev",
		"type=oci,dest=" + filepath.Join(dir, "o.tar"),
		"type=local,dest=" + dir,
		"type=docker,tar=false,dest=" + filepath.Join(dir, "d"),
	}
	ents, err := ParseOutputs(ok)
	if err != nil {
		t.Fatal(err)
	}
	if ents[0].Type != "image" || ents[0].Attrs["name"] != "app:dev" || ents[1].Output == nil || ents[2].OutputDir != dir || ents[3].OutputDir == "" {
		t.Fatalf("entries = %+v", ents)
	}
	if _, err := os.Stat(filepath.Join(dir, "o.tar")); err == nil {
		t.Fatal("the oci destination was created before the exporter asked for it")
	}
	for _, bad := range []string{"name=x", "type=local", "type=tar", "type=oci,dest=-", "type=image,broken", `type="unterminated`} {
		if _, err := ParseOutputs([]string{bad}); err == nil {
			t.Errorf("ParseOutputs(%q): no error", bad)
		}
	}
}

func TestApplyExcerpt(t *testing.T) {
	b := &model.Build{}
	applyExcerpt(b, "Dockerfile:3\n--------------------\n   2 |     COPY a b\n   3 | >>> RUN make   \n--------------------\n")
	if b.ErrorFile != "Dockerfile" || b.ErrorLine != 3 || len(b.ErrorContext) != 2 || b.ErrorContext[1] != "   3 | >>> RUN make   " {
		t.Fatalf("got %q:%d %q", b.ErrorFile, b.ErrorLine, b.ErrorContext)
	}
}

func TestGRPCMessage(t *testing.T) {
	got := grpcMessage(errorString("failed to solve: rpc error: code = Unknown desc = exit code: 3"))
	if got != "failed to solve: exit code: 3" {
		t.Fatalf("got %q", got)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

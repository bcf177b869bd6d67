package docker

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/collect"
	"github.com/buildstats/buildstats/collect/daemontest"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	controlapi "github.com/moby/buildkit/api/services/control"
	bkclient "github.com/moby/buildkit/client"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestDecodeTrace(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 5, time.UTC)
	resp := &controlapi.StatusResponse{
		Vertexes: []*controlapi.Vertex{{Digest: "sha256:aa", Name: "[1/1] RUN x", Started: timestamppb.New(now), Inputs: []string{"sha256:bb"}}},
		Logs:     []*controlapi.VertexLog{{Vertex: "sha256:aa", Msg: []byte("hi\n"), Timestamp: timestamppb.New(now)}},
	}
	data, err := resp.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	aux, _ := json.Marshal(data) // a JSON string of base64, as dockerd sends it
	ss, err := DecodeTrace(aux)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss.Vertexes) != 1 || ss.Vertexes[0].Name != "[1/1] RUN x" || !ss.Vertexes[0].Started.Equal(now) || ss.Vertexes[0].Inputs[0] != "sha256:bb" || string(ss.Logs[0].Data) != "hi\n" {
		t.Fatalf("decoded %+v", ss)
	}
	for _, bad := range []string{`12`, `"!!notbase64"`, `"` + "AAEC" + `"`} {
		if _, err := DecodeTrace(json.RawMessage(bad)); err == nil {
			t.Errorf("DecodeTrace(%s): no error", bad)
		}
	}
}

func TestDecodeStream(t *testing.T) {
	resp := &controlapi.StatusResponse{Vertexes: []*controlapi.Vertex{{Digest: "sha256:aa", Name: "[1/1] COPY a b"}}}
	data, _ := resp.MarshalVT()
	aux, _ := json.Marshal(data)
	stream := fmt.Sprintf(`{"id":"moby.buildkit.trace","aux":%s}
{"stream":"plain text\n"}
{"id":"moby.image.id","aux":{"ID":"sha256:123"}}
`, aux)
	ch := make(chan *bkclient.SolveStatus, 4)
	var out bytes.Buffer
	st, err := decodeStream(strings.NewReader(stream), ch, &out)
	if err != nil || st.imageID != "sha256:123" || !st.sawEnd || st.buildErr != "" || len(ch) != 1 || out.String() != "plain text\n" {
		t.Fatalf("state %+v err %v, %d statuses, out %q", st, err, len(ch), out.String())
	}
	st, err = decodeStream(strings.NewReader(`{"errorDetail":{"message":"exit code: 3"},"error":"exit code: 3"}`), ch, &out)
	if err != nil || st.buildErr != "exit code: 3" || !st.sawEnd {
		t.Fatalf("error message: %+v %v", st, err)
	}
	// A connection cut mid-message.
	st, err = decodeStream(strings.NewReader(`{"id":"moby.buildkit.trace","aux":"AAE`), ch, &out)
	if err == nil || st.sawEnd {
		t.Fatalf("truncated stream: %+v %v", st, err)
	}
}

func TestContextTar(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"Dockerfile": "FROM scratch\n", ".dockerignore": "secret\n*.log\nbuild/\n!build/keep.txt\nDockerfile\n",
		"a.txt": "a", "secret": "s", "x.log": "l", "build/drop.txt": "d", "build/keep.txt": "k", "sub/b.txt": "b",
	}
	for name, c := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(c), 0o644)
	}
	names := func(r io.ReadCloser) []string {
		defer r.Close()
		var got []string
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Uid != 0 || h.Gid != 0 {
				t.Errorf("%s owned by %d:%d", h.Name, h.Uid, h.Gid)
			}
			if h.Typeflag == tar.TypeReg {
				got = append(got, h.Name)
			}
		}
		sort.Strings(got)
		return got
	}
	r, df, err := contextTar(dir, "")
	if err != nil || df != "Dockerfile" {
		t.Fatal(df, err)
	}
	if got, want := strings.Join(names(r), " "), ".dockerignore Dockerfile a.txt build/keep.txt sub/b.txt"; got != want {
		t.Fatalf("tar holds %q, want %q", got, want)
	}
	// A Dockerfile outside the context travels under a random name.
	outside := filepath.Join(t.TempDir(), "Other.Dockerfile")
	os.WriteFile(outside, []byte("FROM scratch\n"), 0o644)
	r, df, err = contextTar(dir, outside)
	if err != nil || !strings.HasPrefix(df, ".dockerfile.") {
		t.Fatal(df, err)
	}
	if got := names(r); !contains(got, df) {
		t.Fatalf("outside Dockerfile %s missing from %q", df, got)
	}
	if _, _, err := contextTar(dir, filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing Dockerfile: no error")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestMatchLayersFixture matches the real history of the features image
// (fixtures/buildkit-probe) to the steps of its rawjson record.
func TestMatchLayersFixture(t *testing.T) {
	f, err := os.Open("../../fixtures/buildkit-probe/features-rawjson-nocache.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	b, err := parse.ParseRawJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	hf, err := os.Open("../../fixtures/buildkit-probe/docker-history-features.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	var layers []Layer
	sc := bufio.NewScanner(hf)
	for sc.Scan() {
		var h struct{ CreatedBy, Comment, Size string }
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			t.Fatal(err)
		}
		// docker history prints sizes like "4.19MB"; any non-zero will do.
		var size int64
		if h.Size != "0B" {
			size = int64(len(h.Size))
		}
		layers = append([]Layer{{CreatedBy: h.CreatedBy, Comment: h.Comment, Size: size}}, layers...)
	}
	got := MatchLayers(b, layers)
	matched := map[string]string{}
	for _, l := range got {
		if l.VertexID != "" {
			matched[l.Layer.CreatedBy] = l.Step
		}
	}
	want := map[string]string{
		"COPY busybox /bin/busybox # buildkit": "[stage-0 1/5] COPY busybox /bin/busybox",
		"COPY data.txt /data/ # buildkit":      "[stage-0 2/5] COPY data.txt /data/",
		"WORKDIR /app":                         "[stage-0 5/5] WORKDIR /app",
	}
	for hist, step := range want {
		if matched[hist] != step {
			t.Errorf("%q matched to %q, want %q", hist, matched[hist], step)
		}
	}
	runs := 0
	for hist, step := range matched {
		if strings.HasPrefix(hist, "RUN") {
			runs++
			if !strings.Contains(step, "RUN") || (strings.Contains(hist, "dd if") != strings.Contains(step, "dd if")) {
				t.Errorf("%q matched to %q", hist, step)
			}
		}
	}
	if runs != 2 || len(matched) != 5 {
		t.Errorf("matched %d layers (%d RUN): %q", len(matched), runs, matched)
	}
}

func TestHistoryStep(t *testing.T) {
	for _, c := range []struct{ in, instr, args string }{
		{"RUN |1 VERSION=2.5 /bin/sh -c make # buildkit", "RUN", "/bin/sh -c make"},
		{"RUN |2 A=1 B=2 make", "RUN", "make"},
		{"COPY --from=base /a /b # buildkit", "COPY", "--from=base /a /b"},
		{"ENV A=1", "", ""},
		{"/bin/sh -c #(nop)  CMD [\"sh\"]", "", ""},
		{"", "", ""},
	} {
		if i, a := historyStep(c.in); i != c.instr || a != c.args {
			t.Errorf("historyStep(%q) = %q, %q", c.in, i, a)
		}
	}
	if !stepMatches("RUN", `--mount=type=cache,target=/c ["/bin/busybox","sh","-c","echo hi"]`, "/bin/busybox sh -c echo hi") ||
		!stepMatches("RUN", "make all", "/bin/sh -c make all") ||
		stepMatches("RUN", "make", "/bin/sh -c make all") ||
		!stepMatches("COPY", "--from=second /a.txt /final.txt", "/a.txt /final.txt") {
		t.Fatal("stepMatches")
	}
}

// --- real dockerd ---------------------------------------------------------

func dockerBuild(t *testing.T, d *daemontest.Dockerd, opts BuildOptions) (*Result, error) {
	t.Helper()
	var progress bytes.Buffer
	opts.Host, opts.NetworkMode = d.Host, "none" // the test daemon has no bridge
	if opts.ProgressOut == nil {
		opts.Progress, opts.ProgressOut = "rawjson", &progress
	}
	var recorded string
	testHookRecorded = func(b *model.Build) { recorded = daemontest.ModelJSON(t, b) }
	defer func() { testHookRecorded = nil }()
	res, err := Build(t.Context(), opts)
	if recorded != "" && opts.Progress == "rawjson" {
		daemontest.CheckRawJSON(t, recorded, progress.Bytes())
	}
	return res, err
}

func TestDockerBuildLayers(t *testing.T) {
	d := daemontest.StartDocker(t)
	dir := daemontest.Context(t, daemontest.Simple+"COPY big.bin /big.bin\nENV A=1\n", map[string]string{"big.bin": strings.Repeat("x", 300_000)})
	res, err := dockerBuild(t, d, BuildOptions{ContextDir: dir, Tags: []string{"bs-test:layers"}})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, d.Log())
	}
	b := res.Build
	if b.Status != model.StatusSucceeded || !strings.HasPrefix(res.ImageID, "sha256:") || !contains(b.ImageNames, "bs-test:layers") {
		t.Fatalf("status %s image %q names %q", b.Status, res.ImageID, b.ImageNames)
	}
	run := daemontest.VertexNamed(t, b, "RUN")
	if run.Cached || !run.HasDuration || !strings.Contains(strings.Join(run.Output, "\n"), "hello from run") {
		t.Fatalf("RUN vertex %+v", run)
	}
	if res.LayersErr != nil {
		t.Fatal(res.LayersErr)
	}
	sizes := map[string]int64{}
	for _, l := range res.Layers {
		if l.VertexID != "" {
			sizes[l.Step] = l.Layer.Size
		}
	}
	bb, big := daemontest.VertexNamed(t, b, "COPY busybox"), daemontest.VertexNamed(t, b, "COPY big.bin")
	if s := sizes[bb.Name]; s < 500_000 {
		t.Errorf("busybox layer %d bytes", s)
	}
	if s := sizes[big.Name]; s < 300_000 || s > 310_000 {
		t.Errorf("big.bin layer %d bytes", s)
	}
	if _, ok := sizes[run.Name]; !ok {
		t.Errorf("RUN layer not matched: %+v", res.Layers)
	}
	// The sizes travel with the build record, so they are stored.
	if !big.HasLayerBytes || big.LayerBytes != sizes[big.Name] {
		t.Errorf("big.bin vertex layer bytes %d (set %v), want %d", big.LayerBytes, big.HasLayerBytes, sizes[big.Name])
	}

	// Warm: cache hits recorded.
	warm, err := dockerBuild(t, d, BuildOptions{ContextDir: dir, Tags: []string{"bs-test:layers"}})
	if err != nil {
		t.Fatal(err)
	}
	if v := daemontest.VertexNamed(t, warm.Build, "RUN"); !v.Cached {
		t.Errorf("warm RUN not cached")
	}

	// `buildstats layers` for any local image.
	layers, err := Layers(t.Context(), d.Host, "bs-test:layers")
	if err != nil || len(layers) < 3 {
		t.Fatalf("Layers: %d, %v", len(layers), err)
	}
	if _, err := Layers(t.Context(), d.Host, "no-such-image:x"); err == nil || errors.Is(err, collect.ErrDaemonUnavailable) {
		t.Fatalf("missing image: %v", err)
	}
}

func TestDockerFailingRun(t *testing.T) {
	d := daemontest.StartDocker(t)
	dir := daemontest.Context(t, daemontest.Failing, nil)
	res, err := dockerBuild(t, d, BuildOptions{ContextDir: dir})
	if err == nil || errors.Is(err, collect.ErrDaemonLost) {
		t.Fatalf("err = %v", err)
	}
	b := res.Build
	run := daemontest.VertexNamed(t, b, "RUN")
	if b.Status != model.StatusFailed || run.ExitCode != 3 || !strings.Contains(b.Error, "exit code: 3") {
		t.Fatalf("status %s exit %d error %q", b.Status, run.ExitCode, b.Error)
	}
	if out := strings.Join(run.Output, "\n"); !strings.Contains(out, "line 5") || !strings.Contains(out, "oops") {
		t.Fatalf("output %q", out)
	}
}

func TestDockerCancelAndKill(t *testing.T) {
	d := daemontest.StartDocker(t)
	dir, marker := daemontest.SlowContext(t)

	// Cancel.
	w := daemontest.NewSignalWriter("started " + marker)
	started := w.Seen()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		select {
		case <-started:
		case <-time.After(30 * time.Second):
		}
		cancel()
	}()
	res, err := Build(ctx, BuildOptions{Host: d.Host, NetworkMode: "none", ContextDir: dir, Progress: "plain", ProgressOut: w})
	cancel()
	if !errors.Is(err, context.Canceled) || res == nil || res.Build == nil {
		t.Fatalf("cancel: err %v, result %+v", err, res)
	}
	if run := daemontest.VertexNamed(t, res.Build, "RUN"); !run.Canceled || res.Build.Status != model.StatusCanceled {
		t.Fatalf("cancelled RUN %+v", run)
	}
	daemontest.WaitNoProcesses(t, marker, 20*time.Second)

	// Daemon killed mid-build.
	w = daemontest.NewSignalWriter("started " + marker)
	started = w.Seen()
	go func() {
		select {
		case <-started:
			d.Kill()
		case <-time.After(30 * time.Second):
		}
	}()
	res, err = Build(t.Context(), BuildOptions{Host: d.Host, NetworkMode: "none", ContextDir: dir, NoCache: true, Progress: "plain", ProgressOut: w})
	if !errors.Is(err, collect.ErrDaemonLost) {
		t.Fatalf("killed daemon: err = %v", err)
	}
	if res != nil && res.Build != nil {
		t.Fatal("half a build recorded")
	}
	d.Stop()
	daemontest.WaitNoProcesses(t, marker, 20*time.Second)
}

func TestDockerNotThere(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	res, err := Build(t.Context(), BuildOptions{Host: "unix://" + filepath.Join(dir, "no.sock"), ContextDir: dir, Progress: "quiet"})
	if !errors.Is(err, collect.ErrDaemonUnavailable) || res != nil {
		t.Fatalf("err = %v, res %+v", err, res)
	}
	if !strings.Contains(err.Error(), "no.sock") || !strings.Contains(err.Error(), "DOCKER_HOST") {
		t.Fatalf("unhelpful error: %v", err)
	}
	if _, err := Layers(t.Context(), "unix://"+filepath.Join(dir, "no.sock"), "x"); !errors.Is(err, collect.ErrDaemonUnavailable) {
		t.Fatalf("Layers: %v", err)
	}
}

// TestEngineBuildKitWithoutHistory reaches the engine's own BuildKit over
// the Engine API; Docker 20.10 embeds one older than the history API, so
// asking for the history is refused naming the engine's version.
func TestEngineBuildKitWithoutHistory(t *testing.T) {
	d := daemontest.StartDocker(t)
	c, name, err := EngineBuildKit(t.Context(), d.Host, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListWorkers(t.Context()); err != nil {
		t.Fatalf("the engine's BuildKit does not answer over /grpc: %v", err)
	}
	c.Close()
	if !strings.Contains(name, "Docker Engine 20.10") {
		t.Errorf("name %q does not give the engine version", name)
	}
	_, _, err = EngineBuildKit(t.Context(), d.Host, true)
	if !errors.Is(err, ErrNoHistoryAPI) || !strings.Contains(err.Error(), "Docker Engine 20.10") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v, want ErrNoHistoryAPI naming the engine version on one line", err)
	}
	t.Log(err)
}

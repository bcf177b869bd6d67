package buildkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/collect"
	"github.com/buildstats/buildstats/collect/daemontest"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/solver/errdefs"
)

// These tests run real builds on a private buildkitd (see daemontest); they
// skip, saying why, where it cannot run.

// rawjsonBuild runs opts with the rawjson display into a buffer and checks
// that the live record equals parse.ParseRawJSON of what the display wrote:
// the two paths, stream and file, must agree for every build.
func rawjsonBuild(t *testing.T, opts BuildOptions) (*Result, error) {
	t.Helper()
	res, _, err := rawjsonBuildOutput(t, opts)
	return res, err
}

// rawjsonBuildOutput is rawjsonBuild that also returns the rawjson output.
func rawjsonBuildOutput(t *testing.T, opts BuildOptions) (*Result, []byte, error) {
	t.Helper()
	var progress bytes.Buffer
	opts.Progress, opts.ProgressOut = "rawjson", &progress
	var recorded string
	testHookRecorded = func(b *model.Build) { recorded = daemontest.ModelJSON(t, b) }
	defer func() { testHookRecorded = nil }()
	res, err := Build(t.Context(), opts)
	if recorded != "" {
		daemontest.CheckRawJSON(t, recorded, progress.Bytes())
	}
	return res, progress.Bytes(), err
}

func TestLiveColdWarmEqualsRawJSON(t *testing.T) {
	d := daemontest.StartBuildKit(t)
	dir := daemontest.Context(t, daemontest.Simple, nil)
	opts := BuildOptions{Addr: d.Addr, ContextDir: dir}

	cold, err := rawjsonBuild(t, opts)
	if err != nil {
		t.Fatalf("cold build: %v", err)
	}
	b := cold.Build
	if b.Status != model.StatusSucceeded || !b.HasDuration || b.Started.IsZero() || cold.Ref == "" {
		t.Fatalf("cold build record: status %s duration %v started %v ref %q", b.Status, b.Duration, b.Started, cold.Ref)
	}
	run := daemontest.VertexNamed(t, b, "RUN")
	if run.Cached || !run.HasDuration || run.Started.IsZero() || !run.Ended.After(run.Started) {
		t.Fatalf("cold RUN vertex: %+v", run)
	}
	if run.Index != 2 || run.Total != 2 || run.Instruction != "RUN" {
		t.Fatalf("RUN label not parsed: %+v", run)
	}
	if !strings.Contains(strings.Join(run.Output, "\n"), "hello from run") {
		t.Fatalf("RUN output %q lacks the echo", run.Output)
	}
	// The graph: RUN depends on the COPY vertex, by digest.
	cp := daemontest.VertexNamed(t, b, "COPY busybox")
	if len(run.Inputs) != 1 || run.Inputs[0] != cp.Digest || cp.Digest == "" {
		t.Fatalf("RUN inputs %q, COPY digest %q", run.Inputs, cp.Digest)
	}
	if !strings.HasPrefix(b.Builder, "buildkit unix://") {
		t.Fatalf("builder %q", b.Builder)
	}

	warm, err := rawjsonBuild(t, opts)
	if err != nil {
		t.Fatalf("warm build: %v", err)
	}
	for _, name := range []string{"RUN", "COPY busybox"} {
		if v := daemontest.VertexNamed(t, warm.Build, name); !v.Cached || v.Ran() {
			t.Errorf("warm %s: cached=%v ran=%v", name, v.Cached, v.Ran())
		}
	}
	if warm.Ref == cold.Ref {
		t.Fatal("two builds got the same history ref")
	}
}

// criticalPath is the longest chain of vertex durations through the Inputs
// graph, what a perfectly parallel builder could not beat.
func criticalPath(b *model.Build) time.Duration {
	byDigest := map[string]*model.Vertex{}
	for _, v := range b.Vertices {
		byDigest[v.Digest] = v
	}
	memo := map[string]time.Duration{}
	var longest func(v *model.Vertex) time.Duration
	longest = func(v *model.Vertex) time.Duration {
		if d, ok := memo[v.Digest]; ok {
			return d
		}
		var best time.Duration
		for _, in := range v.Inputs {
			if p := byDigest[in]; p != nil {
				best = max(best, longest(p))
			}
		}
		memo[v.Digest] = best + v.Duration
		return memo[v.Digest]
	}
	var cp time.Duration
	for _, v := range b.Vertices {
		cp = max(cp, longest(v))
	}
	return cp
}

func TestLiveMultiStageParallel(t *testing.T) {
	d := daemontest.StartBuildKit(t)
	dir := daemontest.Context(t, daemontest.MultiStage, nil)
	res, err := rawjsonBuild(t, BuildOptions{Addr: d.Addr, ContextDir: dir, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	b := res.Build
	left, right := daemontest.VertexNamed(t, b, "[left 1/1] RUN"), daemontest.VertexNamed(t, b, "[right 1/1] RUN")
	base := daemontest.VertexNamed(t, b, "[base 1/1] COPY")
	for _, v := range []*model.Vertex{left, right} {
		if len(v.Inputs) != 1 || v.Inputs[0] != base.Digest {
			t.Fatalf("%s inputs %q, want the base COPY %s", v.Name, v.Inputs, base.Digest)
		}
		if v.Duration < 2*time.Second {
			t.Fatalf("%s took %v, less than its sleep", v.Name, v.Duration)
		}
	}
	// Both RUNs sleep 2s; the stages run in parallel, so their intervals
	// overlap and the build is shorter than running them one after another.
	if !left.Started.Before(right.Ended) || !right.Started.Before(left.Ended) {
		t.Fatalf("stages did not overlap: left %v-%v right %v-%v", left.Started, left.Ended, right.Started, right.Ended)
	}
	final := daemontest.VertexNamed(t, b, "COPY --from=right")
	if len(final.Inputs) == 0 {
		t.Fatalf("final COPY has no inputs")
	}
	cp := criticalPath(b)
	var sum time.Duration
	for _, v := range b.Vertices {
		sum += v.Duration
	}
	if cp >= sum || cp < left.Duration || cp > b.Duration+50*time.Millisecond {
		t.Fatalf("critical path %v: sum of vertices %v, build %v, left RUN %v", cp, sum, b.Duration, left.Duration)
	}
}

func TestLiveFailingRun(t *testing.T) {
	d := daemontest.StartBuildKit(t)
	dir := daemontest.Context(t, daemontest.Failing, nil)
	res, progress, err := rawjsonBuildOutput(t, BuildOptions{Addr: d.Addr, ContextDir: dir})
	if err == nil {
		t.Fatal("failing RUN: no error")
	}
	if errors.Is(err, collect.ErrDaemonLost) || errors.Is(err, collect.ErrDaemonUnavailable) || errors.Is(err, context.Canceled) {
		t.Fatalf("a failed step reported as %v", err)
	}
	b := res.Build
	if b == nil || b.Status != model.StatusFailed {
		t.Fatalf("record %+v", b)
	}
	run := daemontest.VertexNamed(t, b, "RUN")
	if run.ExitCode != 3 || run.Error == "" {
		t.Fatalf("RUN exit %d error %q", run.ExitCode, run.Error)
	}
	out := strings.Join(run.Output, "\n")
	if !strings.Contains(out, "line 5") || !strings.Contains(out, "oops") {
		t.Fatalf("last lines not kept: %q", out)
	}
	if !strings.Contains(b.Error, "exit code: 3") || b.ErrorFile != "Dockerfile" || b.ErrorLine != 3 {
		t.Fatalf("build error %q at %s:%d", b.Error, b.ErrorFile, b.ErrorLine)
	}
	if !strings.Contains(strings.Join(b.ErrorContext, "\n"), ">>> RUN") {
		t.Fatalf("error context %q", b.ErrorContext)
	}
	// buildctl --progress=rawjson prints the same stream, then the source
	// excerpt and "error: ..."; the parser must find what the live path did.
	log := append([]byte(nil), progress...)
	for _, src := range errdefs.Sources(err) {
		var buf bytes.Buffer
		src.Print(&buf)
		log = append(log, buf.Bytes()...)
	}
	log = fmt.Appendf(log, "error: %v\n", err)
	file, perr := parse.ParseRawJSON(bytes.NewReader(log))
	if perr != nil {
		t.Fatal(perr)
	}
	if file.Error != b.Error || file.ErrorFile != b.ErrorFile || file.ErrorLine != b.ErrorLine || strings.Join(file.ErrorContext, "|") != strings.Join(b.ErrorContext, "|") {
		t.Fatalf("live error %q at %s:%d %q\nparsed from the buildctl log: %q at %s:%d %q",
			b.Error, b.ErrorFile, b.ErrorLine, b.ErrorContext, file.Error, file.ErrorFile, file.ErrorLine, file.ErrorContext)
	}
}

func TestLiveCancelled(t *testing.T) {
	d := daemontest.StartBuildKit(t)
	dir, marker := daemontest.SlowContext(t)
	w := daemontest.NewSignalWriter("started " + marker)
	started := w.Seen()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		select {
		case <-started:
		case <-time.After(30 * time.Second):
		}
		cancel()
	}()
	t0 := time.Now()
	res, err := Build(ctx, BuildOptions{Addr: d.Addr, ContextDir: dir, Progress: "plain", ProgressOut: w})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if took := time.Since(t0); took > 30*time.Second {
		t.Fatalf("cancellation took %v", took)
	}
	if res == nil || res.Build == nil {
		t.Fatal("cancelled build not recorded")
	}
	b := res.Build
	run := daemontest.VertexNamed(t, b, "RUN")
	if b.Status != model.StatusCanceled || !run.Canceled || b.Error == "" {
		t.Fatalf("status %s, RUN canceled=%v, error %q", b.Status, run.Canceled, b.Error)
	}
	// The daemon is left clean: no build process, no active build, and it
	// still builds.
	daemontest.WaitNoProcesses(t, marker, 15*time.Second)
	c, err := Connect(t.Context(), d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// BuildKit finishes the history record of a cancelled build (saving
	// its logs) just after the client returns; give it a few seconds.
	deadline := time.Now().Add(15 * time.Second)
	for active := activeBuilds(t, c); len(active) > 0; active = activeBuilds(t, c) {
		if time.Now().After(deadline) {
			t.Fatalf("builds %q still active 15s after cancel", active)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := Build(t.Context(), BuildOptions{Addr: d.Addr, ContextDir: daemontest.Context(t, daemontest.Simple, nil), Progress: "quiet"}); err != nil {
		t.Fatalf("daemon unusable after a cancelled build: %v", err)
	}
}

func activeBuilds(t *testing.T, c *client.Client) []string {
	t.Helper()
	stream, err := c.ControlClient().ListenBuildHistory(t.Context(), &controlapi.BuildHistoryRequest{ActiveOnly: true, EarlyExit: true})
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for {
		ev, err := stream.Recv()
		if err != nil {
			return refs
		}
		if ev.GetType() == controlapi.BuildHistoryEventType_STARTED {
			refs = append(refs, ev.GetRecord().GetRef())
		}
	}
}

func TestDaemonNotThere(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	t0 := time.Now()
	res, err := Build(t.Context(), BuildOptions{Addr: "unix://" + filepath.Join(dir, "no.sock"), ContextDir: dir, Progress: "quiet"})
	if !errors.Is(err, collect.ErrDaemonUnavailable) {
		t.Fatalf("err = %v, want ErrDaemonUnavailable", err)
	}
	if res != nil {
		t.Fatalf("result %+v for a build that never ran", res)
	}
	if !strings.Contains(err.Error(), "no.sock") || !strings.Contains(err.Error(), "BUILDKIT_HOST") {
		t.Fatalf("error does not say where it looked or what to do: %v", err)
	}
	if took := time.Since(t0); took > 12*time.Second {
		t.Fatalf("took %v to notice", took)
	}
}

func TestBadOptions(t *testing.T) {
	dir := t.TempDir()
	for name, o := range map[string]BuildOptions{
		"no context":    {},
		"no Dockerfile": {ContextDir: dir},
		"bad output":    {ContextDir: dir, Dockerfile: "convert.go", Outputs: []string{"type=local"}},
		"bad progress":  {ContextDir: dir, Dockerfile: "convert.go", Progress: "fancy", Addr: "unix:///nonexistent"},
	} {
		if _, err := Build(t.Context(), o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestLiveDaemonKilledMidBuild(t *testing.T) {
	d := daemontest.StartBuildKit(t)
	dir, marker := daemontest.SlowContext(t)
	w := daemontest.NewSignalWriter("started " + marker)
	started := w.Seen()
	go func() {
		select {
		case <-started:
			d.Kill()
		case <-time.After(30 * time.Second):
		}
	}()
	res, err := Build(t.Context(), BuildOptions{Addr: d.Addr, ContextDir: dir, Progress: "plain", ProgressOut: w})
	if !errors.Is(err, collect.ErrDaemonLost) {
		t.Fatalf("err = %v, want ErrDaemonLost", err)
	}
	if res != nil && res.Build != nil {
		t.Fatalf("half a build recorded: %+v", res.Build)
	}
	d.Stop() // cleans the runc container the killed daemon left
	daemontest.WaitNoProcesses(t, marker, 15*time.Second)
}

func TestImportHistory(t *testing.T) {
	d := daemontest.StartBuildKit(t)
	dir := daemontest.Context(t, daemontest.Simple, nil)
	ours, err := Build(t.Context(), BuildOptions{Addr: d.Addr, ContextDir: dir, Progress: "quiet"})
	if err != nil {
		t.Fatal(err)
	}
	// A build another tool ran on the same daemon, and a failed one.
	failDir := daemontest.Context(t, daemontest.Failing, nil)
	if out, err := d.RunBuildctl(t.Context(), "build", "--frontend", "dockerfile.v0",
		"--local", "context="+failDir, "--local", "dockerfile="+failDir, "--progress", "plain"); err == nil {
		t.Fatalf("buildctl build of a failing Dockerfile succeeded:\n%s", out)
	}

	c, err := Connect(t.Context(), d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t0 := time.Now()
	got := map[string]Imported{}
	if err := Import(t.Context(), c, ImportOptions{}, func(im Imported) error {
		got[im.Ref] = im
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("import took %v", time.Since(t0))
	if len(got) != 2 {
		t.Fatalf("imported %d builds, want 2", len(got))
	}
	mine, ok := got[ours.Ref]
	if !ok {
		t.Fatalf("our build %s not imported", ours.Ref)
	}
	if mine.Build.Status != model.StatusSucceeded || len(mine.Build.Vertices) != len(ours.Build.Vertices) {
		t.Fatalf("imported %s: status %s, %d vertices; live had %d", mine.Ref, mine.Build.Status, len(mine.Build.Vertices), len(ours.Build.Vertices))
	}
	for i, v := range ours.Build.Vertices {
		if iv := mine.Build.Vertices[i]; iv.Name != v.Name || iv.Cached != v.Cached || iv.Digest != v.Digest {
			t.Errorf("vertex %d: imported %q cached=%v, live %q cached=%v", i, iv.Name, iv.Cached, v.Name, v.Cached)
		}
	}
	for ref, im := range got {
		if ref == ours.Ref {
			continue
		}
		run := daemontest.VertexNamed(t, im.Build, "RUN")
		if im.Build.Status != model.StatusFailed || run.ExitCode != 3 || !strings.Contains(im.Build.Error, "exit code: 3") {
			t.Fatalf("buildctl's failed build imported as status %s, exit %d, error %q", im.Build.Status, run.ExitCode, im.Build.Error)
		}
		if im.Build.ErrorLine != 3 {
			t.Errorf("error line %d, want 3", im.Build.ErrorLine)
		}
	}

	// Re-import: everything is known, nothing comes back.
	again := 0
	if err := Import(t.Context(), c, ImportOptions{Skip: func(ref string) bool { _, ok := got[ref]; return ok }}, func(Imported) error {
		again++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if again != 0 {
		t.Fatalf("re-import returned %d builds", again)
	}
	if ContentHash(ours.Ref) == ContentHash(ours.Ref+"x") || !strings.HasPrefix(ContentHash("a"), "buildkit-sha256:") {
		t.Fatal("content hash does not tell refs apart")
	}

	// Follow: a build that completes later arrives, and cancelling ends
	// the import without error.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	arrived := make(chan Imported, 4)
	done := make(chan error, 1)
	go func() {
		done <- Import(ctx, c, ImportOptions{Follow: true, Skip: func(ref string) bool { _, ok := got[ref]; return ok }}, func(im Imported) error {
			arrived <- im
			return nil
		})
	}()
	later, err := Build(t.Context(), BuildOptions{Addr: d.Addr, ContextDir: dir, NoCache: true, Progress: "quiet"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case im := <-arrived:
		if im.Ref != later.Ref {
			t.Fatalf("followed %s, want %s", im.Ref, later.Ref)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the followed build never arrived")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("follow ended with %v", err)
	}
}

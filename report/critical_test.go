package report

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// pathNames lists the names of the critical path's vertices.
func pathNames(t *Timeline) []string {
	var out []string
	for _, i := range t.Critical {
		out = append(out, t.Spans[i].Vertex.Name)
	}
	return out
}

func spanOf(t *testing.T, tl *Timeline, prefix string) Span {
	t.Helper()
	for _, s := range tl.Spans {
		if strings.HasPrefix(s.Vertex.Name, prefix) {
			return s
		}
	}
	t.Fatalf("no vertex %q", prefix)
	return Span{}
}

func TestCriticalPathGraph(t *testing.T) {
	b := load(t, "generated/bk-multistage-rawjson-nocache.jsonl")
	tl := Schedule(b, Options{})
	if !tl.Measured || tl.Basis != BasisGraph {
		t.Fatalf("measured %v basis %q, want measured graph", tl.Measured, tl.Basis)
	}
	if len(tl.Spans) != len(b.Vertices) {
		t.Fatalf("%d spans for %d vertices", len(tl.Spans), len(b.Vertices))
	}
	// Measured spans are the log's own times, from the first start.
	run := spanOf(t, tl, "[base 2/2] RUN")
	if want := run.Vertex.Started.Sub(b.Vertices[0].Started); run.Start != want {
		t.Errorf("RUN starts at %v, want %v", run.Start, want)
	}
	if want := b.Completed.Sub(b.Started); tl.End != want {
		t.Errorf("timeline ends at %v, want the build's %v", tl.End, want)
	}
	names := pathNames(tl)
	for _, want := range []string{"[internal] load build context", "[base 1/2] COPY busybox", "[base 2/2] RUN", "[second 2/2] RUN", "[stage-2 2/2] COPY --from=base"} {
		if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, want) }) {
			t.Errorf("critical path lacks %q: %q", want, names)
		}
	}
	// The path is bounded by the wall time and, here, nearly all of it.
	wall := b.Completed.Sub(b.Started)
	if tl.CriticalDuration > wall || tl.CriticalDuration < wall*9/10 {
		t.Errorf("critical path %v for a %v build", tl.CriticalDuration, wall)
	}
	e := Explain(b, Options{})
	if e.CriticalPath == nil || e.CriticalPath.Basis != BasisGraph || e.CriticalPath.TotalSeconds != seconds(tl.CriticalDuration) {
		t.Fatalf("explanation critical path %+v", e.CriticalPath)
	}
}

func TestCriticalPathStageOrder(t *testing.T) {
	b := load(t, "generated/bk-multistage-plain-nocache.log")
	tl := Schedule(b, Options{})
	if tl.Measured || tl.Basis != BasisStageOrder {
		t.Fatalf("measured %v basis %q, want reconstructed stage_order", tl.Measured, tl.Basis)
	}
	// base and second run in parallel after the context load; stage-2
	// copies from both, and base's RUN is much the longer, so base bounds
	// the build.
	want := []string{
		"[internal] load build definition from Dockerfile",
		"[internal] load .dockerignore",
		"[internal] load build context",
		"[base 1/2] COPY busybox /bin/busybox",
		"[base 2/2] RUN",
		"[stage-2 2/2] COPY --from=base /bin/busybox /bin/busybox",
	}
	got := pathNames(tl)
	if len(got) != len(want) {
		t.Fatalf("critical path:\n got %q\nwant %q", got, want)
	}
	var sum time.Duration
	for i, name := range got {
		if !strings.HasPrefix(name, want[i]) {
			t.Errorf("critical path step %d is %q, want %q", i, name, want[i])
		}
		sum += tl.Spans[tl.Critical[i]].Vertex.Duration
	}
	if tl.CriticalDuration != sum || tl.End != sum || sum < 2*time.Second {
		t.Errorf("critical %v, end %v, want both the path's summed %v", tl.CriticalDuration, tl.End, sum)
	}
	ctx := spanOf(t, tl, "[internal] load build context")
	second := spanOf(t, tl, "[second 2/2] RUN")
	secondCopy := spanOf(t, tl, "[second 1/2] COPY")
	if secondCopy.Start != ctx.End || second.Start != secondCopy.End || second.End != second.Start+second.Vertex.Duration {
		t.Errorf("second stage at %v-%v, want right after the context load (%v) and its COPY, in parallel with base", second.Start, second.End, ctx.End)
	}
	final := spanOf(t, tl, "[stage-2 1/2] COPY --from=second")
	if final.Start != second.End {
		t.Errorf("COPY --from=second starts at %v, want when second ends (%v)", final.Start, second.End)
	}

	e := Explain(b, Options{})
	cp := e.CriticalPath
	if cp == nil || cp.Basis != BasisStageOrder || cp.TotalSeconds != seconds(sum) {
		t.Fatalf("explanation critical path %+v", cp)
	}
	// Steps that took no time are not listed.
	for _, s := range cp.Steps {
		if s.DurationSeconds <= 0 {
			t.Errorf("listed step %q took %v", s.Name, s.DurationSeconds)
		}
	}
	if len(cp.Steps) != 4 {
		t.Errorf("%d steps listed, want 4: %+v", len(cp.Steps), cp.Steps)
	}
}

func TestCriticalPathFromStageViaDockerfile(t *testing.T) {
	// Without a Dockerfile nothing says "final" is built FROM "deps"; with
	// it, final's first step waits for deps.
	b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Vertices: []*model.Vertex{
		vstep("1", "deps", 1, 2, "FROM", "alpine", 0),
		vstep("2", "deps", 2, 2, "RUN", "sleep 5", 5*time.Second),
		vstep("3", "final", 1, 1, "RUN", "make", 2*time.Second),
	}}
	if got := Schedule(b, Options{}).CriticalDuration; got != 5*time.Second {
		t.Errorf("without a Dockerfile: critical %v, want 5s (stages unrelated)", got)
	}
	df, err := parseDockerfile([]byte("FROM alpine AS deps\nRUN sleep 5\nFROM deps AS final\nRUN make\n"))
	if err != nil {
		t.Fatal(err)
	}
	tl := Schedule(b, Options{Dockerfile: df})
	if tl.CriticalDuration != 7*time.Second || len(tl.Critical) != 3 {
		t.Errorf("with the Dockerfile: critical %v over %q, want 7s over all three", tl.CriticalDuration, pathNames(tl))
	}
}

func vstep(id, stage string, index, total int, instr, args string, d time.Duration) *model.Vertex {
	return &model.Vertex{
		ID: id, Stage: stage, Index: index, Total: total, Instruction: instr, Args: args,
		Name:     fmt.Sprintf("[%s %d/%d] %s %s", stage, index, total, instr, args),
		Duration: d, HasDuration: d > 0, Completed: true,
	}
}

func TestCriticalPathSequentialLegacy(t *testing.T) {
	b := &model.Build{Format: model.FormatLegacy, Vertices: []*model.Vertex{
		{Name: "Step 1/3 : FROM alpine", Duration: time.Second, HasDuration: true},
		{Name: "Step 2/3 : RUN a", Duration: 2 * time.Second, HasDuration: true},
		{Name: "Step 3/3 : RUN b", Duration: 3 * time.Second, HasDuration: true},
	}}
	tl := Schedule(b, Options{})
	if tl.Basis != BasisSequential || tl.CriticalDuration != 6*time.Second || len(tl.Critical) != 3 {
		t.Errorf("basis %q critical %v over %d, want sequential 6s over 3", tl.Basis, tl.CriticalDuration, len(tl.Critical))
	}
	if s := tl.Spans[2]; s.Start != 3*time.Second || s.End != 6*time.Second {
		t.Errorf("step 3 at %v-%v, want 3s-6s", s.Start, s.End)
	}
	// A legacy log without timings has no critical path to show.
	if e := Explain(load(t, "generated/docker-legacy-busybox.log"), Options{}); e.CriticalPath != nil {
		t.Errorf("untimed legacy log: critical path %+v, want null", e.CriticalPath)
	}
}

func TestCriticalPathCycle(t *testing.T) {
	// A damaged log whose inputs form a cycle must not hang or recurse
	// forever; the cycle is broken somewhere and a path still found.
	b := &model.Build{Format: model.FormatRawJSON, Vertices: []*model.Vertex{
		{Name: "a", Digest: "d1", Inputs: []string{"d3"}, Duration: time.Second, HasDuration: true},
		{Name: "b", Digest: "d2", Inputs: []string{"d1"}, Duration: time.Second, HasDuration: true},
		{Name: "c", Digest: "d3", Inputs: []string{"d2", "d3"}, Duration: time.Second, HasDuration: true},
	}}
	tl := Schedule(b, Options{})
	if tl.CriticalDuration != 3*time.Second {
		t.Errorf("critical %v, want 3s", tl.CriticalDuration)
	}
}

func TestCriticalPathImplicitOrderRespectsTimes(t *testing.T) {
	// The export is assumed to wait for the steps, but not when the log's
	// own times say it started before one of them ended.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	b := &model.Build{Format: model.FormatRawJSON, Vertices: []*model.Vertex{
		{Name: "[1/2] FROM x", Digest: "d1", Started: at(0), Ended: at(1), Duration: time.Second, HasDuration: true, Index: 1, Total: 2},
		{Name: "[2/2] RUN y", Digest: "d2", Inputs: []string{"d1"}, Started: at(1), Ended: at(4), Duration: 3 * time.Second, HasDuration: true, Index: 2, Total: 2},
		{Name: "[internal] load build context", Digest: "d3", Started: at(0), Ended: at(9), Duration: 9 * time.Second, HasDuration: true},
		{Name: "exporting to image", Started: at(5), Ended: at(6), Duration: time.Second, HasDuration: true},
	}}
	tl := Schedule(b, Options{})
	got := pathNames(tl)
	// The export follows RUN (ended at 4s) but cannot have waited for the
	// context load (ended at 9s): the longest path is the context alone.
	if !slices.Equal(got, []string{"[internal] load build context"}) {
		t.Errorf("critical path %q, want only the context load", got)
	}
	if deps := tl.Spans[3].Deps; !slices.Equal(deps, []int{1}) {
		t.Errorf("export waits for %v, want [1] (the RUN)", deps)
	}
}

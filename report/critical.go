package report

import (
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// Critical path bases: where the dependencies between vertices came from.
const (
	// BasisGraph: the input's own vertex graph (rawjson and live streams
	// name each vertex's inputs by digest).
	BasisGraph = "graph"
	// BasisStageOrder: reconstructed from step order within each stage and
	// from stage references (FROM another stage, COPY --from, RUN
	// --mount=from), as far as the step names or the Dockerfile show them.
	BasisStageOrder = "stage_order"
	// BasisSequential: the legacy builder runs one step at a time, so every
	// step depends on the one before it.
	BasisSequential = "sequential"
)

// CriticalPath is the chain of dependent vertices with the largest summed
// duration: the steps that bounded the build's time. Speeding up anything
// off this chain does not shorten the build.
type CriticalPath struct {
	// Basis is one of the Basis* constants.
	Basis string `json:"basis"`
	// TotalSeconds is the summed duration of the path.
	TotalSeconds float64 `json:"total_seconds"`
	// Steps are the vertices of the path that took time, in build order.
	// Cached steps on the path take none and are left out.
	Steps []CriticalStep `json:"steps"`
	// UnlinkedStages are the stages built on a base the log does not name
	// (a stage of a multi-stage build with no FROM step of its own is built
	// FROM another stage or scratch): what they waited for is unknown, so
	// the path may be incomplete. --dockerfile links them.
	UnlinkedStages []string `json:"unlinked_stages,omitempty"`
}

// unlinkedStages lists the stages whose base neither the log nor the
// Dockerfile names, in a build of several stages.
func (a *analysis) unlinkedStages() []string {
	if len(a.chains) < 2 || a.b.Format == model.FormatLegacy {
		return nil
	}
	var out []string
	for _, c := range a.chains {
		if c.base == "" && len(c.steps) > 0 && c.steps[0].Instruction != "FROM" && c.name != "" {
			out = append(out, c.name)
		}
	}
	return out
}

// CriticalStep is one vertex on the critical path.
type CriticalStep struct {
	Name            string  `json:"name"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// Timeline lays a build out on a time axis: where each vertex started and
// ended relative to the build's start, and the critical path through the
// vertex dependencies.
type Timeline struct {
	// Measured is set when the input gives real start and end times
	// (rawjson, live streams). Otherwise the layout is reconstructed: each
	// vertex starts as soon as the vertices it depends on have finished,
	// which is how BuildKit schedules them.
	Measured bool
	// Basis is where the dependencies came from (one of the Basis* consts).
	Basis string
	// Spans has one entry per vertex of the build, in the build's order.
	Spans []Span
	// Critical indexes Spans along the critical path, in build order.
	Critical []int
	// CriticalDuration is the summed duration of the critical path.
	CriticalDuration time.Duration
	// End is when the last vertex ended, relative to the start.
	End time.Duration
}

// Span is one vertex on the timeline.
type Span struct {
	Vertex *model.Vertex
	// Start and End are offsets from the build's start.
	Start, End time.Duration
	// Deps indexes the spans this vertex waited for.
	Deps []int
	// Critical marks the vertex as on the critical path.
	Critical bool
}

// Schedule lays out b on a time axis and finds its critical path. The
// Dockerfile in opts, when given, adds the stage references a log does not
// show (FROM another stage).
func Schedule(b *model.Build, opts Options) *Timeline {
	a := newAnalysis(b, opts.Dockerfile)
	a.buildChains()
	return a.timeline()
}

// phase orders the parts of a BuildKit build that always follow each other:
// the frontend reads the Dockerfile and resolves base images before the
// solve starts, and the exporters run after it.
type phase int8

const (
	phaseDefinition phase = iota // load build definition, bake definitions
	phaseIgnore                  // load .dockerignore
	phaseMetadata                // load metadata for an image, [auth]
	phaseSolve                   // the steps and everything else
	phaseExport                  // exporting, writing and naming the image, cache export
)

func phaseOf(v *model.Vertex) phase {
	name := strings.ToLower(v.Name)
	switch {
	case strings.Contains(name, "load build definition"), strings.Contains(name, "load local bake definitions"):
		return phaseDefinition
	case strings.Contains(name, "load .dockerignore"):
		return phaseIgnore
	case strings.Contains(name, "load metadata for"), v.Stage == "auth" || strings.HasPrefix(name, "[auth]"):
		return phaseMetadata
	}
	switch v.Activity() {
	case model.ActivityExport, model.ActivityCacheExport:
		return phaseExport
	}
	return phaseSolve
}

// implicitSlack is how far a measured vertex may start before a vertex it
// is assumed to wait for ends: timestamps of different vertices come from
// different clocks' rounding.
const implicitSlack = 5 * time.Millisecond

// timeline computes the Timeline; a.chains must be built.
func (a *analysis) timeline() *Timeline {
	vs := a.b.Vertices
	n := len(vs)
	t := &Timeline{Spans: make([]Span, n)}
	idx := make(map[*model.Vertex]int, n)
	byDigest := map[string]int{}
	for i, v := range vs {
		t.Spans[i].Vertex = v
		idx[v] = i
		if v.Digest != "" {
			byDigest[v.Digest] = i
		}
	}
	for _, v := range vs {
		if !v.Started.IsZero() {
			t.Measured = true
			break
		}
	}

	deps := make([][]int, n)
	// seen dedups each vertex's deps.
	seen := make([]map[int]bool, n)
	add := func(from, to int, implicit bool) {
		if from == to {
			return
		}
		// Assumed dependencies must not contradict measured times.
		if implicit && t.Measured {
			u, v := vs[from], vs[to]
			if !u.Ended.IsZero() && !v.Started.IsZero() && u.Ended.After(v.Started.Add(implicitSlack)) {
				return
			}
		}
		if seen[to] == nil {
			seen[to] = map[int]bool{}
		}
		if !seen[to][from] {
			seen[to][from] = true
			deps[to] = append(deps[to], from)
		}
	}

	for i, v := range vs {
		for _, d := range v.Inputs {
			if j, ok := byDigest[d]; ok {
				add(j, i, false)
			}
		}
	}
	switch {
	case hasAny(seen):
		t.Basis = BasisGraph
	case a.b.Format == model.FormatLegacy:
		t.Basis = BasisSequential
		for i := 1; i < n; i++ {
			add(i-1, i, false)
		}
	default:
		t.Basis = BasisStageOrder
		a.stageDeps(idx, add)
	}
	if t.Basis != BasisSequential {
		a.phaseDeps(deps, add)
	}

	order := topoOrder(deps)
	weight := make([]time.Duration, n)
	for i, v := range vs {
		weight[i] = vertexDuration(v)
	}

	// Place each vertex: where it was measured, else as soon as everything
	// it depends on has ended.
	var origin time.Time
	if t.Measured {
		for _, v := range vs {
			if !v.Started.IsZero() && (origin.IsZero() || v.Started.Before(origin)) {
				origin = v.Started
			}
		}
	}
	for _, i := range order {
		sp := &t.Spans[i]
		sp.Deps = deps[i]
		v := vs[i]
		if t.Measured && !v.Started.IsZero() {
			sp.Start = v.Started.Sub(origin)
			if !v.Ended.IsZero() && !v.Ended.Before(v.Started) {
				sp.End = v.Ended.Sub(origin)
			} else {
				sp.End = sp.Start + weight[i]
			}
		} else {
			for _, d := range deps[i] {
				sp.Start = max(sp.Start, t.Spans[d].End)
			}
			sp.End = sp.Start + weight[i]
		}
		t.End = max(t.End, sp.End)
	}

	// Longest path by duration. Ties go to the vertex that ended later,
	// then to the later one in the build, so exports finish the path.
	dist := make([]time.Duration, n)
	prev := make([]int, n)
	best := -1
	later := func(x, y int) bool { // x ranks above y
		if t.Spans[x].End != t.Spans[y].End {
			return t.Spans[x].End > t.Spans[y].End
		}
		return x > y
	}
	for _, i := range order {
		prev[i] = -1
		for _, d := range deps[i] {
			if prev[i] < 0 || dist[d] > dist[prev[i]] || dist[d] == dist[prev[i]] && later(d, prev[i]) {
				prev[i] = d
			}
		}
		dist[i] = weight[i]
		if prev[i] >= 0 {
			dist[i] += dist[prev[i]]
		}
		if best < 0 || dist[i] > dist[best] || dist[i] == dist[best] && later(i, best) {
			best = i
		}
	}
	if best < 0 || dist[best] == 0 {
		return t
	}
	t.CriticalDuration = dist[best]
	for i := best; i >= 0; i = prev[i] {
		t.Critical = append(t.Critical, i)
		t.Spans[i].Critical = true
	}
	for l, r := 0, len(t.Critical)-1; l < r; l, r = l+1, r-1 {
		t.Critical[l], t.Critical[r] = t.Critical[r], t.Critical[l]
	}
	return t
}

func hasAny(m []map[int]bool) bool {
	for _, s := range m {
		if len(s) > 0 {
			return true
		}
	}
	return false
}

// stageDeps adds the dependencies a log without a vertex graph implies:
// each step waits for the one before it in its stage, the first step of a
// stage for the stage it is built FROM, a step that reads another stage
// (--from) for that stage's last step, a COPY or ADD of the context for
// the context upload, and a FROM for its image's metadata.
func (a *analysis) stageDeps(idx map[*model.Vertex]int, add func(from, to int, implicit bool)) {
	last := func(c *chain) int { return idx[c.steps[len(c.steps)-1]] }
	context, metadata := -1, map[int]string{}
	for i, v := range a.b.Vertices {
		name := strings.ToLower(v.Name)
		switch {
		case context < 0 && strings.Contains(name, "load build context"):
			context = i
		case strings.Contains(name, "load metadata for "):
			_, image, _ := strings.Cut(name, "load metadata for ")
			metadata[i] = strings.TrimSpace(image)
		}
	}
	for _, c := range a.chains {
		for k, v := range c.steps {
			i := idx[v]
			if k > 0 {
				add(idx[c.steps[k-1]], i, false)
			} else if p := a.lookup(c.platform, c.base); p != nil && p != c && len(p.steps) > 0 {
				add(last(p), i, false)
			}
			for _, ref := range stageRefs(v) {
				if p := a.lookup(c.platform, ref); p != nil && p != c && len(p.steps) > 0 {
					add(last(p), i, false)
				}
			}
			switch v.Instruction {
			case "COPY", "ADD":
				if _, fromOther := copySources(v.Args); !fromOther && context >= 0 {
					add(context, i, false)
				}
			case "FROM":
				base, _ := fromArgs(v.Args)
				base, _, _ = strings.Cut(base, "@")
				for j, image := range metadata {
					if base != "" && (image == base || strings.HasSuffix(image, "/"+base) || strings.HasSuffix(image, "/"+base+":latest")) {
						add(j, i, false)
					}
				}
			}
		}
	}
}

// phaseDeps adds the order of the build's phases: the frontend's loads
// before the solve, the solve before the exporters, and the exporters one
// after another. Vertices of a phase wait only for the last vertices of
// earlier phases that nothing else in those phases waited for.
func (a *analysis) phaseDeps(deps [][]int, add func(from, to int, implicit bool)) {
	vs := a.b.Vertices
	phases := make([]phase, len(vs))
	for i, v := range vs {
		phases[i] = phaseOf(v)
	}
	// ends returns the vertices of the latest phase before p that has any,
	// which nothing in that phase depends on.
	ends := func(p phase) []int {
		for q := p - 1; q >= phaseDefinition; q-- {
			var in []int
			used := map[int]bool{}
			for i := range vs {
				if phases[i] == q {
					in = append(in, i)
					for _, d := range deps[i] {
						used[d] = true
					}
				}
			}
			var out []int
			for _, i := range in {
				if !used[i] {
					out = append(out, i)
				}
			}
			if len(out) > 0 {
				return out
			}
		}
		return nil
	}
	var prevExport = -1
	for p := phaseIgnore; p <= phaseExport; p++ {
		before := ends(p)
		for i := range vs {
			if phases[i] != p {
				continue
			}
			if p == phaseExport && prevExport >= 0 {
				add(prevExport, i, true)
				prevExport = i
				continue
			}
			// Only vertices that wait for nothing in their own phase start
			// the phase.
			if len(deps[i]) == 0 {
				for _, j := range before {
					add(j, i, true)
				}
			}
			if p == phaseExport {
				prevExport = i
			}
		}
	}
}

// topoOrder orders vertices so that each comes after its dependencies,
// dropping dependencies that close a cycle (only a damaged or hostile log
// has one). Ties keep the build's order.
func topoOrder(deps [][]int) []int {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int8, len(deps))
	order := make([]int, 0, len(deps))
	var visit func(i int)
	visit = func(i int) {
		state[i] = visiting
		kept := deps[i][:0]
		for _, d := range deps[i] {
			switch state[d] {
			case visiting:
				continue // a cycle: drop the edge
			case unvisited:
				visit(d)
			}
			kept = append(kept, d)
		}
		deps[i] = kept
		state[i] = done
		order = append(order, i)
	}
	for i := range deps {
		if state[i] == unvisited {
			visit(i)
		}
	}
	return order
}

// vertexDuration is how long v took: its reported duration, else its
// measured interval, else 0.
func vertexDuration(v *model.Vertex) time.Duration {
	switch {
	case v.HasDuration:
		return v.Duration
	case !v.Started.IsZero() && v.Ended.After(v.Started):
		return v.Ended.Sub(v.Started)
	}
	return 0
}

// criticalPath is the Explanation's view of t's critical path; nil when no
// vertex on it took time.
func criticalPath(t *Timeline) *CriticalPath {
	if len(t.Critical) == 0 {
		return nil
	}
	cp := &CriticalPath{Basis: t.Basis, TotalSeconds: seconds(t.CriticalDuration), Steps: []CriticalStep{}}
	for _, i := range t.Critical {
		v := t.Spans[i].Vertex
		if d := seconds(vertexDuration(v)); d > 0 {
			cp.Steps = append(cp.Steps, CriticalStep{Name: v.Name, DurationSeconds: d})
		}
	}
	return cp
}

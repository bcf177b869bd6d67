package annotate

import (
	"slices"

	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
)

// trustedLines returns e with the Dockerfile lines of whole stages removed
// where the stage as a whole did not map onto the file consistently.
//
// report/dockerfile matches each step on its own and accepts a step whose
// [n/m] position and instruction agree with the file even when its text
// does not (the file may have been edited since the build). Annotations
// are placed in a pull request, so a wrong line is worse than none: when a
// stage's FROM is in the log but matches no FROM of the file (an unlabelled
// single-stage view of a --target build read without --target, say), or
// its steps land in more than one stage of the file, none of its lines is
// used. e itself is not modified.
func trustedLines(e *report.Explanation, df *dockerfile.File) *report.Explanation {
	if df == nil || e.Format == "legacy" {
		// The legacy builder numbers the whole file in one sequence, so
		// report/dockerfile already checks every step against it.
		return e
	}
	stages := df.Stages()
	stageOf := func(line int) int {
		k := -1
		for i, s := range stages {
			if s.Line <= line {
				k = i
			}
		}
		return k
	}
	type group struct {
		idx      []int
		fromSeen bool // the log has the group's FROM step
		fromLine bool // ... and it matched
		stages   map[int]bool
	}
	groups := map[string]*group{}
	for i, s := range e.Steps {
		if s.Kind != "step" {
			continue
		}
		key := deref(s.Platform) + "\x00" + deref(s.Stage)
		g := groups[key]
		if g == nil {
			g = &group{stages: map[int]bool{}}
			groups[key] = g
		}
		g.idx = append(g.idx, i)
		if deref(s.Instruction) == "FROM" {
			g.fromSeen = true
			g.fromLine = g.fromLine || s.Line != nil
		}
		if s.Line != nil {
			g.stages[stageOf(*s.Line)] = true
		}
	}
	drop := map[int]bool{}
	for _, g := range groups {
		if len(g.stages) > 1 || (g.fromSeen && !g.fromLine && len(g.stages) > 0) {
			for _, i := range g.idx {
				drop[i] = true
			}
		}
	}
	if len(drop) == 0 {
		return e
	}

	out := *e
	out.Steps = slices.Clone(e.Steps)
	dropped := map[string]bool{}
	for i := range out.Steps {
		if drop[i] && out.Steps[i].Line != nil {
			out.Steps[i].Line = nil
			dropped[out.Steps[i].Name] = true
		}
	}
	out.SlowSteps = slices.Clone(e.SlowSteps)
	for i := range out.SlowSteps {
		if dropped[out.SlowSteps[i].Name] {
			out.SlowSteps[i].Line = nil
		}
	}
	out.CacheBreaks = slices.Clone(e.CacheBreaks)
	for i := range out.CacheBreaks {
		if dropped[out.CacheBreaks[i].Name] {
			out.CacheBreaks[i].Line = nil
		}
	}
	out.Advice = slices.Clone(e.Advice)
	for i := range out.Advice {
		if a := out.Advice[i]; a.Step != nil && dropped[*a.Step] {
			out.Advice[i].Line = nil
		}
	}
	if be := e.Error; be != nil && be.Step != nil && dropped[*be.Step] && (be.ExcerptSource == nil || *be.ExcerptSource != "log") {
		// The error's line and excerpt came from the distrusted match.
		c := *be
		c.Line, c.File, c.Excerpt, c.ExcerptSource = nil, nil, []string{}, nil
		out.Error = &c
	}
	return &out
}

package annotate

import (
	"slices"

	"github.com/buildstats/buildstats/parse/redact"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/gate"
)

// maskExplanation returns a copy of e with the secrets in its log text
// masked, e itself unchanged. New masks before it builds findings, so that
// messages which quote a step name shortened to fit quote a masked name:
// a token cut in half no longer looks like a token.
func maskExplanation(e *report.Explanation, m *redact.Redactor) *report.Explanation {
	out := *e
	str := m.String
	opt := func(p *string) *string {
		if p == nil {
			return nil
		}
		s := str(*p)
		return &s
	}
	all := func(ss []string) []string {
		if ss == nil {
			return nil
		}
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = str(s)
		}
		return out
	}
	out.Builder = opt(e.Builder)
	out.Dockerfile = opt(e.Dockerfile)
	out.ImageNames = all(e.ImageNames)
	out.Steps = slices.Clone(e.Steps)
	for i, s := range out.Steps {
		s.Name, s.Stage, s.Platform, s.Instruction, s.Error = str(s.Name), opt(s.Stage), opt(s.Platform), opt(s.Instruction), opt(s.Error)
		s.Transfers = slices.Clone(s.Transfers)
		for j := range s.Transfers {
			s.Transfers[j].Name = str(s.Transfers[j].Name)
		}
		out.Steps[i] = s
	}
	out.CacheBreaks = slices.Clone(e.CacheBreaks)
	for i, cb := range out.CacheBreaks {
		cb.Name, cb.Stage, cb.Platform, cb.Instruction, cb.Previous = str(cb.Name), opt(cb.Stage), opt(cb.Platform), opt(cb.Instruction), opt(cb.Previous)
		cb.FollowOn = all(cb.FollowOn)
		out.CacheBreaks[i] = cb
	}
	out.SlowSteps = slices.Clone(e.SlowSteps)
	for i := range out.SlowSteps {
		out.SlowSteps[i].Name = str(out.SlowSteps[i].Name)
	}
	if cp := e.CriticalPath; cp != nil {
		c := *cp
		c.Steps = slices.Clone(cp.Steps)
		for i := range c.Steps {
			c.Steps[i].Name = str(c.Steps[i].Name)
		}
		out.CriticalPath = &c
	}
	out.Advice = slices.Clone(e.Advice)
	for i, a := range out.Advice {
		a.Step, a.Message = opt(a.Step), str(a.Message)
		out.Advice[i] = a
	}
	if be := e.Error; be != nil {
		c := *be
		c.Step, c.File, c.Message = opt(be.Step), opt(be.File), str(be.Message)
		c.Output, c.Excerpt = m.Lines(be.Output), m.Lines(be.Excerpt)
		out.Error = &c
	}
	out.Warnings = slices.Clone(e.Warnings)
	for i, w := range out.Warnings {
		w.Step, w.Message = opt(w.Step), str(w.Message)
		out.Warnings[i] = w
	}
	if h := e.History; h != nil {
		c := *h
		c.CacheLost = slices.Clone(h.CacheLost)
		for i := range c.CacheLost {
			c.CacheLost[i].Name = str(c.CacheLost[i].Name)
		}
		out.History = &c
	}
	return &out
}

// maskGates returns copies of the gate results with their messages and
// step names masked.
func maskGates(results []gate.Result, m *redact.Redactor) []gate.Result {
	out := slices.Clone(results)
	for i, g := range out {
		g.Message = m.String(g.Message)
		g.Regressions = slices.Clone(g.Regressions)
		for j := range g.Regressions {
			g.Regressions[j].Step = m.String(g.Regressions[j].Step)
			g.Regressions[j].Message = m.String(g.Regressions[j].Message)
		}
		out[i] = g
	}
	return out
}

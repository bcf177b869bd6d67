package html

import (
	"slices"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/parse/redact"
)

// maskedCopy returns a deep copy of b with its secrets masked by m (see
// redact.Redactor.Build), b itself unchanged.
func maskedCopy(b *model.Build, m *redact.Redactor) *model.Build {
	c := *b
	c.ErrorContext = slices.Clone(b.ErrorContext)
	c.Warnings = slices.Clone(b.Warnings)
	c.ImageNames = slices.Clone(b.ImageNames)
	c.Vertices = make([]*model.Vertex, len(b.Vertices))
	for i, v := range b.Vertices {
		vc := *v
		vc.Inputs = slices.Clone(v.Inputs)
		vc.Transfers = slices.Clone(v.Transfers)
		vc.Warnings = slices.Clone(v.Warnings)
		vc.Output = slices.Clone(v.Output)
		c.Vertices[i] = &vc
	}
	m.Build(&c)
	return &c
}

// maskFacts returns the facts with their text masked.
func maskFacts(facts []Fact, m *redact.Redactor) []Fact {
	out := slices.Clone(facts)
	for i := range out {
		out[i].Label, out[i].Value = m.String(out[i].Label), m.String(out[i].Value)
		out[i].URL = m.String(out[i].URL)
	}
	return out
}

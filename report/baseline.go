package report

import (
	"context"
	"strings"
	"time"

	"github.com/buildstats/buildstats/store"
)

// BaselineOfStored returns the build the stored build id is compared
// with: the build of its project before it; nil for a project's first
// build.
func BaselineOfStored(ctx context.Context, s store.Reader, id int64) (*Baseline, error) {
	pm, err := s.PreviousMisses(ctx, id)
	if err != nil || pm.Previous == nil {
		return nil, err
	}
	return loadBaseline(ctx, s, pm.Previous.ID)
}

// BaselineOfLog returns the build a build that is not in the history is
// compared with: the project's latest stored build that started before
// until (any, when until is zero); nil when there is none.
func BaselineOfLog(ctx context.Context, s store.Reader, project string, until time.Time) (*Baseline, error) {
	return BaselineOn(ctx, s, project, "", until)
}

// BaselineOn is BaselineOfLog among the builds of one builder (all when
// builder is empty): a live build is compared only with builds whose
// cache it shares.
func BaselineOn(ctx context.Context, s store.Reader, project, builder string, until time.Time) (*Baseline, error) {
	q := store.HistoryQuery{Project: project, Builder: builder, Limit: 1, Until: until}
	rows, err := s.History(ctx, q)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return loadBaseline(ctx, s, rows[0].ID)
}

func loadBaseline(ctx context.Context, s store.Reader, id int64) (*Baseline, error) {
	b, _, err := s.Build(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Baseline{ID: id, Build: b, Nodes: store.NodeLoader(ctx, s)}, nil
}

// BreakCauses are the causes of e's cache breaks as a store keeps them.
func BreakCauses(e *Explanation) []store.BreakCause {
	var out []store.BreakCause
	for _, cb := range e.CacheBreaks {
		c := cb.Cause
		if c == nil {
			continue
		}
		bc := store.BreakCause{Seq: cb.seq, Kind: c.Kind, Confidence: c.Confidence, Area: causeArea(c)}
		if cb.RebuiltSeconds != nil {
			bc.RebuiltSeconds = *cb.RebuiltSeconds
		}
		if c.PreviousBuild != nil {
			bc.PreviousBuild = *c.PreviousBuild
		}
		out = append(out, bc)
	}
	return out
}

// causeArea narrows a cause for misses --by-cause: the top directory the
// changed files share ("src/", "." for files at the top or in several
// directories), the argument names, or nothing.
func causeArea(c *Cause) string {
	switch c.Kind {
	case CauseContextFiles:
		area := ""
		for _, f := range c.Files {
			top, _, deeper := strings.Cut(f, "/")
			if !deeper {
				return "."
			}
			if area != "" && area != top+"/" {
				return "."
			}
			area = top + "/"
		}
		return area
	case CauseBuildArg:
		return strings.Join(c.Args, ",")
	}
	return ""
}

package report

import (
	"context"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// HistoryOfStored compares the stored build id (b, explained as e) with the
// build of its project before it; nil for a project's first build.
func HistoryOfStored(ctx context.Context, s store.Reader, id int64, b *model.Build, e *Explanation) (*History, error) {
	pm, err := s.PreviousMisses(ctx, id)
	if err != nil {
		return nil, err
	}
	if pm.Previous == nil {
		return nil, nil
	}
	h := &History{BuildID: &id, Project: pm.Build.Project, Basis: HistoryBasisPrevious, Previous: PreviousBuildOf(*pm.Previous)}
	return h, addCacheLost(ctx, s, h, b, e)
}

// HistoryOfLog compares a build that is not in the history with the
// project's latest stored build (the latest that started before it, when
// the log says when it started); nil when the project has none.
func HistoryOfLog(ctx context.Context, s store.Reader, project string, b *model.Build, e *Explanation) (*History, error) {
	q := store.HistoryQuery{Project: project, Limit: 1}
	if !b.Started.IsZero() {
		q.Until = b.Started
	}
	rows, err := s.History(ctx, q)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	h := &History{Project: project, Basis: HistoryBasisLatest, Previous: PreviousBuildOf(rows[0])}
	return h, addCacheLost(ctx, s, h, b, e)
}

// addCacheLost lists in h the Dockerfile steps of b that were cached in
// h.Previous and ran in b, matched by model.Identity as the store matches
// them, so a log that was never ingested compares the same way as a
// stored one.
func addCacheLost(ctx context.Context, s store.Reader, h *History, b *model.Build, e *Explanation) error {
	prev, _, err := s.Build(ctx, h.Previous.ID)
	if err != nil {
		return err
	}
	h.CacheLost = []HistoryStep{}
	// A step one log printed cut short is the step the other printed whole.
	prevIDs, ids := prev.Identities(), b.Identities()
	model.ResolveTruncated(prev.Vertices, prevIDs, ids)
	model.ResolveTruncated(b.Vertices, ids, prevIDs)
	cached := map[model.Identity]bool{}
	for i, k := range prevIDs {
		if v := prev.Vertices[i]; v.IsStep() && v.Instruction != "" && v.State() == model.StateCached {
			cached[k] = true
		}
	}
	for i, k := range ids {
		v := b.Vertices[i]
		if v.IsStep() && v.Instruction != "" && cached[k] && v.Ran() {
			h.AddCacheLost(e.Steps[i])
		}
	}
	return nil
}

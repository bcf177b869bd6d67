package postgres

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/internal/analysis"
	"github.com/buildstats/buildstats/store/storetest"
)

// generate fills s with a synthetic history in batches of 100 builds.
func generate(t testing.TB, s *Store, cfg storetest.GenConfig) {
	t.Helper()
	var items []store.BatchItem
	flush := func() {
		if _, err := s.IngestBatch(storetest.Ctx, items); err != nil {
			t.Fatal(err)
		}
		items = items[:0]
	}
	err := storetest.GenHistory(cfg, func(b *model.Build, m store.Meta) error {
		c := *b // GenHistory reuses its build
		c.Vertices = make([]*model.Vertex, len(b.Vertices))
		for i, v := range b.Vertices {
			vc := *v
			c.Vertices[i] = &vc
		}
		items = append(items, store.BatchItem{Build: &c, Meta: m})
		if len(items) == 100 {
			flush()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) > 0 {
		flush()
	}
}

// The rollups and the vertices give identical figures for any window:
// whole days, partial days at either end, a project, a branch, kinds.
func TestRollupMatchesVertices(t *testing.T) {
	s, _ := openNew(t)
	generate(t, s, storetest.GenConfig{Builds: 400, Steps: 12, Projects: 2, Start: storetest.T0, Span: 24 * 24 * time.Hour, Seed: 5})
	checkIntegrity(t, s)
	day := int64(analysis.MsPerDay)
	start := storetest.T0.UnixMilli()
	windows := [][2]int64{
		{0, 1 << 62},
		{start, start + 10*day},
		{start - start%day, start - start%day + 3*day},
		{start + 7*3600*1000, start + 5*day + 1234},
		{start + 2*day + 1, start + 2*day + 2*3600*1000},
		{start + 4*day - start%day, start + 9*day - 17*1000},
		{start + 5*3600*1000, start + 23*day + 2*3600*1000},   // whole weeks, whole days and partial days on both sides
		{start - start%day + day, start - start%day + 22*day}, // whole weeks and days, no partial day
	}
	for _, w := range windows {
		for _, f := range []analysis.Filter{{}, {Project: "service-01"}, {Kinds: []model.Kind{model.KindStep}},
			{Project: "service-00", Kinds: []model.Kind{model.KindExport, model.KindInternal}},
			{Branch: "main"}, {Project: "service-01", Branch: "main"}, {Branch: "feature-1", Kinds: []model.Kind{model.KindStep}}} {
			f.Lo, f.Hi = w[0], w[1]
			fast, err := s.stepWindow(storetest.Ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			f.NoRollup = true
			full, err := s.stepWindow(storetest.Ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(fast) != len(full) || len(fast) == 0 && w[0] == 0 {
				t.Fatalf("window %v %+v: %d steps from the rollup, %d from vertices", w, f, len(fast), len(full))
			}
			for id, a := range fast {
				b := full[id]
				slices.Sort(a.Durations)
				if b != nil {
					slices.Sort(b.Durations)
				}
				if b == nil || a.Builds != b.Builds || a.Hits != b.Hits || a.Runs != b.Runs || a.Total != b.Total || a.Max != b.Max ||
					!slices.Equal(a.Durations, b.Durations) {
					t.Errorf("window %v %+v, step %d: rollup %+v, vertices %+v", w, f, id, a, b)
				}
			}
		}
	}
}

// CheckIntegrity notices a rollup that drifted from the vertices, and a
// vertex whose step identity is gone.
func TestCheckIntegrityFindsDrift(t *testing.T) {
	for _, damage := range []string{
		`UPDATE step_days SET hits = hits + 1 WHERE step_id = (SELECT min(step_id) FROM step_days)`,
		`UPDATE step_branch_days SET runs = runs || ',1' WHERE step_id = (SELECT max(step_id) FROM step_branch_days)`,
		`DELETE FROM steps WHERE id = (SELECT max(step_id) FROM vertices)`,
	} {
		s, db := openNew(t)
		storetest.IngestMulti(t, s)
		checkIntegrity(t, s)
		if _, err := admin(t, db).Exec(ctx, damage); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckIntegrity(storetest.Ctx); err == nil || !strings.Contains(err.Error(), "check") {
			t.Errorf("after %s CheckIntegrity says %v", damage, err)
		}
	}
}

package sqlite

import (
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store/internal/analysis"
	"github.com/buildstats/buildstats/store/storetest"
)

// explain returns SQLite's plan for a query, one line per step.
func explain(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.DB().Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		rows.Scan(&id, &parent, &unused, &detail)
		lines = append(lines, detail)
	}
	return strings.Join(lines, "\n")
}

// The figures for a year of history depend on these plans: the rollup is
// read by primary key seeks per step and grouped in key order (no
// temporary b-tree), builds through the covering builds_trend index (their
// periods grouped in a small temporary b-tree), and
// vertices by their primary key. Checked before and after ANALYZE, since
// PRAGMA optimize runs on Close.
func TestQueryPlans(t *testing.T) {
	s, _ := openTemp(t)
	cfg := storetest.GenConfig{Builds: 300, Steps: 20, Projects: 3, Start: storetest.T0, Span: 30 * 24 * time.Hour, Seed: 3}
	if err := generate(storetest.Ctx, s, cfg); err != nil {
		t.Fatal(err)
	}
	for _, stats := range []bool{false, true} {
		if stats {
			if _, err := s.DB().Exec(`ANALYZE`); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range []analysis.Filter{{}, {Project: "service-01", Kinds: []model.Kind{model.KindStep}}} {
			for _, g := range []analysis.Grain{analysis.Day, analysis.Week} {
				period := map[analysis.Grain]string{analysis.Day: "day", analysis.Week: "week"}[g]
				f.Branch = ""
				q, args := rollupScanSQL(f, g, 0, 1<<40)
				plan := explain(t, s, q, args...)
				if !strings.Contains(plan, "SEARCH d USING PRIMARY KEY (step_id=? AND "+period+">? AND "+period+"<?)") || strings.Contains(plan, "TEMP B-TREE") {
					t.Errorf("%s scan %+v (stats %v):\n%s", period, f, stats, plan)
				}
				f.Branch = "main"
				q, args = rollupScanSQL(f, g, 0, 1<<40)
				plan = explain(t, s, q, args...)
				if !strings.Contains(plan, "SEARCH d USING PRIMARY KEY (branch_id=? AND step_id=? AND "+period+">? AND "+period+"<?)") || strings.Contains(plan, "TEMP B-TREE") {
					t.Errorf("branch %s scan %+v (stats %v):\n%s", period, f, stats, plan)
				}
			}
			q, args := vertexScanSQL(f, 0, 1<<40)
			plan := explain(t, s, q, args...)
			if !strings.Contains(plan, "SEARCH v USING PRIMARY KEY (build_id=?)") || strings.Contains(plan, "SCAN v") {
				t.Errorf("vertex scan %+v (stats %v):\n%s", f, stats, plan)
			}
		}
		trends, args := trendPeriodsSQL(analysis.Week, 0, 1<<62, "", "main")
		plan := explain(t, s, trends, args...)
		if !strings.Contains(plan, "COVERING INDEX builds_trend") {
			t.Errorf("trends (stats %v):\n%s", stats, plan)
		}
	}
}

// The rollup and the vertices give identical figures for any window:
// whole days, partial days at either end, a project, a branch, kinds.
func TestRollupMatchesVertices(t *testing.T) {
	s, _ := openTemp(t)
	cfg := storetest.GenConfig{Builds: 400, Steps: 12, Projects: 2, Start: storetest.T0, Span: 24 * 24 * time.Hour, Seed: 5}
	if err := generate(storetest.Ctx, s, cfg); err != nil {
		t.Fatal(err)
	}
	day := int64(analysis.MsPerDay)
	start := storetest.T0.UnixMilli()
	windows := [][2]int64{
		{0, 1 << 62},
		{start, start + 10*day},
		{start - start%day, start - start%day + 3*day},   // whole days only
		{start + 7*3600*1000, start + 5*day + 1234},      // partial days at both ends
		{start + 2*day + 1, start + 2*day + 2*3600*1000}, // inside one day
		{start + 4*day - start%day, start + 9*day - 17*1000},
		{start + 5*3600*1000, start + 23*day + 2*3600*1000},   // whole weeks, whole days and partial days on both sides
		{start - start%day + day, start - start%day + 22*day}, // whole weeks and days, no partial day // whole start, partial end
	}
	for _, w := range windows {
		for _, f := range []analysis.Filter{{}, {Project: "service-01"}, {Kinds: []model.Kind{model.KindStep}}, {Project: "service-00", Kinds: []model.Kind{model.KindExport, model.KindInternal}},
			{Branch: "main"}, {Project: "service-01", Branch: "main"}, {Branch: "feature-1", Kinds: []model.Kind{model.KindStep}}} {
			f.Lo, f.Hi = w[0], w[1]
			fast, err := s.stepWindow(storetest.Ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			f.NoRollup = true
			slow, err := s.stepWindow(storetest.Ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(fast) != len(slow) || len(fast) == 0 && w[0] == 0 {
				t.Fatalf("window %v %+v: %d steps from the rollup, %d from vertices", w, f, len(fast), len(slow))
			}
			for id, a := range fast {
				b := slow[id]
				if b == nil || a.Builds != b.Builds || a.Hits != b.Hits || a.Runs != b.Runs || a.Total != b.Total || a.Max != b.Max ||
					!sameMultiset(a.Durations, b.Durations) {
					t.Errorf("window %v %+v, step %d: rollup %+v, vertices %+v", w, f, id, a, b)
				}
			}
		}
	}
}

func sameMultiset(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[int64]int{}
	for _, x := range a {
		n[x]++
	}
	for _, x := range b {
		n[x]--
	}
	for _, c := range n {
		if c != 0 {
			return false
		}
	}
	return true
}

// CheckIntegrity notices a rollup that drifted from the vertices.
func TestCheckIntegrityFindsRollupDrift(t *testing.T) {
	for _, table := range []string{"step_days", "step_branch_days"} {
		s, _ := openTemp(t)
		storetest.IngestMulti(t, s)
		checkIntegrity(t, s)
		if _, err := s.DB().Exec(`UPDATE ` + table + ` SET hits = hits + 1 WHERE step_id = (SELECT MIN(step_id) FROM ` + table + `)`); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckIntegrity(storetest.Ctx); err == nil || !strings.Contains(err.Error(), "rollup") {
			t.Errorf("%s drifted and CheckIntegrity says %v", table, err)
		}
	}
}

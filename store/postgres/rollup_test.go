package postgres

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
		items = append(items, store.BatchItem{Build: storetest.Clone(b), Meta: m})
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
		`UPDATE rollup_days SET hits[1] = hits[1] + 1 WHERE (day, project_id) = (SELECT day, project_id FROM rollup_days LIMIT 1)`,
		`UPDATE rollup_branch_days SET runs[1] = runs[1] || ',1' WHERE (branch_id, day, project_id) = (SELECT branch_id, day, project_id FROM rollup_branch_days LIMIT 1)`,
		`UPDATE rollup_weeks SET step_ids = step_ids[2:], builds = builds[2:], hits = hits[2:], runs = runs[2:] WHERE (week, project_id) = (SELECT week, project_id FROM rollup_weeks LIMIT 1)`,
		`DELETE FROM steps WHERE id = (SELECT max(step_id) FROM vertices)`,
		// Version 6's run totals, against the run lists.
		`UPDATE rollup_days SET run_ms[1] = run_ms[1] + 1 WHERE (day, project_id) = (SELECT day, project_id FROM rollup_days WHERE runs[1] <> '' LIMIT 1)`,
		`UPDATE rollup_branch_weeks SET ran = ran[2:] WHERE (branch_id, week, project_id) = (SELECT branch_id, week, project_id FROM rollup_branch_weeks LIMIT 1)`,
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

// rollupRows lists every row of the four rollups as the readers see them.
func rollupRows(t *testing.T, c *pgx.Conn) []string {
	t.Helper()
	rows, err := c.Query(ctx, `SELECT 'day', 0::bigint, day, step_id, builds, hits, runs FROM step_days
		UNION ALL SELECT 'branch day', branch_id, day, step_id, builds, hits, runs FROM step_branch_days
		UNION ALL SELECT 'week', 0::bigint, week, step_id, builds, hits, runs FROM step_weeks
		UNION ALL SELECT 'branch week', branch_id, week, step_id, builds, hits, runs FROM step_branch_weeks`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var grain, runs string
	var branch, step int64
	var period, builds, hits int32
	_, err = pgx.ForEachRow(rows, []any{&grain, &branch, &period, &step, &builds, &hits, &runs}, func() error {
		list := strings.Split(runs, ",")
		slices.Sort(list) // the order of run times is not kept
		out = append(out, fmt.Sprint(grain, branch, period, step, builds, hits, list))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// Version 5 packs the rollups of version 4, one row per step and period,
// into a row per project and period: the upgrade keeps every figure.
func TestMigratePackedRollups(t *testing.T) {
	s, db := openNew(t)
	generate(t, s, storetest.GenConfig{Builds: 300, Steps: 12, Projects: 3, Start: storetest.T0, Span: 20 * 24 * time.Hour, Seed: 9})
	s.Close()
	c, err := pgx.Connect(ctx, db.Writer)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	want := rollupRows(t, c)
	if len(want) < 1000 {
		t.Fatalf("only %d rollup rows to migrate", len(want))
	}
	// Back to version 4's tables, filled with the same rows.
	for _, q := range []string{
		`CREATE TABLE v4_days AS SELECT day, step_id, builds, hits, runs FROM step_days`,
		`CREATE TABLE v4_branch_days AS SELECT branch_id, day, step_id, builds, hits, runs FROM step_branch_days`,
		`CREATE TABLE v4_weeks AS SELECT week, step_id, builds, hits, runs FROM step_weeks`,
		`CREATE TABLE v4_branch_weeks AS SELECT branch_id, week, step_id, builds, hits, runs FROM step_branch_weeks`,
		`DROP VIEW step_days, step_branch_days, step_weeks, step_branch_weeks`,
		`DROP TABLE rollup_days, rollup_branch_days, rollup_weeks, rollup_branch_weeks`,
		`ALTER TABLE v4_days RENAME TO step_days`,
		`ALTER TABLE v4_branch_days RENAME TO step_branch_days`,
		`ALTER TABLE v4_weeks RENAME TO step_weeks`,
		`ALTER TABLE v4_branch_weeks RENAME TO step_branch_weeks`,
		`UPDATE buildstats_schema SET version = 4`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	up, err := Open(ctx, db.Writer, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if got := rollupRows(t, c); !slices.Equal(got, want) {
		t.Errorf("the upgrade changed the rollups: %d rows, want %d", len(got), len(want))
	}
	checkIntegrity(t, up)
}

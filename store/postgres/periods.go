package postgres

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/internal/analysis"
)

var _ analysis.PeriodSource = (*source)(nil)

// StepPeriods breaks Slow's figures down per period. See
// store.Reader.StepPeriods.
func (s *Store) StepPeriods(ctx context.Context, q store.PeriodQuery) ([]store.StepPeriod, error) {
	r, err := analysis.StepPeriods(ctx, s.src(), q)
	return r, s.wrap("step figures per period", err)
}

// BranchPeriods counts builds per period and branch. See
// store.Reader.BranchPeriods.
func (s *Store) BranchPeriods(ctx context.Context, q store.PeriodQuery) ([]store.BranchPeriod, error) {
	r, err := analysis.BranchPeriods(ctx, s.src(), q)
	return r, s.wrap("builds per branch", err)
}

// MissPeriods is the time lost to cache misses per period. See
// store.Reader.MissPeriods.
func (s *Store) MissPeriods(ctx context.Context, q store.PeriodQuery) ([]store.MissPeriod, error) {
	r, err := analysis.MissPeriods(ctx, s.src(), q)
	return r, s.wrap("cache misses per period", err)
}

// rollupTable names the view of the rollup of grain g (per branch when
// the filter has one), one row per step and period, as alias, and its
// period column, and adds the conditions on its branch and project to w.
func rollupTable(w *filter, f analysis.Filter, g analysis.Grain, alias string) (table, period string) {
	return rollupSource(w, f, g, alias, "step_")
}

// packedTable is rollupTable's packed table, as r: one row per project and
// period, the steps in arrays.
func packedTable(w *filter, f analysis.Filter, g analysis.Grain) (table, period string) {
	return rollupSource(w, f, g, "r", "rollup_")
}

// rollupSource names a packed table (prefix "rollup_") or its view
// ("step_"); see packedRollupSQL.
func rollupSource(w *filter, f analysis.Filter, g analysis.Grain, alias, prefix string) (table, period string) {
	week, branch := 0, 0
	if g == analysis.Week {
		week = 1
	}
	if f.Branch != "" {
		branch = 1
		w.add(alias+".branch_id = (SELECT id FROM branches WHERE name = ?)", f.Branch)
	}
	if f.Project != "" {
		// Redundant with the step ids, but on the packed rows' key: only
		// the project's rows are read.
		w.add(alias+".project_id = (SELECT id FROM projects WHERE name = ?)", f.Project)
	}
	t := rollupTables[week][branch]
	return strings.Replace(t.name, "rollup_", prefix, 1) + " " + alias, alias + "." + t.period
}

// int32Day clamps a day number to the rollups' integer period column: an
// open window's ends are beyond it.
func int32Day(d int64) int64 { return min(max(d, math.MinInt32), math.MaxInt32) }

// packedSteps is the FROM clause of a query over the packed rows of grain
// g (per branch when f has one) that unnests their step ids alone, each
// with its index into the row's other arrays: "r.builds[u.i]". A
// condition on u.step_id then runs before any other array is read, and
// those are read only for the steps it keeps: following ten steps through
// a year of days reads 3,650 of 193,000 elements (8 ms, against 100-140 ms
// through the views, which unnest all four arrays of every row). A text
// array's element is found by walking the array, so a query that keeps
// most steps reads runs through the views instead. It adds the conditions
// on the row's branch and project to w and names the period column.
func packedSteps(w *filter, f analysis.Filter, g analysis.Grain) (from, period string) {
	table, period := packedTable(w, f, g)
	return table + " CROSS JOIN LATERAL unnest(r.step_ids) WITH ORDINALITY AS u(step_id, i)", period
}

// fewSteps is how many step ids a condition lists for a linear search
// (= ANY) rather than a hashed subplan (see stepIDs): ten ids take 8 ms
// over a year of days one way and 37 ms the other.
const fewSteps = 16

// packedStepIDs adds the condition on u.step_id of a packedSteps query.
func packedStepIDs(w *filter, f analysis.Filter) {
	if len(f.Steps) > 0 && len(f.Steps) <= fewSteps && len(f.Kinds) == 0 && f.Project == "" {
		w.add("u.step_id = ANY(?)", f.Steps)
		return
	}
	stepIDs(w, "(u.step_id + 0)", f) // see rollupStep
}

// RollupRows reads the rollup rows of the periods starting on days
// [lo, hi), one per step and period; the run lists are not copied. Named
// steps (a chart that follows a few) are picked out of the packed rows;
// a kind or project filter (most of the steps) reads the views.
func (x *source) RollupRows(ctx context.Context, f analysis.Filter, g analysis.Grain, lo, hi int64, add func(step, from int64, builds, hits int, runs []byte)) error {
	var w filter
	var query string
	if len(f.Steps) > 0 {
		from, period := packedSteps(&w, f, g)
		w.add(period+" >= ?", int32Day(lo))
		w.add(period+" < ?", int32Day(hi))
		packedStepIDs(&w, f)
		query = `SELECT u.step_id, ` + period + `, r.builds[u.i], r.hits[u.i], r.runs[u.i] FROM ` + from + w.where()
	} else {
		table, period := rollupTable(&w, f, g, "d")
		w.add(period+" >= ?", int32Day(lo))
		w.add(period+" < ?", int32Day(hi))
		stepIDs(&w, rollupStep, f)
		query = `SELECT d.step_id, ` + period + `, d.builds, d.hits, d.runs FROM ` + table + w.where()
	}
	rows, err := x.pool.Query(ctx, query, w.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var step, from, builds, hits int64
		if err := rows.Scan(&step, &from, &builds, &hits, nil); err != nil {
			return err
		}
		add(step, from, int(builds), int(hits), rows.RawValues()[4])
	}
	return rows.Err()
}

// VertexRows reads the vertices of the builds that started in [lo, hi)
// with their build's start.
func (x *source) VertexRows(ctx context.Context, f analysis.Filter, lo, hi int64, add func(step, started int64, cached bool, run *int64)) error {
	if lo >= hi {
		return nil
	}
	query, args := vertexScanSQL(f, lo, hi)
	query = strings.Replace(query, "SELECT v.step_id,", "SELECT v.step_id, b.started_at,", 1)
	rows, err := x.pool.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	var step, started int64
	var cached bool
	var run *int64
	_, err = pgx.ForEachRow(rows, []any{&step, &started, &cached, &run}, func() error {
		add(step, started, cached, run)
		return nil
	})
	return err
}

// firstHitsSQL finds each step's first week with a cache hit in the
// weekly packed rows; for days, the first day with one in that week of the
// daily rows, so neither reads a year of daily rows. Its columns are
// step_id and first; its parameters are w's, which it adds to.
func firstHitsSQL(w *filter, f analysis.Filter, g analysis.Grain) string {
	var cw filter // the weekly conditions, numbered in w
	cw.args = w.args
	weeks, _ := packedSteps(&cw, f, analysis.Week)
	cw.add("r.hits[u.i] > 0")
	packedStepIDs(&cw, f)
	w.args = cw.args
	// A step is of one project: naming it lets the daily lookup below
	// read that project's packed rows only, not every project's.
	query := `SELECT u.step_id, min(r.week) AS first, min(r.project_id) AS project FROM ` + weeks + cw.where() + ` GROUP BY u.step_id`
	if g == analysis.Week {
		return `SELECT step_id, first FROM (` + query + `) fw`
	}
	d := filter{args: w.args}
	days, _ := packedTable(&d, analysis.Filter{Branch: f.Branch}, analysis.Day)
	// At most seven rows per step: a linear search of each for the step.
	d.add("r.project_id = fw.project AND r.day >= fw.first AND r.day < fw.first + 7 AND r.hits[array_position(r.step_ids, fw.step_id)] > 0")
	w.args = d.args
	return `SELECT fw.step_id, (SELECT min(r.day) FROM ` + days + d.where() + `) AS first FROM (` + query + `) fw`
}

// FirstHits finds each step's first period with a cache hit.
func (x *source) FirstHits(ctx context.Context, f analysis.Filter, g analysis.Grain, add func(step, from int64)) error {
	var w filter
	query := firstHitsSQL(&w, f, g)
	rows, err := x.pool.Query(ctx, query, w.args...)
	if err != nil {
		return err
	}
	var step, from int64
	_, err = pgx.ForEachRow(rows, []any{&step, &from}, func() error { add(step, from); return nil })
	return err
}

// LostRows reads the packed rows' step ids and run totals (schema v6)
// and hands over each row's sum over the steps whose first hit came
// before its period. It does in Go what SQL would do with an unnest and a join: the
// arrays arrive as they are stored and are walked in place, 55-75 ms for
// a year of days (193,000 elements) where the SQL took 115-150 ms, and
// gathering the year's 2 million run times as text (schema v5) 190-266.
// The steps f allows are those in first.
func (x *source) LostRows(ctx context.Context, f analysis.Filter, g, tg analysis.Grain, lo, hi int64, first map[int64]int64, add func(from int64, runs, timed int, ms int64)) error {
	if len(first) == 0 {
		return nil
	}
	var w filter
	table, period := packedTable(&w, f, tg)
	w.add(period+" >= ?", int32Day(lo))
	w.add(period+" < ?", int32Day(hi))
	rows, err := x.pool.Query(ctx, `SELECT `+period+`, r.step_ids, r.ran, r.timed, r.run_ms FROM `+table+w.where(), w.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var steps, ran, timed, ms []int64
	for rows.Next() {
		var day int64 // the row's period's first day
		if err := rows.Scan(&day, nil, nil, nil, nil); err != nil {
			return err
		}
		raw := rows.RawValues()
		steps, err = appendInts(steps[:0], raw[1])
		if err == nil {
			ran, err = appendInts(ran[:0], raw[2])
		}
		if err == nil {
			timed, err = appendInts(timed[:0], raw[3])
		}
		if err == nil {
			ms, err = appendInts(ms[:0], raw[4])
		}
		if err == nil && (len(ran) != len(steps) || len(timed) != len(steps) || len(ms) != len(steps)) {
			err = fmt.Errorf("arrays of %d, %d, %d and %d elements", len(steps), len(ran), len(timed), len(ms))
		}
		if err != nil {
			return fmt.Errorf("%s row of day %d: %w", table, day, err)
		}
		from := g.Bucket(day)
		var rowRuns, rowTimed int
		var rowMs int64
		for i, step := range steps {
			if hit, ok := first[step]; ok && from > hit {
				rowRuns, rowTimed, rowMs = rowRuns+int(ran[i]), rowTimed+int(timed[i]), rowMs+ms[i]
			}
		}
		if rowRuns > 0 {
			add(from, rowRuns, rowTimed, rowMs)
		}
	}
	return rows.Err()
}

// BranchRows counts builds per period and branch from an index-only scan
// of builds_started (or a sibling), then names the branches.
func (x *source) BranchRows(ctx context.Context, f analysis.Filter, g analysis.Grain, add func(from int64, branch string, builds int)) error {
	var w filter
	w.add("started_at >= ?", f.Lo)
	w.add("started_at < ?", f.Hi)
	if f.Project != "" {
		w.add("project_id = (SELECT id FROM projects WHERE name = ?)", f.Project)
	}
	if f.Branch != "" {
		w.add("branch_id = (SELECT id FROM branches WHERE name = ?)", f.Branch)
	}
	period := "started_at / 86400000"
	if g == analysis.Week {
		period = analysis.WeekSQL(period)
	}
	rows, err := x.pool.Query(ctx, `SELECT t.period, br.name, t.n
		FROM (SELECT `+period+` AS period, branch_id, count(*) AS n FROM builds`+w.where()+` GROUP BY period, branch_id) t
		JOIN branches br ON br.id = t.branch_id`, w.args...)
	if err != nil {
		return err
	}
	var from, n int64
	var name string
	_, err = pgx.ForEachRow(rows, []any{&from, &name, &n}, func() error { add(from, name, int(n)); return nil })
	return err
}

package postgres

import (
	"context"
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

// rollupTable names the rollup of grain g (per branch when the filter has
// one) and its period column, and adds the conditions on its branch and
// project to w.
func rollupTable(w *filter, f analysis.Filter, g analysis.Grain, alias string) (table, period string) {
	table, period = "step_days", "day"
	if g == analysis.Week {
		table, period = "step_weeks", "week"
	}
	if f.Branch != "" {
		table = strings.Replace(table, "step_", "step_branch_", 1)
		w.add(alias+".branch_id = (SELECT id FROM branches WHERE name = ?)", f.Branch)
	}
	if f.Project != "" {
		// Redundant with the step ids, but on the packed rows' key: only
		// the project's rows are unnested.
		w.add(alias+".project_id = (SELECT id FROM projects WHERE name = ?)", f.Project)
	}
	return table + " " + alias, alias + "." + period
}

// int32Day clamps a day number to the rollups' integer period column: an
// open window's ends are beyond it.
func int32Day(d int64) int64 { return min(max(d, math.MinInt32), math.MaxInt32) }

// RollupRows reads the rollup rows of the periods starting on days
// [lo, hi), one per step and period; the run lists are not copied.
func (x *source) RollupRows(ctx context.Context, f analysis.Filter, g analysis.Grain, lo, hi int64, add func(step, from int64, builds, hits int, runs []byte)) error {
	var w filter
	table, period := rollupTable(&w, f, g, "d")
	w.add(period+" >= ?", int32Day(lo))
	w.add(period+" < ?", int32Day(hi))
	stepIDs(&w, rollupStep, f)
	rows, err := x.pool.Query(ctx, `SELECT d.step_id, `+period+`, d.builds, d.hits, d.runs FROM `+table+w.where(), w.args...)
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
// weekly rollup; for days, the first day with one in that week of the
// daily rollup, so neither reads a year of daily rows. Its columns are
// step_id and first; its parameters are w's, which it adds to.
func firstHitsSQL(w *filter, f analysis.Filter, g analysis.Grain) string {
	var cw filter // the weekly conditions, numbered in w
	cw.args = w.args
	weeks, _ := rollupTable(&cw, f, analysis.Week, "w")
	cw.add("w.hits > 0")
	stepIDs(&cw, "(w.step_id + 0)", f) // see rollupStep
	w.args = cw.args
	// A step is of one project: naming it lets the daily lookup below
	// read that project's packed rows only, not every project's.
	query := `SELECT w.step_id, min(w.week) AS first, min(w.project_id) AS project FROM ` + weeks + cw.where() + ` GROUP BY w.step_id`
	if g == analysis.Week {
		return `SELECT step_id, first FROM (` + query + `) fw`
	}
	d := filter{args: w.args}
	days, _ := rollupTable(&d, f, analysis.Day, "d")
	d.add("d.project_id = fw.project AND d.step_id = fw.step_id AND d.day >= fw.first AND d.day < fw.first + 7 AND d.hits > 0")
	w.args = d.args
	return `SELECT fw.step_id, (SELECT min(d.day) FROM ` + days + d.where() + `) AS first FROM (` + query + `) fw`
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

// LostRows joins the rollup rows with each step's first hit, given as
// arrays, and hands over one list of run times per period. The join is
// on an expression of step_id, as rollupStep's filter is: a hash join
// over the period range, never a probe of the key (or a scan of the
// range) per step, whatever the statistics say.
func (x *source) LostRows(ctx context.Context, f analysis.Filter, g, tg analysis.Grain, lo, hi int64, first map[int64]int64, add func(from int64, runs []byte)) error {
	if len(first) == 0 {
		return nil
	}
	steps, firsts := make([]int64, 0, len(first)), make([]int64, 0, len(first))
	for step, from := range first {
		steps, firsts = append(steps, step), append(firsts, from)
	}
	var o filter
	o.args = []any{steps, firsts}
	table, period := rollupTable(&o, f, tg, "d")
	bucket := period
	if g == analysis.Week && tg == analysis.Day {
		bucket = analysis.WeekSQL(period)
	}
	o.add(period+" >= ?", int32Day(lo))
	o.add(period+" < ?", int32Day(hi))
	o.add(bucket + " > fh.first")
	o.add("d.runs <> ''")
	rows, err := x.pool.Query(ctx, `SELECT `+bucket+` AS period, string_agg(d.runs, ',')
		FROM unnest($1::bigint[], $2::bigint[]) AS fh(step_id, first) JOIN `+table+` ON (d.step_id + 0) = fh.step_id`+o.where()+` GROUP BY period`, o.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var from int64
		if err := rows.Scan(&from, nil); err != nil {
			return err
		}
		add(from, rows.RawValues()[1])
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

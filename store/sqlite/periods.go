package sqlite

import (
	"context"
	"database/sql"
	"strings"

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
// one) and its period column, and gives the condition on its branch.
func rollupTable(f analysis.Filter, g analysis.Grain, alias string) (table, period string, branch *filter) {
	table, period = "step_days", "day"
	if g == analysis.Week {
		table, period = "step_weeks", "week"
	}
	branch = &filter{}
	if f.Branch != "" {
		table = strings.Replace(table, "step_", "step_branch_", 1)
		branch.add(alias+".branch_id = (SELECT id FROM branches WHERE name = ?)", f.Branch)
	}
	return table + " " + alias, alias + "." + period, branch
}

// RollupRows reads the rollup rows of the periods starting on days
// [lo, hi), one per step and period.
func (x *source) RollupRows(ctx context.Context, f analysis.Filter, g analysis.Grain, lo, hi int64, add func(step, from int64, builds, hits int, runs []byte)) error {
	table, period, w := rollupTable(f, g, "d")
	sub, args := stepIDs(f)
	w.add("d.step_id IN ("+sub+")", args...)
	w.add(period+" >= ?", lo)
	w.add(period+" < ?", hi)
	rows, err := x.db.QueryContext(ctx, `SELECT d.step_id, `+period+`, d.builds, d.hits, d.runs FROM `+table+w.where(), w.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var step, from int64
		var builds, hits int
		var runs sql.RawBytes
		if err := rows.Scan(&step, &from, &builds, &hits, &runs); err != nil {
			return err
		}
		add(step, from, builds, hits, runs)
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
	rows, err := x.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var step, started int64
		var cached int
		var run sql.NullInt64
		if err := rows.Scan(&step, &started, &cached, &run); err != nil {
			return err
		}
		var ms *int64
		if run.Valid {
			ms = &run.Int64
		}
		add(step, started, cached != 0, ms)
	}
	return rows.Err()
}

// firstHitsSQL finds each step's first week with a cache hit in the
// weekly rollup; for days, the first day with one in that week of the
// daily rollup, so neither reads a year of daily rows. Its columns are
// step_id and first.
func firstHitsSQL(f analysis.Filter, g analysis.Grain) (string, []any) {
	weeks, _, w := rollupTable(f, analysis.Week, "w")
	sub, args := stepIDs(f)
	w.add("w.hits > 0")
	w.add("w.step_id IN ("+sub+")", args...)
	if g == analysis.Week {
		return `SELECT w.step_id, MIN(w.week) AS first FROM ` + weeks + w.where() + ` GROUP BY w.step_id`, w.args
	}
	days, _, d := rollupTable(f, analysis.Day, "d")
	d.add("d.step_id = fw.step_id AND d.day >= fw.week AND d.day < fw.week + 7 AND d.hits > 0")
	return `SELECT fw.step_id, (SELECT MIN(d.day) FROM ` + days + d.where() + `) AS first
		FROM (SELECT w.step_id, MIN(w.week) AS week FROM ` + weeks + w.where() + ` GROUP BY w.step_id) fw`,
		append(append([]any{}, d.args...), w.args...)
}

// FirstHits finds each step's first period with a cache hit.
func (x *source) FirstHits(ctx context.Context, f analysis.Filter, g analysis.Grain, add func(step, from int64)) error {
	query, args := firstHitsSQL(f, g)
	rows, err := x.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var step, from int64
		if err := rows.Scan(&step, &from); err != nil {
			return err
		}
		add(step, from)
	}
	return rows.Err()
}

// LostRows joins the rollup rows with each step's first hit in SQL and
// gathers one list of run times per period, which it adds up: a year of
// days is 200,000 rollup rows, which cost more to cross into Go one by one
// than to read. first is not used: SQLite plans the join well by itself.
func (x *source) LostRows(ctx context.Context, f analysis.Filter, g, tg analysis.Grain, lo, hi int64, _ map[int64]int64, add func(from int64, runs, timed int, ms int64)) error {
	first, args := firstHitsSQL(f, g)
	table, period, w := rollupTable(f, tg, "d")
	bucket := period
	if g == analysis.Week && tg == analysis.Day {
		bucket = analysis.WeekSQL(period)
	}
	w.add(period+" >= ?", lo)
	w.add(period+" < ?", hi)
	w.add(bucket + " > fh.first")
	w.add("d.runs <> ''")
	// Materialized, so that the daily first hit's subquery runs once per
	// step, never once per rollup row.
	rows, err := x.db.QueryContext(ctx, `WITH fh AS MATERIALIZED (`+first+`)
		SELECT `+bucket+` AS period, group_concat(d.runs, ',')
		FROM fh JOIN `+table+` ON d.step_id = fh.step_id`+w.where()+` GROUP BY period`,
		append(args, w.args...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var from int64
		var runs sql.RawBytes
		if err := rows.Scan(&from, &runs); err != nil {
			return err
		}
		n, timed, ms := analysis.RunTotals(runs)
		add(from, n, timed, ms)
	}
	return rows.Err()
}

// BranchRows counts builds per period and branch through the covering
// builds_trend index, then names the branches.
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
	rows, err := x.db.QueryContext(ctx, `SELECT t.period, br.name, t.n
		FROM (SELECT `+period+` AS period, branch_id, COUNT(*) AS n FROM builds`+w.where()+` GROUP BY period, branch_id) t
		JOIN branches br ON br.id = t.branch_id`, w.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var from int64
		var name string
		var n int
		if err := rows.Scan(&from, &name, &n); err != nil {
			return err
		}
		add(from, name, n)
	}
	return rows.Err()
}

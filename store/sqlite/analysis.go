package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/internal/analysis"
)

// source is the Store seen as analysis.Source: the rows the shared
// analyses need, in SQLite's SQL.
type source Store

func (s *Store) src() *source { return (*source)(s) }

var _ analysis.Source = (*source)(nil)

func (x *source) Summary(ctx context.Context, id int64) (store.BuildSummary, error) {
	return (*Store)(x).Summary(ctx, id)
}

func (x *source) BuildSteps(ctx context.Context, id int64) ([]analysis.StepState, error) {
	rows, err := x.db.QueryContext(ctx, `SELECT v.seq, v.step_id, p.name, st.kind, st.platform, st.stage,
		st.instruction, st.text, st.occurrence, v.cached, v.canceled, v.completed, v.error,
		v.duration_ns, v.image_digest
		FROM vertices v JOIN steps st ON st.id = v.step_id JOIN projects p ON p.id = st.project_id
		WHERE v.build_id = ? ORDER BY v.seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []analysis.StepState
	for rows.Next() {
		var v analysis.StepState
		var cached, canceled, completed int
		var errText string
		if err := rows.Scan(&v.Seq, &v.StepID, &v.Project, &v.Kind, &v.Platform, &v.Stage, &v.Instruction, &v.Text,
			&v.Occurrence, &cached, &canceled, &completed, &errText, &v.Duration, &v.Digest); err != nil {
			return nil, err
		}
		// The model decides what the flags mean.
		mv := model.Vertex{Cached: cached != 0, Canceled: canceled != 0, Completed: completed != 0, Error: errText}
		v.State = mv.State()
		out = append(out, v)
	}
	return out, rows.Err()
}

func (x *source) PreviousBuild(ctx context.Context, b store.BuildSummary) (int64, error) {
	var prev int64
	started := b.StartedAt.UnixMilli()
	err := x.db.QueryRowContext(ctx, `SELECT id FROM builds
		WHERE project_id = (SELECT project_id FROM builds WHERE id = ?)
		  AND (started_at < ? OR (started_at = ? AND id < ?))
		ORDER BY started_at DESC, id DESC LIMIT 1`, b.ID, started, started, b.ID).Scan(&prev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return prev, err
}

// Compare diffs two builds step by step. See store.Reader.Compare.
func (s *Store) Compare(ctx context.Context, before, after int64) (*store.Comparison, error) {
	c, err := analysis.Compare(ctx, s.src(), before, after)
	return c, s.wrap("compare", err)
}

// PreviousMisses lists steps cached in the project's previous build and not
// in this one. See store.Reader.PreviousMisses.
func (s *Store) PreviousMisses(ctx context.Context, id int64) (*store.PreviousMisses, error) {
	pm, err := analysis.PreviousMisses(ctx, s.src(), id)
	return pm, s.wrap("previous build", err)
}

// stepWindow is analysis.StepWindow on this store.
func (s *Store) stepWindow(ctx context.Context, f analysis.Filter) (map[int64]*analysis.Raw, error) {
	return analysis.StepWindow(ctx, s.src(), f)
}

// stepIDs is the subquery of the steps a filter allows.
func stepIDs(f analysis.Filter) (string, []any) {
	var w filter
	if f.Project != "" {
		w.add("project_id = (SELECT id FROM projects WHERE name = ?)", f.Project)
	}
	if len(f.Kinds) > 0 {
		w.add("kind IN ("+placeholders(len(f.Kinds))+")", anySlice(f.Kinds)...)
	}
	if len(f.Steps) > 0 {
		w.add("id IN ("+placeholders(len(f.Steps))+")", anySlice(f.Steps)...)
	}
	return "SELECT id FROM steps" + w.where(), w.args
}

// RollupScan adds the rollup rows of the days or weeks starting on days
// [lo, hi): step_days or step_weeks, or their per-branch tables for a
// branch. The step_id IN list makes SQLite seek into the rollup's primary
// key per step and group in key order, without a sort; each step's run
// times arrive as one list.
func (x *source) RollupScan(ctx context.Context, f analysis.Filter, g analysis.Grain, lo, hi int64, out map[int64]*analysis.Raw) error {
	query, args := rollupScanSQL(f, g, lo, hi)
	rows, err := x.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var step int64
		var builds, hits int
		var list sql.RawBytes
		if err := rows.Scan(&step, &builds, &hits, &list); err != nil {
			return err
		}
		r := out[step]
		if r == nil {
			// Exactly sized: on a cold process every fresh page costs a fault.
			r = &analysis.Raw{Step: step, Durations: make([]int64, 0, bytes.Count(list, []byte{','})+1)}
			out[step] = r
		}
		r.Builds += builds
		r.Hits += hits
		analysis.ParseIntList(list, r.AddRun)
	}
	return rows.Err()
}

func rollupScanSQL(f analysis.Filter, g analysis.Grain, lo, hi int64) (string, []any) {
	sub, args := stepIDs(f)
	table, period, branch := "step_days d", "d.day", ""
	if g == analysis.Week {
		table, period = "step_weeks d", "d.week"
	}
	if f.Branch != "" {
		table, branch = strings.Replace(table, "step_", "step_branch_", 1), "d.branch_id = (SELECT id FROM branches WHERE name = ?) AND "
		args = append([]any{f.Branch}, args...)
	}
	return `SELECT d.step_id, SUM(d.builds), SUM(d.hits), group_concat(NULLIF(d.runs, ''), ',')
		FROM ` + table + ` WHERE ` + branch + `d.step_id IN (` + sub + `) AND ` + period + ` >= ? AND ` + period + ` < ? GROUP BY d.step_id`,
		append(args, lo, hi)
}

// VertexScan adds the vertices of the builds that started in [lo, hi):
// a range of builds_trend, then each build's vertices in primary key order.
func (x *source) VertexScan(ctx context.Context, f analysis.Filter, lo, hi int64, out map[int64]*analysis.Raw) error {
	if lo >= hi {
		return nil
	}
	query, args := vertexScanSQL(f, lo, hi)
	rows, err := x.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var step int64
		var cached int
		var run sql.NullInt64
		if err := rows.Scan(&step, &cached, &run); err != nil {
			return err
		}
		r := out[step]
		if r == nil {
			r = &analysis.Raw{Step: step}
			out[step] = r
		}
		r.Builds++
		r.Hits += cached
		if run.Valid {
			r.AddRun(run.Int64)
		}
	}
	return rows.Err()
}

func vertexScanSQL(f analysis.Filter, lo, hi int64) (string, []any) {
	var w filter
	w.add("b.started_at >= ?", lo)
	w.add("b.started_at < ?", hi)
	if f.Project != "" {
		w.add("b.project_id = (SELECT id FROM projects WHERE name = ?)", f.Project)
	}
	if f.Branch != "" {
		w.add("b.branch_id = (SELECT id FROM branches WHERE name = ?)", f.Branch)
	}
	if len(f.Kinds) > 0 || len(f.Steps) > 0 {
		sub, args := stepIDs(analysis.Filter{Kinds: f.Kinds, Steps: f.Steps})
		w.add("v.step_id IN ("+sub+")", args...)
	}
	return `SELECT v.step_id, v.cached, v.run_ms FROM builds b JOIN vertices v ON v.build_id = b.id` + w.where(), w.args
}

// StepRefs loads the identities of the given step ids.
func (x *source) StepRefs(ctx context.Context, ids []int64) (map[int64]store.StepRef, error) {
	out := make(map[int64]store.StepRef, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 500) // stay under SQLite's bound-variable limit
		chunk := ids[:n]
		ids = ids[n:]
		rows, err := x.db.QueryContext(ctx, `SELECT st.id, p.name, st.kind, st.platform, st.stage, st.instruction,
			st.text, st.occurrence FROM steps st JOIN projects p ON p.id = st.project_id
			WHERE st.id IN (`+placeholders(len(chunk))+`)`, anySlice(chunk)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var r store.StepRef
			if err := rows.Scan(&r.StepID, &r.Project, &r.Kind, &r.Platform, &r.Stage, &r.Instruction, &r.Text, &r.Occurrence); err != nil {
				rows.Close()
				return nil, err
			}
			out[r.StepID] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TrendPeriods aggregates the per-build figures per period in SQL,
// through the covering builds_trend index: a year is a few hundred rows
// to cross into Go, not 50,000.
func (x *source) TrendPeriods(ctx context.Context, g analysis.Grain, lo, hi int64, project, branch string, add func(analysis.TrendRow)) error {
	query, args := trendPeriodsSQL(g, lo, hi, project, branch)
	rows, err := x.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r analysis.TrendRow
		var durations sql.RawBytes
		if err := rows.Scan(&r.Day, &r.Builds, &r.Failed, &r.StepsTotal, &r.StepsCached, &durations); err != nil {
			return err
		}
		r.Durations = durations
		add(r)
	}
	return rows.Err()
}

func trendPeriodsSQL(g analysis.Grain, lo, hi int64, project, branch string) (string, []any) {
	var f filter
	f.add("started_at >= ?", lo)
	f.add("started_at < ?", hi)
	if project != "" {
		f.add("project_id = (SELECT id FROM projects WHERE name = ?)", project)
	}
	if branch != "" {
		f.add("branch_id = (SELECT id FROM branches WHERE name = ?)", branch)
	}
	period := "started_at / 86400000"
	if g == analysis.Week {
		period = analysis.WeekSQL(period)
	}
	return `SELECT ` + period + ` AS period, COUNT(*), SUM(status = 'failed'), SUM(steps_total),
		SUM(steps_cached), group_concat(CASE WHEN duration_source <> '' THEN duration_ns END, ',')
		FROM builds` + f.where() + ` GROUP BY period ORDER BY period`, f.args
}

// Slow ranks the step identities that ran in the window by total run
// time, then by p95. See store.Reader.Slow.
func (s *Store) Slow(ctx context.Context, q store.WindowQuery) ([]store.StepStats, error) {
	r, err := analysis.Slow(ctx, s.src(), q)
	return r, s.wrap("slow steps", err)
}

// Misses ranks Dockerfile steps that missed the cache by the time the
// misses cost, then by miss rate. See store.Reader.Misses.
func (s *Store) Misses(ctx context.Context, q store.WindowQuery) ([]store.StepStats, error) {
	r, err := analysis.Misses(ctx, s.src(), q)
	return r, s.wrap("cache misses", err)
}

// Trends buckets builds per day or week. See store.Reader.Trends.
func (s *Store) Trends(ctx context.Context, q store.TrendQuery) (*store.Trends, error) {
	tr, err := analysis.Trends(ctx, s.src(), q)
	return tr, s.wrap("trends", err)
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func anySlice[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

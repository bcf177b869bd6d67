package postgres

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/internal/analysis"
)

// source is the Store seen as analysis.Source: the rows the shared
// analyses need, in PostgreSQL's SQL.
type source Store

func (s *Store) src() *source { return (*source)(s) }

var _ analysis.Source = (*source)(nil)

func (x *source) Summary(ctx context.Context, id int64) (store.BuildSummary, error) {
	return (*Store)(x).Summary(ctx, id)
}

func (x *source) BuildSteps(ctx context.Context, id int64) ([]analysis.StepState, error) {
	rows, err := x.pool.Query(ctx, `SELECT v.seq, v.step_id, p.name, st.kind, st.platform, st.stage,
		st.instruction, st.text, st.occurrence, v.cached, v.canceled, v.completed, v.error,
		v.duration_ns, v.image_digest
		FROM vertices v JOIN steps st ON st.id = v.step_id JOIN projects p ON p.id = st.project_id
		WHERE v.build_id = $1 ORDER BY v.seq`, id)
	if err != nil {
		return nil, err
	}
	var out []analysis.StepState
	var v analysis.StepState
	var mv model.Vertex
	_, err = pgx.ForEachRow(rows, []any{&v.Seq, &v.StepID, &v.Project, &v.Kind, &v.Platform, &v.Stage, &v.Instruction, &v.Text,
		&v.Occurrence, &mv.Cached, &mv.Canceled, &mv.Completed, &mv.Error, &v.Duration, &v.Digest}, func() error {
		v.State = mv.State() // the model decides what the flags mean
		out = append(out, v)
		return nil
	})
	return out, err
}

func (x *source) PreviousBuild(ctx context.Context, b store.BuildSummary) (int64, error) {
	var prev int64
	started := b.StartedAt.UnixMilli()
	err := x.pool.QueryRow(ctx, `SELECT id FROM builds
		WHERE project_id = (SELECT project_id FROM builds WHERE id = $1)
		  AND (started_at < $2 OR (started_at = $2 AND id < $1))
		ORDER BY started_at DESC, id DESC LIMIT 1`, b.ID, started).Scan(&prev)
	if errors.Is(err, pgx.ErrNoRows) {
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

// stepWindow is analysis.StepWindow on this store.
func (s *Store) stepWindow(ctx context.Context, f analysis.Filter) (map[int64]*analysis.Raw, error) {
	return analysis.StepWindow(ctx, s.src(), f)
}

// stepIDs is the condition on a step id column that a filter's project
// and kinds allow, "" when it allows every step.
func stepIDs(f *filter, column string, af analysis.Filter) {
	var conds []string
	var args []any
	if af.Project != "" {
		conds, args = append(conds, "project_id = (SELECT id FROM projects WHERE name = ?)"), append(args, af.Project)
	}
	if len(af.Kinds) > 0 {
		kinds := make([]string, len(af.Kinds))
		for i, k := range af.Kinds {
			kinds[i] = string(k)
		}
		conds, args = append(conds, "kind = ANY(?)"), append(args, kinds)
	}
	if len(af.Steps) > 0 {
		conds, args = append(conds, "id = ANY(?)"), append(args, af.Steps)
	}
	if len(conds) > 0 {
		// A set hashed once and probed per row, not a semi-join: a
		// planner that took the steps for one row (statistics of a
		// history still filling) joined them by a nested loop, scanning
		// the rollup's period range once per step (a project's year of
		// misses: 60 ms one run, 510 ms the next). "IS TRUE" keeps the
		// IN from being pulled up into a join: it stays a hashed subplan.
		// (An ARRAY tested with = ANY is a linear search per row: with
		// the hundreds of Dockerfile steps of a year of days, 426 ms
		// where the hash takes 108.)
		f.add("("+column+" IN (SELECT id FROM steps WHERE "+strings.Join(conds, " AND ")+")) IS TRUE", args...)
	}
}

// rollupStep is the rollups' step_id as a condition on it must name it:
// an expression, so that the condition filters the rows of the period
// range. Schema v4 keyed the rollups (period, step_id), and as part of
// that key's index scan each step of a kind or project filter (a few
// hundred) scanned the whole range again: 330 ms for 26 weeks where
// reading the range once took 9 ms. The packed rollups of v5 have no step
// key; the expression keeps any future one out of the plan.
const rollupStep = "(d.step_id + 0)"

// RollupScan adds the rollup rows of the days or weeks starting on days
// [lo, hi): step_days or step_weeks, or their per-branch tables for a
// branch. Each step's run times arrive as one list.
func (x *source) RollupScan(ctx context.Context, f analysis.Filter, g analysis.Grain, lo, hi int64, out map[int64]*analysis.Raw) error {
	query, args := rollupScanSQL(f, g, lo, hi)
	rows, err := x.pool.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var step, builds, hits int64
		if err := rows.Scan(&step, &builds, &hits, nil); err != nil {
			return err
		}
		list := rows.RawValues()[3] // text: the bytes themselves, unallocated
		r := out[step]
		if r == nil {
			r = &analysis.Raw{Step: step, Durations: make([]int64, 0, bytes.Count(list, []byte{','})+1)}
			out[step] = r
		}
		r.Builds += int(builds)
		r.Hits += int(hits)
		analysis.ParseIntList(list, r.AddRun)
	}
	return rows.Err()
}

func rollupScanSQL(af analysis.Filter, g analysis.Grain, lo, hi int64) (string, []any) {
	var f filter
	table, period := rollupTable(&f, af, g, "d")
	f.add(period+" >= ?", int32Day(lo))
	f.add(period+" < ?", int32Day(hi))
	stepIDs(&f, rollupStep, af)
	return `SELECT d.step_id, sum(d.builds), sum(d.hits), string_agg(NULLIF(d.runs, ''), ',')
		FROM ` + table + f.where() + ` GROUP BY d.step_id`, f.args
}

// VertexScan adds the vertices of the builds that started in [lo, hi).
func (x *source) VertexScan(ctx context.Context, af analysis.Filter, lo, hi int64, out map[int64]*analysis.Raw) error {
	if lo >= hi {
		return nil
	}
	query, args := vertexScanSQL(af, lo, hi)
	rows, err := x.pool.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	var step int64
	var cached bool
	var run *int64
	_, err = pgx.ForEachRow(rows, []any{&step, &cached, &run}, func() error {
		r := out[step]
		if r == nil {
			r = &analysis.Raw{Step: step}
			out[step] = r
		}
		r.Builds++
		if cached {
			r.Hits++
		}
		if run != nil {
			r.AddRun(*run)
		}
		return nil
	})
	return err
}

func vertexScanSQL(af analysis.Filter, lo, hi int64) (string, []any) {
	var b filter
	b.add("started_at >= ?", lo)
	b.add("started_at < ?", hi)
	if af.Project != "" {
		b.add("project_id = (SELECT id FROM projects WHERE name = ?)", af.Project)
	}
	if af.Branch != "" {
		b.add("branch_id = (SELECT id FROM branches WHERE name = ?)", af.Branch)
	}
	// The builds as an array the vertices' key is searched for: joined
	// instead, a planner that misjudged how few builds a day holds
	// (statistics of a history still filling) read all the vertices, 2.2
	// million for a year, to find a day's 7,000 (370 ms for one partial
	// day, the start of every window that does not begin at midnight).
	f := filter{args: b.args}
	f.conds = append(f.conds, "v.build_id = ANY(ARRAY(SELECT id FROM builds"+b.where()+"))")
	stepIDs(&f, "v.step_id", analysis.Filter{Kinds: af.Kinds, Steps: af.Steps})
	return `SELECT v.step_id, v.cached, v.run_ms FROM vertices v JOIN builds b ON b.id = v.build_id` + f.where(), f.args
}

// StepRefs loads the identities of the given step ids.
func (x *source) StepRefs(ctx context.Context, ids []int64) (map[int64]store.StepRef, error) {
	out := make(map[int64]store.StepRef, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := x.pool.Query(ctx, `SELECT st.id, p.name, st.kind, st.platform, st.stage, st.instruction,
		st.text, st.occurrence FROM steps st JOIN projects p ON p.id = st.project_id WHERE st.id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	var r store.StepRef
	_, err = pgx.ForEachRow(rows, []any{&r.StepID, &r.Project, &r.Kind, &r.Platform, &r.Stage, &r.Instruction, &r.Text, &r.Occurrence},
		func() error { out[r.StepID] = r; return nil })
	return out, err
}

// TrendPeriods aggregates the per-build figures per period in SQL, from
// index-only scans of builds_started (or its project or branch siblings).
func (x *source) TrendPeriods(ctx context.Context, g analysis.Grain, lo, hi int64, project, branch string, add func(analysis.TrendRow)) error {
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
	rows, err := x.pool.Query(ctx, `SELECT `+period+` AS period, count(*), count(*) FILTER (WHERE status = 'failed'),
		sum(steps_total), sum(steps_cached),
		string_agg(duration_ns::text, ',') FILTER (WHERE duration_source <> '')
		FROM builds`+f.where()+` GROUP BY period ORDER BY period`, f.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r analysis.TrendRow
		if err := rows.Scan(&r.Day, &r.Builds, &r.Failed, &r.StepsTotal, &r.StepsCached, nil); err != nil {
			return err
		}
		r.Durations = rows.RawValues()[5] // text: the bytes themselves
		add(r)
	}
	return rows.Err()
}

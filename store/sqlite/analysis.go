package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/internal/analysis"
)

func (s *Store) buildSteps(ctx context.Context, id int64) ([]analysis.StepState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT v.seq, v.step_id, p.name, st.kind, st.platform, st.stage,
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

// Compare diffs two builds step by step. See Store.Compare.
func (s *Store) Compare(ctx context.Context, before, after int64) (*store.Comparison, error) {
	c := &store.Comparison{BaseImageChanges: []store.BaseImageChange{}, Added: []store.StepRef{}, Removed: []store.StepRef{}, Steps: []store.StepChange{}}
	var err error
	if c.Before, err = s.Summary(ctx, before); err != nil {
		return nil, err
	}
	if c.After, err = s.Summary(ctx, after); err != nil {
		return nil, err
	}
	a, err := s.buildSteps(ctx, before)
	if err != nil {
		return nil, s.wrap("compare", err)
	}
	b, err := s.buildSteps(ctx, after)
	if err != nil {
		return nil, s.wrap("compare", err)
	}
	analysis.Diff(c, a, b)
	return c, nil
}

// PreviousMisses lists steps cached in the project's previous build and not
// in this one. See Store.PreviousMisses.
func (s *Store) PreviousMisses(ctx context.Context, id int64) (*store.PreviousMisses, error) {
	cur, err := s.Summary(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &store.PreviousMisses{Build: cur, Steps: []store.StepChange{}}
	var prev int64
	started := cur.StartedAt.UnixMilli()
	err = s.db.QueryRowContext(ctx, `SELECT id FROM builds
		WHERE project_id = (SELECT project_id FROM builds WHERE id = ?)
		  AND (started_at < ? OR (started_at = ? AND id < ?))
		ORDER BY started_at DESC, id DESC LIMIT 1`, id, started, started, id).Scan(&prev)
	if err == sql.ErrNoRows {
		return out, nil
	}
	if err != nil {
		return nil, s.wrap("previous build", err)
	}
	c, err := s.Compare(ctx, prev, id)
	if err != nil {
		return nil, err
	}
	out.Previous = &c.Before
	out.Steps = analysis.PreviousMissSteps(c)
	return out, nil
}

// stepFilter selects the vertices a step query looks at.
type stepFilter struct {
	lo, hi          int64 // build start, Unix ms, [lo, hi)
	project, branch string
	kinds           []model.Kind
	noRollup        bool // tests: read vertices only
}

// stepWindow gathers per-step figures for the builds that started in
// [lo, hi). Whole UTC days come from the step_days rollup, one row per step
// and day; the partial days at either end, and every day when a branch is
// asked for (the rollup does not split by branch), come from the vertices
// of the matching builds. Both give the same numbers; the rollup makes a
// year cost what a few weeks of vertices would.
func (s *Store) stepWindow(ctx context.Context, f stepFilter) (map[int64]*analysis.Raw, error) {
	out := map[int64]*analysis.Raw{}
	lo, hi := max(f.lo, 0), f.hi // no build started before 1970
	if lo >= hi {
		return out, nil
	}
	dayLo, dayHi := (lo+analysis.MsPerDay-1)/analysis.MsPerDay, hi/analysis.MsPerDay // whole days inside
	if f.branch != "" || f.noRollup || dayLo >= dayHi {
		return out, s.vertexScan(ctx, f, lo, hi, out)
	}
	if err := s.vertexScan(ctx, f, lo, dayLo*analysis.MsPerDay, out); err != nil {
		return nil, err
	}
	if err := s.dayScan(ctx, f, dayLo, dayHi, out); err != nil {
		return nil, err
	}
	return out, s.vertexScan(ctx, f, dayHi*analysis.MsPerDay, hi, out)
}

// stepIDs is the subquery of the steps a filter allows.
func stepIDs(f stepFilter) (string, []any) {
	var w filter
	if f.project != "" {
		w.add("project_id = (SELECT id FROM projects WHERE name = ?)", f.project)
	}
	if len(f.kinds) > 0 {
		w.add("kind IN ("+placeholders(len(f.kinds))+")", anySlice(f.kinds)...)
	}
	return "SELECT id FROM steps" + w.where(), w.args
}

// dayScan adds the rollup rows of days [dayLo, dayHi). The step_id IN list
// makes SQLite seek into the rollup's primary key per step and group in
// key order, without a sort; each step's run times arrive as one list.
func (s *Store) dayScan(ctx context.Context, f stepFilter, dayLo, dayHi int64, out map[int64]*analysis.Raw) error {
	query, args := dayScanSQL(f, dayLo, dayHi)
	rows, err := s.db.QueryContext(ctx, query, args...)
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

func dayScanSQL(f stepFilter, dayLo, dayHi int64) (string, []any) {
	sub, args := stepIDs(f)
	return `SELECT d.step_id, SUM(d.builds), SUM(d.hits), ` + dialectListAgg(`NULLIF(d.runs, '')`) + `
		FROM step_days d WHERE d.step_id IN (` + sub + `) AND d.day >= ? AND d.day < ? GROUP BY d.step_id`,
		append(args, dayLo, dayHi)
}

// vertexScan adds the vertices of the builds that started in [lo, hi):
// a range of builds_trend, then each build's vertices in primary key order.
func (s *Store) vertexScan(ctx context.Context, f stepFilter, lo, hi int64, out map[int64]*analysis.Raw) error {
	if lo >= hi {
		return nil
	}
	query, args := vertexScanSQL(f, lo, hi)
	rows, err := s.db.QueryContext(ctx, query, args...)
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

func vertexScanSQL(f stepFilter, lo, hi int64) (string, []any) {
	var w filter
	w.add("b.started_at >= ?", lo)
	w.add("b.started_at < ?", hi)
	if f.project != "" {
		w.add("b.project_id = (SELECT id FROM projects WHERE name = ?)", f.project)
	}
	if f.branch != "" {
		w.add("b.branch_id = (SELECT id FROM branches WHERE name = ?)", f.branch)
	}
	if len(f.kinds) > 0 {
		sub, args := stepIDs(stepFilter{kinds: f.kinds})
		w.add("v.step_id IN ("+sub+")", args...)
	}
	return `SELECT v.step_id, v.cached, v.run_ms FROM builds b JOIN vertices v ON v.build_id = b.id` + w.where(), w.args
}

// stepRefs loads the identities of the given step ids.
func (s *Store) stepRefs(ctx context.Context, ids []int64) (map[int64]store.StepRef, error) {
	out := make(map[int64]store.StepRef, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 500) // stay under SQLite's bound-variable limit
		chunk := ids[:n]
		ids = ids[n:]
		rows, err := s.db.QueryContext(ctx, `SELECT st.id, p.name, st.kind, st.platform, st.stage, st.instruction,
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

func (s *Store) stepStats(ctx context.Context, q store.WindowQuery, kinds []model.Kind) ([]store.StepStats, error) {
	lo, hi := analysis.Window(q.Since, q.Until)
	raw, err := s.stepWindow(ctx, stepFilter{lo: lo, hi: hi, project: q.Project, branch: q.Branch, kinds: kinds})
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(raw))
	for id := range raw {
		ids = append(ids, id)
	}
	refs, err := s.stepRefs(ctx, ids)
	if err != nil {
		return nil, err
	}
	return analysis.Stats(raw, refs), nil
}

// Slow ranks the step identities that ran in the window by total run
// time, then by p95. See Store.Slow.
func (s *Store) Slow(ctx context.Context, q store.WindowQuery) ([]store.StepStats, error) {
	all, err := s.stepStats(ctx, q, q.Kinds)
	if err != nil {
		return nil, s.wrap("slow steps", err)
	}
	return analysis.RankRan(all, q.Limit,
		func(st store.StepStats) float64 { return st.Total },
		func(st store.StepStats) float64 { return st.P95 }), nil
}

// Misses ranks Dockerfile steps that missed the cache by the time the
// misses cost, then by miss rate. See Store.Misses.
func (s *Store) Misses(ctx context.Context, q store.WindowQuery) ([]store.StepStats, error) {
	all, err := s.stepStats(ctx, q, []model.Kind{model.KindStep})
	if err != nil {
		return nil, s.wrap("cache misses", err)
	}
	return analysis.RankRan(all, q.Limit,
		func(st store.StepStats) float64 { return st.Lost },
		func(st store.StepStats) float64 { return st.MissRate }), nil
}

// Trends buckets builds per day or week. Build figures come from the
// per-build aggregates (one index scan of builds); regressions compare step
// run times in the latest period with the periods before it. See
// Store.Trends.
func (s *Store) Trends(ctx context.Context, q store.TrendQuery) (*store.Trends, error) {
	p := q.Period
	switch p {
	case "":
		p = store.Week
	case store.Day, store.Week:
	default:
		return nil, fmt.Errorf("trends: unknown period %q (want day or week)", p)
	}
	if q.Regressions <= 0 {
		q.Regressions = 5
	}
	if q.Baseline <= 0 {
		q.Baseline = 4
	}
	lo, hi := analysis.Window(q.Since, q.Until)
	var f filter
	f.add("started_at >= ?", lo)
	f.add("started_at < ?", hi)
	if q.Project != "" {
		f.add("project_id = (SELECT id FROM projects WHERE name = ?)", q.Project)
	}
	if q.Branch != "" {
		f.add("branch_id = (SELECT id FROM branches WHERE name = ?)", q.Branch)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT started_at, status, duration_ns, steps_total, steps_cached
		FROM builds`+f.where()+` ORDER BY started_at`, f.args...)
	if err != nil {
		return nil, s.wrap("trends", err)
	}
	bs := analysis.NewBuckets(q, p)
	for rows.Next() {
		var started, dur int64
		var status string
		var total, cached int
		if err := rows.Scan(&started, &status, &dur, &total, &cached); err != nil {
			rows.Close()
			return nil, s.wrap("trends", err)
		}
		bs.Add(started, status, dur, total, cached)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap("trends", err)
	}
	out, base, cur, end, ok := bs.Finish(hi)
	if !ok {
		return out, nil
	}
	out.Regressions, err = s.regressions(ctx, q, base, cur, end)
	if err != nil {
		return nil, s.wrap("trends", err)
	}
	return out, nil
}

// regressions compares each Dockerfile step's p50 run time in [cur, end)
// with its p50 in [base, cur).
func (s *Store) regressions(ctx context.Context, q store.TrendQuery, base, cur, end int64) ([]store.StepRegression, error) {
	f := stepFilter{project: q.Project, branch: q.Branch, kinds: []model.Kind{model.KindStep}}
	f.lo, f.hi = base, cur
	before, err := s.stepWindow(ctx, f)
	if err != nil {
		return nil, err
	}
	f.lo, f.hi = cur, end
	after, err := s.stepWindow(ctx, f)
	if err != nil {
		return nil, err
	}
	out := analysis.Regressions(before, after, q.Regressions)
	ids := make([]int64, len(out))
	for i, r := range out {
		ids[i] = r.StepID
	}
	refs, err := s.stepRefs(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].StepRef = refs[out[i].StepID]
	}
	if out == nil {
		out = []store.StepRegression{}
	}
	return out, nil
}

// dialectListAgg is the one SQLite-specific function the queries use:
// group_concat (string_agg in PostgreSQL).
func dialectListAgg(expr string) string { return "group_concat(" + expr + ", ',')" }

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

package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// vertexState is one build's record of a step identity, for comparisons.
type vertexState struct {
	store.StepRef
	seq      int
	state    model.State
	duration int64
	digest   string
}

func (s *Store) buildSteps(ctx context.Context, id int64) ([]vertexState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT v.seq, v.step_id, p.name, st.kind, st.platform, st.stage,
		st.instruction, st.text, st.occurrence, v.cached, v.canceled, v.completed, v.error,
		v.duration_ns, v.image_digest
		FROM vertices v JOIN steps st ON st.id = v.step_id JOIN projects p ON p.id = st.project_id
		WHERE v.build_id = ? ORDER BY v.seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []vertexState
	for rows.Next() {
		var v vertexState
		var cached, canceled, completed int
		var errText string
		if err := rows.Scan(&v.seq, &v.StepID, &v.Project, &v.Kind, &v.Platform, &v.Stage, &v.Instruction, &v.Text,
			&v.Occurrence, &cached, &canceled, &completed, &errText, &v.duration, &v.digest); err != nil {
			return nil, err
		}
		// The model decides what the flags mean.
		mv := model.Vertex{Cached: cached != 0, Canceled: canceled != 0, Completed: completed != 0, Error: errText}
		v.state = mv.State()
		out = append(out, v)
	}
	return out, rows.Err()
}

// cacheHit tells a hit from a miss, and whether the state says either.
func cacheHit(state model.State) (hit, known bool) {
	switch state {
	case model.StateCached:
		return true, true
	case model.StateDone, model.StateError:
		return false, true
	}
	return false, false
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
	c.DurationDeltaSeconds = round3(c.After.DurationSeconds - c.Before.DurationSeconds)
	c.ContextBytesBefore, c.ContextBytesAfter = c.Before.ContextBytes, c.After.ContextBytes
	a, err := s.buildSteps(ctx, before)
	if err != nil {
		return nil, s.wrap("compare", err)
	}
	b, err := s.buildSteps(ctx, after)
	if err != nil {
		return nil, s.wrap("compare", err)
	}
	byID := make(map[int64]*vertexState, len(a))
	for i := range a {
		byID[a[i].StepID] = &a[i]
	}
	seen := make(map[int64]bool, len(b))
	for _, v := range b {
		seen[v.StepID] = true
		ch := store.StepChange{StepRef: v.StepRef, AfterState: v.state, AfterSeconds: seconds(v.duration), BeforeState: store.StateAbsent}
		old := byID[v.StepID]
		if old == nil {
			if v.Kind == model.KindStep {
				c.Added = append(c.Added, v.StepRef)
			}
		} else {
			ch.BeforeState, ch.BeforeSeconds = old.state, seconds(old.duration)
			hitA, okA := cacheHit(old.state)
			hitB, okB := cacheHit(v.state)
			ch.CacheChanged = okA && okB && hitA != hitB
			if old.digest != "" && v.digest != "" && old.digest != v.digest {
				c.BaseImageChanges = append(c.BaseImageChanges, store.BaseImageChange{StepRef: v.StepRef, BeforeDigest: old.digest, AfterDigest: v.digest})
			}
		}
		ch.DeltaSeconds = round3(ch.AfterSeconds - ch.BeforeSeconds)
		if ch.CacheChanged {
			if c.FirstCacheChange == nil {
				first := ch
				c.FirstCacheChange = &first
			}
			if ch.BeforeState == model.StateCached {
				c.CacheLostSeconds += ch.AfterSeconds
			} else {
				c.CacheGainedSeconds += ch.BeforeSeconds
			}
		}
		c.Steps = append(c.Steps, ch)
	}
	for _, v := range a {
		if seen[v.StepID] {
			continue
		}
		if v.Kind == model.KindStep {
			c.Removed = append(c.Removed, v.StepRef)
		}
		c.Steps = append(c.Steps, store.StepChange{StepRef: v.StepRef, BeforeState: v.state, BeforeSeconds: seconds(v.duration),
			AfterState: store.StateAbsent, DeltaSeconds: -seconds(v.duration)})
	}
	c.CacheLostSeconds, c.CacheGainedSeconds = round3(c.CacheLostSeconds), round3(c.CacheGainedSeconds)
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
	for _, ch := range c.Steps {
		if ch.Kind == model.KindStep && ch.BeforeState == model.StateCached && (ch.AfterState == model.StateDone || ch.AfterState == model.StateError) {
			out.Steps = append(out.Steps, ch)
		}
	}
	return out, nil
}

// window turns a time range into Unix milliseconds, zero bounds into open
// ones.
func window(since, until time.Time) (int64, int64) {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !since.IsZero() {
		lo = since.UnixMilli()
	}
	if !until.IsZero() {
		hi = until.UnixMilli()
	}
	return lo, hi
}

// rawStats is one step identity's figures straight from the database.
type rawStats struct {
	step               int64
	builds, hits, runs int
	total, max         int64   // ms
	durations          []int64 // run times in ms, unsorted
}

func (r *rawStats) addRun(ms int64) {
	r.durations = append(r.durations, ms)
	r.runs++
	r.total += ms
	r.max = max(r.max, ms)
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
func (s *Store) stepWindow(ctx context.Context, f stepFilter) (map[int64]*rawStats, error) {
	out := map[int64]*rawStats{}
	lo, hi := max(f.lo, 0), f.hi // no build started before 1970
	if lo >= hi {
		return out, nil
	}
	dayLo, dayHi := (lo+msPerDay-1)/msPerDay, hi/msPerDay // whole days inside
	if f.branch != "" || f.noRollup || dayLo >= dayHi {
		return out, s.vertexScan(ctx, f, lo, hi, out)
	}
	if err := s.vertexScan(ctx, f, lo, dayLo*msPerDay, out); err != nil {
		return nil, err
	}
	if err := s.dayScan(ctx, f, dayLo, dayHi, out); err != nil {
		return nil, err
	}
	return out, s.vertexScan(ctx, f, dayHi*msPerDay, hi, out)
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
func (s *Store) dayScan(ctx context.Context, f stepFilter, dayLo, dayHi int64, out map[int64]*rawStats) error {
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
			r = &rawStats{step: step, durations: make([]int64, 0, bytes.Count(list, []byte{','})+1)}
			out[step] = r
		}
		r.builds += builds
		r.hits += hits
		parseIntList(list, r.addRun)
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
func (s *Store) vertexScan(ctx context.Context, f stepFilter, lo, hi int64, out map[int64]*rawStats) error {
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
			r = &rawStats{step: step}
			out[step] = r
		}
		r.builds++
		r.hits += cached
		if run.Valid {
			r.addRun(run.Int64)
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
	lo, hi := window(q.Since, q.Until)
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
	out := make([]store.StepStats, 0, len(raw))
	for id, r := range raw {
		st := store.StepStats{StepRef: refs[id], Builds: r.builds, Runs: r.runs, CacheHits: r.hits,
			Max: msSeconds(r.max), Total: msSeconds(r.total)}
		if r.runs > 0 {
			slices.Sort(r.durations)
			st.P50 = msSeconds(percentile(r.durations, 0.50))
			st.P95 = msSeconds(percentile(r.durations, 0.95))
			st.Mean = round3(float64(r.total) / float64(r.runs) / 1000)
		}
		if st.Kind == model.KindStep {
			if n := r.runs + r.hits; n > 0 {
				st.MissRate = round3(float64(r.runs) / float64(n))
			}
			st.Lost = st.Total
		}
		out = append(out, st)
	}
	return out, nil
}

// Slow ranks the step identities that ran in the window by total run
// time, then by p95. See Store.Slow.
func (s *Store) Slow(ctx context.Context, q store.WindowQuery) ([]store.StepStats, error) {
	all, err := s.stepStats(ctx, q, q.Kinds)
	if err != nil {
		return nil, s.wrap("slow steps", err)
	}
	return rankRan(all, q.Limit,
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
	return rankRan(all, q.Limit,
		func(st store.StepStats) float64 { return st.Lost },
		func(st store.StepStats) float64 { return st.MissRate }), nil
}

// rankRan keeps the steps of all that ran (an always-cached step has
// nothing to time), ranks them by first, then second, both highest first,
// then by step id, and keeps the first n (0: all). It reuses all.
func rankRan(all []store.StepStats, n int, first, second func(store.StepStats) float64) []store.StepStats {
	out := all[:0]
	for _, st := range all {
		if st.Runs > 0 {
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if x, y := first(a), first(b); x != y {
			return x > y
		}
		if x, y := second(a), second(b); x != y {
			return x > y
		}
		return a.StepID < b.StepID
	})
	return limit(out, n)
}

// periodStart truncates t (UTC) to the start of its day or ISO week.
func periodStart(t time.Time, p store.Period) time.Time {
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if p == store.Week {
		wd := (int(d.Weekday()) + 6) % 7 // Monday = 0
		d = d.AddDate(0, 0, -wd)
	}
	return d
}

func periodNext(t time.Time, p store.Period) time.Time {
	if p == store.Week {
		return t.AddDate(0, 0, 7)
	}
	return t.AddDate(0, 0, 1)
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
	lo, hi := window(q.Since, q.Until)
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
	type bucket struct {
		store.TrendPeriod
		durations []int64
	}
	var buckets []*bucket
	for rows.Next() {
		var started, dur int64
		var status string
		var total, cached int
		if err := rows.Scan(&started, &status, &dur, &total, &cached); err != nil {
			rows.Close()
			return nil, s.wrap("trends", err)
		}
		start := periodStart(time.UnixMilli(started), p)
		if len(buckets) == 0 && !q.Since.IsZero() {
			// Begin at the window's first period even if it had no builds.
			first := periodStart(q.Since, p)
			buckets = append(buckets, &bucket{TrendPeriod: store.TrendPeriod{Start: first, End: periodNext(first, p)}})
		}
		for len(buckets) == 0 || buckets[len(buckets)-1].Start.Before(start) {
			next := start
			if len(buckets) > 0 {
				next = buckets[len(buckets)-1].End
			}
			buckets = append(buckets, &bucket{TrendPeriod: store.TrendPeriod{Start: next, End: periodNext(next, p)}})
		}
		bk := buckets[len(buckets)-1]
		bk.Builds++
		if status == "failed" {
			bk.Failed++
		}
		bk.StepsTotal += total
		bk.StepsCached += cached
		bk.durations = append(bk.durations, dur)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap("trends", err)
	}
	if !q.Until.IsZero() && len(buckets) > 0 {
		last := periodStart(q.Until.Add(-1), p)
		for buckets[len(buckets)-1].Start.Before(last) {
			next := buckets[len(buckets)-1].End
			buckets = append(buckets, &bucket{TrendPeriod: store.TrendPeriod{Start: next, End: periodNext(next, p)}})
		}
	}
	out := &store.Trends{Period: p, Periods: make([]store.TrendPeriod, 0, len(buckets)), Regressions: []store.StepRegression{}}
	for _, bk := range buckets {
		if bk.Builds > 0 {
			bk.FailureRate = round3(float64(bk.Failed) / float64(bk.Builds))
			slices.Sort(bk.durations)
			bk.P50 = seconds(percentile(bk.durations, 0.50))
			bk.P95 = seconds(percentile(bk.durations, 0.95))
		}
		if bk.StepsTotal > 0 {
			bk.CacheHitRate = round3(float64(bk.StepsCached) / float64(bk.StepsTotal))
		}
		out.Periods = append(out.Periods, bk.TrendPeriod)
	}
	if len(buckets) < 2 {
		return out, nil
	}
	cur := buckets[len(buckets)-1]
	baseStart := buckets[max(0, len(buckets)-1-q.Baseline)].Start
	out.Regressions, err = s.regressions(ctx, q, baseStart.UnixMilli(), cur.Start.UnixMilli(), min(cur.End.UnixMilli(), hi))
	if err != nil {
		return nil, s.wrap("trends", err)
	}
	return out, nil
}

// A step regressed when its p50 run time rose by at least this much and
// this factor: run-to-run noise of a few percent on a long step is not a
// regression.
const (
	regressionMinDelta = 0.1 // seconds
	regressionMinRatio = 1.2
)

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
	var out []store.StepRegression
	for id, a := range after {
		b := before[id]
		if b == nil || a.runs == 0 || b.runs == 0 {
			continue
		}
		slices.Sort(a.durations)
		slices.Sort(b.durations)
		r := store.StepRegression{StepRef: store.StepRef{StepID: id}, BaselineRuns: b.runs, CurrentRuns: a.runs,
			BaselineSeconds: msSeconds(percentile(b.durations, 0.5)), CurrentSeconds: msSeconds(percentile(a.durations, 0.5))}
		r.DeltaSeconds = round3(r.CurrentSeconds - r.BaselineSeconds)
		if r.DeltaSeconds >= regressionMinDelta && r.CurrentSeconds >= regressionMinRatio*r.BaselineSeconds {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].DeltaSeconds != out[j].DeltaSeconds {
			return out[i].DeltaSeconds > out[j].DeltaSeconds
		}
		return out[i].StepID < out[j].StepID
	})
	out = limit(out, q.Regressions)
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

// percentile is the nearest-rank percentile of sorted values: the smallest
// value with at least q of the values at or below it.
func percentile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// parseIntList calls add for each comma-separated integer of a list
// aggregate.
func parseIntList(b []byte, add func(int64)) {
	var n int64
	neg, have := false, false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n = n*10 + int64(c-'0')
			have = true
		case c == '-':
			neg = true
		case c == ',':
			if have {
				if neg {
					n = -n
				}
				add(n)
			}
			n, neg, have = 0, false, false
		}
	}
	if have {
		if neg {
			n = -n
		}
		add(n)
	}
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

func limit[T any](xs []T, n int) []T {
	if n > 0 && len(xs) > n {
		return xs[:n]
	}
	return xs
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func msSeconds(ms int64) float64 { return float64(ms) / 1000 }

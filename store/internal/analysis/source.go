package analysis

import (
	"context"
	"fmt"
	"sort"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// Filter selects the vertices a step query looks at.
type Filter struct {
	Lo, Hi          int64 // build start, Unix ms, [Lo, Hi)
	Project, Branch string
	Kinds           []model.Kind // empty: every kind
	Steps           []int64      // step identities; empty: every one
	NoRollup        bool         // tests: read vertices only
}

// Source is what a store hands the analyses: rows, fetched its own way.
// Errors are returned as the database gave them; the store's public method
// wraps them once.
type Source interface {
	// Summary is the store's own Summary: store.ErrNotFound for a missing
	// build.
	Summary(ctx context.Context, id int64) (store.BuildSummary, error)
	// BuildSteps lists a build's vertices in order, with their identities
	// and the model's state.
	BuildSteps(ctx context.Context, id int64) ([]StepState, error)
	// PreviousBuild is the id of the build of b's project that started
	// last before b (ties broken by the lower id), 0 when there is none.
	PreviousBuild(ctx context.Context, b store.BuildSummary) (int64, error)
	// RollupScan adds to out, per step, the rollup rows of grain g of the
	// builds f selects for the periods starting on days [lo, hi): whole
	// UTC days, or weeks (lo and hi are then Mondays).
	RollupScan(ctx context.Context, f Filter, g Grain, lo, hi int64, out map[int64]*Raw) error
	// VertexScan adds to out, per step, the vertices of the builds f
	// selects that started in [lo, hi) (Unix ms).
	VertexScan(ctx context.Context, f Filter, lo, hi int64, out map[int64]*Raw) error
	// StepRefs loads the identities of step ids.
	StepRefs(ctx context.Context, ids []int64) (map[int64]store.StepRef, error)
	// TrendPeriods calls add, period after period, with the aggregates of
	// the builds of the project and branch ("" for any) that started in
	// [lo, hi), per UTC day or ISO week: one row per period, so a year
	// of builds costs a few hundred rows.
	TrendPeriods(ctx context.Context, g Grain, lo, hi int64, project, branch string, add func(TrendRow)) error
}

// Compare diffs two builds step by step. See store.Reader.Compare.
func Compare(ctx context.Context, src Source, before, after int64) (*store.Comparison, error) {
	c := &store.Comparison{BaseImageChanges: []store.BaseImageChange{}, Added: []store.StepRef{}, Removed: []store.StepRef{}, Steps: []store.StepChange{}}
	var err error
	if c.Before, err = src.Summary(ctx, before); err != nil {
		return nil, err
	}
	if c.After, err = src.Summary(ctx, after); err != nil {
		return nil, err
	}
	a, err := src.BuildSteps(ctx, before)
	if err != nil {
		return nil, err
	}
	b, err := src.BuildSteps(ctx, after)
	if err != nil {
		return nil, err
	}
	Diff(c, a, b)
	return c, nil
}

// PreviousMisses lists the steps cached in the project's previous build
// and not in this one. See store.Reader.PreviousMisses.
func PreviousMisses(ctx context.Context, src Source, id int64) (*store.PreviousMisses, error) {
	cur, err := src.Summary(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &store.PreviousMisses{Build: cur, Steps: []store.StepChange{}}
	prev, err := src.PreviousBuild(ctx, cur)
	if err != nil || prev == 0 {
		return out, err
	}
	c, err := Compare(ctx, src, prev, id)
	if err != nil {
		return nil, err
	}
	out.Previous = &c.Before
	out.Steps = PreviousMissSteps(c)
	return out, nil
}

// StepWindow gathers per-step figures for the builds f selects. Whole
// ISO weeks come from the store's weekly rollup and the whole UTC days
// around them from its daily rollup, one row per step and period; the
// partial days at either end from the vertices of the matching builds.
// All give the same numbers; the rollups make a year cost about what two
// months of days, or a few days of vertices, would.
func StepWindow(ctx context.Context, src Source, f Filter) (map[int64]*Raw, error) {
	out := map[int64]*Raw{}
	lo, hi := max(f.Lo, 0), f.Hi // no build started before 1970
	if lo >= hi {
		return out, nil
	}
	dayLo, dayHi := (lo+MsPerDay-1)/MsPerDay, hi/MsPerDay // whole days inside
	if f.NoRollup || dayLo >= dayHi {
		return out, src.VertexScan(ctx, f, lo, hi, out)
	}
	weekLo, weekHi := WeekOf(dayLo+6), WeekOf(dayHi) // whole weeks inside
	parts := []struct {
		g      Grain
		lo, hi int64
	}{{Day, dayLo, dayHi}}
	if weekLo < weekHi {
		parts = []struct {
			g      Grain
			lo, hi int64
		}{{Day, dayLo, weekLo}, {Week, weekLo, weekHi}, {Day, weekHi, dayHi}}
	}
	if err := src.VertexScan(ctx, f, lo, dayLo*MsPerDay, out); err != nil {
		return nil, err
	}
	for _, p := range parts {
		if p.lo < p.hi {
			if err := src.RollupScan(ctx, f, p.g, p.lo, p.hi, out); err != nil {
				return nil, err
			}
		}
	}
	if err := src.VertexScan(ctx, f, dayHi*MsPerDay, hi, out); err != nil {
		return nil, err
	}
	return out, nil
}

func stepStats(ctx context.Context, src Source, q store.WindowQuery, kinds []model.Kind) ([]store.StepStats, error) {
	lo, hi := Window(q.Since, q.Until)
	raw, err := StepWindow(ctx, src, Filter{Lo: lo, Hi: hi, Project: q.Project, Branch: q.Branch, Kinds: kinds, Steps: q.Steps})
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(raw))
	for id := range raw {
		ids = append(ids, id)
	}
	refs, err := src.StepRefs(ctx, ids)
	if err != nil {
		return nil, err
	}
	return Stats(raw, refs), nil
}

// Slow ranks the step identities that ran in the window by total run
// time, then by p95. See store.Reader.Slow.
func Slow(ctx context.Context, src Source, q store.WindowQuery) ([]store.StepStats, error) {
	all, err := stepStats(ctx, src, q, q.Kinds)
	if err != nil {
		return nil, err
	}
	return RankRan(all, q.Limit,
		func(st store.StepStats) float64 { return st.Total },
		func(st store.StepStats) float64 { return st.P95 }), nil
}

// Misses ranks Dockerfile steps that missed the cache by the time the
// misses cost, then by miss rate. See store.Reader.Misses.
func Misses(ctx context.Context, src Source, q store.WindowQuery) ([]store.StepStats, error) {
	all, err := stepStats(ctx, src, q, []model.Kind{model.KindStep})
	if err != nil {
		return nil, err
	}
	return RankRan(all, q.Limit,
		func(st store.StepStats) float64 { return st.Lost },
		func(st store.StepStats) float64 { return st.MissRate }), nil
}

// Trends buckets builds per day or week. Build figures come from the
// per-build aggregates; regressions compare step run times in the latest
// period with the periods before it. See store.Reader.Trends.
func Trends(ctx context.Context, src Source, q store.TrendQuery) (*store.Trends, error) {
	p := q.Period
	switch p {
	case "":
		p = store.Week
	case store.Day, store.Week:
	default:
		return nil, fmt.Errorf("unknown period %q (want day or week)", p)
	}
	if q.Regressions <= 0 {
		q.Regressions = 5
	}
	if q.Baseline <= 0 {
		q.Baseline = 4
	}
	lo, hi := Window(q.Since, q.Until)
	bs := NewBuckets(q, p)
	g := Week
	if p == store.Day {
		g = Day
	}
	if err := src.TrendPeriods(ctx, g, lo, hi, q.Project, q.Branch, bs.Add); err != nil {
		return nil, err
	}
	out, base, cur, end, ok := bs.Finish(hi)
	if !ok {
		return out, nil
	}
	var err error
	if out.Regressions, err = regressions(ctx, src, q, base, cur, end); err != nil {
		return nil, err
	}
	return out, nil
}

// regressions compares each Dockerfile step's p50 run time in [cur, end)
// with its p50 in [base, cur).
func regressions(ctx context.Context, src Source, q store.TrendQuery, base, cur, end int64) ([]store.StepRegression, error) {
	f := Filter{Project: q.Project, Branch: q.Branch, Kinds: []model.Kind{model.KindStep}}
	f.Lo, f.Hi = base, cur
	before, err := StepWindow(ctx, src, f)
	if err != nil {
		return nil, err
	}
	f.Lo, f.Hi = cur, end
	after, err := StepWindow(ctx, src, f)
	if err != nil {
		return nil, err
	}
	out := Regressions(before, after, 0)
	ids := make([]int64, len(out))
	for i, r := range out {
		ids[i] = r.StepID
	}
	refs, err := src.StepRefs(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].StepRef = refs[out[i].StepID]
	}
	// Ties go by identity, not by id: ids are each store's own.
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].DeltaSeconds != out[j].DeltaSeconds {
			return out[i].DeltaSeconds > out[j].DeltaSeconds
		}
		return out[i].StepRef.Less(out[j].StepRef)
	})
	out = Limit(out, q.Regressions)
	if out == nil {
		out = []store.StepRegression{}
	}
	return out, nil
}

// HistoryConds adds the conditions on builds b (aliased "b", "?"
// placeholders) by which History and Count select builds, the same in
// every store.
func HistoryConds(q store.HistoryQuery, add func(cond string, args ...any)) {
	if q.Project != "" {
		add("b.project_id = (SELECT id FROM projects WHERE name = ?)", q.Project)
	}
	if q.Branch != "" {
		add("b.branch_id = (SELECT id FROM branches WHERE name = ?)", q.Branch)
	}
	if !q.Since.IsZero() {
		add("b.started_at >= ?", q.Since.UnixMilli())
	}
	if !q.Until.IsZero() {
		add("b.started_at < ?", q.Until.UnixMilli())
	}
	if q.Builder != "" {
		add("b.builder = ?", q.Builder)
	}
}

package analysis

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// PeriodSource is what the per-period queries need of a store beyond
// Source: rows keyed by period rather than added up over the window.
type PeriodSource interface {
	Source
	// RollupRows calls add with each rollup row of grain g of the steps f
	// allows (f.Branch picks the per-branch rollup) for the periods
	// starting on days [lo, hi): the period's first day, and the row's
	// builds, hits and comma-separated run times.
	RollupRows(ctx context.Context, f Filter, g Grain, lo, hi int64, add func(step, from int64, builds, hits int, runs []byte)) error
	// VertexRows calls add with each vertex of a step f allows of the
	// builds f selects that started in [lo, hi) (Unix ms): its build's
	// start (Unix ms), whether it was a cache hit and its run time in ms
	// (nil when it did not run, UnknownRun when the log does not say).
	VertexRows(ctx context.Context, f Filter, lo, hi int64, add func(step, started int64, cached bool, run *int64)) error
	// FirstHits calls add with the first period of grain g (its first
	// day) in which each step f allows was a cache hit, over every build
	// of f.Branch (all builds when ""); f.Lo and f.Hi are ignored.
	FirstHits(ctx context.Context, f Filter, g Grain, add func(step, from int64)) error
	// LostRows calls add (once or more per period; the calls add up)
	// with the runs, per period of grain g, of the rollup rows of grain
	// tg (for the periods starting on days [lo, hi)) of the steps f allows whose period comes after the first period of
	// grain g in which the step was a cache hit (see FirstHits):
	// MissPeriods' runs, added up by the store: how many, how many of
	// them have a time, and those times' sum in ms. first holds what
	// FirstHits said, for a store that would rather be given it than work
	// it out again.
	LostRows(ctx context.Context, f Filter, g, tg Grain, lo, hi int64, first map[int64]int64, add func(from int64, runs, timed int, ms int64)) error
	// BranchRows calls add with the number of builds per period of grain
	// g and branch name among the builds of f.Project and f.Branch that
	// started in [f.Lo, f.Hi).
	BranchRows(ctx context.Context, f Filter, g Grain, add func(from int64, branch string, builds int)) error
}

// grainOf checks a period and gives its rollup grain (Week when empty).
func grainOf(p store.Period) (Grain, error) {
	switch p {
	case "", store.Week:
		return Week, nil
	case store.Day:
		return Day, nil
	}
	return 0, fmt.Errorf("unknown period %q (want day or week)", p)
}

// DayTime is the first instant of a UTC day number.
func DayTime(day int64) time.Time { return time.Unix(day*MsPerDay/1000, 0).UTC() }

// periodWindow walks the builds f selects in [f.Lo, f.Hi) a period of
// grain g at a time, the way StepWindow does over the whole window: the
// partial days at either end from the vertices, whole weeks (for g ==
// Week) from the weekly rollup, the other whole days from the daily one.
// Each row comes with its period's first day; the answer is exact, since
// periods only ever split at midnight UTC and rollup rows never straddle
// one.
func periodWindow(ctx context.Context, src PeriodSource, f Filter, g Grain,
	rollup func(tg Grain, lo, hi int64) error, vertex func(step, from int64, cached bool, run *int64)) error {
	lo, hi := max(f.Lo, 0), f.Hi // no build started before 1970
	if lo >= hi {
		return nil
	}
	onVertex := func(step, started int64, cached bool, run *int64) {
		vertex(step, g.Bucket(started/MsPerDay), cached, run)
	}
	dayLo, dayHi := (lo+MsPerDay-1)/MsPerDay, hi/MsPerDay // whole days inside
	if f.NoRollup || dayLo >= dayHi {
		return src.VertexRows(ctx, f, lo, hi, onVertex)
	}
	type part struct {
		g      Grain
		lo, hi int64
	}
	parts := []part{{Day, dayLo, dayHi}}
	if weekLo, weekHi := WeekOf(dayLo+6), WeekOf(dayHi); g == Week && weekLo < weekHi {
		parts = []part{{Day, dayLo, weekLo}, {Week, weekLo, weekHi}, {Day, weekHi, dayHi}}
	}
	if err := src.VertexRows(ctx, f, lo, dayLo*MsPerDay, onVertex); err != nil {
		return err
	}
	for _, p := range parts {
		if p.lo < p.hi {
			if err := rollup(p.g, p.lo, p.hi); err != nil {
				return err
			}
		}
	}
	return src.VertexRows(ctx, f, dayHi*MsPerDay, hi, onVertex)
}

// Bucket is the first day of the period of grain g that day falls in.
func (g Grain) Bucket(day int64) int64 {
	if g == Week {
		return WeekOf(day)
	}
	return day
}

// periodFilter is the Filter of a PeriodQuery.
func periodFilter(q store.PeriodQuery) Filter {
	lo, hi := Window(q.Since, q.Until)
	f := Filter{Lo: lo, Hi: hi, Project: q.Project, Branch: q.Branch, Steps: q.Steps}
	if len(q.Steps) == 0 {
		f.Kinds = []model.Kind{model.KindStep}
	}
	return f
}

// StepPeriods breaks Slow's figures down per period. See
// store.Reader.StepPeriods.
func StepPeriods(ctx context.Context, src PeriodSource, q store.PeriodQuery) ([]store.StepPeriod, error) {
	g, err := grainOf(q.Period)
	if err != nil {
		return nil, err
	}
	type key struct{ from, step int64 }
	raw := map[key]*Raw{}
	get := func(step, from int64) *Raw {
		r := raw[key{from, step}]
		if r == nil {
			r = &Raw{Step: step}
			raw[key{from, step}] = r
		}
		return r
	}
	f := periodFilter(q)
	err = periodWindow(ctx, src, f, g,
		func(tg Grain, lo, hi int64) error {
			return src.RollupRows(ctx, f, tg, lo, hi, func(step, from int64, builds, hits int, runs []byte) {
				r := get(step, g.Bucket(from))
				r.Builds += builds
				r.Hits += hits
				ParseIntList(runs, r.AddRun)
			})
		},
		func(step, from int64, cached bool, run *int64) {
			r := get(step, from)
			r.Builds++
			if cached {
				r.Hits++
			}
			if run != nil {
				r.AddRun(*run)
			}
		})
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	var ids []int64
	for k := range raw {
		if !seen[k.step] {
			seen[k.step] = true
			ids = append(ids, k.step)
		}
	}
	refs, err := src.StepRefs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]store.StepPeriod, 0, len(raw))
	for k, r := range raw {
		st := Stats(map[int64]*Raw{k.step: r}, refs)[0]
		out = append(out, store.StepPeriod{Start: DayTime(k.from), StepStats: st})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].StepRef.Less(out[j].StepRef)
	})
	return out, nil
}

// MissPeriods adds up, per period, the runs of Dockerfile steps that had
// come from the cache in an earlier period. See store.MissPeriod.
func MissPeriods(ctx context.Context, src PeriodSource, q store.PeriodQuery) ([]store.MissPeriod, error) {
	g, err := grainOf(q.Period)
	if err != nil {
		return nil, err
	}
	f := periodFilter(q)
	first := map[int64]int64{}
	if err := src.FirstHits(ctx, f, g, func(step, from int64) { first[step] = from }); err != nil {
		return nil, err
	}
	type lost struct {
		runs, timed int
		ms          int64
	}
	per := map[int64]*lost{}
	get := func(from int64) *lost {
		l := per[from]
		if l == nil {
			l = &lost{}
			per[from] = l
		}
		return l
	}
	count := func(l *lost, ms int64) {
		l.runs++
		if ms >= 0 {
			l.timed++
			l.ms += ms
		}
	}
	err = periodWindow(ctx, src, f, g,
		func(tg Grain, lo, hi int64) error {
			return src.LostRows(ctx, f, g, tg, lo, hi, first, func(from int64, runs, timed int, ms int64) {
				l := get(from)
				l.runs, l.timed, l.ms = l.runs+runs, l.timed+timed, l.ms+ms
			})
		},
		func(step, from int64, _ bool, run *int64) {
			// The partial days at the window's ends: the same rule, here.
			if hit, ok := first[step]; ok && run != nil && from > hit {
				count(get(from), *run)
			}
		})
	if err != nil {
		return nil, err
	}
	out := make([]store.MissPeriod, 0, len(per))
	for from, l := range per {
		out = append(out, store.MissPeriod{Start: DayTime(from), Runs: l.runs, Timed: l.timed, Seconds: MsSeconds(l.ms)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}

// BranchPeriods counts builds per period and branch. See
// store.Reader.BranchPeriods.
func BranchPeriods(ctx context.Context, src PeriodSource, q store.PeriodQuery) ([]store.BranchPeriod, error) {
	g, err := grainOf(q.Period)
	if err != nil {
		return nil, err
	}
	lo, hi := Window(q.Since, q.Until)
	out := []store.BranchPeriod{}
	err = src.BranchRows(ctx, Filter{Lo: lo, Hi: hi, Project: q.Project, Branch: q.Branch}, g, func(from int64, branch string, builds int) {
		out = append(out, store.BranchPeriod{Start: DayTime(from), Branch: branch, Builds: builds})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		if a.Builds != b.Builds {
			return a.Builds > b.Builds
		}
		return a.Branch < b.Branch
	})
	return out, nil
}

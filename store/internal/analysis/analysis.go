// Package analysis is the backend-independent half of the build history's
// reports: what a comparison of two builds says, how step figures become
// percentiles and rankings, how builds fall into trend periods and what
// counts as a regression. Stores fetch rows their own way and hand them
// here, so SQLite and PostgreSQL give the same answers by construction.
package analysis

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// MsPerDay turns Unix milliseconds into UTC days since the epoch.
const MsPerDay = 24 * 60 * 60 * 1000

// Grain is a rollup's period, in days.
type Grain int64

// The rollups' grains: UTC days, and ISO weeks (Monday to Sunday, UTC),
// which a rollup keys by the day number of their Monday.
const (
	Day  Grain = 1
	Week Grain = 7
)

// WeekOf is the day number of the Monday of day's week (1970-01-01, day
// 0, was a Thursday). Builds start after 1970: day >= 0.
func WeekOf(day int64) int64 { return day - (day+3)%7 }

// WeekSQL is WeekOf in SQL, for a day number expression that is never
// negative.
func WeekSQL(day string) string { return "(" + day + " - (" + day + " + 3) % 7)" }

// StepState is one build's record of a step identity, for comparisons.
type StepState struct {
	store.StepRef
	Seq      int
	State    model.State
	Duration int64 // ns
	Digest   string
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

// Diff fills c's step-by-step part from the steps of the build before (a)
// and after (b), each in its build's order. c.Before and c.After are
// already set.
func Diff(c *store.Comparison, a, b []StepState) {
	c.DurationDeltaSeconds = Round3(c.After.DurationSeconds - c.Before.DurationSeconds)
	c.ContextBytesBefore, c.ContextBytesAfter = c.Before.ContextBytes, c.After.ContextBytes
	byID := make(map[int64]*StepState, len(a))
	for i := range a {
		byID[a[i].StepID] = &a[i]
	}
	seen := make(map[int64]bool, len(b))
	for _, v := range b {
		seen[v.StepID] = true
		ch := store.StepChange{StepRef: v.StepRef, AfterState: v.State, AfterSeconds: Seconds(v.Duration), BeforeState: store.StateAbsent}
		old := byID[v.StepID]
		if old == nil {
			if v.Kind == model.KindStep {
				c.Added = append(c.Added, v.StepRef)
			}
		} else {
			ch.BeforeState, ch.BeforeSeconds = old.State, Seconds(old.Duration)
			hitA, okA := cacheHit(old.State)
			hitB, okB := cacheHit(v.State)
			ch.CacheChanged = okA && okB && hitA != hitB
			if old.Digest != "" && v.Digest != "" && old.Digest != v.Digest {
				c.BaseImageChanges = append(c.BaseImageChanges, store.BaseImageChange{StepRef: v.StepRef, BeforeDigest: old.Digest, AfterDigest: v.Digest})
			}
		}
		ch.DeltaSeconds = Round3(ch.AfterSeconds - ch.BeforeSeconds)
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
		c.Steps = append(c.Steps, store.StepChange{StepRef: v.StepRef, BeforeState: v.State, BeforeSeconds: Seconds(v.Duration),
			AfterState: store.StateAbsent, DeltaSeconds: -Seconds(v.Duration)})
	}
	c.CacheLostSeconds, c.CacheGainedSeconds = Round3(c.CacheLostSeconds), Round3(c.CacheGainedSeconds)
}

// PreviousMissSteps picks from a comparison of a build with its previous
// one the Dockerfile steps that were cached before and ran (or failed) now.
func PreviousMissSteps(c *store.Comparison) []store.StepChange {
	out := []store.StepChange{}
	for _, ch := range c.Steps {
		if ch.Kind == model.KindStep && ch.BeforeState == model.StateCached && (ch.AfterState == model.StateDone || ch.AfterState == model.StateError) {
			out = append(out, ch)
		}
	}
	return out
}

// Window turns a time range into Unix milliseconds, zero bounds into open
// ones.
func Window(since, until time.Time) (int64, int64) {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !since.IsZero() {
		lo = since.UnixMilli()
	}
	if !until.IsZero() {
		hi = until.UnixMilli()
	}
	return lo, hi
}

// UnknownRun is the run time stored for an execution that ran for a time
// the log does not tell (a legacy log without timestamps, a step the log
// ends inside): it counts as a run and a miss, never as 0 s in a figure.
const UnknownRun = -1

// Raw is one step identity's figures straight from a store.
type Raw struct {
	Step               int64
	Builds, Hits, Runs int
	Total, Max         int64   // ms, of the runs with a known time
	Durations          []int64 // known run times in ms, unsorted
}

// AddRun counts one execution that ran for ms milliseconds.
// A negative ms (UnknownRun) counts the run without a time.
func (r *Raw) AddRun(ms int64) {
	r.Runs++
	if ms < 0 {
		return
	}
	r.Durations = append(r.Durations, ms)
	r.Total += ms
	r.Max = max(r.Max, ms)
}

// Stats turns raw figures into StepStats: nearest-rank percentiles over the
// runs, and for Dockerfile steps the miss rate and the time lost.
func Stats(raw map[int64]*Raw, refs map[int64]store.StepRef) []store.StepStats {
	out := make([]store.StepStats, 0, len(raw))
	for id, r := range raw {
		st := store.StepStats{StepRef: refs[id], Builds: r.Builds, Runs: r.Runs, CacheHits: r.Hits,
			Timed: len(r.Durations), Max: MsSeconds(r.Max), Total: MsSeconds(r.Total)}
		if st.Timed > 0 {
			p50, p95 := P50P95(r.Durations)
			st.P50, st.P95 = MsSeconds(p50), MsSeconds(p95)
			st.Mean = Round3(float64(r.Total) / float64(st.Timed) / 1000)
		}
		if st.Kind == model.KindStep {
			if n := r.Runs + r.Hits; n > 0 {
				st.MissRate = Round3(float64(r.Runs) / float64(n))
			}
			st.Lost = st.Total
		}
		out = append(out, st)
	}
	return out
}

// RankRan keeps the steps of all that ran (an always-cached step has
// nothing to time), ranks them by first, then second, both highest first,
// then by step id, and keeps the first n (0: all). It reuses all.
func RankRan(all []store.StepStats, n int, first, second func(store.StepStats) float64) []store.StepStats {
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
		// Ties go by identity, not by id: ids are each store's own, and
		// a history copied into another store must list the same.
		return a.StepRef.Less(b.StepRef)
	})
	return Limit(out, n)
}

// PeriodStart truncates t (UTC) to the start of its day or ISO week.
func PeriodStart(t time.Time, p store.Period) time.Time {
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if p == store.Week {
		wd := (int(d.Weekday()) + 6) % 7 // Monday = 0
		d = d.AddDate(0, 0, -wd)
	}
	return d
}

// PeriodNext is the start of the period after the one starting at t.
func PeriodNext(t time.Time, p store.Period) time.Time {
	if p == store.Week {
		return t.AddDate(0, 0, 7)
	}
	return t.AddDate(0, 0, 1)
}

// Buckets collects builds, a period at a time, into trend periods.
type Buckets struct {
	q       store.TrendQuery
	p       store.Period
	buckets []*bucket
}

type bucket struct {
	store.TrendPeriod
	durations []int64
}

// NewBuckets starts the periods of p for q.
func NewBuckets(q store.TrendQuery, p store.Period) *Buckets { return &Buckets{q: q, p: p} }

// TrendRow is one trend period's builds as a store aggregates them.
type TrendRow struct {
	Day                                     int64 // the period's first day: a UTC day, or a week's Monday
	Builds, Failed, StepsTotal, StepsCached int
	Durations                               []byte // the known durations in ns, comma-separated
}

// Add counts one period's builds; periods must come in order.
func (bs *Buckets) Add(r TrendRow) {
	p := bs.p
	start := time.Unix(r.Day*MsPerDay/1000, 0).UTC()
	if len(bs.buckets) == 0 && !bs.q.Since.IsZero() {
		// Begin at the window's first period even if it had no builds.
		first := PeriodStart(bs.q.Since, p)
		bs.buckets = append(bs.buckets, &bucket{TrendPeriod: store.TrendPeriod{Start: first, End: PeriodNext(first, p)}})
	}
	for len(bs.buckets) == 0 || bs.buckets[len(bs.buckets)-1].Start.Before(start) {
		next := start
		if len(bs.buckets) > 0 {
			next = bs.buckets[len(bs.buckets)-1].End
		}
		bs.buckets = append(bs.buckets, &bucket{TrendPeriod: store.TrendPeriod{Start: next, End: PeriodNext(next, p)}})
	}
	bk := bs.buckets[len(bs.buckets)-1]
	bk.Builds += r.Builds
	bk.Failed += r.Failed
	bk.StepsTotal += r.StepsTotal
	bk.StepsCached += r.StepsCached
	ParseIntList(r.Durations, func(ns int64) { bk.durations = append(bk.durations, ns) })
}

// Finish pads the periods to the window's end and computes their figures.
// When there are at least two periods it also returns the range
// regressions compare: the baseline periods [base, cur) and the latest
// period [cur, end), Unix ms, end capped at hi.
func (bs *Buckets) Finish(hi int64) (out *store.Trends, base, cur, end int64, ok bool) {
	p := bs.p
	if !bs.q.Until.IsZero() && len(bs.buckets) > 0 {
		last := PeriodStart(bs.q.Until.Add(-1), p)
		for bs.buckets[len(bs.buckets)-1].Start.Before(last) {
			next := bs.buckets[len(bs.buckets)-1].End
			bs.buckets = append(bs.buckets, &bucket{TrendPeriod: store.TrendPeriod{Start: next, End: PeriodNext(next, p)}})
		}
	}
	out = &store.Trends{Period: p, Periods: make([]store.TrendPeriod, 0, len(bs.buckets)), Regressions: []store.StepRegression{}}
	for _, bk := range bs.buckets {
		if bk.Builds > 0 {
			bk.FailureRate = Round3(float64(bk.Failed) / float64(bk.Builds))
		}
		if bk.Timed = len(bk.durations); bk.Timed > 0 {
			p50, p95 := P50P95(bk.durations)
			bk.P50, bk.P95 = Seconds(p50), Seconds(p95)
		}
		if bk.StepsTotal > 0 {
			bk.CacheHitRate = Round3(float64(bk.StepsCached) / float64(bk.StepsTotal))
		}
		out.Periods = append(out.Periods, bk.TrendPeriod)
	}
	if len(bs.buckets) < 2 {
		return out, 0, 0, 0, false
	}
	last := bs.buckets[len(bs.buckets)-1]
	baseStart := bs.buckets[max(0, len(bs.buckets)-1-bs.q.Baseline)].Start
	return out, baseStart.UnixMilli(), last.Start.UnixMilli(), min(last.End.UnixMilli(), hi), true
}

// A step regressed when its p50 run time rose by at least this much and
// this factor: run-to-run noise of a few percent on a long step is not a
// regression.
const (
	regressionMinDelta = 0.1 // seconds
	regressionMinRatio = 1.2
)

// Regressions compares each step's p50 run time in after with its p50 in
// before, and returns the n (0: all) largest increases, largest first.
// Their StepRefs hold only the step id.
func Regressions(before, after map[int64]*Raw, n int) []store.StepRegression {
	var out []store.StepRegression
	for id, a := range after {
		b := before[id]
		if b == nil || len(a.Durations) == 0 || len(b.Durations) == 0 {
			continue
		}
		aP50, _ := P50P95(a.Durations)
		bP50, _ := P50P95(b.Durations)
		r := store.StepRegression{StepRef: store.StepRef{StepID: id}, BaselineRuns: len(b.Durations), CurrentRuns: len(a.Durations),
			BaselineSeconds: MsSeconds(bP50), CurrentSeconds: MsSeconds(aP50)}
		r.DeltaSeconds = Round3(r.CurrentSeconds - r.BaselineSeconds)
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
	return Limit(out, n)
}

// Percentile is the nearest-rank percentile of sorted values: the smallest
// value with at least q of the values at or below it.
func Percentile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[rank(len(sorted), q)]
}

// rank is the index of the nearest-rank q percentile of n sorted values.
func rank(n int, q float64) int {
	i := int(math.Ceil(q*float64(n))) - 1
	return max(0, min(i, n-1))
}

// P50P95 returns the nearest-rank median and 95th percentile of values,
// as Percentile of the sorted values would, without sorting them all: a
// year of a step's run times is selected in linear time. It reorders
// values.
func P50P95(values []int64) (p50, p95 int64) {
	n := len(values)
	if n == 0 {
		return 0, 0
	}
	i95, i50 := rank(n, 0.95), rank(n, 0.50)
	p95 = selectKth(values, i95)
	// Everything before i95 is now at most p95: the median is among them.
	p50 = selectKth(values[:i95+1], i50)
	return p50, p95
}

// selectKth reorders xs so that xs[k] holds the value sorting would put
// there, smaller or equal values before it and larger or equal after, and
// returns it (Hoare's selection, median-of-three pivots).
func selectKth(xs []int64, k int) int64 {
	lo, hi := 0, len(xs)-1
	for hi-lo > 16 {
		mid := lo + (hi-lo)/2
		// Median of three to xs[mid].
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		pivot := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k] // between j and i: equal to the pivot
		}
	}
	slices.Sort(xs[lo : hi+1])
	return xs[k]
}

// RunTotals counts a comma-separated list of run times: the runs, those
// with a time (UnknownRun has none) and the sum of those times in ms.
func RunTotals(list []byte) (runs, timed int, ms int64) {
	ParseIntList(list, func(v int64) {
		runs++
		if v >= 0 {
			timed++
			ms += v
		}
	})
	return
}

// ParseIntList calls add for each comma-separated integer of a list
// aggregate.
func ParseIntList(b []byte, add func(int64)) {
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

// Limit keeps the first n of xs (0: all).
func Limit[T any](xs []T, n int) []T {
	if n > 0 && len(xs) > n {
		return xs[:n]
	}
	return xs
}

// Round3 rounds to milliseconds of seconds.
func Round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// MsSeconds turns milliseconds into seconds.
func MsSeconds(ms int64) float64 { return float64(ms) / 1000 }

// Seconds turns nanoseconds into seconds rounded to the millisecond.
func Seconds(ns int64) float64 { return math.Round(float64(ns)/1e6) / 1e3 }

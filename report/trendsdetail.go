package report

import (
	"context"
	"sync"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// TrendsDetail is what the trends charts draw beyond store.Trends: the
// costliest steps and one followed step per period, the builds per
// branch and the time lost to cache misses. Each comes from one store
// query over the whole window, however many periods it has.
type TrendsDetail struct {
	// Top are the steps with the most run time over the window,
	// costliest first (Slow's ranking), with Total > 0.
	Top []store.StepStats
	// Step is the followed step's identity; nil when none was asked for
	// or it was not built in the window.
	Step *store.StepRef
	// Steps are the per-period figures of Top and Step.
	Steps []store.StepPeriod
	// Branches count the builds per period and branch.
	Branches []store.BranchPeriod
	// Misses are the periods that lost time to cache misses.
	Misses []store.MissPeriod
}

// DetailQuery says what LoadTrendsDetail loads.
type DetailQuery struct {
	// Top is how many of the costliest steps to break down (0: none).
	Top int
	// Step is a step identity (StepRef.StepID) to follow; 0 for none.
	Step int64
	// Branches and Misses ask for the builds per branch and the time
	// lost to cache misses.
	Branches, Misses bool
}

// TrendsWindow is the window of a trends answer: its periods, cut to
// the query's own bounds (the first and last periods may be partial).
// It is zero when there are no periods.
func TrendsWindow(q store.TrendQuery, tr *store.Trends) (since, until time.Time) {
	if len(tr.Periods) == 0 {
		return
	}
	since, until = tr.Periods[0].Start, tr.Periods[len(tr.Periods)-1].End
	if !q.Since.IsZero() && q.Since.After(since) {
		since = q.Since
	}
	if !q.Until.IsZero() && q.Until.Before(until) {
		until = q.Until
	}
	return since, until
}

// LoadTrendsDetail loads the detail of tr (the answer to q). Its queries
// run at once (stores are safe for concurrent use): the page waits for
// the slowest, not for their sum.
func LoadTrendsDetail(ctx context.Context, r store.Reader, q store.TrendQuery, tr *store.Trends, dq DetailQuery) (*TrendsDetail, error) {
	d := &TrendsDetail{Top: []store.StepStats{}, Steps: []store.StepPeriod{}, Branches: []store.BranchPeriod{}, Misses: []store.MissPeriod{}}
	if len(tr.Periods) == 0 {
		return d, nil
	}
	since, until := TrendsWindow(q, tr)
	pq := store.PeriodQuery{Period: tr.Period, Since: since, Until: until, Project: q.Project, Branch: q.Branch}
	var (
		wg   sync.WaitGroup
		errs [3]error
	)
	run := func(i int, f func() error) {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f() }()
	}
	run(0, func() error {
		var ids []int64
		if dq.Top > 0 {
			top, err := r.Slow(ctx, store.WindowQuery{Since: since, Until: until, Project: q.Project, Branch: q.Branch,
				Kinds: []model.Kind{model.KindStep}, Limit: dq.Top})
			if err != nil {
				return err
			}
			for _, st := range top {
				if st.Total <= 0 {
					break
				}
				d.Top = append(d.Top, st)
				ids = append(ids, st.StepID)
			}
		}
		if dq.Step != 0 {
			ids = append(ids, dq.Step)
		}
		if len(ids) == 0 {
			return nil
		}
		sq := pq
		sq.Steps = ids
		steps, err := r.StepPeriods(ctx, sq)
		if err != nil {
			return err
		}
		d.Steps = steps
		for _, sp := range steps {
			if sp.StepID == dq.Step {
				ref := sp.StepRef
				d.Step = &ref
				break
			}
		}
		return nil
	})
	if dq.Branches {
		run(1, func() (err error) {
			d.Branches, err = r.BranchPeriods(ctx, pq)
			return err
		})
	}
	if dq.Misses {
		run(2, func() (err error) {
			d.Misses, err = r.MissPeriods(ctx, pq)
			return err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

package report

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// TrendsDetail is what the trends charts draw beyond store.Trends: the
// costliest steps and one followed step per period, the builds per
// branch and the time lost to cache misses. Each comes from one store
// query over the whole window, however many periods it has. A period
// with nothing to say has no row: callers align the rows with the
// trends' periods by their start.
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

// DetailQuery says what LoadTrends loads beyond the trends.
type DetailQuery struct {
	// Top is how many of the costliest steps to break down (0: none).
	Top int
	// Step is a step identity (StepRef.StepID) to follow; 0 for none.
	Step int64
	// Branches and Misses ask for the builds per branch and the time
	// lost to cache misses.
	Branches, Misses bool
}

// LoadTrends asks the store for the trends of q and their detail at
// once (stores are safe for concurrent use): the page waits for the
// slowest query, not for their sum. The detail's window is q's own, not
// the periods' (which begin at a period's start): the builds in it are
// the same.
func LoadTrends(ctx context.Context, r store.Reader, q store.TrendQuery, dq DetailQuery) (*store.Trends, *TrendsDetail, error) {
	var (
		tr   *store.Trends
		terr error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		tr, terr = r.Trends(ctx, q)
	}()
	d, err := loadDetail(ctx, r, q, dq)
	<-done
	if terr != nil {
		return nil, nil, terr
	}
	if err != nil {
		return nil, nil, err
	}
	return tr, d, nil
}

// StepBuilt reports whether the followed step has figures in the window
// (Step names it either way).
func (d *TrendsDetail) StepBuilt() bool {
	return d.Step != nil && stepOf(d.Steps, d.Step.StepID) != nil
}

// ErrNoStep is LoadTrends' error for a step to follow that the history
// (of the project asked for) does not have.
var ErrNoStep = errors.New("no such step identity in the history")

// stepOf is the identity of step among rows, nil when none is of it.
func stepOf(rows []store.StepPeriod, step int64) *store.StepRef {
	for _, sp := range rows {
		if sp.StepID == step {
			ref := sp.StepRef
			return &ref
		}
	}
	return nil
}

func loadDetail(ctx context.Context, r store.Reader, q store.TrendQuery, dq DetailQuery) (*TrendsDetail, error) {
	d := &TrendsDetail{Top: []store.StepStats{}, Steps: []store.StepPeriod{}, Branches: []store.BranchPeriod{}, Misses: []store.MissPeriod{}}
	since, until := q.Since, q.Until
	period := q.Period
	if period == "" {
		period = store.Week
	}
	pq := store.PeriodQuery{Period: period, Since: since, Until: until, Project: q.Project, Branch: q.Branch}
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
		d.Step = stepOf(steps, dq.Step)
		if dq.Step != 0 && d.Step == nil {
			// Not built in the window: its name from the whole history,
			// so the answer says which step had no builds.
			all, err := r.StepPeriods(ctx, store.PeriodQuery{Steps: []int64{dq.Step}, Project: q.Project})
			if err != nil {
				return err
			}
			if d.Step = stepOf(all, dq.Step); d.Step == nil {
				return fmt.Errorf("%w: %d (see step_id in slow or misses --format json)", ErrNoStep, dq.Step)
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

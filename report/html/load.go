package html

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// LoadTrends gathers the trends page from the history: the periods of tr
// (the answer to q), and the run time per period of the steps that cost
// the most over the whole window.
func LoadTrends(ctx context.Context, s store.Reader, q store.TrendQuery, tr *store.Trends) (*Trends, error) {
	page := &Trends{Title: "Build trends", Period: string(tr.Period)}
	if q.Project != "" {
		page.Title += ": " + q.Project
		page.Facts = append(page.Facts, Fact{Label: "project", Value: q.Project})
	}
	if q.Branch != "" {
		page.Facts = append(page.Facts, Fact{Label: "branch", Value: q.Branch})
	}
	if len(tr.Periods) > 0 {
		first, last := tr.Periods[0].Start, tr.Periods[len(tr.Periods)-1].End
		page.Facts = append(page.Facts, Fact{Label: "window", Value: first.Format("2006-01-02") + " to " + last.Add(-time.Second).Format("2006-01-02")})
	}
	for _, p := range tr.Periods {
		page.Periods = append(page.Periods, TrendPeriod{Start: p.Start, Builds: p.Builds, Failed: p.Failed,
			Timed: p.Timed, P50: p.P50, P95: p.P95, StepsTotal: p.StepsTotal, StepsCached: p.StepsCached, CacheHitRate: p.CacheHitRate})
	}
	if len(tr.Periods) == 0 {
		return page, nil
	}
	window := store.WindowQuery{Since: tr.Periods[0].Start, Until: tr.Periods[len(tr.Periods)-1].End,
		Project: q.Project, Branch: q.Branch, Kinds: []model.Kind{model.KindStep}}
	if !q.Since.IsZero() && q.Since.After(window.Since) {
		window.Since = q.Since
	}
	if !q.Until.IsZero() && q.Until.Before(window.Until) {
		window.Until = q.Until
	}
	top := window
	top.Limit = TopStepsCharted
	costly, err := s.Slow(ctx, top)
	if err != nil {
		return nil, err
	}
	idx := map[int64]int{}
	for i, st := range costly {
		if st.Total <= 0 {
			break
		}
		idx[st.StepID] = i
		label := st.Label()
		if q.Project == "" && st.Project != "" {
			label = st.Project + ": " + label
		}
		page.TopSteps = append(page.TopSteps, StepSeries{Label: label, TotalSeconds: st.Total,
			Seconds: make([]float64, len(tr.Periods)), Runs: make([]int, len(tr.Periods))})
	}
	if len(page.TopSteps) == 0 {
		return page, nil
	}
	// One query per period that had builds, for the charted steps only: the
	// store has no per-period step breakdown, and periods without builds
	// cost nothing. A few run at once (stores are safe for concurrent
	// use): a year of weeks is 52.
	window.Steps = make([]int64, 0, len(idx))
	for id := range idx {
		window.Steps = append(window.Steps, id)
	}
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, loadParallel)
		errs = make([]error, len(tr.Periods))
		res  = make([][]store.StepStats, len(tr.Periods))
	)
	for i, p := range tr.Periods {
		if p.Builds == 0 {
			continue
		}
		w := window
		w.Since, w.Until = later(p.Start, window.Since), earlier(p.End, window.Until)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			res[i], errs[i] = s.Slow(ctx, w)
		}()
	}
	wg.Wait()
	for i, stats := range res {
		if errs[i] != nil {
			return nil, errs[i]
		}
		for _, st := range stats {
			if j, ok := idx[st.StepID]; ok && j < len(page.TopSteps) {
				page.TopSteps[j].Seconds[i] = st.Total
				page.TopSteps[j].Runs[i] = st.Runs
			}
		}
	}
	return page, nil
}

// loadParallel is how many per-period queries LoadTrends runs at once.
const loadParallel = 4

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// MetaFacts lists what the history knows of a build beyond its log (project,
// branch, commit, start, CI run, runner, Dockerfile, tags, source), for
// BuildPage.Facts.
func MetaFacts(m store.Meta) []Fact {
	var out []Fact
	add := func(label, value, url string) {
		if value != "" {
			out = append(out, Fact{Label: label, Value: value, URL: url})
		}
	}
	add("project", m.Project, "")
	add("branch", m.Branch, "")
	add("commit", m.Commit, "")
	if !m.Started.IsZero() {
		add("started", m.Started.UTC().Format("2006-01-02 15:04:05 UTC"), "")
	}
	run := m.RunURL
	if m.CIProvider != "" && run == "" {
		run = m.CIProvider
	}
	add("CI run", run, m.RunURL)
	add("runner", m.Runner, "")
	add("Dockerfile", m.Dockerfile, "")
	if len(m.Tags) > 0 {
		add("tags", strings.Join(m.Tags, ", "), "")
	}
	add("log", m.Source, "")
	return out
}

package html

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/store"
)

// LoadTrends gathers the trends page from the history: the periods of q;
// the run time per period of the steps that cost the most over the whole
// window, and of step when it is not 0 (a step identity to follow); the
// builds per branch; and the time lost to cache misses.
func LoadTrends(ctx context.Context, s store.Reader, q store.TrendQuery, step int64) (*Trends, error) {
	tr, d, err := report.LoadTrends(ctx, s, q, report.DetailQuery{Top: TopStepsCharted, Step: step, Branches: true, Misses: true})
	if err != nil {
		return nil, err
	}
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
	n := len(tr.Periods)
	newSeries := func(st store.StepStats) *StepSeries {
		label := st.Label()
		if q.Project == "" && st.Project != "" {
			label = st.Project + ": " + label
		}
		return &StepSeries{Label: label, Seconds: make([]float64, n), Runs: make([]int, n),
			Hits: make([]int, n), Timed: make([]int, n), P50: make([]float64, n), P95: make([]float64, n)}
	}
	byID := map[int64][]*StepSeries{}
	for _, st := range d.Top {
		page.TopSteps = append(page.TopSteps, *newSeries(st))
	}
	for i, st := range d.Top {
		page.TopSteps[i].TotalSeconds = st.Total
		byID[st.StepID] = append(byID[st.StepID], &page.TopSteps[i])
	}
	if step != 0 {
		if !d.StepBuilt() {
			page.FollowMissing = true
		} else {
			page.Followed = newSeries(store.StepStats{StepRef: *d.Step})
			byID[step] = append(byID[step], page.Followed)
		}
	}
	at := periodIndex(tr)
	for _, sp := range d.Steps {
		i, ok := at[sp.Start.Unix()]
		if !ok {
			continue
		}
		for _, ser := range byID[sp.StepID] {
			ser.Seconds[i], ser.Runs[i], ser.Hits[i], ser.Timed[i] = sp.Total, sp.Runs, sp.CacheHits, sp.Timed
			ser.P50[i], ser.P95[i] = sp.P50, sp.P95
			if ser == page.Followed {
				ser.TotalSeconds += sp.Total
			}
		}
	}
	page.Branches = branchSeries(d.Branches, at, n)
	for _, m := range d.Misses {
		if i, ok := at[m.Start.Unix()]; ok {
			page.Periods[i].LostRuns, page.Periods[i].LostTimed, page.Periods[i].LostSeconds = m.Runs, m.Timed, m.Seconds
		}
	}
	return page, nil
}

// branchSeries keeps the BranchesCharted branches with the most builds
// and adds up the rest as one "other" series.
func branchSeries(rows []store.BranchPeriod, at map[int64]int, n int) []BranchSeries {
	totals := map[string]int{}
	for _, r := range rows {
		totals[r.Branch] += r.Builds
	}
	names := make([]string, 0, len(totals))
	for b := range totals {
		names = append(names, b)
	}
	slices.SortFunc(names, func(a, b string) int {
		if totals[a] != totals[b] {
			return totals[b] - totals[a]
		}
		return strings.Compare(a, b)
	})
	var out []BranchSeries
	idx := map[string]int{}
	for i, b := range names {
		if i == BranchesCharted {
			out = append(out, BranchSeries{Other: true, Builds: make([]int, n)})
			break
		}
		idx[b] = i
		out = append(out, BranchSeries{Name: b, Builds: make([]int, n), Total: totals[b]})
	}
	for _, r := range rows {
		i, ok := at[r.Start.Unix()]
		if !ok {
			continue
		}
		j, charted := idx[r.Branch]
		if !charted {
			j = len(out) - 1 // other
		}
		out[j].Builds[i] += r.Builds
		if !charted {
			out[j].Total += r.Builds
		}
	}
	return out
}

// periodIndex finds a period of tr by its start (Unix seconds).
func periodIndex(tr *store.Trends) map[int64]int {
	at := make(map[int64]int, len(tr.Periods))
	for i, p := range tr.Periods {
		at[p.Start.Unix()] = i
	}
	return at
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

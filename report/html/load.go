package html

import (
	"context"
	"strings"
	"time"

	"github.com/buildstats/buildstats/report"
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
	d, err := report.LoadTrendsDetail(ctx, s, q, tr, report.DetailQuery{Top: TopStepsCharted})
	if err != nil {
		return nil, err
	}
	idx := map[int64]int{}
	for i, st := range d.Top {
		idx[st.StepID] = i
		label := st.Label()
		if q.Project == "" && st.Project != "" {
			label = st.Project + ": " + label
		}
		page.TopSteps = append(page.TopSteps, StepSeries{Label: label, TotalSeconds: st.Total,
			Seconds: make([]float64, len(tr.Periods)), Runs: make([]int, len(tr.Periods))})
	}
	at := periodIndex(tr)
	for _, sp := range d.Steps {
		i, ok := at[sp.Start.Unix()]
		j, top := idx[sp.StepID]
		if ok && top {
			page.TopSteps[j].Seconds[i] = sp.Total
			page.TopSteps[j].Runs[i] = sp.Runs
		}
	}
	return page, nil
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

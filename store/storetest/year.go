package storetest

import (
	"time"

	"github.com/buildstats/buildstats/store"
)

// The year of history the big tests of every backend generate: 50,000
// builds of 12 projects, 40 Dockerfile steps each (2,000,000 steps, plus
// 200,000 internal and export vertices), 40% of them on feature branches.
var (
	YearEnd    = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	YearConfig = GenConfig{Builds: 50_000, Steps: 40, Projects: 12, Start: YearEnd.AddDate(-1, 0, 0), Span: 365 * 24 * time.Hour, Seed: 1}
)

// YearQuery is one timed query over the year: Run returns a row count.
// Budget marks the queries the 300 ms requirement is about (what trends,
// slow and misses ask over a year, with and without filters).
type YearQuery struct {
	Name   string
	Budget bool
	Run    func(s store.Reader) (int, error)
}

// YearBudget is what each budgeted query may take in a fresh process.
const YearBudget = 300 * time.Millisecond

func yearTrends(p store.Period, project, branch string) func(s store.Reader) (int, error) {
	return func(s store.Reader) (int, error) {
		tr, err := s.Trends(Ctx, store.TrendQuery{Period: p, Since: YearConfig.Start, Until: YearEnd, Project: project, Branch: branch})
		if err != nil {
			return 0, err
		}
		return len(tr.Periods), nil
	}
}

func yearSlow(since, until time.Time, project, branch string) func(s store.Reader) (int, error) {
	return func(s store.Reader) (int, error) {
		r, err := s.Slow(Ctx, store.WindowQuery{Since: since, Until: until, Project: project, Branch: branch})
		return len(r), err
	}
}

func yearMisses(project, branch string) func(s store.Reader) (int, error) {
	return func(s store.Reader) (int, error) {
		r, err := s.Misses(Ctx, store.WindowQuery{Since: YearConfig.Start, Until: YearEnd, Project: project, Branch: branch})
		return len(r), err
	}
}

// YearQueries are the queries the big tests time, by name.
var YearQueries = []YearQuery{
	{"trends weekly", true, yearTrends(store.Week, "", "")},
	{"trends weekly, one project", true, yearTrends(store.Week, "service-00", "")},
	{"trends weekly, one project + branch", true, yearTrends(store.Week, "service-00", "main")},
	{"trends weekly, branch main (all projects)", true, yearTrends(store.Week, "", "main")},
	{"trends daily", false, yearTrends(store.Day, "", "")},
	{"slow", true, yearSlow(YearConfig.Start, YearEnd, "", "")},
	{"slow, partial days at both ends", true, yearSlow(YearConfig.Start.Add(13*time.Hour), YearEnd.Add(-5*time.Hour), "", "")},
	{"slow, one project", true, yearSlow(YearConfig.Start, YearEnd, "service-00", "")},
	{"slow, one project + branch", true, yearSlow(YearConfig.Start, YearEnd, "service-00", "main")},
	{"slow, branch main (all projects)", true, yearSlow(YearConfig.Start, YearEnd, "", "main")},
	{"slow, a feature branch (all projects)", true, yearSlow(YearConfig.Start, YearEnd, "", "feature-7")},
	{"slow, last 30 days", false, yearSlow(YearEnd.AddDate(0, 0, -30), YearEnd, "", "")},
	{"misses", true, yearMisses("", "")},
	{"misses, one project", true, yearMisses("service-00", "")},
	{"misses, one project + branch", true, yearMisses("service-00", "main")},
	{"misses, branch main (all projects)", true, yearMisses("", "main")},
	{"history, limit 20", false, func(s store.Reader) (int, error) {
		r, err := s.History(Ctx, store.HistoryQuery{Limit: 20})
		return len(r), err
	}},
	{"history, one project, limit 20", false, func(s store.Reader) (int, error) {
		r, err := s.History(Ctx, store.HistoryQuery{Limit: 20, Project: "service-03"})
		return len(r), err
	}},
	{"show latest (Build)", false, func(s store.Reader) (int, error) {
		id, err := s.Resolve(Ctx, "latest", "")
		if err != nil {
			return 0, err
		}
		b, _, err := s.Build(Ctx, id)
		if err != nil {
			return 0, err
		}
		return len(b.Vertices), nil
	}},
	{"compare previous latest", false, func(s store.Reader) (int, error) {
		a, err := s.Resolve(Ctx, "previous", "service-00")
		if err != nil {
			return 0, err
		}
		b, err := s.Resolve(Ctx, "latest", "service-00")
		if err != nil {
			return 0, err
		}
		c, err := s.Compare(Ctx, a, b)
		if err != nil {
			return 0, err
		}
		return len(c.Steps), nil
	}},
	{"previous misses of latest", false, func(s store.Reader) (int, error) {
		b, err := s.Resolve(Ctx, "latest", "")
		if err != nil {
			return 0, err
		}
		c, err := s.PreviousMisses(Ctx, b)
		if err != nil {
			return 0, err
		}
		return len(c.Steps), nil
	}},
}

// FindYearQuery returns the query named name.
func FindYearQuery(name string) (YearQuery, bool) {
	for _, q := range YearQueries {
		if q.Name == name {
			return q, true
		}
	}
	return YearQuery{}, false
}

package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// periodHistory stores builds over three weeks (Mondays 2 to 16 November
// 2026) for the per-period queries: two steps of project "pp" on the
// branches main and feature, and a step of another project.
func periodHistory(t *testing.T, s store.Store) {
	day := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	build := func(hash, project, branch string, at time.Time, make, test time.Duration) {
		b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Vertices: []*model.Vertex{
			Step("", 1, 2, "RUN", "make", make),
			Step("", 2, 2, "RUN", "make test", test),
		}}
		if make == unknownRun {
			b.Vertices[0].Duration, b.Vertices[0].HasDuration = 0, false
		}
		MustIngest(t, s, b, store.Meta{Project: project, Branch: branch, Started: at, ContentHash: "periods:" + hash})
	}
	const hit = -1
	build("1", "pp", "main", day(2, 10), 10*time.Second, 2*time.Second)
	build("2", "pp", "main", day(4, 15), hit, 3*time.Second)
	build("3", "pp", "feature", day(10, 12), 12*time.Second, hit)
	build("4", "pp", "main", day(12, 8), unknownRun, 4*time.Second)
	build("5", "pp", "main", day(16, 10), 8*time.Second, 5*time.Second)
	build("6", "pp", "feature", day(16, 23), 9*time.Second, hit)
	build("7", "pp", "", day(17, 9), hit, hit)
	build("8", "other", "main", day(10, 9), 100*time.Second, 1*time.Second)
}

// unknownRun asks periodHistory for a run whose time the log does not
// tell.
const unknownRun = time.Duration(1<<62 - 1)

// testStepPeriods: one query's per-period breakdown is what Slow says of
// each period on its own, whatever mix of partial days, daily and weekly
// rollups the window needs.
func testStepPeriods(t *testing.T, open Opener) {
	s := open(t)
	periodHistory(t, s)
	all, err := s.Slow(Ctx, store.WindowQuery{Project: "pp"})
	if err != nil {
		t.Fatal(err)
	}
	mk, test := FindStat(t, all, "", "RUN make"), FindStat(t, all, "", "RUN make test")
	ids := []int64{mk.StepID, test.StepID}
	windows := []struct{ since, until time.Time }{
		{},
		{time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC), time.Date(2026, 11, 16, 22, 0, 0, 0, time.UTC)},
		{time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)},
	}
	for _, p := range []store.Period{store.Week, store.Day} {
		for _, w := range windows {
			for _, branch := range []string{"", "main"} {
				q := store.PeriodQuery{Period: p, Since: w.since, Until: w.until, Project: "pp", Branch: branch, Steps: ids}
				got, err := s.StepPeriods(Ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) == 0 {
					t.Fatalf("%+v: no rows", q)
				}
				for i, sp := range got {
					if i > 0 && got[i-1].Start.After(sp.Start) {
						t.Errorf("%+v: periods out of order: %v after %v", q, sp.Start, got[i-1].Start)
					}
					end := sp.Start.AddDate(0, 0, 1)
					if p == store.Week {
						end = sp.Start.AddDate(0, 0, 7)
					}
					since, until := sp.Start, end
					if !w.since.IsZero() && w.since.After(since) {
						since = w.since
					}
					if !w.until.IsZero() && w.until.Before(until) {
						until = w.until
					}
					one, err := s.Slow(Ctx, store.WindowQuery{Since: since, Until: until, Project: "pp", Branch: branch, Steps: []int64{sp.StepID}})
					if err != nil {
						t.Fatal(err)
					}
					if sp.Runs == 0 {
						// Slow leaves out a step that never ran.
						if len(one) != 0 || sp.CacheHits == 0 {
							t.Errorf("%+v, %v: %+v (Slow: %+v)", q, sp.Start, sp.StepStats, one)
						}
						continue
					}
					if len(one) != 1 || !reflect.DeepEqual(one[0], sp.StepStats) {
						t.Errorf("%+v, period %v:\n got  %+v\n Slow %+v", q, sp.Start, sp.StepStats, one)
					}
				}
			}
		}
	}
	// By hand: the weeks of RUN make over the whole history.
	got, err := s.StepPeriods(Ctx, store.PeriodQuery{Project: "pp", Steps: []int64{mk.StepID}})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		start                     string
		builds, runs, hits, timed int
		total, p50, p95           float64
	}
	var rows []row
	for _, sp := range got {
		rows = append(rows, row{sp.Start.Format("01-02"), sp.Builds, sp.Runs, sp.CacheHits, sp.Timed, sp.Total, sp.P50, sp.P95})
	}
	want := []row{{"11-02", 2, 1, 1, 1, 10, 10, 10}, {"11-09", 2, 2, 0, 1, 12, 12, 12}, {"11-16", 3, 2, 1, 2, 17, 8, 9}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("weeks of RUN make:\n got  %+v\n want %+v", rows, want)
	}
	// No steps named: every Dockerfile step, of every project.
	every, err := s.StepPeriods(Ctx, store.PeriodQuery{Since: time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)})
	if err != nil || len(every) != 4 {
		t.Errorf("every step of 10 November: %+v %v", every, err)
	}
	if _, err := s.StepPeriods(Ctx, store.PeriodQuery{Period: "month"}); err == nil {
		t.Error("unknown period accepted")
	}
}

func bp(day int, branch string, builds int) store.BranchPeriod {
	return store.BranchPeriod{Start: time.Date(2026, 11, day, 0, 0, 0, 0, time.UTC), Branch: branch, Builds: builds}
}

func mp(day, runs, timed int, seconds float64) store.MissPeriod {
	return store.MissPeriod{Start: time.Date(2026, 11, day, 0, 0, 0, 0, time.UTC), Runs: runs, Timed: timed, Seconds: seconds}
}

// testBranchPeriods: builds per period and branch, the builds without a
// branch under "".
func testBranchPeriods(t *testing.T, open Opener) {
	s := open(t)
	periodHistory(t, s)
	d := func(day int) time.Time { return time.Date(2026, 11, day, 0, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		q    store.PeriodQuery
		want []store.BranchPeriod
	}{
		{store.PeriodQuery{}, []store.BranchPeriod{bp(2, "main", 2), bp(9, "main", 2), bp(9, "feature", 1),
			bp(16, "", 1), bp(16, "feature", 1), bp(16, "main", 1)}},
		{store.PeriodQuery{Project: "pp"}, []store.BranchPeriod{bp(2, "main", 2), bp(9, "feature", 1), bp(9, "main", 1),
			bp(16, "", 1), bp(16, "feature", 1), bp(16, "main", 1)}},
		{store.PeriodQuery{Period: store.Day, Project: "pp", Branch: "feature"}, []store.BranchPeriod{bp(10, "feature", 1), bp(16, "feature", 1)}},
		{store.PeriodQuery{Period: store.Day, Since: d(16).Add(12 * time.Hour), Until: d(17).Add(12 * time.Hour)},
			[]store.BranchPeriod{bp(16, "feature", 1), bp(17, "", 1)}},
		{store.PeriodQuery{Branch: "nope"}, []store.BranchPeriod{}},
	} {
		got, err := s.BranchPeriods(Ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v:\n got  %+v\n want %+v", c.q, got, c.want)
		}
	}
}

// testMissPeriods: the time lost to cache misses counts a step's runs in
// the periods after the one it first came from the cache in, and nothing
// of a step that never did.
func testMissPeriods(t *testing.T, open Opener) {
	s := open(t)
	periodHistory(t, s)
	d := func(day int) time.Time { return time.Date(2026, 11, day, 0, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		q    store.PeriodQuery
		want []store.MissPeriod
	}{
		// RUN make first hit the cache in the week of the 2nd, RUN make
		// test in that of the 9th: make's two runs of the 9th's week (one
		// of an unknown time) and everything that ran in the 16th's.
		{store.PeriodQuery{}, []store.MissPeriod{mp(9, 2, 1, 12), mp(16, 3, 3, 22)}},
		// Per day: make first hit on the 4th, make test on the 10th.
		{store.PeriodQuery{Period: store.Day, Project: "pp"}, []store.MissPeriod{mp(10, 1, 1, 12), mp(12, 2, 1, 4), mp(16, 3, 3, 22)}},
		// On main, make test never came from the cache.
		{store.PeriodQuery{Branch: "main"}, []store.MissPeriod{mp(9, 1, 0, 0), mp(16, 1, 1, 8)}},
		// A window: the hits before it still count as before.
		{store.PeriodQuery{Period: store.Day, Since: d(16).Add(12 * time.Hour)}, []store.MissPeriod{mp(16, 1, 1, 9)}},
		// Weeks cut by the window: whole days of the 9th's week from the
		// daily rollup, the partial days at either end from the builds.
		{store.PeriodQuery{Since: d(11).Add(12 * time.Hour)}, []store.MissPeriod{mp(9, 1, 0, 0), mp(16, 3, 3, 22)}},
		{store.PeriodQuery{Since: d(11).Add(12 * time.Hour), Until: d(16).Add(22 * time.Hour)}, []store.MissPeriod{mp(9, 1, 0, 0), mp(16, 2, 2, 13)}},
		{store.PeriodQuery{Project: "other"}, []store.MissPeriod{}},
	} {
		got, err := s.MissPeriods(Ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v:\n got  %+v\n want %+v", c.q, got, c.want)
		}
	}
}

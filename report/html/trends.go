package html

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/redact"
	"github.com/buildstats/buildstats/report"
)

// Trends is what the trends page charts: the build history bucketed per
// day or week. The CLI fills it from the history database.
type Trends struct {
	// Title heads the page; Facts (project, branch, window) follow it.
	Title string
	Facts []Fact
	// Period is "day" or "week".
	Period string
	// Periods are the buckets, oldest first, empty ones included.
	Periods []TrendPeriod
	// TopSteps are the steps that cost the most run time over all
	// periods, costliest first (at most five are charted).
	TopSteps []StepSeries
	// Followed is a step the reader asked to follow (serve's ?step=),
	// charted first; nil for none. FollowMissing says one was asked for
	// and not built in the window.
	Followed      *StepSeries
	FollowMissing bool
	// Branches are the builds per period of the branches with the most
	// builds, most first, the rest last as one series with Other set.
	Branches []BranchSeries
	// Generated is shown in the footer; zero leaves it out.
	Generated time.Time
	// Mask masks secrets in the title, facts and step labels. nil masks
	// with the built-in patterns of package redact; redact.None() masks
	// nothing.
	Mask *redact.Redactor
}

// TrendPeriod is one bucket of the history.
type TrendPeriod struct {
	Start  time.Time
	Builds int
	Failed int
	// P50 and P95 are build times in seconds (nearest rank) of the Timed
	// builds, those whose duration is known; meaningful only when Timed > 0.
	Timed    int
	P50, P95 float64
	// StepsTotal and StepsCached count Dockerfile steps over the period's
	// builds; CacheHitRate is their ratio.
	StepsTotal, StepsCached int
	CacheHitRate            float64
	// LostRuns counts the runs that lost time to cache misses
	// (store.MissPeriod), LostTimed those of a known time, whose run
	// time is LostSeconds.
	LostRuns, LostTimed int
	LostSeconds         float64
}

// BranchSeries is one branch's builds per period, aligned with
// Trends.Periods.
type BranchSeries struct {
	// Name is the branch, "" for builds stored without one.
	Name string
	// Other marks the series of every branch not charted on its own.
	Other  bool
	Builds []int
	Total  int
}

// StepSeries is one step's cost over time.
type StepSeries struct {
	// Label names the step ("[linux/amd64 builder] RUN go build").
	Label string
	// TotalSeconds is its summed run time over all periods.
	TotalSeconds float64
	// Seconds is its summed run time in each period and Runs how often it
	// ran there, both aligned with Trends.Periods.
	Seconds []float64
	Runs    []int
	// Hits counts its cache hits per period; P50 and P95 are its run
	// times (nearest rank) of the Timed runs of known time, meaningful
	// only when Timed > 0. nil when not loaded.
	Hits     []int
	Timed    []int
	P50, P95 []float64
}

// BranchesCharted is how many branches the builds-per-branch chart draws
// on their own; the others are added up as "other".
const BranchesCharted = 5

// TopStepsCharted is how many steps the cost chart draws.
const TopStepsCharted = 5

// Chart geometry, in SVG user units.
const (
	chW       = 1000.0
	chH       = 250.0
	chLeft    = 70.0
	chRight   = 16.0
	chTop     = 12.0
	chBottom  = 34.0
	chDotsMax = 60 // draw a dot on every point up to this many periods
	openRows  = 26 // tables longer than this start folded
)

type trendsPage struct {
	Title     string
	Facts     []factView
	Generated string
	Empty     bool
	Summary   string

	Time, Cache, Failure, Steps *chartView
	TimeRows                    [][]string
	CacheRows                   [][]string
	FailureRows                 [][]string
	StepRows                    [][]string
	StepHead                    []string
	StepNames                   []stepName
	Open                        bool
	Unit                        string

	StepTimes     []stepTimeView
	FollowMissing bool
	Branch        *chartView
	BranchNames   []stepName
	BranchHead    []string
	BranchRows    [][]string
	Lost          *chartView
	LostRows      [][]string
}

// stepName is a series' entry in a legend; Href, when set, links the
// step's own chart.
type stepName struct {
	Class, Label, Total, Href string
}

// stepTimeView is the chart of one step's run time per period.
type stepTimeView struct {
	ID, Label, Total string
	Chart            *chartView
	Rows             [][]string
}

type chartView struct {
	Label          string
	Width, Height  string
	X0, X1, Y0, Y1 string
	YLabX, XLabY   string
	XTicks, YTicks []chartTick
	Lines          []chartLine
}

type chartTick struct {
	X, Y, Label string
}

type chartLine struct {
	Class string
	Name  string
	D     string
	Dots  []chartDot
}

type chartDot struct {
	X, Y, Title string
}

// series is one line of a chart: a value per period, or none (a gap).
type series struct {
	class, name string
	values      []float64
	present     []bool
}

// WriteTrends writes the trends page to w.
func WriteTrends(w io.Writer, t *Trends) error {
	return templates.ExecuteTemplate(w, "trends.tmpl", newTrendsPage(t))
}

func newTrendsPage(t *Trends) *trendsPage {
	p := &trendsPage{Title: line(t.Mask.String(t.Title))}
	if p.Title == "" {
		p.Title = "Build trends"
	}
	for _, f := range maskFacts(t.Facts, t.Mask) {
		p.Facts = append(p.Facts, factView{Label: line(f.Label), Value: line(f.Value)})
	}
	if !t.Generated.IsZero() {
		p.Generated = t.Generated.UTC().Format("2006-01-02 15:04 UTC")
	}
	builds := 0
	for _, pr := range t.Periods {
		builds += pr.Builds
	}
	if builds == 0 {
		p.Empty = true
		return p
	}
	n := len(t.Periods)
	unit := "week"
	if t.Period == "day" {
		unit = "day"
	}
	p.Summary = fmt.Sprintf("%d build%s over %d %s%s, from %s.", builds, plural(builds), n, unit, plural(n), periodLabel(t.Periods[0].Start))
	p.Open = n <= openRows

	labels := make([]string, n)
	for i, pr := range t.Periods {
		labels[i] = periodLabel(pr.Start)
	}
	has, timed := make([]bool, n), make([]bool, n)
	p50 := series{class: "p50", name: "p50", values: make([]float64, n), present: timed}
	p95 := series{class: "p95", name: "p95", values: make([]float64, n), present: timed}
	hit := series{class: "rate", name: "cache hit rate", values: make([]float64, n), present: make([]bool, n)}
	fail := series{class: "fail", name: "failure rate", values: make([]float64, n), present: has}
	for i, pr := range t.Periods {
		has[i], timed[i] = pr.Builds > 0, pr.Timed > 0
		p50.values[i], p95.values[i] = pr.P50, pr.P95
		hit.values[i], hit.present[i] = pr.CacheHitRate, pr.StepsTotal > 0
		if pr.Builds > 0 {
			fail.values[i] = float64(pr.Failed) / float64(pr.Builds)
		}
		dash := func(ok bool, s string) string {
			if !ok {
				return "-"
			}
			return s
		}
		p.TimeRows = append(p.TimeRows, []string{labels[i], strconv.Itoa(pr.Builds),
			dash(timed[i], report.FormatSeconds(pr.P50)), dash(timed[i], report.FormatSeconds(pr.P95))})
		p.CacheRows = append(p.CacheRows, []string{labels[i], strconv.Itoa(pr.StepsTotal), strconv.Itoa(pr.StepsCached),
			dash(hit.present[i], report.FormatShare(pr.CacheHitRate))})
		p.FailureRows = append(p.FailureRows, []string{labels[i], strconv.Itoa(pr.Builds), strconv.Itoa(pr.Failed),
			dash(has[i], report.FormatShare(fail.values[i]))})
	}
	p.Time = lineChart("Build time per "+unit+": p50 and p95", labels, []series{p50, p95}, secondsAxis)
	p.Cache = lineChart("Cache hit rate per "+unit, labels, []series{hit}, rateAxis)
	p.Failure = lineChart("Failure rate per "+unit, labels, []series{fail}, rateAxis)

	steps := t.TopSteps[:min(len(t.TopSteps), TopStepsCharted)]
	if len(steps) > 0 {
		var ss []series
		p.StepHead = []string{"Period"}
		for j, st := range steps {
			class := "s" + strconv.Itoa(j)
			label := t.Mask.String(st.Label)
			s := series{class: class, name: short(label, 80), values: make([]float64, n), present: make([]bool, n)}
			for i := range n {
				if i < len(st.Seconds) {
					s.values[i] = st.Seconds[i]
				}
				s.present[i] = true // a period without runs cost nothing
			}
			ss = append(ss, s)
			p.StepNames = append(p.StepNames, stepName{Class: class, Label: short(label, 240), Total: report.FormatSeconds(st.TotalSeconds),
				Href: "#step-" + strconv.Itoa(j+1)})
			p.StepHead = append(p.StepHead, "#"+strconv.Itoa(j+1))
		}
		for i := range n {
			row := []string{labels[i]}
			for _, st := range steps {
				cell := "-"
				if i < len(st.Seconds) && (st.Seconds[i] > 0 || i < len(st.Runs) && st.Runs[i] > 0) {
					cell = report.FormatSeconds(st.Seconds[i])
					if i < len(st.Runs) {
						cell += fmt.Sprintf(" (%d run%s)", st.Runs[i], plural(st.Runs[i]))
					}
				}
				row = append(row, cell)
			}
			p.StepRows = append(p.StepRows, row)
		}
		p.Steps = lineChart("Run time per "+unit+" of the five costliest steps", labels, ss, secondsAxis)
	}
	p.Unit = unit
	p.FollowMissing = t.FollowMissing
	if t.Followed != nil {
		p.StepTimes = append(p.StepTimes, stepTime("step", t.Followed, t.Mask, labels, unit))
	}
	for j, st := range steps {
		if st.Timed != nil {
			p.StepTimes = append(p.StepTimes, stepTime("step-"+strconv.Itoa(j+1), &st, t.Mask, labels, unit))
		}
	}
	branchChart(p, t, labels, unit)
	lostChart(p, t, labels, has, unit)
	return p
}

// stepTime charts one step's p50 and p95 run time per period, with gaps
// where it did not run for a known time: no run is not a 0 s run.
func stepTime(id string, st *StepSeries, mask *redact.Redactor, labels []string, unit string) stepTimeView {
	n := len(labels)
	label := mask.String(st.Label)
	v := stepTimeView{ID: id, Label: short(label, 240), Total: report.FormatSeconds(st.TotalSeconds)}
	timed := make([]bool, n)
	p50 := series{class: "p50", name: "p50", values: make([]float64, n), present: timed}
	p95 := series{class: "p95", name: "p95", values: make([]float64, n), present: timed}
	at := func(xs []int, i int) int {
		if i < len(xs) {
			return xs[i]
		}
		return 0
	}
	for i := range n {
		timed[i] = at(st.Timed, i) > 0
		if timed[i] {
			p50.values[i], p95.values[i] = st.P50[i], st.P95[i]
		}
		// Runs and cache hits share a cell: two years of days in five
		// tables must stay under a megabyte.
		runs, hits := at(st.Runs, i), at(st.Hits, i)
		row := []string{labels[i], "-", "-", "-"}
		if runs > 0 || hits > 0 {
			row[1] = strconv.Itoa(runs) + " / " + strconv.Itoa(hits)
			if timed[i] {
				row[2], row[3] = report.FormatSeconds(st.P50[i]), report.FormatSeconds(st.P95[i])
			} else if runs > 0 {
				row[2], row[3] = "?", "?" // ran for a time no log told
			}
		}
		v.Rows = append(v.Rows, row)
	}
	v.Chart = lineChart("Run time per "+unit+" of "+short(label, 80)+": p50 and p95", labels, []series{p50, p95}, secondsAxis)
	return v
}

// branchChart charts the builds per period of each charted branch.
func branchChart(p *trendsPage, t *Trends, labels []string, unit string) {
	if len(t.Branches) == 0 {
		return
	}
	n := len(labels)
	var ss []series
	p.BranchHead = []string{"Period"}
	for j, b := range t.Branches {
		class, name := "s"+strconv.Itoa(j%TopStepsCharted), line(t.Mask.String(b.Name))
		switch {
		case b.Other:
			class, name = "other", "other branches"
		case b.Name == "":
			name = "(no branch)"
		}
		s := series{class: class, name: short(name, 80), values: make([]float64, n), present: make([]bool, n)}
		for i := range n {
			if i < len(b.Builds) {
				s.values[i] = float64(b.Builds[i])
			}
			s.present[i] = true // no build of a branch is a count of 0
		}
		ss = append(ss, s)
		p.BranchNames = append(p.BranchNames, stepName{Class: class, Label: short(name, 240), Total: strconv.Itoa(b.Total) + " build" + plural(b.Total)})
		p.BranchHead = append(p.BranchHead, short(name, 40))
	}
	for i := range n {
		row := []string{labels[i]}
		for _, b := range t.Branches {
			c := 0
			if i < len(b.Builds) {
				c = b.Builds[i]
			}
			row = append(row, strconv.Itoa(c))
		}
		p.BranchRows = append(p.BranchRows, row)
	}
	p.Branch = lineChart("Builds per "+unit+" and branch", labels, ss, countAxis)
}

// lostChart charts the time lost to cache misses per period: a gap for a
// period without builds, or whose lost runs took no time a log told.
func lostChart(p *trendsPage, t *Trends, labels []string, has []bool, unit string) {
	n := len(labels)
	lost := series{class: "lost", name: "time lost to cache misses", values: make([]float64, n), present: make([]bool, n)}
	for i, pr := range t.Periods {
		lost.present[i] = has[i] && (pr.LostRuns == 0 || pr.LostTimed > 0)
		lost.values[i] = pr.LostSeconds
		row := []string{labels[i], strconv.Itoa(pr.Builds), "-", "-"}
		if has[i] {
			row[2] = strconv.Itoa(pr.LostRuns)
			switch {
			case pr.LostRuns == 0 || pr.LostTimed == pr.LostRuns:
				row[3] = report.FormatSeconds(pr.LostSeconds)
			case pr.LostTimed == 0:
				row[3] = "?"
			default:
				row[3] = "≥ " + report.FormatSeconds(pr.LostSeconds) // some runs' times are unknown
			}
		}
		p.LostRows = append(p.LostRows, row)
	}
	p.Lost = lineChart("Time lost to cache misses per "+unit, labels, []series{lost}, secondsAxis)
}

// periodLabel names a period by its first day.
func periodLabel(start time.Time) string {
	return start.UTC().Format("2006-01-02")
}

// axis kinds of lineChart.
type axisKind int

const (
	secondsAxis axisKind = iota
	rateAxis             // 0 to 100 %
	countAxis            // whole numbers from 0
)

// lineChart lays out one chart: a band per period with the point at its
// centre, so one period is drawn as well as seven hundred.
func lineChart(label string, xLabels []string, ss []series, axis axisKind) *chartView {
	n := len(xLabels)
	x0, x1 := chLeft, chW-chRight
	y0, y1 := chTop, chH-chBottom // y0 is the top
	c := &chartView{Label: label, Width: num(chW), Height: num(chH), X0: num(x0), X1: num(x1), Y0: num(y0), Y1: num(y1),
		YLabX: num(x0 - 6), XLabY: num(y1 + 20)}

	top := 1.0
	var yticks []float64
	if axis == rateAxis {
		yticks = []float64{0, 0.25, 0.5, 0.75, 1}
	} else {
		hi := 0.0
		for _, s := range ss {
			for i, v := range s.values {
				if s.present[i] {
					hi = max(hi, v)
				}
			}
		}
		step := niceStep(hi / 4)
		if axis == countAxis {
			step = countStep(hi / 4)
		}
		top = step * math.Ceil(hi/step)
		if top == 0 {
			top = step
		}
		for v := 0.0; v <= top+step/2; v += step {
			yticks = append(yticks, v)
		}
	}
	y := func(v float64) float64 { return y1 - (y1-y0)*v/top }
	band := (x1 - x0) / float64(max(n, 1))
	x := func(i int) float64 { return x0 + band*(float64(i)+0.5) }

	for _, v := range yticks {
		lab := formatTick(time.Duration(v * float64(time.Second)))
		switch axis {
		case rateAxis:
			lab = strconv.Itoa(int(math.Round(v*100))) + "%"
		case countAxis:
			lab = strconv.Itoa(int(math.Round(v)))
		}
		c.YTicks = append(c.YTicks, chartTick{Y: num(y(v)), Label: lab})
	}
	every := max(1, (n+7)/8)
	for i := 0; i < n; i += every {
		c.XTicks = append(c.XTicks, chartTick{X: num(x(i)), Label: xLabels[i]})
	}

	for _, s := range ss {
		l := chartLine{Class: s.class, Name: s.name}
		var d strings.Builder
		for i := range n {
			if !s.present[i] {
				continue
			}
			cmd := "L"
			if i == 0 || !s.present[i-1] {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%s %s", cmd, num(x(i)), num(y(s.values[i])))
			alone := (i == 0 || !s.present[i-1]) && (i == n-1 || !s.present[i+1])
			if n <= chDotsMax || alone {
				val := report.FormatSeconds(s.values[i])
				switch axis {
				case rateAxis:
					val = report.FormatShare(s.values[i])
				case countAxis:
					val = strconv.Itoa(int(s.values[i]))
				}
				l.Dots = append(l.Dots, chartDot{X: num(x(i)), Y: num(y(s.values[i])), Title: xLabels[i] + ": " + s.name + " " + val})
			}
		}
		l.D = d.String()
		c.Lines = append(c.Lines, l)
	}
	return c
}

// niceStep rounds a raw axis interval in seconds up to a round one.
func niceStep(raw float64) float64 {
	for _, s := range tickSteps {
		if s >= raw {
			return s
		}
	}
	return tickSteps[len(tickSteps)-1] * math.Ceil(raw/tickSteps[len(tickSteps)-1])
}

// countStep rounds a raw axis interval of a count up to 1, 2 or 5 times
// a power of ten.
func countStep(raw float64) float64 {
	for p := 1.0; ; p *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if m*p >= raw {
				return m * p
			}
		}
	}
}

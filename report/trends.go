package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter/tw"

	"github.com/buildstats/buildstats/store"
)

// TrendsSchemaVersion is the version of the trends JSON contract
// (TrendsReport).
// Schema 2 adds each period's branches and time lost to cache misses,
// and the followed step.
const TrendsSchemaVersion = 2

// TrendsReport is what `buildstats trends` prints: the history bucketed
// per day or week. Its JSON is the command's contract: a period without
// builds has null figures, never 0.
type TrendsReport struct {
	SchemaVersion int `json:"schema_version"`
	// Period is "day" or "week" (weeks start on Monday 00:00 UTC).
	Period string `json:"period"`
	// Project and Branch are the filters; null for all.
	Project     *string           `json:"project"`
	Branch      *string           `json:"branch"`
	Periods     []TrendPeriod     `json:"periods"`
	Regressions []TrendRegression `json:"regressions"`
	// Step is the followed step's run time per period (--step, the
	// API's step=); null only when none was asked for. A step of the
	// history not built in the window has periods without builds; one
	// the history does not have is an error (ErrNoStep: exit status 2,
	// HTTP 404).
	Step *StepTrend `json:"step"`
}

// BranchCount is one branch's builds in a period.
type BranchCount struct {
	// Branch is null for builds stored without one.
	Branch *string `json:"branch"`
	Builds int     `json:"builds"`
}

// StepTrend is one step identity's run time per period.
type StepTrend struct {
	Step    string `json:"step"`
	Project string `json:"project"`
	StepID  int64  `json:"step_id"`
	// Periods are aligned with the report's.
	Periods []StepTrendPeriod `json:"periods"`
}

// StepTrendPeriod is a step's figures in one period: Builds counts the
// builds that had it, Runs those it ran in, CacheHits those it came from
// the cache in; the times are of the TimedRuns, null when there is none.
type StepTrendPeriod struct {
	Start        time.Time `json:"start"`
	Builds       int       `json:"builds"`
	Runs         int       `json:"runs"`
	CacheHits    int       `json:"cache_hits"`
	TimedRuns    int       `json:"timed_runs"`
	P50Seconds   *float64  `json:"p50_seconds"`
	P95Seconds   *float64  `json:"p95_seconds"`
	TotalSeconds *float64  `json:"total_seconds"`
}

// TrendPeriod is one bucket.
type TrendPeriod struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Builds int       `json:"builds"`
	Failed int       `json:"failed"`
	// TimedBuilds counts the builds whose duration is known; the
	// percentiles are of those, null when there is none.
	TimedBuilds int `json:"timed_builds"`
	// The rest is null when the period had no builds (or no steps).
	FailureRate  *float64 `json:"failure_rate"`
	P50Seconds   *float64 `json:"p50_seconds"`
	P95Seconds   *float64 `json:"p95_seconds"`
	StepsTotal   int      `json:"steps_total"`
	StepsCached  int      `json:"steps_cached"`
	CacheHitRate *float64 `json:"cache_hit_rate"`
	// Branches counts the period's builds per branch, most first.
	Branches []BranchCount `json:"branches"`
	// LostRuns counts the runs of Dockerfile steps that had come from
	// the cache in an earlier period and ran in this one
	// (store.MissPeriod), LostTimedRuns those of a known time;
	// LostSeconds is their run time, null when the period had no builds
	// or none of its lost runs was timed.
	LostRuns      int      `json:"lost_runs"`
	LostTimedRuns int      `json:"lost_timed_runs"`
	LostSeconds   *float64 `json:"lost_seconds"`
}

// TrendRegression is a step whose typical run time rose in the latest
// period against the periods before it.
type TrendRegression struct {
	// Step labels the step identity: "[platform stage] INSTRUCTION args".
	Step            string  `json:"step"`
	Project         string  `json:"project"`
	StepID          int64   `json:"step_id"`
	BaselineSeconds float64 `json:"baseline_seconds"`
	CurrentSeconds  float64 `json:"current_seconds"`
	DeltaSeconds    float64 `json:"delta_seconds"`
	BaselineRuns    int     `json:"baseline_runs"`
	CurrentRuns     int     `json:"current_runs"`
}

// NewTrendsReport turns the store's answer into the report.
func NewTrendsReport(tr *store.Trends, project, branch string) *TrendsReport {
	r := &TrendsReport{SchemaVersion: TrendsSchemaVersion, Period: string(tr.Period), Project: optString(project),
		Branch: optString(branch), Periods: []TrendPeriod{}, Regressions: []TrendRegression{}}
	for _, p := range tr.Periods {
		tp := TrendPeriod{Start: p.Start, End: p.End, Builds: p.Builds, Failed: p.Failed, TimedBuilds: p.Timed,
			StepsTotal: p.StepsTotal, StepsCached: p.StepsCached}
		if p.Builds > 0 {
			tp.FailureRate = ptr(p.FailureRate)
		}
		if p.Timed > 0 {
			tp.P50Seconds, tp.P95Seconds = ptr(p.P50), ptr(p.P95)
		}
		if p.StepsTotal > 0 {
			tp.CacheHitRate = ptr(p.CacheHitRate)
		}
		tp.Branches = []BranchCount{}
		if p.Builds > 0 {
			tp.LostSeconds = ptr(0.0)
		}
		r.Periods = append(r.Periods, tp)
	}
	for _, g := range tr.Regressions {
		r.Regressions = append(r.Regressions, TrendRegression{Step: g.Label(), Project: g.Project, StepID: g.StepID,
			BaselineSeconds: g.BaselineSeconds, CurrentSeconds: g.CurrentSeconds, DeltaSeconds: g.DeltaSeconds,
			BaselineRuns: g.BaselineRuns, CurrentRuns: g.CurrentRuns})
	}
	return r
}

// AddDetail adds what LoadTrends loaded (with Branches, Misses
// and, when asked for, Step) to the report of the same answer.
func (r *TrendsReport) AddDetail(d *TrendsDetail) {
	at := make(map[int64]int, len(r.Periods))
	for i, p := range r.Periods {
		at[p.Start.Unix()] = i
	}
	for _, b := range d.Branches {
		if i, ok := at[b.Start.Unix()]; ok {
			r.Periods[i].Branches = append(r.Periods[i].Branches, BranchCount{Branch: optString(b.Branch), Builds: b.Builds})
		}
	}
	for _, m := range d.Misses {
		i, ok := at[m.Start.Unix()]
		if !ok {
			continue
		}
		p := &r.Periods[i]
		p.LostRuns, p.LostTimedRuns, p.LostSeconds = m.Runs, m.Timed, nil
		if m.Timed > 0 {
			p.LostSeconds = ptr(m.Seconds)
		}
	}
	if d.Step == nil {
		return
	}
	st := &StepTrend{Step: d.Step.Label(), Project: d.Step.Project, StepID: d.Step.StepID, Periods: make([]StepTrendPeriod, len(r.Periods))}
	for i, p := range r.Periods {
		st.Periods[i].Start = p.Start
	}
	for _, sp := range d.Steps {
		i, ok := at[sp.Start.Unix()]
		if !ok || sp.StepID != d.Step.StepID {
			continue
		}
		tp := &st.Periods[i]
		tp.Builds, tp.Runs, tp.CacheHits, tp.TimedRuns = sp.Builds, sp.Runs, sp.CacheHits, sp.Timed
		if sp.Timed > 0 {
			tp.P50Seconds, tp.P95Seconds, tp.TotalSeconds = ptr(sp.P50), ptr(sp.P95), ptr(sp.Total)
		}
	}
	r.Step = st
}

// empty reports whether no period had a build.
func (r *TrendsReport) empty() bool {
	for _, p := range r.Periods {
		if p.Builds > 0 {
			return false
		}
	}
	return true
}

// RenderTrends writes a trends report in format.
func RenderTrends(w io.Writer, format string, r *TrendsReport, opts RenderOptions) error {
	if err := CheckFormat(format); err != nil {
		return err
	}
	if opts.Mask != nil {
		for i := range r.Regressions {
			r.Regressions[i].Step = opts.Mask(r.Regressions[i].Step)
			r.Regressions[i].Project = opts.Mask(r.Regressions[i].Project)
		}
		for _, p := range r.Periods {
			for j, b := range p.Branches {
				if b.Branch != nil {
					p.Branches[j].Branch = ptr(opts.Mask(*b.Branch))
				}
			}
		}
		if r.Step != nil {
			r.Step.Step = opts.Mask(r.Step.Step)
			r.Step.Project = opts.Mask(r.Step.Project)
		}
	}
	if format == FormatJSON {
		return WriteJSON(w, r)
	}
	ew := &errWriter{w: w}
	md := format == FormatMarkdown
	if md {
		ew.printf("# Build trends per %s\n\n", r.Period)
	}
	if r.empty() {
		ew.printf("No builds in the history for this selection.\n")
		return ew.err
	}
	period := strings.ToUpper(r.Period[:1]) + r.Period[1:]
	header := []string{period, "Builds", "Failed", "p50", "p95", "Cache hits", "Lost to misses"}
	rows := make([][]string, len(r.Periods))
	for i, p := range r.Periods {
		rows[i] = []string{p.Start.Format("2006-01-02"), fmt.Sprint(p.Builds), fmt.Sprint(p.Failed),
			optSeconds(p.P50Seconds), optSeconds(p.P95Seconds), optShare(p.CacheHitRate), lostText(p)}
	}
	aligns := []tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight}
	writeGrid(ew, md, header, rows, aligns)
	if r.Step != nil {
		if md {
			ew.printf("\n## %s\n\n", mdText(r.Step.Step))
		} else {
			ew.printf("\n%s (%s):\n", clean(r.Step.Step), clean(r.Step.Project))
		}
		rows = rows[:0]
		for _, p := range r.Step.Periods {
			rows = append(rows, []string{p.Start.Format("2006-01-02"), fmt.Sprint(p.Builds), fmt.Sprint(p.Runs), fmt.Sprint(p.CacheHits),
				optSeconds(p.P50Seconds), optSeconds(p.P95Seconds), optSeconds(p.TotalSeconds)})
		}
		writeGrid(ew, md, []string{period, "Builds", "Ran", "Cache hits", "p50", "p95", "Total"}, rows, aligns)
	}
	if len(r.Regressions) == 0 {
		return ew.err
	}
	if md {
		ew.printf("\n## Slower in the latest %s\n\n", r.Period)
	} else {
		ew.printf("\nSlower in the latest %s than before:\n", r.Period)
	}
	rows = rows[:0]
	for _, g := range r.Regressions {
		rows = append(rows, []string{g.Step, FormatSeconds(g.BaselineSeconds), FormatSeconds(g.CurrentSeconds), "+" + FormatSeconds(g.DeltaSeconds)})
	}
	writeGrid(ew, md, []string{"Step", "Before", "Now", "Change"}, rows,
		[]tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight}, nameColumn(opts, 0))
	return ew.err
}

// lostText is a period's time lost to cache misses: "-" without builds,
// the runs alone when none of them was timed.
func lostText(p TrendPeriod) string {
	switch {
	case p.Builds == 0:
		return "-"
	case p.LostRuns == 0:
		return "0s"
	case p.LostSeconds == nil:
		return fmt.Sprintf("%d runs, time unknown", p.LostRuns)
	}
	return fmt.Sprintf("%s (%d runs)", FormatSeconds(*p.LostSeconds), p.LostRuns)
}

func optShare(f *float64) string {
	if f == nil {
		return "-"
	}
	return FormatShare(*f)
}

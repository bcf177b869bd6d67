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
const TrendsSchemaVersion = 1

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
		r.Periods = append(r.Periods, tp)
	}
	for _, g := range tr.Regressions {
		r.Regressions = append(r.Regressions, TrendRegression{Step: g.Label(), Project: g.Project, StepID: g.StepID,
			BaselineSeconds: g.BaselineSeconds, CurrentSeconds: g.CurrentSeconds, DeltaSeconds: g.DeltaSeconds,
			BaselineRuns: g.BaselineRuns, CurrentRuns: g.CurrentRuns})
	}
	return r
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
	header := []string{strings.ToUpper(r.Period[:1]) + r.Period[1:], "Builds", "Failed", "p50", "p95", "Cache hits"}
	rows := make([][]string, len(r.Periods))
	for i, p := range r.Periods {
		rows[i] = []string{p.Start.Format("2006-01-02"), fmt.Sprint(p.Builds), fmt.Sprint(p.Failed),
			optSeconds(p.P50Seconds), optSeconds(p.P95Seconds), optShare(p.CacheHitRate)}
	}
	aligns := []tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight}
	writeGrid(ew, md, header, rows, aligns)
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

func optShare(f *float64) string {
	if f == nil {
		return "-"
	}
	return FormatShare(*f)
}

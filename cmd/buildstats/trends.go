package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	reporthtml "github.com/buildstats/buildstats/report/html"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/sqlite"
)

type trendsOptions struct {
	period  string
	since   string
	until   string
	project string
	branch  string
	format  string
	html    bool
	output  string
	db      string
}

func newTrendsCommand(app *App) *cobra.Command {
	var opts trendsOptions
	cmd := &cobra.Command{
		Use:   "trends [--period week|day] [--since WHEN] [--html -o trends.html]",
		Short: "Show build time, cache hit rate and failure rate over the history",
		Long: `Trends buckets the builds in the history per week (Monday 00:00 UTC) or day:
build time p50 and p95, cache hit rate and failure rate, and the steps whose
typical run time rose in the latest period.

With --html it writes one self-contained HTML page with a chart for each of
those and for the five steps that cost the most run time over the whole
window, each with a table of the same numbers below it.

--since and --until take a date (2026-01-31), an RFC 3339 time, or a time
before now: 90d, 12w, 36h.`,
		Example: `  buildstats trends
  buildstats trends --period day --since 30d --project api
  buildstats trends --html -o trends.html`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTrends(cmd.Context(), app, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.period, "period", "week", "bucket: week or day")
	f.StringVar(&opts.since, "since", "", "first time to include (date, RFC 3339, or 90d / 12w / 36h ago)")
	f.StringVar(&opts.until, "until", "", "time to stop before (same forms as --since)")
	f.StringVar(&opts.project, "project", "", "only this project's builds")
	f.StringVar(&opts.branch, "branch", "", "only this branch's builds")
	f.StringVar(&opts.format, "format", report.FormatTable, "output format: table, json, markdown")
	f.BoolVar(&opts.html, "html", false, "write an HTML page with charts instead")
	f.StringVarP(&opts.output, "output", "o", "", `file to write, "-" for standard output (default standard output)`)
	f.StringVar(&opts.db, "db", "", dbFlagUsage)
	return cmd
}

func runTrends(ctx context.Context, app *App, opts trendsOptions) error {
	q := store.TrendQuery{Project: opts.project, Branch: opts.branch}
	switch opts.period {
	case "week", "day":
		q.Period = store.Period(opts.period)
	default:
		return usageError(fmt.Errorf("unknown period %q (want week or day)", opts.period))
	}
	switch opts.format {
	case report.FormatTable, report.FormatJSON, report.FormatMarkdown:
	default:
		return usageError(fmt.Errorf("unknown output format %q (want table, json or markdown)", opts.format))
	}
	now := time.Now
	if app.Now != nil {
		now = app.Now
	}
	var err error
	if q.Since, err = parseWhen(opts.since, now()); err != nil {
		return usageError(fmt.Errorf("--since: %w", err))
	}
	if q.Until, err = parseWhen(opts.until, now()); err != nil {
		return usageError(fmt.Errorf("--until: %w", err))
	}
	if opts.html {
		if err := checkHTMLOutput(app, opts.output); err != nil {
			return err
		}
	}
	path, ok, err := historyDB(app, opts.db)
	if err != nil {
		return err
	}
	if !ok {
		return usageError(fmt.Errorf("no build history at %s: store builds with buildstats ingest (or build, import) first", path))
	}
	s, err := sqlite.Open(path)
	if err != nil {
		return usageError(err)
	}
	defer s.Close()
	tr, err := s.Trends(ctx, q)
	if err != nil {
		return err
	}

	if opts.html {
		page, err := trendsPage(ctx, s, q, tr, opts)
		if err != nil {
			return err
		}
		page.Generated = now()
		var buf bytes.Buffer
		if err := reporthtml.WriteTrends(&buf, page); err != nil {
			return err
		}
		return writeHTML(app, opts.output, buf.Bytes())
	}
	var buf bytes.Buffer
	switch opts.format {
	case report.FormatJSON:
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		err = enc.Encode(tr)
	case report.FormatMarkdown:
		err = trendsMarkdown(&buf, tr)
	default:
		err = trendsTable(&buf, tr)
	}
	if err != nil {
		return err
	}
	if opts.output == "" || opts.output == "-" {
		_, err = app.IO.Out.Write(buf.Bytes())
		return err
	}
	return writeHTML(app, opts.output, buf.Bytes())
}

// parseWhen reads a --since/--until value; "" is the zero time (no bound).
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if n, err := strconv.Atoi(s[:len(s)-1]); err == nil && n >= 0 {
		switch s[len(s)-1] {
		case 'd':
			return now.AddDate(0, 0, -n), nil
		case 'w':
			return now.AddDate(0, 0, -7*n), nil
		case 'h':
			return now.Add(-time.Duration(n) * time.Hour), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2026-01-31), an RFC 3339 time or a span like 90d, 12w, 36h", s)
}

// trendsPage gathers the trends page: the periods, and the run time per
// period of the steps that cost the most over the whole window.
func trendsPage(ctx context.Context, s store.Store, q store.TrendQuery, tr *store.Trends, opts trendsOptions) (*reporthtml.Trends, error) {
	page := &reporthtml.Trends{Title: "Build trends", Period: string(tr.Period)}
	if opts.project != "" {
		page.Title += ": " + opts.project
		page.Facts = append(page.Facts, reporthtml.Fact{Label: "project", Value: opts.project})
	}
	if opts.branch != "" {
		page.Facts = append(page.Facts, reporthtml.Fact{Label: "branch", Value: opts.branch})
	}
	if len(tr.Periods) > 0 {
		first, last := tr.Periods[0].Start, tr.Periods[len(tr.Periods)-1].End
		page.Facts = append(page.Facts, reporthtml.Fact{Label: "window", Value: first.Format("2006-01-02") + " to " + last.Add(-time.Second).Format("2006-01-02")})
	}
	for _, p := range tr.Periods {
		page.Periods = append(page.Periods, reporthtml.TrendPeriod{Start: p.Start, Builds: p.Builds, Failed: p.Failed,
			P50: p.P50, P95: p.P95, StepsTotal: p.StepsTotal, StepsCached: p.StepsCached, CacheHitRate: p.CacheHitRate})
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
	top.Limit = reporthtml.TopStepsCharted
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
		if opts.project == "" && st.Project != "" {
			label = st.Project + ": " + label
		}
		page.TopSteps = append(page.TopSteps, reporthtml.StepSeries{Label: label, TotalSeconds: st.Total,
			Seconds: make([]float64, len(tr.Periods)), Runs: make([]int, len(tr.Periods))})
	}
	if len(page.TopSteps) == 0 {
		return page, nil
	}
	// One query per period that had builds: the store has no per-period
	// step breakdown, and periods without builds cost nothing.
	for i, p := range tr.Periods {
		if p.Builds == 0 {
			continue
		}
		w := window
		w.Since, w.Until = maxTime(p.Start, window.Since), minTime(p.End, window.Until)
		stats, err := s.Slow(ctx, w)
		if err != nil {
			return nil, err
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

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func trendsTable(w io.Writer, tr *store.Trends) error {
	if trendsEmpty(tr) {
		_, err := fmt.Fprintln(w, "No builds in the history for this selection.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tBUILDS\tFAILED\tP50\tP95\tCACHE HITS\t\n", strings.ToUpper(string(tr.Period)))
	for _, p := range tr.Periods {
		c := trendCells(p)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t\n", p.Start.Format("2006-01-02"), p.Builds, p.Failed, c[0], c[1], c[2])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(tr.Regressions) > 0 {
		fmt.Fprintf(w, "\nSlower in the latest %s than before:\n", tr.Period)
		for _, r := range tr.Regressions {
			fmt.Fprintf(w, "  %s  %s -> %s (+%s)\n", truncate(trendsClean(r.Label()), 90), report.FormatSeconds(r.BaselineSeconds), report.FormatSeconds(r.CurrentSeconds), report.FormatSeconds(r.DeltaSeconds))
		}
	}
	return nil
}

func trendsMarkdown(w io.Writer, tr *store.Trends) error {
	fmt.Fprintf(w, "# Build trends per %s\n\n", tr.Period)
	if trendsEmpty(tr) {
		_, err := fmt.Fprintln(w, "No builds in the history for this selection.")
		return err
	}
	fmt.Fprintf(w, "| %s | Builds | Failed | p50 | p95 | Cache hits |\n|---|---:|---:|---:|---:|---:|\n", strings.ToUpper(string(tr.Period[:1]))+string(tr.Period[1:]))
	for _, p := range tr.Periods {
		c := trendCells(p)
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %s |\n", p.Start.Format("2006-01-02"), p.Builds, p.Failed, c[0], c[1], c[2])
	}
	if len(tr.Regressions) > 0 {
		fmt.Fprintf(w, "\n## Slower in the latest %s\n\n| Step | Before | Now | Change |\n|---|---:|---:|---:|\n", tr.Period)
		for _, r := range tr.Regressions {
			fmt.Fprintf(w, "| %s | %s | %s | +%s |\n", trendsMDCell(r.Label()), report.FormatSeconds(r.BaselineSeconds), report.FormatSeconds(r.CurrentSeconds), report.FormatSeconds(r.DeltaSeconds))
		}
	}
	return nil
}

// trendCells formats a period's p50, p95 and cache hit rate, "-" where
// the period had no builds.
func trendCells(p store.TrendPeriod) [3]string {
	c := [3]string{"-", "-", "-"}
	if p.Builds > 0 {
		c[0], c[1] = report.FormatSeconds(p.P50), report.FormatSeconds(p.P95)
	}
	if p.StepsTotal > 0 {
		c[2] = report.FormatShare(p.CacheHitRate)
	}
	return c
}

func trendsEmpty(tr *store.Trends) bool {
	for _, p := range tr.Periods {
		if p.Builds > 0 {
			return false
		}
	}
	return true
}

// trendsClean makes stored text safe for a terminal.
func trendsClean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return '?'
		}
		return r
	}, s)
}

// trendsMDCell escapes text for a markdown table cell.
func trendsMDCell(s string) string {
	r := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "&", "&amp;", "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "\n", " ")
	return r.Replace(trendsClean(s))
}

// Package trends is the trends command: build time, cache hit rate and
// failure rate over the history.
package trends

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/report"
	reporthtml "github.com/buildstats/buildstats/report/html"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are trends' flags.
type Options struct {
	Period  *cli.Enum
	Since   string
	Until   string
	Project string
	Branch  string
	Format  *cli.Enum
	HTML    bool
	Output  string
	DB      string
	Wide    bool
	// Step is a step identity (step_id in slow's JSON) to follow.
	Step int64
}

// New returns the trends command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "trends [--period week|day] [--since WHEN] [--html -o trends.html]",
		Short: "Show build time, cache hit rate and failure rate over the history",
		Long: `Trends buckets the builds in the history per week (Monday 00:00 UTC) or day:
build time p50 and p95, cache hit rate and failure rate, and the steps whose
typical run time rose in the latest period. A period without builds shows "-"
(null in JSON), not zero.

The table shows each period's time lost to cache misses (the run time of
Dockerfile steps that had come from the cache in an earlier period) and,
with --step, that step's run time per period.

With --html it writes one self-contained HTML page with a chart for each of
those; for the five steps that cost the most run time over the whole
window, their cost and each one's p50/p95 run time per period (and
--step's, a step_id from slow or misses --format json); for the builds per
branch; and for the time lost to cache misses (the run time of steps that
had come from the cache in an earlier period). Each chart has a table of
the same numbers below it.

--since and --until take a date (2026-01-31), an RFC 3339 time, or a time
before now: 90d, 12w, 36h.`,
		Example: `  buildstats trends
  buildstats trends --period day --since 30d --project api
  buildstats trends --html -o trends.html`,
		Args: cli.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return Run(cmd.Context(), f, opts)
		},
	}
	opts.Period = cli.NewEnum("week", "week", "day")
	cli.AddEnumFlag(cmd, opts.Period, "period", "bucket")
	opts.Format = cli.AddFormatFlag(cmd, cli.FormatTable, cli.FormatJSON, cli.FormatMarkdown)
	cli.AddDBFlag(cmd, &opts.DB)
	fl := cmd.Flags()
	fl.StringVar(&opts.Since, "since", "", "first time to include (date, RFC 3339, or 90d / 12w / 36h ago)")
	fl.StringVar(&opts.Until, "until", "", "time to stop before (same forms as --since)")
	fl.StringVar(&opts.Project, "project", "", "only this project's builds")
	fl.StringVar(&opts.Branch, "branch", "", "only this branch's builds")
	fl.BoolVar(&opts.HTML, "html", false, "write an HTML page with charts instead")
	fl.StringVarP(&opts.Output, "output", "o", "", `file to write, "-" for standard output (default standard output)`)
	fl.BoolVar(&opts.Wide, "wide", false, "do not cut step names to the terminal's width")
	fl.Int64Var(&opts.Step, "step", 0, "also chart this step's run time per period (a step_id from slow or misses --format json)")
	return cmd
}

// Run prints or writes the trends.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	q := store.TrendQuery{Project: opts.Project, Branch: opts.Branch, Period: store.Period(opts.Period.Value)}
	var err error
	now := f.Clock()
	if q.Since, err = report.ParseWhen(opts.Since, now); err != nil {
		return cli.UsageError(fmt.Errorf("--since: %w", err))
	}
	if q.Until, err = report.ParseWhen(opts.Until, now); err != nil {
		return cli.UsageError(fmt.Errorf("--until: %w", err))
	}
	if opts.HTML {
		if err := f.CheckPageOutput(opts.Output); err != nil {
			return err
		}
	}
	s, err := f.OpenHistory(ctx, opts.DB, backend.Read)
	if err != nil {
		return err
	}
	defer s.Close()
	var buf bytes.Buffer
	if opts.HTML {
		page, err := reporthtml.LoadTrends(ctx, s, q, opts.Step)
		if err != nil {
			return trendsError(err)
		}
		page.Generated = now
		page.Mask = f.Redactor()
		if err := reporthtml.WriteTrends(&buf, page); err != nil {
			return err
		}
		return f.WritePage(opts.Output, buf.Bytes(), report.FormatBytes)
	}
	// The tables show the time lost to misses and --step's step; the
	// JSON (and the API) the builds per branch too.
	asJSON := opts.Format.Value == cli.FormatJSON
	tr, d, err := report.LoadTrends(ctx, s, q, report.DetailQuery{Step: opts.Step, Branches: asJSON, Misses: true})
	if err != nil {
		return trendsError(err)
	}
	rep := report.NewTrendsReport(tr, opts.Project, opts.Branch)
	rep.AddDetail(d)
	if err := report.RenderTrends(&buf, opts.Format.Value, rep, f.RenderOptions(false, opts.Wide)); err != nil {
		return err
	}
	if opts.Output == "" || opts.Output == "-" {
		_, err = f.IO.Out.Write(buf.Bytes())
		return err
	}
	return f.WritePage(opts.Output, buf.Bytes(), report.FormatBytes)
}

// trendsError is a step to follow that is not in the history as a usage
// error (exit status 2), and the rest as the history's.
func trendsError(err error) error {
	if errors.Is(err, report.ErrNoStep) {
		return cli.UsageError(fmt.Errorf("--step: %w", err))
	}
	return cli.HistoryError(err)
}

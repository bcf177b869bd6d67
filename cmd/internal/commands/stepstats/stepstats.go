// Package stepstats is the slow and misses commands: step identities
// ranked over a window of the history.
package stepstats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are slow's and misses' flags.
type Options struct {
	DB          string
	Format      *cli.Enum
	Kind        string // report.StatsSlow or report.StatsMisses
	Since       string
	Until       string
	Project     string
	AllProjects bool
	Branch      string
	Limit       int
	Wide        bool
	ByCause     bool // misses: the time lost by the cause of the break
}

// NewSlow returns the slow command.
func NewSlow(f *cli.Factory) *cobra.Command {
	return newCommand(f, report.StatsSlow, &cobra.Command{
		Use:   "slow [--since 30d] [--project NAME | --all-projects]",
		Short: "Rank steps by the time they took over the history",
		Long: `Slow ranks step identities (a Dockerfile step across builds: platform, stage
and instruction, whatever its [n/m] position) by the run time they took over a
window of the history, with the p50, p95 and longest run, how often the step
missed the cache, and the total. Cache hits are left out of the times; steps
that were always cached are not listed.

The window is --since (default 30 days) to --until (default now); the project
is --project, else the current one (from the CI's environment, the git
checkout or the directory name); --all-projects looks at every project.`,
		Example: `  buildstats slow
  buildstats slow --since 90d --branch main --limit 10
  buildstats slow --all-projects --format json`,
	})
}

// NewMisses returns the misses command.
func NewMisses(f *cli.Factory) *cobra.Command {
	return newCommand(f, report.StatsMisses, &cobra.Command{
		Use:   "misses [--since 30d] [--project NAME | --all-projects]",
		Short: "Rank Dockerfile steps by the time lost to cache misses",
		Long: `Misses ranks Dockerfile steps by the time their cache misses cost over a window
of the history: how often each missed and hit the cache, its miss rate, the
p50, p95 and longest run, and the total run time of the misses (what the cache
would have saved). Steps that never missed are not listed.

With --by-cause, misses adds up the time rebuilt after each cache break by
why the cache broke (context files under a directory, build args, a base
image, an edited instruction, --no-cache, a builder without the cache), as
ingest, annotate --db, build and import named it when they stored the build:
"62% of the time lost to cache misses came from context changes under src/".

The window is --since (default 30 days) to --until (default now); the project
is --project, else the current one (from the CI's environment, the git
checkout or the directory name); --all-projects looks at every project.`,
		Example: `  buildstats misses
  buildstats misses --since 7d --branch main
  buildstats misses --by-cause --since 30d
  buildstats misses --project api --format markdown`,
	})
}

func newCommand(f *cli.Factory, kind string, cmd *cobra.Command) *cobra.Command {
	opts := Options{Kind: kind}
	cmd.Args = cli.UsageArgs(cobra.NoArgs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return Run(cmd.Context(), f, opts)
	}
	opts.Format = cli.AddFormatFlag(cmd, cli.FormatTable, cli.FormatJSON, cli.FormatMarkdown)
	cli.AddDBFlag(cmd, &opts.DB)
	fl := cmd.Flags()
	fl.StringVar(&opts.Since, "since", "30d", "start of the window (date, RFC 3339, or 30d / 12w / 36h ago)")
	fl.StringVar(&opts.Until, "until", "", "end of the window (same forms; default now)")
	fl.StringVar(&opts.Project, "project", "", "only this project's builds (default: the current project)")
	fl.BoolVar(&opts.AllProjects, "all-projects", false, "every project's builds")
	fl.StringVar(&opts.Branch, "branch", "", "only this branch's builds")
	fl.IntVarP(&opts.Limit, "limit", "n", 20, "how many steps to list; 0 for all")
	fl.BoolVar(&opts.Wide, "wide", false, "do not cut step names to the terminal's width")
	if kind == report.StatsMisses {
		fl.BoolVar(&opts.ByCause, "by-cause", false, "add up the time lost by the cause of each cache break")
	}
	return cmd
}

// Run ranks the steps.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	if opts.Limit < 0 {
		return cli.UsageError(errors.New("--limit must be 0 (all) or more"))
	}
	now := f.Clock()
	since, err := report.ParseWhen(opts.Since, now)
	if err != nil {
		return cli.UsageError(fmt.Errorf("--since: %w", err))
	}
	until, err := report.ParseWhen(opts.Until, now)
	if err != nil {
		return cli.UsageError(fmt.Errorf("--until: %w", err))
	}
	project, detected, err := f.ProjectScope(opts.Project, opts.AllProjects)
	if err != nil {
		return err
	}
	s, err := f.OpenHistory(ctx, opts.DB, backend.Read)
	if err != nil {
		return err
	}
	defer s.Close()
	if opts.ByCause {
		return byCause(ctx, f, s, opts, project, detected, since, until)
	}
	q := store.WindowQuery{Since: since, Until: until, Project: project, Branch: opts.Branch, Limit: opts.Limit}
	var steps []store.StepStats
	if opts.Kind == report.StatsMisses {
		steps, err = s.Misses(ctx, q)
	} else {
		steps, err = s.Slow(ctx, q)
	}
	if err != nil {
		return cli.HistoryError(err)
	}
	// How many builds the figures are over: a p95 of three builds is not
	// one of three hundred.
	builds, err := s.History(ctx, store.HistoryQuery{Project: project, Branch: opts.Branch, Since: since, Until: until})
	if err != nil {
		return cli.HistoryError(err)
	}
	r := report.NewStepStatsReport(opts.Kind, project, opts.Branch, since, until, len(builds), steps)
	if err := report.RenderStepStats(f.IO.Out, opts.Format.Value, r, f.RenderOptions(false, opts.Wide)); err != nil {
		return err
	}
	if len(builds) == 0 && detected && opts.Format.Value != cli.FormatJSON {
		fmt.Fprintf(f.IO.ErrOut, "buildstats: no builds in the window%s\n", cli.ScopeHint(project, detected))
	}
	return nil
}

// byCause reports the time lost to cache misses by cause.
func byCause(ctx context.Context, f *cli.Factory, s store.Reader, opts Options, project string, detected bool, since, until time.Time) error {
	stats, err := s.MissCauses(ctx, store.CauseQuery{Since: since, Until: until, Project: project, Branch: opts.Branch})
	if err != nil {
		return cli.HistoryError(err)
	}
	builds, err := s.History(ctx, store.HistoryQuery{Project: project, Branch: opts.Branch, Since: since, Until: until})
	if err != nil {
		return cli.HistoryError(err)
	}
	r := report.NewCauseReport(project, opts.Branch, since, until, len(builds), stats)
	if err := report.RenderCauses(f.IO.Out, opts.Format.Value, r, f.RenderOptions(false, opts.Wide)); err != nil {
		return err
	}
	if len(builds) == 0 && detected && opts.Format.Value != cli.FormatJSON {
		fmt.Fprintf(f.IO.ErrOut, "buildstats: no builds in the window%s\n", cli.ScopeHint(project, detected))
	}
	return nil
}

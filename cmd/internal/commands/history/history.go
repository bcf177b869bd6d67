// Package history is the history command: the stored builds, newest first.
package history

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are history's flags.
type Options struct {
	DB      string
	Format  *cli.Enum
	Project string
	Branch  string
	Since   string
	Limit   int
	Wide    bool
}

// New returns the history command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "history [--project NAME] [--since WHEN] [--limit N]",
		Short: "List the builds in the history, newest first",
		Long: `History lists the stored builds, newest first: when each started, its project,
branch and commit, status, duration and how many Dockerfile steps ran and came
from the cache. Builds get into the history with buildstats ingest, build,
import or annotate --db.

A duration marked "~" is the sum of the step times: plain and tty logs do not
state a build's total, and stages may have run in parallel. "-" is unknown.

--since takes a date (2026-01-31), an RFC 3339 time, or a time before now:
30d, 12w, 36h.`,
		Example: `  buildstats history
  buildstats history --project shop --branch main --since 7d
  buildstats history --format json --limit 0`,
		Args: cli.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return Run(cmd.Context(), f, opts)
		},
	}
	opts.Format = cli.AddFormatFlag(cmd, cli.FormatTable, cli.FormatJSON, cli.FormatMarkdown)
	fl := cmd.Flags()
	cli.AddDBFlag(cmd, &opts.DB)
	fl.StringVar(&opts.Project, "project", "", "only this project's builds")
	fl.StringVar(&opts.Branch, "branch", "", "only this branch's builds")
	fl.StringVar(&opts.Since, "since", "", "only builds started since then (date, RFC 3339, or 30d / 12w / 36h ago)")
	fl.IntVarP(&opts.Limit, "limit", "n", 20, "how many builds to list; 0 for all")
	fl.BoolVar(&opts.Wide, "wide", false, "do not cut names to the terminal's width")
	return cmd
}

// Run lists the builds.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	if opts.Limit < 0 {
		return cli.UsageError(errors.New("--limit must be 0 (all) or more"))
	}
	since, err := report.ParseWhen(opts.Since, f.Clock())
	if err != nil {
		return cli.UsageError(fmt.Errorf("--since: %w", err))
	}
	s, err := f.OpenHistory(ctx, opts.DB, backend.Read)
	if err != nil {
		return err
	}
	defer s.Close()
	rows, err := s.History(ctx, store.HistoryQuery{Project: opts.Project, Branch: opts.Branch, Since: since, Limit: opts.Limit})
	if err != nil {
		return cli.HistoryError(err)
	}
	return report.RenderBuilds(f.IO.Out, opts.Format.Value, rows, f.RenderOptions(false, opts.Wide))
}

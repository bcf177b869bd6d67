// Package prune is the prune command: delete old builds from the history.
package prune

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are prune's flags.
type Options struct {
	DB        string
	OlderThan string
	DryRun    bool
	Format    *cli.Enum
}

// New returns the prune command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "prune --older-than SPAN [--dry-run]",
		Short: "Delete the builds that started before a time from the history",
		Long: `Prune deletes every build that started before --older-than, with its steps,
logs and inputs, in one transaction, and the step identities no remaining
build has. Trends, slow steps and cache misses then answer as if those builds
had never been stored. --dry-run says what would go and changes nothing (it
works on a history you may only read).

--older-than takes a span before now (180d, 26w, 36h), a date (2026-01-31) or
an RFC 3339 time.`,
		Example: `  buildstats prune --older-than 180d --dry-run
  buildstats prune --older-than 2026-01-01 --db "$BUILDSTATS_DB"`,
		Args: cli.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return Run(cmd.Context(), f, opts)
		},
	}
	opts.Format = cli.AddFormatFlag(cmd, cli.FormatTable, cli.FormatJSON)
	fl := cmd.Flags()
	cli.AddDBFlag(cmd, &opts.DB)
	fl.StringVar(&opts.OlderThan, "older-than", "", "delete builds started before then (180d / 26w / 36h ago, a date or an RFC 3339 time)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "say what would be deleted, delete nothing")
	return cmd
}

// Run prunes.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	if opts.OlderThan == "" {
		return cli.UsageError(errors.New("--older-than is required (for example 180d): prune never deletes everything by default"))
	}
	now := f.Clock()
	cutoff, err := report.ParseWhen(opts.OlderThan, now)
	if err != nil {
		return cli.UsageError(fmt.Errorf("--older-than: %w", err))
	}
	if !cutoff.Before(now) {
		return cli.UsageError(fmt.Errorf("--older-than %s is not in the past: it would delete every build", opts.OlderThan))
	}
	mode := backend.Write
	if opts.DryRun {
		mode = backend.Read
	}
	s, err := f.OpenHistory(ctx, opts.DB, mode)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.Prune(ctx, cutoff, opts.DryRun)
	if err != nil {
		return cli.HistoryError(err)
	}
	return report.RenderPrune(f.IO.Out, opts.Format.Value, report.NewPruneReport(res), f.RenderOptions(false, false))
}

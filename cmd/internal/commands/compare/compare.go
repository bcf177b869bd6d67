// Package compare is the compare command: two stored builds step by step.
package compare

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are compare's flags and arguments.
type Options struct {
	DB            string
	Format        *cli.Enum
	Before, After string
	Project       string
	AllProjects   bool
	Wide          bool
}

// New returns the compare command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "compare [A [B]]",
		Short: "Compare two builds from the history step by step",
		Long: `Compare lines up two stored builds step by step (steps are matched by
platform, stage and instruction, not by their [n/m] position) and shows each
step's time and cache status in both, the first step whose cache status
changed and what the lost cache hits cost, base image digest changes, the
build context size and the steps added or removed.

A and B are ids, "latest", "previous", "latest~N" or content hash prefixes;
the default is "previous latest", and one build is compared with latest.
latest and previous are the current project's (from --project, the CI's
environment, the git checkout or the directory name); --all-projects takes
them from the whole history.`,
		Example: `  buildstats compare
  buildstats compare 41 42
  buildstats compare latest~5 --format markdown`,
		Args: cli.UsageArgs(cobra.MaximumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Before, opts.After = "previous", "latest"
			switch len(args) {
			case 1:
				opts.Before = args[0]
			case 2:
				opts.Before, opts.After = args[0], args[1]
			}
			return Run(cmd.Context(), f, opts)
		},
	}
	opts.Format = cli.AddFormatFlag(cmd, cli.FormatTable, cli.FormatJSON, cli.FormatMarkdown)
	cli.AddDBFlag(cmd, &opts.DB)
	cli.AddRefScopeFlags(cmd, &opts.Project, &opts.AllProjects)
	cmd.Flags().BoolVar(&opts.Wide, "wide", false, "do not cut step names to the terminal's width")
	return cmd
}

// Run compares the two builds.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	project, detected, err := f.ProjectScope(opts.Project, opts.AllProjects)
	if err != nil {
		return err
	}
	s, err := f.OpenHistory(ctx, opts.DB, backend.Read)
	if err != nil {
		return err
	}
	defer s.Close()
	before, err := cli.ResolveBuild(ctx, s, opts.Before, project, detected)
	if err != nil {
		return err
	}
	after, err := cli.ResolveBuild(ctx, s, opts.After, project, detected)
	if err != nil {
		return err
	}
	if before == after {
		return cli.UsageError(fmt.Errorf("%s and %s are the same build (#%d)", opts.Before, opts.After, before))
	}
	c, err := s.Compare(ctx, before, after)
	if err != nil {
		return cli.HistoryError(err)
	}
	// Why the cache broke in the after build, against the before build's
	// inputs.
	b, _, err := s.Build(ctx, after)
	if err != nil {
		return cli.HistoryError(err)
	}
	pb, _, err := s.Build(ctx, before)
	if err != nil {
		return cli.HistoryError(err)
	}
	// Masked alike, as shown (stored before masking, or with --no-mask).
	f.Redactor().Build(b)
	f.Redactor().Build(pb)
	e := report.Explain(b, report.Options{Baseline: &report.Baseline{ID: before, Build: pb, Nodes: store.NodeLoader(ctx, s)}})
	return report.RenderComparisonCauses(f.IO.Out, opts.Format.Value, c, e.CacheBreaks, f.RenderOptions(false, opts.Wide))
}

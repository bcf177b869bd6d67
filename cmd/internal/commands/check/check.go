// Package check is the check command: gates a build on its duration, its
// cache hit rate and regressions against the history.
package check

import (
	"context"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/gate"
	"github.com/buildstats/buildstats/store"
)

// Options are check's flags and argument.
type Options struct {
	Input       string
	InputFormat *cli.Enum
	Dockerfile  string
	Target      string
	Format      *cli.Enum
	Gates       cli.GateFlags
}

// New returns the check command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "check [flags] FILE|-",
		Short: "Fail a pipeline when a build is too slow, regressed or missed the cache",
		Long: `Check reads a build log like explain and evaluates gates against it:

  duration    the build took longer than --max-duration
  regression  a step took more than --max-regression (default 25%) longer than
              its baseline: the median over the last --baseline-builds successful
              builds of the same project and branch in the history database (the
              default branch's when this branch has none yet)
  cache-hit   fewer than --min-cache-hit of the Dockerfile steps came from the cache

The regression gate runs by default; the others run when their limit is set.
Check prints one line per gate and exits with status 1 when a gate failed.

Gates fail closed: a history that exists but cannot be read is exit status 2,
and so is a regression gate you asked for (--fail-on regression,
--max-regression) with no history to compare with, unless --missing-history
skip. The regression gate check runs by default is skipped, with a notice,
when there is no history.`,
		Example: `  buildstats check --max-duration 15m --min-cache-hit 50% build.log
  buildstats check --db history.db --max-regression 40% build.log`,
		Args: cli.UsageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Input = args[0]
			return Run(cmd.Context(), f, cmd.Flags(), opts)
		},
	}
	opts.InputFormat = cli.AddInputFormatFlag(cmd)
	opts.Format = cli.AddFormatFlag(cmd, cli.FormatText, cli.FormatJSON)
	fl := cmd.Flags()
	fl.StringVar(&opts.Dockerfile, "dockerfile", "", "the Dockerfile that was built, for line numbers")
	fl.StringVar(&opts.Target, "target", "", "the --target stage the build stopped at")
	opts.Gates.Register(cmd)
	return cmd
}

// Run gates the build in opts.Input.
func Run(ctx context.Context, f *cli.Factory, flags *pflag.FlagSet, opts Options) error {
	cfg, err := opts.Gates.Config(flags, true)
	if err != nil {
		return err
	}
	l, err := f.ReadLog(opts.Input, opts.InputFormat.Value)
	if err != nil {
		return err
	}
	df, _, err := f.ReadDockerfile(opts.Dockerfile, opts.Target)
	if err != nil {
		return err
	}
	e := report.Explain(l.Build, report.Options{Dockerfile: df})
	var base *gate.Baseline
	if slices.Contains(cfg.Gates, gate.Regression) {
		s, err := f.OpenBaselineHistory(ctx, opts.Gates.DB)
		if err != nil {
			return err
		}
		var r store.Reader
		if s != nil {
			defer s.Close()
			r = s
		}
		meta := f.DetectMeta("", store.Meta{Project: opts.Gates.Project, Branch: opts.Gates.Branch})
		if base, err = f.Baseline(ctx, r, &opts.Gates, meta, l.Hash); err != nil {
			return err
		}
	}
	results := gate.Check(l.Build, e, base, cfg)
	if err := gate.Render(f.IO.Out, opts.Format.Value, results); err != nil {
		return err
	}
	return cli.GateError(results)
}

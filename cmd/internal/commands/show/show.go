// Package show is the show command: explain's report of a stored build.
package show

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are show's flags and argument.
type Options struct {
	DB          string
	Format      *cli.Enum
	Ref         string
	Project     string
	AllProjects bool
	Dockerfile  string
	All, Wide   bool
}

// New returns the show command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "show [BUILD]",
		Short: "Explain a build from the history",
		Long: `Show prints explain's report of a stored build, headed by what the history
knows of it (project, branch, commit, start time, CI run), and compares it with
the project's build before it: the steps that came from the cache then and ran
this time.

BUILD is an id from buildstats history, "latest" (the default), "previous",
"latest~N", a content hash prefix, or the BuildKit ref of a live or imported
build (as docker buildx history ls lists it; 6 characters or more of it).
A live or imported build's request (build args, target, platforms, VCS
source, provenance materials, ...) is shown under the title, and so is
whether its output was kept (--keep-logs). latest and previous are the current
project's (from --project, the CI's environment, the git checkout or the
directory name), as in every command; --all-projects takes them from the whole
history.`,
		Example: `  buildstats show
  buildstats show 42 --format markdown
  buildstats show previous --dockerfile Dockerfile`,
		Args: cli.UsageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = "latest"
			if len(args) == 1 {
				opts.Ref = args[0]
			}
			return Run(cmd.Context(), f, opts)
		},
	}
	opts.Format = cli.AddFormatFlag(cmd, cli.FormatTable, cli.FormatJSON, cli.FormatMarkdown)
	cli.AddDBFlag(cmd, &opts.DB)
	cli.AddRefScopeFlags(cmd, &opts.Project, &opts.AllProjects)
	fl := cmd.Flags()
	fl.StringVar(&opts.Dockerfile, "dockerfile", "", "the Dockerfile that was built, for line numbers and excerpts")
	fl.BoolVar(&opts.All, "all", false, "list every step in the table (JSON always has all)")
	fl.BoolVar(&opts.Wide, "wide", false, "do not cut step names to the terminal's width")
	return cmd
}

// Run shows the build opts.Ref.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	project, detected, err := f.ProjectScope(opts.Project, opts.AllProjects)
	if err != nil {
		return err
	}
	var df *dockerfile.File
	if opts.Dockerfile != "" {
		if df, err = dockerfile.ParseFile(opts.Dockerfile); err != nil {
			return cli.UsageError(fmt.Errorf("reading Dockerfile: %w", err))
		}
	}
	s, err := f.OpenHistory(ctx, opts.DB, backend.Read)
	if err != nil {
		return err
	}
	defer s.Close()
	id, err := cli.ResolveBuild(ctx, s, opts.Ref, project, detected)
	if err != nil {
		return err
	}
	sum, err := s.Summary(ctx, id)
	if err != nil {
		return cli.HistoryError(err)
	}
	b, meta, err := s.Build(ctx, id)
	if err != nil {
		return cli.HistoryError(err)
	}
	f.Redactor().Build(b) // stored before masking, or with --no-mask
	base, err := report.BaselineOfStored(ctx, s, id)
	if err != nil {
		return cli.HistoryError(err)
	}
	if base != nil {
		f.Redactor().Build(base.Build) // masked alike, so its steps match b's
	}
	e := report.Explain(b, report.Options{Dockerfile: df, Baseline: base})
	if e.History, err = report.HistoryOfStored(ctx, s, id, b, e); err != nil {
		return cli.HistoryError(err)
	}
	x := report.StoredExtras{Facts: meta.Facts, LogKept: meta.LogKept}
	for _, v := range b.Vertices {
		if len(v.Output) > 0 {
			x.OutputKept = true
			break
		}
	}
	return report.RenderStoredBuildWith(f.IO.Out, opts.Format.Value, sum, x, e, f.RenderOptions(opts.All, opts.Wide))
}

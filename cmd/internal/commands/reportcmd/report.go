// Package reportcmd is the report command: a self-contained HTML page about
// one build.
package reportcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/collect/logfile"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	reporthtml "github.com/buildstats/buildstats/report/html"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are report's flags and argument.
type Options struct {
	Input       string // a log path, "-", or a stored build reference
	Output      string
	InputFormat *cli.Enum
	Dockerfile  string
	DB          string
	Project     string
	AllProjects bool
	Title       string
	Given       cli.InputFlags // what went into a log's build, beyond the log
}

// New returns the report command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "report FILE|-|BUILD -o report.html",
		Short: "Write an HTML report of a build: timeline, critical path, slow steps, cache breaks",
		Long: `Report writes one self-contained HTML page about a build: a waterfall timeline
with one bar per step, grouped by stage and platform, cached steps and the
critical path marked; the error of a failed build; the critical path, slowest
steps, cache breaks and advice of explain; and the sizes of base image
downloads, the context and other transfers.

The build is the log in FILE (any format explain reads), standard input for
"-", or a build in the history: an id, "latest", "previous", "latest~N" or a
content hash prefix; latest and previous are the current project's, as in
every command (--project, --all-projects). Where the log gives real start and
end times (rawjson, live builds) the timeline uses them; otherwise it is
reconstructed from step durations and stage order, and the page says so.

The page loads nothing from the network: it opens from a CI artifact store or
offline.`,
		Example: `  docker build --progress=plain . 2>&1 | tee build.log
  buildstats report build.log -o report.html
  buildstats report --dockerfile Dockerfile build.log -o report.html
  buildstats report latest -o report.html`,
		Args: cli.UsageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Input = args[0]
			return Run(cmd.Context(), f, opts)
		},
	}
	opts.InputFormat = cli.AddInputFormatFlag(cmd)
	cli.AddDBFlag(cmd, &opts.DB)
	cli.AddRefScopeFlags(cmd, &opts.Project, &opts.AllProjects)
	fl := cmd.Flags()
	fl.StringVarP(&opts.Output, "output", "o", "", `HTML file to write, "-" for standard output`)
	fl.StringVar(&opts.Dockerfile, "dockerfile", "", "the Dockerfile that was built, for line numbers and stage references")
	fl.StringVar(&opts.Title, "title", "", "page title (default the log's file name or the stored build)")
	opts.Given.Register(cmd)
	return cmd
}

// Run writes the page.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	if err := f.CheckPageOutput(opts.Output); err != nil {
		return err
	}
	var ho reporthtml.Options
	if opts.Dockerfile != "" {
		df, err := dockerfile.ParseFile(opts.Dockerfile)
		if err != nil {
			return cli.UsageError(fmt.Errorf("reading Dockerfile: %w", err))
		}
		ho.Report = report.Options{Dockerfile: df}
	}
	var b *model.Build
	var err error
	if cli.NamesLog(opts.Input) {
		l, err := f.ReadLog(opts.Input, opts.InputFormat.Value)
		if err != nil {
			return err
		}
		b = l.Build
		ho.Title = "Docker build: " + filepath.Base(opts.Input)
		if opts.Input == "-" {
			ho.Title = "Docker build"
		}
		given, err := f.FlagInputs(ctx, opts.Given, opts.Dockerfile, "")
		if err != nil {
			return err
		}
		f.WithInputs(b, given)
		s, base := logBaseline(ctx, f, opts, l, b)
		if s != nil {
			defer s.Close()
		}
		ho.Report.Baseline = base
	} else {
		var meta store.Meta
		var id int64
		var s store.Reader
		if b, meta, id, s, err = f.StoredBuild(ctx, opts.DB, opts.Input, opts.Project, opts.AllProjects); err != nil {
			return err
		}
		defer s.Close()
		if ho.Report.Baseline, err = report.BaselineOfStored(ctx, s, id); err != nil {
			return cli.HistoryError(err)
		}
		if ho.Report.Baseline != nil {
			f.Redactor().Build(ho.Report.Baseline.Build) // masked alike, so its steps match b's
		}
		ho.Title = fmt.Sprintf("Docker build %d", id)
		if meta.Project != "" {
			ho.Title += " of " + meta.Project
		}
		ho.Facts = reporthtml.MetaFacts(meta)
	}
	if opts.Title != "" {
		ho.Title = opts.Title
	}
	ho.Generated = f.Clock()
	ho.Mask = f.Redactor()
	var page bytes.Buffer
	if err := reporthtml.WriteBuild(&page, b, ho); err != nil {
		return err
	}
	return f.WritePage(opts.Output, page.Bytes(), report.FormatBytes)
}

// logBaseline finds the build a log's causes are found against, when the
// history exists: the one before it if the log is stored, else the
// project's latest. The history is only a bonus here: its problems are a
// warning. The caller closes the returned history.
func logBaseline(ctx context.Context, f *cli.Factory, opts Options, l *logfile.Log, b *model.Build) (store.Reader, *report.Baseline) {
	s, err := f.OpenHistory(ctx, opts.DB, backend.Read)
	if err != nil {
		if !errors.Is(err, store.ErrNoHistory) {
			f.Warn("the build history was not used: %v", err)
		}
		return nil, nil
	}
	id, err := s.Resolve(ctx, l.BuildHash(b), "")
	project := ""
	if err != nil {
		id, project = 0, f.DetectMeta("", store.Meta{Project: opts.Project}).Project
	}
	base, err := f.FindBaseline(ctx, s, id, project, b, time.Time{})
	if err != nil {
		f.Warn("the build history was not used: %v", err)
	}
	return s, base
}

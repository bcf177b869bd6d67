// Package explain is the explain command: why one build was slow, from
// its log.
package explain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/collect/logfile"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are explain's flags and argument.
type Options struct {
	Input       string // a path, or "-" for stdin
	Format      *cli.Enum
	InputFormat *cli.Enum
	Dockerfile  string
	DB          string // history to compare with; never created
	Project     string // the project of a log that is not in the history
	All         bool   // list every step in the table
	Wide        bool   // do not cut names to the terminal's width
	Build       int    // which build of a log of several; 0 for the last
	Inputs      cli.InputFlags
}

// New returns the explain command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "explain FILE|-",
		Short: "Explain why a build was slow, from its log",
		Long: `Explain reads the output of docker build, docker buildx build or buildctl
(tty, plain or rawjson progress, or the legacy builder) from FILE, or from
standard input when FILE is "-", and reports the slowest steps, where the
layer cache broke and what that cost, advice, and the error of a failed build.

A log that holds several builds (a CI retry, a script that builds twice) is
explained for its last build; --build N explains another, and the header
says which it is.

When the build history exists (--db, else $BUILDSTATS_DB, else the default
place; explain never creates it) and holds an earlier build of the project, it
also lists the steps that came from the cache in that build and ran in this
one. The earlier build is the one before this log's, if this log was ingested,
else the project's latest stored build.`,
		Example: `  docker build --progress=plain . 2>&1 | tee build.log
  buildstats explain build.log
  buildstats explain --dockerfile Dockerfile --format markdown build.log`,
		Args: cli.UsageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Input = args[0]
			return Run(cmd.Context(), f, opts)
		},
	}
	opts.Format = cli.AddFormatFlag(cmd, cli.FormatTable, cli.FormatJSON, cli.FormatMarkdown)
	opts.InputFormat = cli.AddInputFormatFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&opts.Dockerfile, "dockerfile", "", "the Dockerfile that was built, for line numbers and excerpts")
	fl.StringVar(&opts.DB, "db", "", "history to compare with (default $BUILDSTATS_DB or ~/.local/share/buildstats/history.db; never created)")
	fl.StringVar(&opts.Project, "project", "", "project of the build, to find its previous build (default from CI, the git remote or the directory)")
	fl.BoolVar(&opts.All, "all", false, "list every step in the table (JSON always has all)")
	fl.BoolVar(&opts.Wide, "wide", false, "do not cut step names to the terminal's width")
	fl.IntVar(&opts.Build, "build", 0, "which build to explain when the log holds several (1 is the first; default the last)")
	opts.Inputs.Register(cmd)
	return cmd
}

// Run explains the log opts.Input.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	renderer, err := report.NewRenderer(opts.Format.Value, f.RenderOptions(opts.All, opts.Wide))
	if err != nil {
		return cli.UsageError(err)
	}
	// The log's hash only finds it in the history: without one, SHA-256
	// would be a large part of explain's CPU time on a big log.
	read := f.ReadLogUnhashed
	if f.HistoryMayExist(opts.DB) {
		read = f.ReadLog
	}
	l, err := read(opts.Input, opts.InputFormat.Value)
	if err != nil {
		return err
	}
	var df *dockerfile.File
	if opts.Dockerfile != "" {
		if df, err = dockerfile.ParseFile(opts.Dockerfile); err != nil {
			return cli.UsageError(fmt.Errorf("reading Dockerfile: %w", err))
		}
	}
	b, err := l.Pick(opts.Build)
	if err != nil {
		return cli.UsageError(err)
	}
	given, err := f.FlagInputs(ctx, opts.Inputs, opts.Dockerfile, "")
	if err != nil {
		return err
	}
	f.WithInputs(b, given)
	var e *report.Explanation
	if e, err = history(ctx, f, opts, b, df, hashOf(l, b)); err != nil {
		return err
	}
	return renderer.Render(f.IO.Out, e)
}

// history explains the build against the history, when there is one: its
// cache breaks' causes and the steps that lost the cache are found against
// the build before it if this log was ingested, else against the project's
// latest build. It never creates a database. With --db, a problem with the
// database ends the command; the default database is only a bonus, so its
// problems are a warning and the build is explained on its own.
func history(ctx context.Context, f *cli.Factory, opts Options, b *model.Build, df *dockerfile.File, hash string) (*report.Explanation, error) {
	alone := func() *report.Explanation { return report.Explain(b, report.Options{Dockerfile: df}) }
	s, err := f.OpenHistory(ctx, opts.DB, backend.Read)
	if err != nil {
		switch {
		case opts.DB != "":
			return nil, err
		case !errors.Is(err, store.ErrNoHistory):
			f.Warn("the build history was not used: %v", err)
		}
		return alone(), nil
	}
	defer s.Close()
	e, err := func() (*report.Explanation, error) {
		// No hash: there was no history when the log was read, so it is
		// not looked up; it is compared with the project's latest build.
		id, err := int64(0), store.ErrNotFound
		if hash != "" {
			id, err = s.Resolve(ctx, hash, "")
		}
		project := ""
		switch {
		case err == nil:
		case errors.Is(err, store.ErrNotFound):
			id, project = 0, f.DetectMeta("", store.Meta{Project: opts.Project}).Project
		default:
			return nil, err
		}
		if id > 0 {
			if err := cli.StoredInputs(ctx, s, id, b); err != nil {
				return nil, err
			}
		}
		base, err := f.FindBaseline(ctx, s, id, project, b, time.Time{})
		if err != nil {
			return nil, err
		}
		e := report.Explain(b, report.Options{Dockerfile: df, Baseline: base})
		if id > 0 {
			e.History, err = report.HistoryOfStored(ctx, s, id, b, e)
		} else {
			e.History, err = report.HistoryOfLog(ctx, s, project, b, e)
		}
		return e, err
	}()
	if err != nil {
		if opts.DB != "" {
			return nil, cli.HistoryError(err)
		}
		f.Warn("the build history was not used: %v", err)
		return alone(), nil
	}
	return e, nil
}

// hashOf is b's hash in the history, "" when the log was read unhashed.
func hashOf(l *logfile.Log, b *model.Build) string {
	if l.Hash == "" {
		return ""
	}
	return l.BuildHash(b)
}

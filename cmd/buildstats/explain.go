package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/collect/logfile"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
)

// inputFormats are the values --input-format accepts.
var inputFormats = []string{string(model.FormatTTY), string(model.FormatPlain), string(model.FormatRawJSON), string(model.FormatLegacy)}

type explainOptions struct {
	input       string // a path, or "-" for stdin
	format      string
	inputFormat string
	dockerfile  string
	db          string // history to compare with; never created
	project     string // the project of a log that is not in the history
}

func newExplainCommand(app *App) *cobra.Command {
	var opts explainOptions
	cmd := &cobra.Command{
		Use:   "explain FILE|-",
		Short: "Explain why a build was slow, from its log",
		Long: `Explain reads the output of docker build, docker buildx build or buildctl
(tty, plain or rawjson progress, or the legacy builder) from FILE, or from
standard input when FILE is "-", and reports the slowest steps, where the
layer cache broke and what that cost, advice, and the error of a failed build.

When the build history exists (--db, else $BUILDSTATS_DB, else the default
place; explain never creates it) and holds an earlier build of the project, it
also lists the steps that came from the cache in that build and ran in this
one. The earlier build is the one before this log's, if this log was ingested,
else the project's latest stored build.`,
		Example: `  docker build --progress=plain . 2>&1 | tee build.log
  buildstats explain build.log
  buildstats explain --dockerfile Dockerfile --format markdown build.log`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.input = args[0]
			return runExplain(cmd.Context(), app, opts)
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&opts.format, "format", report.FormatTable, "output format: "+strings.Join(report.Formats, ", "))
	flags.StringVar(&opts.inputFormat, "input-format", "", "log format, instead of detecting it: "+strings.Join(inputFormats, ", "))
	flags.StringVar(&opts.dockerfile, "dockerfile", "", "the Dockerfile that was built, for line numbers and excerpts")
	flags.StringVar(&opts.db, "db", "", "history database to compare with (default $BUILDSTATS_DB or ~/.local/share/buildstats/history.db; never created)")
	flags.StringVar(&opts.project, "project", "", "project of the build, to find its previous build (default from CI, the git remote or the directory)")
	return cmd
}

func runExplain(ctx context.Context, app *App, opts explainOptions) error {
	renderer, err := report.NewRenderer(opts.format, report.RenderOptions{Color: app.ColorEnabled()})
	if err != nil {
		return usageError(err)
	}
	if opts.inputFormat != "" && !slices.Contains(inputFormats, opts.inputFormat) {
		return usageError(fmt.Errorf("unknown input format %q (want %s)", opts.inputFormat, strings.Join(inputFormats, ", ")))
	}

	in, name, err := openInput(app, opts.input)
	if err != nil {
		return usageError(err)
	}
	defer in.Close()
	// The hash finds this log in the history if it was ingested.
	h := logfile.NewHashReader(in)
	b, err := parse.Parse(h, parse.Options{Format: model.Format(opts.inputFormat)})
	if err != nil {
		return usageError(fmt.Errorf("%s: %w", name, err))
	}
	if _, err := io.Copy(io.Discard, h); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	// With a forced format nothing checks that the input is a log at all.
	if len(b.Vertices) == 0 && b.Status == model.StatusUnknown {
		return usageError(fmt.Errorf("%s: %w: no build steps found", name, parse.ErrNotBuildLog))
	}

	var df *dockerfile.File
	if opts.dockerfile != "" {
		if df, err = dockerfile.ParseFile(opts.dockerfile); err != nil {
			return usageError(fmt.Errorf("reading Dockerfile: %w", err))
		}
	}
	e := report.Explain(b, report.Options{Dockerfile: df})
	if e.History, err = explainHistory(ctx, app, opts, b, e, h.Sum()); err != nil {
		return err
	}
	return renderer.Render(app.IO.Out, e)
}

// openInput opens the log to read: the file at path, or stdin for "-".
func openInput(app *App, path string) (io.ReadCloser, string, error) {
	if path == "-" {
		return io.NopCloser(app.IO.In), "stdin", nil
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("%s: no such file", path)
		}
		return nil, "", err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, "", fmt.Errorf("%s is a directory, not a build log", path)
	}
	return f, path, nil
}

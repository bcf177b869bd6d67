package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/collect/buildenv"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	reporthtml "github.com/buildstats/buildstats/report/html"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/sqlite"
)

type reportOptions struct {
	input       string // a log path, "-", or a stored build reference
	output      string
	inputFormat string
	dockerfile  string
	db          string
	project     string
	title       string
}

func newReportCommand(app *App) *cobra.Command {
	var opts reportOptions
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
content hash prefix. Where the log gives real start and end times (rawjson,
live builds) the timeline uses them; otherwise it is reconstructed from step
durations and stage order, and the page says so.

The page loads nothing from the network: it opens from a CI artifact store or
offline.`,
		Example: `  docker build --progress=plain . 2>&1 | tee build.log
  buildstats report build.log -o report.html
  buildstats report --dockerfile Dockerfile build.log -o report.html
  buildstats report latest -o report.html`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.input = args[0]
			return runReport(cmd.Context(), app, opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.output, "output", "o", "", `HTML file to write, "-" for standard output`)
	f.StringVar(&opts.inputFormat, "input-format", "", "log format, instead of detecting it: "+strings.Join(inputFormats, ", "))
	f.StringVar(&opts.dockerfile, "dockerfile", "", "the Dockerfile that was built, for line numbers and stage references")
	f.StringVar(&opts.db, "db", "", "history database, for BUILD (default $BUILDSTATS_DB or ~/.local/share/buildstats/history.db)")
	f.StringVar(&opts.project, "project", "", `project that "latest" and "previous" refer to`)
	f.StringVar(&opts.title, "title", "", "page title (default the log's file name or the stored build)")
	return cmd
}

func runReport(ctx context.Context, app *App, opts reportOptions) error {
	if opts.inputFormat != "" && !slices.Contains(inputFormats, opts.inputFormat) {
		return usageError(fmt.Errorf("unknown input format %q (want %s)", opts.inputFormat, strings.Join(inputFormats, ", ")))
	}
	if err := checkHTMLOutput(app, opts.output); err != nil {
		return err
	}
	var ho reporthtml.Options
	if opts.dockerfile != "" {
		df, err := dockerfile.ParseFile(opts.dockerfile)
		if err != nil {
			return usageError(fmt.Errorf("reading Dockerfile: %w", err))
		}
		ho.Report = report.Options{Dockerfile: df}
	}

	var b *model.Build
	if st, err := os.Stat(opts.input); opts.input == "-" || err == nil && !st.IsDir() {
		if b, err = reportReadLog(app, opts.input, opts.inputFormat); err != nil {
			return err
		}
		ho.Title = "Docker build: " + filepath.Base(opts.input)
		if opts.input == "-" {
			ho.Title = "Docker build"
		}
	} else {
		var meta store.Meta
		var id int64
		if b, meta, id, err = reportStoredBuild(ctx, app, opts); err != nil {
			return err
		}
		ho.Title = fmt.Sprintf("Docker build %d", id)
		if meta.Project != "" {
			ho.Title += " of " + meta.Project
		}
		ho.Facts = metaFacts(meta)
	}
	if opts.title != "" {
		ho.Title = opts.title
	}
	if app.Now != nil {
		ho.Generated = app.Now()
	}
	var page bytes.Buffer
	if err := reporthtml.WriteBuild(&page, b, ho); err != nil {
		return err
	}
	return writeHTML(app, opts.output, page.Bytes())
}

// checkHTMLOutput refuses to write a page to a terminal unless asked to:
// nobody reads HTML there, and -o is easy to forget.
func checkHTMLOutput(app *App, output string) error {
	if output == "" && app.IO.OutIsTerminal {
		return usageError(errors.New(`write the HTML to a file with -o FILE (or -o - for standard output)`))
	}
	return nil
}

// writeHTML writes the page to path, or to standard output for "" or
// "-". A file is written whole or not at all.
func writeHTML(app *App, path string, page []byte) error {
	if path == "" || path == "-" {
		_, err := app.IO.Out.Write(page)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(page); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	fmt.Fprintf(app.IO.Out, "Wrote %s (%s)\n", path, report.FormatBytes(int64(len(page))))
	return nil
}

// reportReadLog parses the build log at path ("-" for stdin).
func reportReadLog(app *App, path, inputFormat string) (*model.Build, error) {
	in, name, err := openInput(app, path)
	if err != nil {
		return nil, usageError(err)
	}
	defer in.Close()
	b, err := parse.Parse(in, parse.Options{Format: model.Format(inputFormat)})
	if err != nil {
		return nil, usageError(fmt.Errorf("%s: %w", name, err))
	}
	if len(b.Vertices) == 0 && b.Status == model.StatusUnknown {
		return nil, usageError(fmt.Errorf("%s: %w: no build steps found", name, parse.ErrNotBuildLog))
	}
	return b, nil
}

// historyDB is the history database path, and whether it exists: report
// and trends only read, so a missing database is the user's mistake, not
// something to create.
func historyDB(app *App, db string) (string, bool, error) {
	path := db
	if path == "" {
		var err error
		if path, err = buildenv.DefaultPath(app.Getenv); err != nil {
			return "", false, usageError(err)
		}
	}
	_, err := os.Stat(path)
	return path, err == nil, nil
}

// reportStoredBuild loads a build from the history by reference.
func reportStoredBuild(ctx context.Context, app *App, opts reportOptions) (*model.Build, store.Meta, int64, error) {
	path, ok, err := historyDB(app, opts.db)
	if err != nil {
		return nil, store.Meta{}, 0, err
	}
	if !ok {
		return nil, store.Meta{}, 0, usageError(fmt.Errorf("%s: no such file, and no build history at %s to look it up in", opts.input, path))
	}
	s, err := sqlite.Open(path)
	if err != nil {
		return nil, store.Meta{}, 0, usageError(err)
	}
	defer s.Close()
	id, err := s.Resolve(ctx, opts.input, opts.project)
	if errors.Is(err, store.ErrNotFound) {
		return nil, store.Meta{}, 0, usageError(fmt.Errorf("%s: no such file, and no build in %s matches it", opts.input, path))
	}
	if err != nil {
		return nil, store.Meta{}, 0, usageError(err)
	}
	b, meta, err := s.Build(ctx, id)
	if err != nil {
		return nil, store.Meta{}, 0, err
	}
	return b, meta, id, nil
}

// metaFacts lists what the history knows about a build beyond its log.
func metaFacts(m store.Meta) []reporthtml.Fact {
	var out []reporthtml.Fact
	add := func(label, value, url string) {
		if value != "" {
			out = append(out, reporthtml.Fact{Label: label, Value: value, URL: url})
		}
	}
	add("project", m.Project, "")
	add("branch", m.Branch, "")
	add("commit", m.Commit, "")
	if !m.Started.IsZero() {
		add("started", m.Started.UTC().Format("2006-01-02 15:04:05 UTC"), "")
	}
	run := m.RunURL
	if m.CIProvider != "" && run == "" {
		run = m.CIProvider
	}
	add("CI run", run, m.RunURL)
	add("runner", m.Runner, "")
	add("Dockerfile", m.Dockerfile, "")
	if len(m.Tags) > 0 {
		add("tags", strings.Join(m.Tags, ", "), "")
	}
	add("log", m.Source, "")
	return out
}

// Package ingest is the ingest command: build logs into the history.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/collect/logfile"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	logingest "github.com/buildstats/buildstats/report/ingest"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are ingest's flags and arguments.
type Options struct {
	Inputs      []string
	DB          string
	Meta        store.Meta // from flags; the rest is detected
	When        string
	KeepLogs    bool
	InputFormat *cli.Enum
	Target      string
	OTLP        cli.TraceFlags // send the stored builds as traces
	Given       cli.InputFlags // what went into the builds, beyond their logs
	Server      string         // send the logs to buildstats serve at this URL
	Token       string         // the server's ingest token
}

// New returns the ingest command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "ingest FILE|DIR|GLOB|- ...",
		Short: "Store build logs in the history",
		Long: `Ingest parses build logs (any format explain reads) and stores each build in the
history, for history, show, compare, slow, misses, trends and explain. A
directory stands for every file under it (hidden ones left out, and files that
are not build logs skipped with a notice); a quoted glob is expanded; "-"
reads standard input.

Each build is filed under a project, branch and commit, and the CI run and
runner it came from: the flags, else the CI's environment (GitHub Actions,
GitLab CI, Buildkite, CircleCI, Jenkins), else the git checkout of the working
directory; the project defaults to the directory's name. The start time is the
log's own where it has one (rawjson), else --time, else the file's
modification time.

A log is stored once: ingesting it again reports the build it is stored as.

With --otlp ENDPOINT, each build stored is also sent as an OpenTelemetry
trace (see buildstats trace --help); a build already stored is not sent
again. An endpoint that cannot be reached is reported and the exit status is
2; the builds are stored all the same.
A named file that is missing or not a build log, or a glob that matches
nothing, is reported and the others are still stored; the exit status is then
2. A database that cannot be written stops the command with one line.

Build output can hold secrets, so the steps' output and the Dockerfile excerpt
of a failed build are only kept with --keep-logs.

With --server URL the logs go to buildstats serve instead, which stores them
in its history: a CI job needs only an ingest token of the project (--token,
or $BUILDSTATS_TOKEN), no database credentials; the project is the token's.
The values of the job's
secret variables are masked before a log leaves the machine; the command
prints each build's page.`,
		Example: `  docker build --progress=plain . 2>&1 | tee build.log
  buildstats ingest build.log
  buildstats ingest --project shop --branch main ci-logs/
  buildstats ingest --time 2026-01-31 'logs/*.log'
  docker build --progress=plain . 2>&1 | buildstats ingest -
  buildstats ingest --server https://builds.example.com --token "$BUILDSTATS_TOKEN" build.log`,
		Args: cli.UsageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Inputs = args
			return Run(cmd.Context(), f, opts)
		},
	}
	opts.InputFormat = cli.AddInputFormatFlag(cmd)
	cli.AddDBFlag(cmd, &opts.DB)
	fl := cmd.Flags()
	fl.StringVar(&opts.Meta.Project, "project", "", "project name (default from CI, the git remote or the directory name)")
	fl.StringVar(&opts.Meta.Branch, "branch", "", "branch (default from CI or the git checkout)")
	fl.StringVar(&opts.Meta.Commit, "commit", "", "commit (default from CI or the git checkout)")
	fl.StringVar(&opts.Meta.CIProvider, "ci-provider", "", "CI provider (default detected: github-actions, gitlab-ci, buildkite, circleci, jenkins)")
	fl.StringVar(&opts.Meta.RunURL, "run-url", "", "URL of the CI run (default from CI)")
	fl.StringVar(&opts.Meta.Runner, "runner", "", "CI runner or machine name (default from CI)")
	fl.StringVar(&opts.Meta.Dockerfile, "dockerfile", "", "the Dockerfile that was built: its text is recorded, to name the instruction or build arg that broke the cache")
	fl.StringVar(&opts.Target, "target", "", "the --target stage the build stopped at")
	fl.StringArrayVar(&opts.Meta.Tags, "tag", nil, "image tag (repeatable; default the names the log shows)")
	fl.StringVar(&opts.When, "time", "", "start time of builds whose log has none (RFC 3339 or a date; default the file's modification time)")
	fl.BoolVar(&opts.KeepLogs, "keep-logs", false, "also store step output and the Dockerfile excerpt of failed builds (may hold secrets)")
	fl.StringVar(&opts.Server, "server", "", "send the logs to buildstats serve at this URL instead of storing them (needs --token)")
	fl.StringVar(&opts.Token, "token", "", "the server's ingest token for the project (default $BUILDSTATS_TOKEN)")
	opts.Given.Register(cmd)
	opts.OTLP.Register(cmd)
	return cmd
}

// input is one file to ingest, or an argument that named none.
type input struct {
	path     string // a file path, or "-" for standard input
	fromDir  bool   // found by walking a directory: skip it quietly if it is not a log
	argError error  // the argument matched nothing usable
}

// progressMinFiles is how many files make a progress bar worth drawing.
const progressMinFiles = 10

// Run ingests the inputs.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	var traces cli.TraceSender
	if opts.OTLP.Endpoint != "" {
		if f.NewTraceSender == nil {
			// buildstats does not link the OpenTelemetry SDK: the whole
			// command runs in buildstats-live, before it reads anything.
			return f.RunLive(f.Args)
		}
		var err error
		if traces, err = f.OpenTraces(ctx, opts.OTLP); err != nil {
			return err
		}
		defer traces.Close(context.Background())
	}
	var flagTime time.Time
	if opts.When != "" {
		var err error
		if flagTime, err = report.ParseWhen(opts.When, f.Clock()); err != nil {
			return cli.UsageError(fmt.Errorf("--time: %w", err))
		}
	}
	inputs, err := expand(opts.Inputs)
	if err != nil {
		return cli.UsageError(err)
	}
	meta := f.DetectMeta("", opts.Meta)
	if opts.Server != "" {
		return runRemote(ctx, f, opts, inputs, meta, flagTime)
	}
	// What the flags say of the builds' inputs is read once for all of
	// them: a large context is walked once.
	given, err := f.FlagInputs(ctx, opts.Given, opts.Meta.Dockerfile, opts.Target)
	if err != nil {
		return err
	}
	df := parsedDockerfile(opts.Meta.Dockerfile, opts.Target)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	progress := &progressBar{w: f.IO.ErrOut, total: len(inputs), enabled: len(inputs) >= progressMinFiles && f.IO.ErrIsTerminal}
	var (
		s                               store.Store
		stored, known, skipped, notLogs int
		failed                          []string
		fatal                           error // the database is unusable: stop
		traceErr                        error // the OTLP endpoint failed: stop sending
		traced                          int   // builds sent as traces
	)
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	fail := func(name string, err error) {
		failed = append(failed, name)
		progress.clear()
		fmt.Fprintf(f.IO.ErrOut, "buildstats: %s\n", cli.OneLine(err.Error()))
	}
	for i, in := range inputs {
		if ctx.Err() != nil {
			skipped = len(inputs) - i
			break
		}
		progress.update(i, in.path)
		if in.argError != nil {
			fail(in.path, in.argError)
			continue
		}
		logs, err := f.ReadLogs(in.path, opts.InputFormat.Value)
		if err != nil {
			if in.fromDir && errors.Is(err, parse.ErrNotBuildLog) {
				// A README or SOURCES.tsv next to the logs.
				notLogs++
				progress.clear()
				fmt.Fprintf(f.IO.ErrOut, "buildstats: skipped %s: not a build log\n", cli.OneLine(in.path))
				continue
			}
			fail(in.path, err)
			continue
		}
		if s == nil {
			// Opened only once there is a build to store: a mistyped
			// file name does not create a database.
			if s, err = f.OpenHistory(ctx, opts.DB, backend.Write); err != nil {
				fatal, skipped = err, len(inputs)-i
				break
			}
		}
		// Each build of a log of several (a CI retry, a script that builds
		// twice), and of a .dockerbuild file, is stored as a build of its
		// own.
		var ferr error
		var l *logfile.Log
		var send []cli.TraceBuild
	builds:
		for _, l = range logs {
			for _, b := range l.Builds {
				id, created, err := ingestOne(ctx, f, s, l, b, meta, flagTime, opts.KeepLogs, given, df)
				if err != nil {
					ferr = err
					break builds
				}
				if created {
					stored++
					if traces != nil {
						// Sent as the history files it: its start, hash.
						_, m, err := s.Build(ctx, id)
						if err != nil {
							ferr = err
							break builds
						}
						send = append(send, cli.TraceBuild{Build: b, Meta: m, ID: id, Dockerfile: df, ThisRun: true})
					}
				} else {
					known++
				}
				if !progress.enabled {
					// With a progress bar, only problems and the summary are
					// printed: hundreds of lines would bury them.
					name := cli.OneLine(l.Name)
					if b.LogBuilds > 1 {
						name += fmt.Sprintf(" (build %d of %d)", b.LogIndex, b.LogBuilds)
					}
					if created {
						fmt.Fprintf(f.IO.Out, "%s: stored as #%d (%s%s, %d steps, %d cached)\n",
							name, id, b.Status, sourceWords(b), len(b.Steps()), countCached(b.Steps()))
					} else {
						fmt.Fprintf(f.IO.Out, "%s: already stored as #%d\n", name, id)
					}
				}
			}
		}
		if traces != nil && traceErr == nil && len(send) > 0 {
			// After a failure the rest are not sent: each would wait for
			// the same endpoint. The error ends the command, last.
			progress.clear()
			w := f.IO.Out
			if progress.enabled {
				w = io.Discard // the summary counts them
			}
			if traceErr = f.SendTraces(ctx, traces, w, send); traceErr == nil {
				traced += len(send)
			}
		}
		if ferr != nil {
			if store.IsDatabaseError(ferr) {
				// Every other file would fail the same way.
				fatal, skipped = cli.HistoryError(ferr), len(inputs)-i
				break
			}
			if ctx.Err() != nil {
				skipped = len(inputs) - i
				break
			}
			fail(l.Name, fmt.Errorf("%s: %w", l.Name, ferr))
		}
	}
	progress.clear()

	target, _ := f.HistoryTarget(opts.DB)
	summary := fmt.Sprintf("%d file%s: %d stored, %d already stored, %d failed", len(inputs), plural(len(inputs)), stored, known, len(failed))
	if traces != nil {
		summary += fmt.Sprintf(", %d sent as traces", traced)
	}
	if notLogs > 0 {
		summary += fmt.Sprintf(", %d not build logs", notLogs)
	}
	switch {
	case fatal != nil:
		summary += fmt.Sprintf(", %d not stored", skipped)
	case skipped > 0:
		summary += fmt.Sprintf(", %d not read (interrupted)", skipped)
	}
	fmt.Fprintf(f.IO.Out, "%s (history: %s)\n", summary, backend.Describe(target))
	switch {
	case fatal != nil:
		return fatal
	case skipped > 0:
		return cli.Failed(errors.New("interrupted"))
	case len(failed) > 0:
		return cli.UsageError(fmt.Errorf("could not ingest %s", nameList(failed, 3)))
	case traceErr != nil:
		return cli.UsageError(fmt.Errorf("a stored build was not sent as a trace, nor those after it: %w", traceErr))
	}
	return nil
}

// ingestOne stores one build of the log l, with its inputs (what its log
// shows and given, what the flags say) and the causes of its cache breaks,
// the way the server stores a log sent to it (report/ingest).
func ingestOne(ctx context.Context, f *cli.Factory, s store.Store, l *logfile.Log, b *model.Build, meta store.Meta,
	flagTime time.Time, keepLogs bool, given *model.Inputs, df *dockerfile.File) (int64, bool, error) {
	return logingest.One(ctx, s, l, b, logingest.Options{Meta: meta, FlagTime: flagTime, FileTime: l.ModTime, Now: f.Clock,
		KeepLogs: keepLogs, Given: given, Dockerfile: df, Mask: f.Redactor(),
		Warn: func(format string, args ...any) { f.Warn("%s", cli.OneLine(fmt.Sprintf(format, args...))) }})
}

// parsedDockerfile parses the --dockerfile for step lines, at the target;
// nil when there is none or it does not parse (its text is still recorded).
func parsedDockerfile(path, target string) *dockerfile.File {
	if path == "" {
		return nil
	}
	df, err := dockerfile.ParseFile(path)
	if err != nil {
		return nil
	}
	if target != "" {
		df = df.WithTarget(target)
	}
	return df
}

// sourceWords says what a build was read from, after its status: " plain
// log", ", read from a .dockerbuild file".
func sourceWords(b *model.Build) string {
	if b.Source != "" {
		return ", " + report.SourceText(b.Source, string(b.Format))
	}
	return " " + string(b.Format) + " log"
}

func countCached(steps []*model.Vertex) int {
	n := 0
	for _, v := range steps {
		if v.State() == model.StateCached {
			n++
		}
	}
	return n
}

// nameList names up to n items: "a.log", "a.log, b.log and 3 more".
func nameList(names []string, n int) string {
	for i := range names {
		names[i] = cli.OneLine(names[i])
	}
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
}

// expand turns the arguments into the files to ingest, in order and each
// once: a file as it is, a directory as the files under it (hidden ones
// left out), a glob the shell did not expand (quoted, or on Windows) as its
// matches, "-" as standard input. An argument that names nothing is kept as
// an input with an error, so it is reported with the other failures.
func expand(args []string) ([]input, error) {
	var out []input
	seen := map[string]bool{}
	add := func(p string, fromDir bool) {
		key := p
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, input{path: p, fromDir: fromDir})
		}
	}
	stdin := false
	for _, arg := range args {
		if arg == "-" {
			if stdin {
				return nil, errors.New(`"-" (standard input) can be given only once`)
			}
			stdin = true
			out = append(out, input{path: "-"})
			continue
		}
		st, err := os.Stat(arg)
		switch {
		case err == nil && st.IsDir():
			files, err := dirFiles(arg)
			if err != nil {
				out = append(out, input{path: arg, argError: err})
			} else if len(files) == 0 {
				out = append(out, input{path: arg, argError: fmt.Errorf("%s: no files in the directory", arg)})
			}
			for _, f := range files {
				add(f, true)
			}
		case err == nil:
			add(arg, false)
		case strings.ContainsAny(arg, "*?["):
			matches, gerr := filepath.Glob(arg)
			if gerr != nil {
				out = append(out, input{path: arg, argError: fmt.Errorf("%s: %w", arg, gerr)})
				continue
			}
			var files []string
			for _, m := range matches {
				if st, err := os.Stat(m); err == nil && st.IsDir() {
					sub, _ := dirFiles(m)
					files = append(files, sub...)
				} else if !isHidden(filepath.Base(m)) || isHidden(filepath.Base(arg)) {
					files = append(files, m)
				}
			}
			if len(files) == 0 {
				out = append(out, input{path: arg, argError: fmt.Errorf("%s: no files match", arg)})
			}
			for _, f := range files {
				add(f, false)
			}
		default:
			out = append(out, input{path: arg, argError: fmt.Errorf("%s: no such file", arg)})
		}
	}
	return out, nil
}

// dirFiles lists the regular files under dir in lexical order, leaving out
// hidden files and directories (.git, editor swap files).
func dirFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && isHidden(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		} else if d.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				out = append(out, p)
			}
		}
		return nil
	})
	return out, err
}

func isHidden(name string) bool { return strings.HasPrefix(name, ".") && name != "." && name != ".." }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

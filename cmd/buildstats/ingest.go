package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/buildstats/buildstats/collect/buildenv"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/sqlite"
)

type ingestOptions struct {
	inputs      []string
	db          string
	meta        store.Meta // from flags; the rest is detected
	when        string
	keepLogs    bool
	inputFormat string
}

func newIngestCommand(app *App) *cobra.Command {
	var opts ingestOptions
	cmd := &cobra.Command{
		Use:   "ingest FILE|DIR|GLOB|- ...",
		Short: "Store build logs in the history",
		Long: `Ingest parses build logs (any format explain reads) and stores each build in the
history, for history, show, compare, slow, misses, trends and explain. A
directory stands for every file under it (hidden ones left out); a quoted glob
is expanded; "-" reads standard input.

Each build is filed under a project, branch and commit, and the CI run and
runner it came from: the flags, else the CI's environment (GitHub Actions,
GitLab CI, Buildkite, CircleCI, Jenkins), else the git checkout of the working
directory; the project defaults to the directory's name. The start time is the
log's own where it has one (rawjson), else --time, else the file's
modification time.

A log is stored once: ingesting it again reports the build it is stored as.
A file that cannot be read or is not a build log is reported and skipped; the
others are still stored, and the exit status is 1.

Build output can hold secrets, so the steps' output and the Dockerfile excerpt
of a failed build are only kept with --keep-logs.`,
		Example: `  docker build --progress=plain . 2>&1 | tee build.log
  buildstats ingest build.log
  buildstats ingest --project shop --branch main ci-logs/
  buildstats ingest --time 2026-01-31 'logs/*.log'
  docker build --progress=plain . 2>&1 | buildstats ingest -`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.inputs = args
			return runIngest(cmd.Context(), app, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.db, "db", "", dbFlagUsage)
	f.StringVar(&opts.meta.Project, "project", "", "project name (default from CI, the git remote or the directory name)")
	f.StringVar(&opts.meta.Branch, "branch", "", "branch (default from CI or the git checkout)")
	f.StringVar(&opts.meta.Commit, "commit", "", "commit (default from CI or the git checkout)")
	f.StringVar(&opts.meta.CIProvider, "ci-provider", "", "CI provider (default detected: github-actions, gitlab-ci, buildkite, circleci, jenkins)")
	f.StringVar(&opts.meta.RunURL, "run-url", "", "URL of the CI run (default from CI)")
	f.StringVar(&opts.meta.Runner, "runner", "", "CI runner or machine name (default from CI)")
	f.StringVar(&opts.meta.Dockerfile, "dockerfile", "", "path of the Dockerfile that was built, for the record")
	f.StringArrayVar(&opts.meta.Tags, "tag", nil, "image tag (repeatable; default the names the log shows)")
	f.StringVar(&opts.when, "time", "", "start time of builds whose log has none (RFC 3339 or a date; default the file's modification time)")
	f.BoolVar(&opts.keepLogs, "keep-logs", false, "also store step output and the Dockerfile excerpt of failed builds (may hold secrets)")
	f.StringVar(&opts.inputFormat, "input-format", "", "log format, instead of detecting it: "+strings.Join(inputFormats, ", "))
	return cmd
}

// ingestInput is one file to ingest, or an argument that named none.
type ingestInput struct {
	path string // a file path, or "-" for standard input
	err  error  // the argument matched nothing usable
}

// progressMinFiles is how many files make a progress bar worth drawing.
const progressMinFiles = 10

func runIngest(ctx context.Context, app *App, opts ingestOptions) error {
	if opts.inputFormat != "" && !slices.Contains(inputFormats, opts.inputFormat) {
		return usageError(fmt.Errorf("unknown input format %q (want %s)", opts.inputFormat, strings.Join(inputFormats, ", ")))
	}
	var flagTime time.Time
	if opts.when != "" {
		var err error
		if flagTime, err = parseWhen(opts.when, clock(app)); err != nil {
			return usageError(fmt.Errorf("--time: %w", err))
		}
	}
	inputs, err := expandInputs(opts.inputs)
	if err != nil {
		return usageError(err)
	}
	meta := detectMeta(app, opts.meta)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	progress := &progressBar{w: app.IO.ErrOut, total: len(inputs),
		enabled: len(inputs) >= progressMinFiles && isTerminal(app.IO.ErrOut)}
	var (
		s                      *sqlite.Store
		stored, known, skipped int
		failed                 []string
		fatal                  error // the database is unusable: stop
	)
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	fail := func(name string, err error) {
		failed = append(failed, name)
		progress.clear()
		fmt.Fprintf(app.IO.ErrOut, "buildstats: %s\n", oneLineText(err.Error()))
	}
	for i, in := range inputs {
		if ctx.Err() != nil {
			skipped = len(inputs) - i
			break
		}
		progress.update(i, in.path)
		if in.err != nil {
			fail(in.path, in.err)
			continue
		}
		lb, err := readBuildLog(app, in.path, opts.inputFormat)
		if err != nil {
			fail(in.path, err)
			continue
		}
		if s == nil {
			// Opened only once there is a build to store: a mistyped
			// file name does not create a database.
			if s, err = openStore(app, opts.db); err != nil {
				fatal, skipped = usageError(err), len(inputs)-i
				break
			}
		}
		m := meta
		m.ContentHash, m.Source = lb.hash, lb.name
		if in.path == "-" {
			m.Source = "-"
		}
		m.Started, m.StartedSource = store.StartTime(lb.build, flagTime, lb.modTime)
		if m.Started.IsZero() {
			m.Started, m.StartedSource = clock(app), "ingest"
		}
		id, created, err := s.Ingest(ctx, lb.build, m, store.IngestOptions{KeepLogs: opts.keepLogs})
		if err != nil {
			if errors.Is(err, store.ErrNotDatabase) || errors.Is(err, store.ErrSchemaTooNew) || errors.Is(err, store.ErrLocked) {
				// Every other file would fail the same way.
				fatal, skipped = usageError(err), len(inputs)-i
				break
			}
			if ctx.Err() != nil {
				skipped = len(inputs) - i
				break
			}
			fail(lb.name, fmt.Errorf("%s: %w", lb.name, err))
			continue
		}
		if created {
			stored++
		} else {
			known++
		}
		if !progress.enabled {
			// With a progress bar, only problems and the summary are
			// printed: hundreds of lines would bury them.
			if created {
				b := lb.build
				fmt.Fprintf(app.IO.Out, "%s: stored as #%d (%s %s log, %d steps, %d cached)\n",
					lb.name, id, b.Status, b.Format, countSteps(b.Vertices, false), countSteps(b.Vertices, true))
			} else {
				fmt.Fprintf(app.IO.Out, "%s: already stored as #%d\n", lb.name, id)
			}
		}
	}
	progress.clear()

	path := opts.db
	if s != nil {
		path = s.Path()
	} else if p, err := buildenv.DefaultPath(envOf(app)); path == "" && err == nil {
		path = p
	}
	summary := fmt.Sprintf("%d file%s: %d stored, %d already stored, %d failed", len(inputs), plural(len(inputs)), stored, known, len(failed))
	switch {
	case fatal != nil:
		summary += fmt.Sprintf(", %d not stored", skipped)
	case skipped > 0:
		summary += fmt.Sprintf(", %d not read (interrupted)", skipped)
	}
	fmt.Fprintf(app.IO.Out, "%s (history: %s)\n", summary, path)
	switch {
	case fatal != nil:
		return fatal
	case skipped > 0:
		return &statusError{status: exitError, err: errors.New("interrupted")}
	case len(failed) > 0:
		return &statusError{status: exitError, err: fmt.Errorf("could not ingest %s", nameList(failed, 3))}
	}
	return nil
}

// countSteps counts the Dockerfile steps of a build, or its cached ones.
func countSteps(vs []*model.Vertex, cachedOnly bool) int {
	n := 0
	for _, v := range vs {
		if v.IsStep() && (v.Cached || !cachedOnly) {
			n++
		}
	}
	return n
}

// nameList names up to n items: "a.log", "a.log, b.log and 3 more".
func nameList(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
}

// expandInputs turns the arguments into the files to ingest, in order and
// each once: a file as it is, a directory as the files under it (hidden
// ones left out), a glob the shell did not expand (quoted, or on Windows)
// as its matches, "-" as standard input. An argument that names nothing is
// kept as an input with an error, so it is reported with the other
// failures.
func expandInputs(args []string) ([]ingestInput, error) {
	var out []ingestInput
	seen := map[string]bool{}
	add := func(p string) {
		key := p
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, ingestInput{path: p})
		}
	}
	stdin := false
	for _, arg := range args {
		if arg == "-" {
			if stdin {
				return nil, errors.New(`"-" (standard input) can be given only once`)
			}
			stdin = true
			out = append(out, ingestInput{path: "-"})
			continue
		}
		st, err := os.Stat(arg)
		switch {
		case err == nil && st.IsDir():
			files, err := dirFiles(arg)
			if err != nil {
				out = append(out, ingestInput{path: arg, err: err})
			} else if len(files) == 0 {
				out = append(out, ingestInput{path: arg, err: fmt.Errorf("%s: no files in the directory", arg)})
			}
			for _, f := range files {
				add(f)
			}
		case err == nil:
			add(arg)
		case strings.ContainsAny(arg, "*?["):
			matches, gerr := filepath.Glob(arg)
			if gerr != nil {
				out = append(out, ingestInput{path: arg, err: fmt.Errorf("%s: %w", arg, gerr)})
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
				out = append(out, ingestInput{path: arg, err: fmt.Errorf("%s: no files match", arg)})
			}
			for _, f := range files {
				add(f)
			}
		default:
			// Reported by readBuildLog in the usual words.
			add(arg)
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

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBar draws "[=====>    ] 12/40 name" on one terminal line,
// redrawn in place with a carriage return. Disabled, it draws nothing.
type progressBar struct {
	w       io.Writer
	total   int
	enabled bool
	width   int // length of the last line drawn, to blank it
}

// progressBarCells is the width of the bar itself.
const progressBarCells = 24

// update draws the bar before file i (0-based) of total, named name.
func (p *progressBar) update(i int, name string) {
	if !p.enabled || p.total == 0 {
		return
	}
	done := i * progressBarCells / p.total
	bar := strings.Repeat("=", done)
	if done < progressBarCells {
		bar += ">" + strings.Repeat(" ", progressBarCells-done-1)
	}
	line := fmt.Sprintf("[%s] %d/%d %s", bar, i, p.total, truncate(name, 40))
	pad := max(0, p.width-len([]rune(line)))
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
	p.width = len([]rune(line))
}

// clear blanks the bar's line so other output starts at its beginning.
func (p *progressBar) clear() {
	if !p.enabled || p.width == 0 {
		return
	}
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
	p.width = 0
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

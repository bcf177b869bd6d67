package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/annotate"
	"github.com/buildstats/buildstats/report/gate"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/sqlite"
)

type annotateOptions struct {
	input       string
	inputFormat string
	dockerfile  string
	target      string
	ci          string
	slow        time.Duration
	slowShare   shareValue
	slowMin     time.Duration
	junit       string
	summary     string
	codeQuality string
	gates       gateFlags
}

// Default output files on GitLab CI, where results are artifacts.
const (
	defaultCodeQualityFile = "gl-code-quality-report.json"
	defaultSummaryFile     = "buildstats-summary.md"
)

func newAnnotateCommand(app *App) *cobra.Command {
	var opts annotateOptions
	cmd := &cobra.Command{
		Use:   "annotate [flags] FILE|-",
		Short: "Mark slow steps, cache misses and failures on the Dockerfile in CI",
		Long: `Annotate reads a build log like explain and reports, in the form the CI system
shows natively, the Dockerfile lines that cost the most:

  - steps over --slow or over --slow-share of the build (warnings)
  - the first cache miss of each stage and the time rebuilt after it (notices)
  - the failing step with its exit code and last output lines (an error)

The CI is detected from the environment, or set with --ci:

  github     workflow commands on stdout (annotations on the Dockerfile lines) and
             a Markdown summary appended to $GITHUB_STEP_SUMMARY
  gitlab     a Code Quality report (--codequality, default gl-code-quality-report.json),
             a Markdown summary (--summary, default buildstats-summary.md) and the
             findings as text on stdout
  buildkite  Markdown on stdout, for buildkite-agent annotate
  none       the findings as text on stdout

--junit FILE also writes JUnit XML with one test case per step, which every CI
can show. A finding points at a Dockerfile line only when --dockerfile is given
and the step matches it with confidence; otherwise it has no line.

With --db (or $BUILDSTATS_DB) the build is also stored in the history. Gates
(--fail-on, --max-duration, --min-cache-hit, --max-regression) make annotate exit
with status 1 when they fail, as buildstats check does.`,
		Example: `  docker build --progress=plain . 2>&1 | tee build.log
  buildstats annotate --dockerfile Dockerfile build.log
  buildstats annotate --dockerfile Dockerfile --junit buildstats-junit.xml --db history.db --fail-on regression build.log
  buildstats annotate --ci buildkite --dockerfile Dockerfile build.log | buildkite-agent annotate --context buildstats`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.input = args[0]
			return runAnnotate(cmd.Context(), app, cmd.Flags(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.inputFormat, "input-format", "", "log format, instead of detecting it: "+strings.Join(inputFormats, ", "))
	f.StringVar(&opts.dockerfile, "dockerfile", "", "the Dockerfile that was built, to annotate its lines")
	f.StringVar(&opts.target, "target", "", "the --target stage the build stopped at")
	f.StringVar(&opts.ci, "ci", "auto", "CI to write for: auto, "+strings.Join(annotate.CIs, ", "))
	f.DurationVar(&opts.slow, "slow", annotate.DefaultSlow, "a step taking at least this long is slow (0 disables)")
	opts.slowShare = shareValue(annotate.DefaultSlowShare)
	f.Var(&opts.slowShare, "slow-share", "a step taking at least this share of the build is slow (0 disables)")
	f.DurationVar(&opts.slowMin, "slow-min", annotate.DefaultSlowMin, "a step over --slow-share must also take at least this long")
	f.StringVar(&opts.junit, "junit", "", "also write JUnit XML to this file")
	f.StringVar(&opts.summary, "summary", "", "write the Markdown summary to this file (default: $GITHUB_STEP_SUMMARY on GitHub, "+defaultSummaryFile+" on GitLab, stdout on Buildkite)")
	f.StringVar(&opts.codeQuality, "codequality", "", "write a GitLab Code Quality report to this file (default on GitLab: "+defaultCodeQualityFile+")")
	opts.gates.register(f)
	f.Lookup("db").Usage = "store the build in this history database (default $BUILDSTATS_DB; with neither, nothing is stored)"
	return cmd
}

func runAnnotate(ctx context.Context, app *App, flags *pflag.FlagSet, opts annotateOptions) error {
	getenv := envOf(app)
	ci := opts.ci
	switch {
	case ci == "auto" || ci == "":
		ci = annotate.DetectCI(getenv)
	case !slices.Contains(annotate.CIs, ci):
		return usageError(fmt.Errorf("unknown CI %q (want auto, %s)", ci, strings.Join(annotate.CIs, ", ")))
	}
	if opts.slow < 0 || opts.slowMin < 0 || opts.slowShare < 0 || opts.slowShare > 1 {
		return usageError(errors.New("--slow and --slow-min must not be negative, --slow-share must be between 0 and 100%"))
	}
	cfg, err := opts.gates.config(flags, false)
	if err != nil {
		return usageError(err)
	}
	lb, err := readBuildLog(app, opts.input, opts.inputFormat)
	if err != nil {
		return err
	}
	df, lines, err := readDockerfile(app, opts.dockerfile, opts.target)
	if err != nil {
		return err
	}
	e := report.Explain(lb.build, report.Options{Dockerfile: df})
	cwd, _ := os.Getwd()
	file := ""
	if opts.dockerfile != "" {
		file = annotate.RepoPath(ci, getenv, opts.dockerfile, cwd)
	}
	r := annotate.New(e, annotate.Options{
		Rules:      annotate.Rules{Slow: opts.slow, SlowShare: float64(opts.slowShare), SlowMin: opts.slowMin},
		Dockerfile: df,
		File:       file,
		Lines:      lines,
	})

	// The history: store this build, and read the baseline for the
	// regression gate, from one open database.
	meta := buildMeta(app, &opts.gates)
	dbPath := opts.gates.db
	if dbPath == "" {
		dbPath = getenv("BUILDSTATS_DB")
	}
	var results []gate.Result
	needBaseline := slices.Contains(cfg.Gates, gate.Regression)
	if dbPath != "" || needBaseline {
		var s *sqlite.Store
		path := dbPath
		if dbPath != "" {
			s, err = ingestForAnnotate(ctx, app, dbPath, lb, meta, file)
			if err != nil {
				// The annotations matter more than the history: say
				// what went wrong and go on.
				fmt.Fprintf(app.IO.ErrOut, "buildstats: the build was not stored: %v\n", oneLineText(err.Error()))
			}
		} else {
			if s, path, err = openHistory(app, &opts.gates); err != nil {
				return err
			}
		}
		if s != nil {
			defer s.Close()
		}
		if needBaseline {
			var base *gate.Baseline
			switch {
			case s == nil && dbPath != "":
				// Storing failed above, and said why.
				base = &gate.Baseline{Note: "the history database " + dbPath + " could not be used"}
			default:
				var st store.Store
				if s != nil {
					st = s
				}
				if base, err = gateBaseline(ctx, app, st, path, &opts.gates, meta, lb.hash); err != nil {
					return err
				}
			}
			results = gate.Check(lb.build, e, base, cfg)
		}
	}
	if !needBaseline {
		results = gate.Check(lb.build, e, nil, cfg)
	}
	r.AddGates(results)

	if err := writeAnnotations(app, ci, opts, r); err != nil {
		return err
	}
	return gateError(results)
}

// ingestForAnnotate stores the build in the history at path and returns
// the open database for the baseline.
func ingestForAnnotate(ctx context.Context, app *App, path string, lb *loggedBuild, meta store.Meta, dockerfilePath string) (*sqlite.Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	s, err := sqlite.Open(path)
	if err != nil {
		return nil, err
	}
	meta.ContentHash, meta.Source = lb.hash, lb.name
	if lb.name == "stdin" {
		meta.Source = "-"
	}
	meta.Dockerfile = dockerfilePath
	meta.Started, meta.StartedSource = store.StartTime(lb.build, time.Time{}, lb.modTime)
	if meta.Started.IsZero() {
		meta.Started, meta.StartedSource = app.Now(), "ingest"
	}
	if _, _, err := s.Ingest(context.WithoutCancel(ctx), lb.build, meta, store.IngestOptions{}); err != nil {
		return s, err
	}
	return s, nil
}

// writeAnnotations writes what the CI shows, then the JUnit file.
func writeAnnotations(app *App, ci string, opts annotateOptions, r *annotate.Report) error {
	getenv := envOf(app)
	md := annotate.MarkdownOptions{LineURL: annotate.LineURLFunc(ci, getenv)}
	out := app.IO.Out
	switch ci {
	case annotate.CIGitHub:
		// Annotations first: they go to stdout, where the runner reads
		// them; the summary says how many did not fit.
		var cmds bytes.Buffer
		omitted, err := annotate.WriteGitHub(&cmds, r)
		if err != nil {
			return err
		}
		if omitted > 0 {
			md.Notes = append(md.Notes, fmt.Sprintf("%d finding%s not annotated inline: GitHub shows at most %d annotations of each level.",
				omitted, pluralS(omitted), annotate.GitHubLimit))
		}
		if _, err := out.Write(cmds.Bytes()); err != nil {
			return err
		}
		summary, appendTo := opts.summary, false
		if summary == "" {
			summary, appendTo = getenv("GITHUB_STEP_SUMMARY"), true
		}
		if summary != "" {
			if err := writeOutputFile(summary, appendTo, func(w io.Writer) error { return annotate.WriteMarkdown(w, r, md) }); err != nil {
				return err
			}
		}
	case annotate.CIGitLab:
		cq := opts.codeQuality
		if cq == "" {
			cq = defaultCodeQualityFile
		}
		if err := writeOutputFile(cq, false, func(w io.Writer) error { return annotate.WriteCodeQuality(w, r) }); err != nil {
			return err
		}
		summary := opts.summary
		if summary == "" {
			summary = defaultSummaryFile
		}
		if err := writeOutputFile(summary, false, func(w io.Writer) error { return annotate.WriteMarkdown(w, r, md) }); err != nil {
			return err
		}
		if err := annotate.WriteText(out, r); err != nil {
			return err
		}
	case annotate.CIBuildkite:
		if opts.summary == "" {
			if err := annotate.WriteMarkdown(out, r, md); err != nil {
				return err
			}
		} else {
			if err := writeOutputFile(opts.summary, false, func(w io.Writer) error { return annotate.WriteMarkdown(w, r, md) }); err != nil {
				return err
			}
			if err := annotate.WriteText(out, r); err != nil {
				return err
			}
		}
	default:
		if err := annotate.WriteText(out, r); err != nil {
			return err
		}
		if opts.summary != "" {
			if err := writeOutputFile(opts.summary, false, func(w io.Writer) error { return annotate.WriteMarkdown(w, r, md) }); err != nil {
				return err
			}
		}
	}
	if ci != annotate.CIGitLab && opts.codeQuality != "" {
		if err := writeOutputFile(opts.codeQuality, false, func(w io.Writer) error { return annotate.WriteCodeQuality(w, r) }); err != nil {
			return err
		}
	}
	if opts.junit != "" {
		if err := writeOutputFile(opts.junit, false, func(w io.Writer) error { return annotate.WriteJUnit(w, r) }); err != nil {
			return err
		}
	}
	return nil
}

// writeOutputFile writes a result file: whole, or appended (a GitHub step
// summary holds every step's). The content is rendered first, so a write
// error cannot leave half a report.
func writeOutputFile(path string, appendTo bool, write func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendTo {
		flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Package annotate is the annotate command: CI annotations on the
// Dockerfile lines that cost the most, job summaries, JUnit and Code
// Quality reports, and gates.
package annotate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/collect/logfile"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/annotate"
	"github.com/buildstats/buildstats/report/gate"
	reportserve "github.com/buildstats/buildstats/report/serve"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
)

// Options are annotate's flags and argument.
type Options struct {
	Input       string
	InputFormat *cli.Enum
	Dockerfile  string
	Target      string
	CI          *cli.Enum
	Slow        time.Duration
	SlowShare   cli.Share
	SlowMin     time.Duration
	JUnit       string
	Summary     string
	CodeQuality string
	Gates       cli.GateFlags
	Given       cli.InputFlags // what went into the build, beyond its log
	Server      string         // also send the log to buildstats serve at this URL
	Token       string         // the server's ingest token
}

// Default output files on GitLab CI, where results are artifacts.
const (
	defaultCodeQualityFile = "gl-code-quality-report.json"
	defaultSummaryFile     = "buildstats-summary.md"
)

// New returns the annotate command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
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
with status 1 when they fail, as buildstats check does. They fail closed: a
history that cannot be used, or a requested regression gate without history
(unless --missing-history skip), is exit status 2, after the annotations are
written.`,
		Example: `  docker build --progress=plain . 2>&1 | tee build.log
  buildstats annotate --dockerfile Dockerfile build.log
  buildstats annotate --dockerfile Dockerfile --junit buildstats-junit.xml --db history.db --fail-on regression build.log
  buildstats annotate --ci buildkite --dockerfile Dockerfile build.log | buildkite-agent annotate --context buildstats`,
		Args: cli.UsageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Input = args[0]
			return Run(cmd.Context(), f, cmd.Flags(), opts)
		},
	}
	opts.InputFormat = cli.AddInputFormatFlag(cmd)
	opts.CI = cli.NewEnum("auto", append([]string{"auto"}, annotate.CIs...)...)
	opts.CI.What = "CI"
	cli.AddEnumFlag(cmd, opts.CI, "ci", "CI to write for")
	fl := cmd.Flags()
	fl.StringVar(&opts.Dockerfile, "dockerfile", "", "the Dockerfile that was built, to annotate its lines")
	fl.StringVar(&opts.Target, "target", "", "the --target stage the build stopped at")
	fl.DurationVar(&opts.Slow, "slow", annotate.DefaultSlow, "a step taking at least this long is slow (0 disables)")
	opts.SlowShare = cli.Share(annotate.DefaultSlowShare)
	fl.Var(&opts.SlowShare, "slow-share", "a step taking at least this share of the build is slow (0 disables)")
	fl.DurationVar(&opts.SlowMin, "slow-min", annotate.DefaultSlowMin, "a step over --slow-share must also take at least this long")
	fl.StringVar(&opts.JUnit, "junit", "", "also write JUnit XML to this file")
	fl.StringVar(&opts.Summary, "summary", "", "write the Markdown summary to this file (default: $GITHUB_STEP_SUMMARY on GitHub, "+defaultSummaryFile+" on GitLab, stdout on Buildkite)")
	fl.StringVar(&opts.Server, "server", "", "also send the log to buildstats serve at this URL (needs --token), and print the build's page")
	fl.StringVar(&opts.Token, "token", "", "the server's ingest token for the project (default $BUILDSTATS_TOKEN)")
	fl.StringVar(&opts.CodeQuality, "codequality", "", "write a GitLab Code Quality report to this file (default on GitLab: "+defaultCodeQualityFile+")")
	opts.Gates.Register(cmd)
	opts.Given.Register(cmd)
	fl.Lookup("db").Usage = "store the build in this history (a file or a postgres:// URL; default $BUILDSTATS_DB; with neither, nothing is stored)"
	return cmd
}

// Run annotates the build in opts.Input.
func Run(ctx context.Context, f *cli.Factory, flags *pflag.FlagSet, opts Options) error {
	ci := opts.CI.Value
	if ci == "auto" {
		ci = annotate.DetectCI(f.Env)
	}
	if opts.Slow < 0 || opts.SlowMin < 0 || opts.SlowShare < 0 || opts.SlowShare > 1 {
		return cli.UsageError(errors.New("--slow and --slow-min must not be negative, --slow-share must be between 0 and 100%"))
	}
	cfg, err := opts.Gates.Config(flags, false)
	if err != nil {
		return err
	}
	if opts.Server != "" {
		if opts.Token == "" {
			opts.Token = f.Env("BUILDSTATS_TOKEN")
		}
		switch {
		case opts.Token == "":
			return cli.UsageError(errors.New("--server needs --token (or $BUILDSTATS_TOKEN): an ingest token of the project (buildstats token create)"))
		case opts.Input == "-":
			return cli.UsageError(errors.New("--server sends a log file: save standard input to one first"))
		}
	}
	l, err := f.ReadLog(opts.Input, opts.InputFormat.Value)
	if err != nil {
		return err
	}
	df, lines, err := f.ReadDockerfile(opts.Dockerfile, opts.Target)
	if err != nil {
		return err
	}
	given, err := f.FlagInputs(ctx, opts.Given, opts.Dockerfile, opts.Target)
	if err != nil {
		return err
	}
	f.WithInputs(l.Build, given)

	// The history: store this build, read the regression baseline and the
	// build the causes of cache breaks are found against, from one open
	// database. A database that cannot be used does not stop the
	// annotations, but the command then fails (exit status 2).
	meta := f.DetectMeta("", store.Meta{Project: opts.Gates.Project, Branch: opts.Gates.Branch})
	meta.ContentHash, meta.Source = l.BuildHash(l.Build), l.Name
	if l.IsStdin() {
		meta.Source = "-"
	}
	meta.Started, meta.StartedSource = store.StartTime(l.Build, time.Time{}, l.ModTime)
	if meta.Started.IsZero() {
		meta.Started, meta.StartedSource = f.Clock(), "ingest"
	}
	var historyErr error
	s, err := openHistory(ctx, f, opts.Gates.DB, slices.Contains(cfg.Gates, gate.Regression))
	if err != nil {
		historyErr = err
	}
	var prev *report.Baseline
	if s != nil {
		defer s.Close()
		// Found before this build is stored: it must not be its own.
		if prev, err = f.FindBaseline(ctx, s, 0, meta.Project, l.Build, meta.Started); err != nil {
			historyErr = err
		}
	}
	e := report.Explain(l.Build, report.Options{Dockerfile: df, Baseline: prev})
	file := ""
	if opts.Dockerfile != "" {
		file = annotate.RepoPath(ci, f.Env, opts.Dockerfile, f.WorkDir)
	}
	meta.Dockerfile = file
	r := annotate.New(e, annotate.Options{
		Rules:      annotate.Rules{Slow: opts.Slow, SlowShare: float64(opts.SlowShare), SlowMin: opts.SlowMin},
		Dockerfile: df,
		File:       file,
		Lines:      lines,
		Mask:       f.Redactor(),
	})
	if s != nil && (opts.Gates.DB != "" || f.Env("BUILDSTATS_DB") != "") {
		if _, _, err := s.Ingest(context.WithoutCancel(ctx), l.Build, meta, store.IngestOptions{Causes: report.BreakCauses(e)}); err != nil {
			historyErr = err
		}
	}
	if opts.Server != "" {
		if err := send(ctx, f, opts, meta); err != nil {
			historyErr = err
		}
	}
	var base *gate.Baseline
	if slices.Contains(cfg.Gates, gate.Regression) && historyErr == nil {
		var rd store.Reader
		if s != nil {
			rd = s
		}
		if base, err = f.Baseline(ctx, rd, &opts.Gates, meta, l.Hash); err != nil {
			historyErr = err
		}
	}
	results := gate.Check(l.Build, e, base, cfg)
	if historyErr != nil {
		// The regression gate could not be evaluated: it fails closed.
		for i := range results {
			if results[i].Gate == gate.Regression {
				results[i].Status, results[i].Message = gate.StatusError, "the build history could not be used: "+cli.OneLine(historyErr.Error())
			}
		}
	}
	r.AddGates(results)
	if err := writeAnnotations(f, ci, opts, r); err != nil {
		return err
	}
	if historyErr != nil {
		return cli.UsageError(fmt.Errorf("the build history could not be used: %w", historyErr))
	}
	return cli.GateError(results)
}

// send sends the log to the server of --server, filed as meta says (the
// project the token's unless --project names it), and says where its page
// is on stderr (stdout may be the CI's annotations).
func send(ctx context.Context, f *cli.Factory, opts Options, meta store.Meta) error {
	meta.Project = opts.Gates.Project
	q := reportserve.Query(meta)
	if opts.InputFormat.Value != "" {
		q.Set("format", opts.InputFormat.Value)
	}
	q.Set("source", opts.Input)
	if !meta.Started.IsZero() && meta.StartedSource != "ingest" {
		q.Set("time", meta.Started.UTC().Format(time.RFC3339))
	}
	r, _, err := logfile.Open(opts.Input, f.IO.In)
	if err != nil {
		return err
	}
	defer r.Close()
	c := &reportserve.Client{URL: opts.Server, Token: opts.Token, Mask: f.Redactor().String}
	st, err := c.Send(ctx, r, q)
	if err != nil {
		return fmt.Errorf("sending the log to %s: %w", cli.OneLine(opts.Server), err)
	}
	verb := "stored"
	if !st.Created {
		verb = "already stored"
	}
	fmt.Fprintf(f.IO.ErrOut, "buildstats: %s as #%d: %s\n", verb, st.ID, st.URL)
	return nil
}

// openHistory opens the history to store the build in (--db or
// $BUILDSTATS_DB, created when missing) or, when only the regression gate
// needs it, to read; nil when there is none to use.
func openHistory(ctx context.Context, f *cli.Factory, db string, needBaseline bool) (store.Store, error) {
	if db != "" || f.Env("BUILDSTATS_DB") != "" {
		return f.OpenHistory(ctx, db, backend.Write)
	}
	if !needBaseline {
		return nil, nil
	}
	return f.OpenBaselineHistory(ctx, db)
}

// writeAnnotations writes what the CI shows, then the JUnit file.
func writeAnnotations(f *cli.Factory, ci string, opts Options, r *annotate.Report) error {
	md := annotate.MarkdownOptions{LineURL: annotate.LineURLFunc(ci, f.Env)}
	out := f.IO.Out
	markdown := func(w io.Writer) error { return annotate.WriteMarkdown(w, r, md) }
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
				omitted, plural(omitted), annotate.GitHubLimit))
		}
		if _, err := out.Write(cmds.Bytes()); err != nil {
			return err
		}
		summary, appendTo := opts.Summary, false
		if summary == "" {
			summary, appendTo = f.Env("GITHUB_STEP_SUMMARY"), true
		}
		if summary != "" {
			if err := cli.WriteFile(summary, appendTo, markdown); err != nil {
				return err
			}
		}
	case annotate.CIGitLab:
		cq := opts.CodeQuality
		if cq == "" {
			cq = defaultCodeQualityFile
		}
		if err := cli.WriteFile(cq, false, func(w io.Writer) error { return annotate.WriteCodeQuality(w, r) }); err != nil {
			return err
		}
		summary := opts.Summary
		if summary == "" {
			summary = defaultSummaryFile
		}
		if err := cli.WriteFile(summary, false, markdown); err != nil {
			return err
		}
		if err := annotate.WriteText(out, r); err != nil {
			return err
		}
	case annotate.CIBuildkite:
		if opts.Summary == "" {
			if err := markdown(out); err != nil {
				return err
			}
		} else {
			if err := cli.WriteFile(opts.Summary, false, markdown); err != nil {
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
		if opts.Summary != "" {
			if err := cli.WriteFile(opts.Summary, false, markdown); err != nil {
				return err
			}
		}
	}
	if ci != annotate.CIGitLab && opts.CodeQuality != "" {
		if err := cli.WriteFile(opts.CodeQuality, false, func(w io.Writer) error { return annotate.WriteCodeQuality(w, r) }); err != nil {
			return err
		}
	}
	if opts.JUnit != "" {
		if err := cli.WriteFile(opts.JUnit, false, func(w io.Writer) error { return annotate.WriteJUnit(w, r) }); err != nil {
			return err
		}
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

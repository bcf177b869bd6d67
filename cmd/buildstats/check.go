package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/buildstats/buildstats/collect/buildenv"
	"github.com/buildstats/buildstats/collect/logfile"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/report/gate"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/sqlite"
)

// gateFlags are the flags check and annotate share: the gates, their
// limits, and where the history and the build's identity come from.
type gateFlags struct {
	maxDuration     time.Duration
	maxRegression   shareValue
	regressionFloor time.Duration
	minCacheHit     shareValue
	baselineBuilds  int
	failOn          []string

	db            string
	project       string
	branch        string
	defaultBranch string
}

func (g *gateFlags) register(f *pflag.FlagSet) {
	g.maxRegression = shareValue(gate.DefaultMaxRegression)
	f.DurationVar(&g.maxDuration, "max-duration", 0, "fail when the build takes longer than this (e.g. 10m)")
	f.Var(&g.maxRegression, "max-regression", "fail when a step takes this much longer than its baseline (25% or 0.25)")
	f.DurationVar(&g.regressionFloor, "regression-floor", gate.DefaultRegressionFloor, "ignore step slowdowns smaller than this, which are run-to-run noise")
	f.Var(&g.minCacheHit, "min-cache-hit", "fail when fewer than this share of the Dockerfile steps came from the cache (e.g. 50%)")
	f.IntVar(&g.baselineBuilds, "baseline-builds", gate.DefaultBaselineBuilds, "the regression baseline is the median over this many recent successful builds")
	f.StringSliceVar(&g.failOn, "fail-on", nil, "gates to enforce: "+strings.Join(gate.Names, ", ")+" (a limit flag enables its gate too)")
	f.StringVar(&g.db, "db", "", dbFlagUsage)
	f.StringVar(&g.project, "project", "", "project the build belongs to (default from CI or the git remote)")
	f.StringVar(&g.branch, "branch", "", "branch the build is of (default from CI or the git checkout)")
	f.StringVar(&g.defaultBranch, "default-branch", "", "branch whose history is the baseline when this branch has none (default from CI or origin/HEAD)")
}

// config turns the flags into the gates to run. Gates named by --fail-on
// run, and so does each gate whose limit flag was set; regression also
// runs when always is set (check's default).
func (g *gateFlags) config(flags *pflag.FlagSet, regressionByDefault bool) (gate.Config, error) {
	cfg := gate.Config{
		MaxDuration:     g.maxDuration,
		MaxRegression:   float64(g.maxRegression),
		RegressionFloor: g.regressionFloor,
		MinCacheHit:     float64(g.minCacheHit),
	}
	on := map[string]bool{}
	for _, name := range g.failOn {
		name = strings.TrimSpace(name)
		if !slices.Contains(gate.Names, name) {
			return cfg, fmt.Errorf("--fail-on: unknown gate %q (want %s)", name, strings.Join(gate.Names, ", "))
		}
		on[name] = true
	}
	if flags.Changed("max-duration") {
		on[gate.Duration] = true
	}
	if flags.Changed("max-regression") || flags.Changed("regression-floor") || regressionByDefault {
		on[gate.Regression] = true
	}
	if flags.Changed("min-cache-hit") {
		on[gate.CacheHit] = true
	}
	switch {
	case on[gate.Duration] && g.maxDuration <= 0:
		return cfg, errors.New("--fail-on duration needs --max-duration")
	case on[gate.CacheHit] && !flags.Changed("min-cache-hit"):
		return cfg, errors.New("--fail-on cache-hit needs --min-cache-hit")
	case float64(g.minCacheHit) > 1:
		return cfg, errors.New("--min-cache-hit must be at most 100%")
	case g.baselineBuilds < 1:
		return cfg, errors.New("--baseline-builds must be at least 1")
	case g.regressionFloor < 0:
		return cfg, errors.New("--regression-floor must not be negative")
	}
	for _, name := range gate.Names {
		if on[name] {
			cfg.Gates = append(cfg.Gates, name)
		}
	}
	return cfg, nil
}

// shareValue is a fraction given as "25%" or "0.25".
type shareValue float64

func (s *shareValue) String() string {
	if *s == 0 {
		return "0" // pflag shows no default for a zero value
	}
	return strconv.FormatFloat(float64(*s)*100, 'f', -1, 64) + "%"
}

func (s *shareValue) Set(v string) error {
	v = strings.TrimSpace(v)
	pct := strings.HasSuffix(v, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil {
		return fmt.Errorf("want a percentage like 25%% or a fraction like 0.25")
	}
	if pct {
		f /= 100
	}
	if f < 0 || f > 10 {
		return fmt.Errorf("%s is out of range", v)
	}
	*s = shareValue(f)
	return nil
}

func (*shareValue) Type() string { return "percent" }

// loggedBuild is a build log read for check and annotate.
type loggedBuild struct {
	build   *model.Build
	name    string    // file name, or "stdin"
	hash    string    // content hash of the log bytes, as ingest stores it
	modTime time.Time // the file's modification time; zero for stdin
}

// readBuildLog reads and parses a build log (a path, or "-" for stdin)
// and hashes its bytes for the history.
func readBuildLog(app *App, input, inputFormat string) (*loggedBuild, error) {
	if inputFormat != "" && !slices.Contains(inputFormats, inputFormat) {
		return nil, usageError(fmt.Errorf("unknown input format %q (want %s)", inputFormat, strings.Join(inputFormats, ", ")))
	}
	in, name, err := openInput(app, input)
	if err != nil {
		return nil, usageError(err)
	}
	defer in.Close()
	lb := &loggedBuild{name: name}
	if f, ok := in.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			lb.modTime = st.ModTime()
		}
	}
	h := logfile.NewHashReader(in)
	b, err := parse.Parse(h, parse.Options{Format: model.Format(inputFormat)})
	if err != nil {
		return nil, usageError(fmt.Errorf("%s: %w", name, err))
	}
	// The parser may stop before the end; the hash covers every byte.
	if _, err := io.Copy(io.Discard, h); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b.Vertices) == 0 && b.Status == model.StatusUnknown {
		return nil, usageError(fmt.Errorf("%s: %w: no build steps found", name, parse.ErrNotBuildLog))
	}
	lb.build, lb.hash = b, h.Sum()
	return lb, nil
}

// readDockerfile parses the --dockerfile, restricted to --target, and
// returns its lines. A file that does not parse is not an error here: the
// build may have failed on that very line, and the log's own location of
// it can still be checked against the lines. It is reported on stderr and
// the result has no parsed file.
func readDockerfile(app *App, path, target string) (*dockerfile.File, []string, error) {
	if path == "" {
		if target != "" {
			return nil, nil, usageError(errors.New("--target needs --dockerfile"))
		}
		return nil, nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, usageError(fmt.Errorf("reading Dockerfile: %s: no such file", path))
		}
		return nil, nil, usageError(fmt.Errorf("reading Dockerfile: %w", err))
	}
	lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(string(data), "\ufeff"), "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	df, err := dockerfile.Parse(bytes.NewReader(data), path)
	if err != nil {
		fmt.Fprintf(app.IO.ErrOut, "buildstats: warning: %s; steps get no Dockerfile lines\n", oneLineText(err.Error()))
		return nil, lines, nil
	}
	if target != "" {
		var names []string
		for _, s := range df.Stages() {
			if s.Name != "" {
				names = append(names, s.Name)
			}
		}
		if !slices.Contains(names, strings.ToLower(target)) {
			return nil, nil, usageError(fmt.Errorf("--target %q: %s has no such stage (stages: %s)", target, path, strings.Join(names, ", ")))
		}
		df = df.WithTarget(target)
	}
	return df, lines, nil
}

// buildMeta is the build's project, branch and CI details: flags first,
// then the CI's environment, then the git checkout of the working
// directory, as `buildstats ingest` files builds.
func buildMeta(app *App, g *gateFlags) store.Meta {
	return detectMeta(app, store.Meta{Project: g.project, Branch: g.branch})
}

// historyPath is the database --db names, else the default one.
func historyPath(app *App, g *gateFlags) (string, error) {
	if g.db != "" {
		return g.db, nil
	}
	return buildenv.DefaultPath(envOf(app))
}

// openHistory opens the history database for reading, without creating
// it: a missing database is not an error but no history (nil store).
func openHistory(app *App, g *gateFlags) (*sqlite.Store, string, error) {
	path, err := historyPath(app, g)
	if err != nil {
		return nil, "", err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, path, nil
	}
	s, err := sqlite.Open(path)
	if err != nil {
		return nil, path, storeError(err)
	}
	return s, path, nil
}

// storeError makes a database the user pointed at by mistake a usage
// error.
func storeError(err error) error {
	if errors.Is(err, store.ErrNotDatabase) || errors.Is(err, store.ErrSchemaTooNew) {
		return usageError(err)
	}
	return err
}

// gateBaseline computes the regression baseline; s may be nil (no
// database), which gives an empty baseline saying so.
func gateBaseline(ctx context.Context, app *App, s store.Store, path string, g *gateFlags, meta store.Meta, hash string) (*gate.Baseline, error) {
	if s == nil {
		return &gate.Baseline{Note: "no history database at " + path + " (regression gates need earlier builds: store them with --db)"}, nil
	}
	def := g.defaultBranch
	if def == "" {
		cwd, _ := os.Getwd()
		def = buildenv.DefaultBranch(envOf(app), cwd)
	}
	return gate.LoadBaseline(ctx, s, gate.Query{
		Project: meta.Project, Branch: meta.Branch, DefaultBranch: def,
		Builds: g.baselineBuilds, Exclude: hash,
	})
}

// gateError is the error a failed gate ends the command with: exit status
// 1 and one line naming the failed gates.
func gateError(results []gate.Result) error {
	var failed []gate.Result
	for _, r := range results {
		if r.Status == gate.StatusFail {
			failed = append(failed, r)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	if len(failed) == 1 {
		return &statusError{status: exitError, err: fmt.Errorf("gate %s failed: %s", failed[0].Gate, oneLineText(failed[0].Message))}
	}
	var names []string
	for _, r := range failed {
		names = append(names, r.Gate)
	}
	return &statusError{status: exitError, err: fmt.Errorf("%d gates failed: %s", len(failed), strings.Join(names, ", "))}
}

// oneLineText keeps log text on one line in the stderr message.
func oneLineText(s string) string { return strings.Join(strings.Fields(s), " ") }

func envOf(app *App) func(string) string {
	if app.Getenv == nil {
		return func(string) string { return "" }
	}
	return app.Getenv
}

type checkOptions struct {
	input       string
	inputFormat string
	dockerfile  string
	target      string
	format      string
	gates       gateFlags
}

func newCheckCommand(app *App) *cobra.Command {
	var opts checkOptions
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
Without history the regression gate is skipped with a notice, never failed.
Check prints one line per gate and exits with status 1 when a gate failed.`,
		Example: `  buildstats check --max-duration 15m --min-cache-hit 50% build.log
  buildstats check --db history.db --max-regression 40% build.log`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.input = args[0]
			return runCheck(cmd.Context(), app, cmd.Flags(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.inputFormat, "input-format", "", "log format, instead of detecting it: "+strings.Join(inputFormats, ", "))
	f.StringVar(&opts.dockerfile, "dockerfile", "", "the Dockerfile that was built, for line numbers")
	f.StringVar(&opts.target, "target", "", "the --target stage the build stopped at")
	f.StringVar(&opts.format, "format", "text", "output format: text, json")
	opts.gates.register(f)
	return cmd
}

func runCheck(ctx context.Context, app *App, flags *pflag.FlagSet, opts checkOptions) error {
	if opts.format != "text" && opts.format != "json" {
		return usageError(fmt.Errorf("unknown output format %q (want text, json)", opts.format))
	}
	cfg, err := opts.gates.config(flags, true)
	if err != nil {
		return usageError(err)
	}
	lb, err := readBuildLog(app, opts.input, opts.inputFormat)
	if err != nil {
		return err
	}
	df, _, err := readDockerfile(app, opts.dockerfile, opts.target)
	if err != nil {
		return err
	}
	e := report.Explain(lb.build, report.Options{Dockerfile: df})

	var base *gate.Baseline
	if slices.Contains(cfg.Gates, gate.Regression) {
		s, path, err := openHistory(app, &opts.gates)
		if err != nil {
			return err
		}
		if s != nil {
			defer s.Close()
		}
		// A nil *SQLite must reach gateBaseline as a nil interface.
		var st store.Store
		if s != nil {
			st = s
		}
		if base, err = gateBaseline(ctx, app, st, path, &opts.gates, buildMeta(app, &opts.gates), lb.hash); err != nil {
			return err
		}
	}
	results := gate.Check(lb.build, e, base, cfg)
	if err := writeGateResults(app.IO.Out, opts.format, results); err != nil {
		return err
	}
	return gateError(results)
}

// writeGateResults prints one line per gate, or the results as JSON.
func writeGateResults(w io.Writer, format string, results []gate.Result) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if results == nil {
			results = []gate.Result{}
		}
		return enc.Encode(struct {
			Failed bool          `json:"failed"`
			Gates  []gate.Result `json:"gates"`
		}{gate.Failed(results), results})
	}
	if len(results) == 0 {
		_, err := fmt.Fprintln(w, "No gates to check: set --max-duration, --min-cache-hit or --fail-on.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.ToUpper(r.Status), r.Gate, oneLineText(r.Message))
	}
	return tw.Flush()
}

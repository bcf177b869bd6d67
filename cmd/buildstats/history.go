package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/buildstats/buildstats/collect/buildenv"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/sqlite"
)

const dbFlagUsage = "history database (default $BUILDSTATS_DB or ~/.local/share/buildstats/history.db)"

// openHistoryForRead opens the build history for a command that only
// reads it. It never creates a database: a missing or empty file means
// nothing was ingested, which the user has to fix.
func openHistoryForRead(app *App, db string) (*sqlite.Store, error) {
	path, ok, err := historyDB(app, db)
	if err != nil {
		return nil, err
	}
	if ok {
		// SQLite would treat an empty file as a new database and write a
		// schema into it.
		if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Size() == 0 {
			ok = false
		}
	}
	if !ok {
		return nil, usageError(fmt.Errorf("no build history at %s: run buildstats ingest first", path))
	}
	s, err := sqlite.Open(path)
	if err != nil {
		// The file is there but unusable (not a database, too new, a
		// directory, locked): the user's to fix, not a failed command.
		return nil, usageError(err)
	}
	return s, nil
}

// historyError makes the store's errors about the database file usage
// errors (exit status 2): the file is damaged, too new or held by another
// process, and the command cannot do anything about it.
func historyError(err error) error {
	if errors.Is(err, store.ErrNotDatabase) || errors.Is(err, store.ErrSchemaTooNew) || errors.Is(err, store.ErrLocked) {
		return usageError(err)
	}
	return err
}

// detectMeta fills the metadata flags left empty from the CI's environment,
// then the git checkout of the working directory, then the directory's
// name for the project: the same order for storing builds and for finding
// the current project's builds, so the two agree.
func detectMeta(app *App, flags store.Meta) store.Meta {
	cwd, _ := os.Getwd()
	return detectMetaIn(app, cwd, flags)
}

// detectMetaIn is detectMeta for a build made in dir.
func detectMetaIn(app *App, dir string, flags store.Meta) store.Meta {
	i := buildenv.Detect(buildenv.Env{Getenv: envOf(app), Dir: dir}, buildenv.Info{Project: flags.Project,
		Branch: flags.Branch, Commit: flags.Commit, CIProvider: flags.CIProvider, RunURL: flags.RunURL, Runner: flags.Runner})
	flags.Project, flags.Branch, flags.Commit, flags.CIProvider, flags.RunURL, flags.Runner =
		i.Project, i.Branch, i.Commit, i.CIProvider, i.RunURL, i.Runner
	return flags
}

// projectScope is the project a read command looks at: --project, else
// the current one; "" (every project) with --all-projects. It also says
// whether the project was detected rather than named.
func projectScope(app *App, project string, all bool) (string, bool, error) {
	switch {
	case all && project != "":
		return "", false, usageError(errors.New("--project and --all-projects exclude each other"))
	case all:
		return "", false, nil
	case project != "":
		return project, false, nil
	}
	return detectMeta(app, store.Meta{}).Project, true, nil
}

// scopeHint explains an empty answer for a detected project, which is
// often not the one the builds were stored under.
func scopeHint(project string, detected bool) string {
	if !detected {
		return ""
	}
	return fmt.Sprintf(" (project %q is the working directory's; use --project NAME or --all-projects)", project)
}

// resolveBuild turns a build reference into an id, with a message that
// says where it looked when there is no such build.
func resolveBuild(ctx context.Context, s store.Store, ref, project string, detected bool) (int64, error) {
	id, err := s.Resolve(ctx, ref, project)
	if errors.Is(err, store.ErrNotFound) {
		return 0, usageError(fmt.Errorf("%w%s", err, scopeHint(project, detected)))
	}
	if err != nil {
		// A reference Resolve cannot read, or a database it cannot use.
		return 0, usageError(err)
	}
	return id, nil
}

// clock is the App's time now.
func clock(app *App) time.Time {
	if app.Now != nil {
		return app.Now()
	}
	return time.Now()
}

// readOptions are the flags every command that reads the history has.
type readOptions struct {
	db     string
	format string
}

func (o *readOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.db, "db", "", dbFlagUsage)
	f.StringVar(&o.format, "format", report.FormatTable, "output format: "+strings.Join(report.Formats, ", "))
}

// checkFormat rejects an unknown --format; the commands check it before
// anything else.
func (o *readOptions) checkFormat() error {
	if err := report.CheckFormat(o.format); err != nil {
		return usageError(err)
	}
	return nil
}

// addRefScopeFlags adds the --project and --all-projects of the commands
// whose build references ("latest", "previous") are a project's.
func addRefScopeFlags(f *pflag.FlagSet, project *string, all *bool) {
	f.StringVar(project, "project", "", `project that "latest" and "previous" refer to (default: the current one)`)
	f.BoolVar(all, "all-projects", false, `"latest" and "previous" across every project`)
}

// checkLimit rejects a negative --limit (0 is all).
func checkLimit(limit int) error {
	if limit < 0 {
		return usageError(errors.New("--limit must be 0 (all) or more"))
	}
	return nil
}

// ---- history ----

type historyOptions struct {
	readOptions
	project string
	branch  string
	since   string
	limit   int
}

func newHistoryCommand(app *App) *cobra.Command {
	var opts historyOptions
	cmd := &cobra.Command{
		Use:   "history [--project NAME] [--since WHEN] [--limit N]",
		Short: "List the builds in the history, newest first",
		Long: `History lists the stored builds, newest first: when each started, its project,
branch and commit, status, duration and how many Dockerfile steps ran and came
from the cache. Builds get into the history with buildstats ingest, build,
import or annotate --db.

A duration marked "~" is the sum of the step times: plain and tty logs do not
state a build's total, and stages may have run in parallel.

--since takes a date (2026-01-31), an RFC 3339 time, or a time before now:
30d, 12w, 36h.`,
		Example: `  buildstats history
  buildstats history --project shop --branch main --since 7d
  buildstats history --format json --limit 0`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistory(cmd.Context(), app, opts)
		},
	}
	f := cmd.Flags()
	opts.addFlags(f)
	f.StringVar(&opts.project, "project", "", "only this project's builds")
	f.StringVar(&opts.branch, "branch", "", "only this branch's builds")
	f.StringVar(&opts.since, "since", "", "only builds started since then (date, RFC 3339, or 30d / 12w / 36h ago)")
	f.IntVarP(&opts.limit, "limit", "n", 20, "how many builds to list; 0 for all")
	return cmd
}

func runHistory(ctx context.Context, app *App, opts historyOptions) error {
	if err := opts.checkFormat(); err != nil {
		return err
	}
	if err := checkLimit(opts.limit); err != nil {
		return err
	}
	since, err := parseWhen(opts.since, clock(app))
	if err != nil {
		return usageError(fmt.Errorf("--since: %w", err))
	}
	s, err := openHistoryForRead(app, opts.db)
	if err != nil {
		return err
	}
	defer s.Close()
	rows, err := s.History(ctx, store.HistoryQuery{Project: opts.project, Branch: opts.branch, Since: since, Limit: opts.limit})
	if err != nil {
		return historyError(err)
	}
	return report.RenderBuilds(app.IO.Out, opts.format, rows, report.RenderOptions{Color: app.ColorEnabled()})
}

// ---- show ----

type showOptions struct {
	readOptions
	ref         string
	project     string
	allProjects bool
	dockerfile  string
}

func newShowCommand(app *App) *cobra.Command {
	var opts showOptions
	cmd := &cobra.Command{
		Use:   "show [BUILD]",
		Short: "Explain a build from the history",
		Long: `Show prints explain's report of a stored build, headed by what the history
knows of it (project, branch, commit, start time, CI run), and compares it with
the project's build before it: the steps that came from the cache then and ran
this time.

BUILD is an id from buildstats history, "latest" (the default), "previous",
"latest~N" or a content hash prefix. latest and previous are the current
project's (from --project, the CI's environment, the git checkout or the
directory name); --all-projects takes them from the whole history.`,
		Example: `  buildstats show
  buildstats show 42 --format markdown
  buildstats show previous --dockerfile Dockerfile`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ref = "latest"
			if len(args) == 1 {
				opts.ref = args[0]
			}
			return runShow(cmd.Context(), app, opts)
		},
	}
	f := cmd.Flags()
	opts.addFlags(f)
	addRefScopeFlags(f, &opts.project, &opts.allProjects)
	f.StringVar(&opts.dockerfile, "dockerfile", "", "the Dockerfile that was built, for line numbers and excerpts")
	return cmd
}

func runShow(ctx context.Context, app *App, opts showOptions) error {
	if err := opts.checkFormat(); err != nil {
		return err
	}
	project, detected, err := projectScope(app, opts.project, opts.allProjects)
	if err != nil {
		return err
	}
	var df *dockerfile.File
	if opts.dockerfile != "" {
		if df, err = dockerfile.ParseFile(opts.dockerfile); err != nil {
			return usageError(fmt.Errorf("reading Dockerfile: %w", err))
		}
	}
	s, err := openHistoryForRead(app, opts.db)
	if err != nil {
		return err
	}
	defer s.Close()
	id, err := resolveBuild(ctx, s, opts.ref, project, detected)
	if err != nil {
		return err
	}
	sum, err := s.Summary(ctx, id)
	if err != nil {
		return historyError(err)
	}
	b, _, err := s.Build(ctx, id)
	if err != nil {
		return historyError(err)
	}
	e := report.Explain(b, report.Options{Dockerfile: df})
	if e.History, err = storedHistory(ctx, s, id, b, e); err != nil {
		return historyError(err)
	}
	return report.RenderStoredBuild(app.IO.Out, opts.format, sum, e, report.RenderOptions{Color: app.ColorEnabled()})
}

// ---- compare ----

type compareOptions struct {
	readOptions
	before, after string
	project       string
	allProjects   bool
}

func newCompareCommand(app *App) *cobra.Command {
	var opts compareOptions
	cmd := &cobra.Command{
		Use:   "compare [A [B]]",
		Short: "Compare two builds from the history step by step",
		Long: `Compare lines up two stored builds step by step (steps are matched by
platform, stage and instruction, not by their [n/m] position) and shows each
step's time and cache status in both, the first step whose cache status
changed and what the lost cache hits cost, base image digest changes, the
build context size and the steps added or removed.

A and B are ids, "latest", "previous", "latest~N" or content hash prefixes;
the default is "previous latest", and one build is compared with latest.
latest and previous are the current project's (from --project, the CI's
environment, the git checkout or the directory name); --all-projects takes
them from the whole history.`,
		Example: `  buildstats compare
  buildstats compare 41 42
  buildstats compare latest~5 --format markdown`,
		Args: usageArgs(cobra.MaximumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.before, opts.after = "previous", "latest"
			switch len(args) {
			case 1:
				opts.before = args[0]
			case 2:
				opts.before, opts.after = args[0], args[1]
			}
			return runCompare(cmd.Context(), app, opts)
		},
	}
	f := cmd.Flags()
	opts.addFlags(f)
	addRefScopeFlags(f, &opts.project, &opts.allProjects)
	return cmd
}

func runCompare(ctx context.Context, app *App, opts compareOptions) error {
	if err := opts.checkFormat(); err != nil {
		return err
	}
	project, detected, err := projectScope(app, opts.project, opts.allProjects)
	if err != nil {
		return err
	}
	s, err := openHistoryForRead(app, opts.db)
	if err != nil {
		return err
	}
	defer s.Close()
	before, err := resolveBuild(ctx, s, opts.before, project, detected)
	if err != nil {
		return err
	}
	after, err := resolveBuild(ctx, s, opts.after, project, detected)
	if err != nil {
		return err
	}
	if before == after {
		return usageError(fmt.Errorf("%s and %s are the same build (#%d)", opts.before, opts.after, before))
	}
	c, err := s.Compare(ctx, before, after)
	if err != nil {
		return historyError(err)
	}
	return report.RenderComparison(app.IO.Out, opts.format, c, report.RenderOptions{Color: app.ColorEnabled()})
}

// ---- slow and misses ----

type stepStatsOptions struct {
	readOptions
	kind        string // report.StatsSlow or report.StatsMisses
	since       string
	until       string
	project     string
	allProjects bool
	branch      string
	limit       int
}

func newSlowCommand(app *App) *cobra.Command {
	return newStepStatsCommand(app, report.StatsSlow, &cobra.Command{
		Use:   "slow [--since 30d] [--project NAME | --all-projects]",
		Short: "Rank steps by the time they took over the history",
		Long: `Slow ranks step identities (a Dockerfile step across builds: platform, stage
and instruction, whatever its [n/m] position) by the run time they took over a
window of the history, with the p50, p95 and longest run, how often the step
missed the cache, and the total. Cache hits are left out of the times; steps
that were always cached are not listed.

The window is --since (default 30 days) to --until (default now); the project
is --project, else the current one (from the CI's environment, the git
checkout or the directory name); --all-projects looks at every project.`,
		Example: `  buildstats slow
  buildstats slow --since 90d --branch main --limit 10
  buildstats slow --all-projects --format json`,
	})
}

func newMissesCommand(app *App) *cobra.Command {
	return newStepStatsCommand(app, report.StatsMisses, &cobra.Command{
		Use:   "misses [--since 30d] [--project NAME | --all-projects]",
		Short: "Rank Dockerfile steps by the time lost to cache misses",
		Long: `Misses ranks Dockerfile steps by the time their cache misses cost over a window
of the history: how often each missed and hit the cache, its miss rate, the
p50, p95 and longest run, and the total run time of the misses (what the cache
would have saved). Steps that never missed are not listed.

The window is --since (default 30 days) to --until (default now); the project
is --project, else the current one (from the CI's environment, the git
checkout or the directory name); --all-projects looks at every project.`,
		Example: `  buildstats misses
  buildstats misses --since 7d --branch main
  buildstats misses --project api --format markdown`,
	})
}

func newStepStatsCommand(app *App, kind string, cmd *cobra.Command) *cobra.Command {
	opts := stepStatsOptions{kind: kind}
	cmd.Args = usageArgs(cobra.NoArgs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runStepStats(cmd.Context(), app, opts)
	}
	f := cmd.Flags()
	opts.addFlags(f)
	f.StringVar(&opts.since, "since", "30d", "start of the window (date, RFC 3339, or 30d / 12w / 36h ago)")
	f.StringVar(&opts.until, "until", "", "end of the window (same forms; default now)")
	f.StringVar(&opts.project, "project", "", "only this project's builds (default: the current project)")
	f.BoolVar(&opts.allProjects, "all-projects", false, "every project's builds")
	f.StringVar(&opts.branch, "branch", "", "only this branch's builds")
	f.IntVarP(&opts.limit, "limit", "n", 20, "how many steps to list; 0 for all")
	return cmd
}

func runStepStats(ctx context.Context, app *App, opts stepStatsOptions) error {
	if err := opts.checkFormat(); err != nil {
		return err
	}
	if err := checkLimit(opts.limit); err != nil {
		return err
	}
	now := clock(app)
	since, err := parseWhen(opts.since, now)
	if err != nil {
		return usageError(fmt.Errorf("--since: %w", err))
	}
	until, err := parseWhen(opts.until, now)
	if err != nil {
		return usageError(fmt.Errorf("--until: %w", err))
	}
	project, detected, err := projectScope(app, opts.project, opts.allProjects)
	if err != nil {
		return err
	}
	s, err := openHistoryForRead(app, opts.db)
	if err != nil {
		return err
	}
	defer s.Close()
	q := store.WindowQuery{Since: since, Until: until, Project: project, Branch: opts.branch, Limit: opts.limit}
	var steps []store.StepStats
	if opts.kind == report.StatsMisses {
		steps, err = s.Misses(ctx, q)
	} else {
		steps, err = s.Slow(ctx, q)
	}
	if err != nil {
		return historyError(err)
	}
	// How many builds the figures are over: a p95 of three builds is not
	// one of three hundred.
	builds, err := s.History(ctx, store.HistoryQuery{Project: project, Branch: opts.branch, Since: since, Until: until})
	if err != nil {
		return historyError(err)
	}
	r := &report.StepStatsReport{Kind: opts.kind, Since: since, Builds: len(builds), Steps: steps}
	if !until.IsZero() {
		r.Until = &until
	}
	if project != "" {
		r.Project = &project
	}
	if opts.branch != "" {
		r.Branch = &opts.branch
	}
	if err := report.RenderStepStats(app.IO.Out, opts.format, r, report.RenderOptions{Color: app.ColorEnabled()}); err != nil {
		return err
	}
	if len(builds) == 0 && detected && opts.format != report.FormatJSON {
		fmt.Fprintf(app.IO.ErrOut, "buildstats: no builds in the window%s\n", scopeHint(project, detected))
	}
	return nil
}

// ---- explain's and show's comparison with the previous build ----

// storedHistory compares the stored build id (b, explained as e) with the
// build of its project before it; nil for a project's first build.
func storedHistory(ctx context.Context, s store.Store, id int64, b *model.Build, e *report.Explanation) (*report.History, error) {
	pm, err := s.PreviousMisses(ctx, id)
	if err != nil {
		return nil, err
	}
	if pm.Previous == nil {
		return nil, nil
	}
	h := &report.History{BuildID: &id, Project: pm.Build.Project, Basis: report.HistoryBasisPrevious,
		Previous: report.PreviousBuildOf(*pm.Previous)}
	return h, addCacheLost(ctx, s, h, b, e)
}

// latestHistory compares a build that is not in the history with the
// project's latest stored build (the latest that started before it, when
// the log says when it started); nil when the project has none.
func latestHistory(ctx context.Context, s store.Store, project string, b *model.Build, e *report.Explanation) (*report.History, error) {
	q := store.HistoryQuery{Project: project, Limit: 1}
	if !b.Started.IsZero() {
		q.Until = b.Started
	}
	rows, err := s.History(ctx, q)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	h := &report.History{Project: project, Basis: report.HistoryBasisLatest, Previous: report.PreviousBuildOf(rows[0])}
	return h, addCacheLost(ctx, s, h, b, e)
}

// addCacheLost lists in h the Dockerfile steps of b that were cached in
// h.Previous and ran or failed in b. Steps are matched by the regression
// gate's step identity (platform, stage, normalised instruction and
// occurrence), as the store matches them, so a log that was never
// ingested compares the same way as a stored one. States follow the
// store's: a failed step missed the cache, a cancelled one neither hit nor
// missed.
func addCacheLost(ctx context.Context, s store.Store, h *report.History, b *model.Build, e *report.Explanation) error {
	prev, _, err := s.Build(ctx, h.Previous.ID)
	if err != nil {
		return err
	}
	h.CacheLost = []report.HistoryStep{}
	cached := map[model.Identity]bool{}
	for i, k := range prev.Identities() {
		if v := prev.Vertices[i]; v.IsStep() && v.Instruction != "" && v.Cached {
			cached[k] = true
		}
	}
	for i, k := range b.Identities() {
		v := b.Vertices[i]
		if !v.IsStep() || v.Instruction == "" || v.Cached || !cached[k] {
			continue
		}
		if v.Error != "" || !v.Canceled && v.Ran() {
			h.AddCacheLost(e.Steps[i])
		}
	}
	return nil
}

// explainHistory finds the history of a log being explained: when the
// history database exists and this log was ingested, the comparison with
// the build before it; when it was not, the comparison with the project's
// latest stored build. It never creates a database. With --db, problems
// with the database end the command; the default database is only a
// bonus, so its problems are a warning.
func explainHistory(ctx context.Context, app *App, opts explainOptions, b *model.Build, e *report.Explanation, hash string) (*report.History, error) {
	path, ok, err := historyDB(app, opts.db)
	if err != nil {
		return nil, nil // no place for a history: nothing to compare with
	}
	if st, err := os.Stat(path); ok && (err != nil || !st.Mode().IsRegular() || st.Size() == 0) {
		ok = false
	}
	if !ok {
		if opts.db != "" {
			return nil, usageError(fmt.Errorf("no build history at %s: run buildstats ingest first", path))
		}
		return nil, nil
	}
	h, err := func() (*report.History, error) {
		s, err := sqlite.Open(path)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		id, err := s.Resolve(ctx, hash, "")
		if err == nil {
			return storedHistory(ctx, s, id, b, e)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		project := detectMeta(app, store.Meta{Project: opts.project}).Project
		return latestHistory(ctx, s, project, b, e)
	}()
	if err != nil {
		if opts.db != "" {
			return nil, usageError(err)
		}
		fmt.Fprintf(app.IO.ErrOut, "buildstats: warning: the build history was not used: %s\n", oneLineText(err.Error()))
		return nil, nil
	}
	return h, nil
}

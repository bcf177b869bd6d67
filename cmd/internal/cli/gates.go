package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/buildstats/buildstats/collect/buildenv"
	"github.com/buildstats/buildstats/report/gate"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
)

// GateFlags are the flags of the commands that gate a build (check,
// annotate): the gates, their limits, and where the history and the
// build's identity come from.
type GateFlags struct {
	MaxDuration     time.Duration
	MaxRegression   Share
	RegressionFloor time.Duration
	MinCacheHit     Share
	BaselineBuilds  int
	FailOn          []string
	MissingHistory  *Enum

	DB            string
	Project       string
	Branch        string
	DefaultBranch string
}

// Register declares the flags on cmd.
func (g *GateFlags) Register(cmd *cobra.Command) {
	f := cmd.Flags()
	g.MaxRegression = Share(gate.DefaultMaxRegression)
	f.DurationVar(&g.MaxDuration, "max-duration", 0, "fail when the build takes longer than this (e.g. 10m)")
	f.Var(&g.MaxRegression, "max-regression", "fail when a step takes this much longer than its baseline (25% or 0.25)")
	f.DurationVar(&g.RegressionFloor, "regression-floor", gate.DefaultRegressionFloor, "ignore step slowdowns smaller than this, which are run-to-run noise")
	f.Var(&g.MinCacheHit, "min-cache-hit", "fail when fewer than this share of the Dockerfile steps came from the cache (e.g. 50%)")
	f.IntVar(&g.BaselineBuilds, "baseline-builds", gate.DefaultBaselineBuilds, "the regression baseline is the median over this many recent successful builds")
	f.StringSliceVar(&g.FailOn, "fail-on", nil, "gates to enforce: "+strings.Join(gate.Names, ", ")+" (a limit flag enables its gate too)")
	g.MissingHistory = NewEnum("fail", "fail", "skip")
	AddEnumFlag(cmd, g.MissingHistory, "missing-history", "when a requested regression gate has no history to compare with: fail it (exit 2) or skip it")
	AddDBFlag(cmd, &g.DB)
	f.StringVar(&g.Project, "project", "", "project the build belongs to (default from CI or the git remote)")
	f.StringVar(&g.Branch, "branch", "", "branch the build is of (default from CI or the git checkout)")
	f.StringVar(&g.DefaultBranch, "default-branch", "", "branch whose history is the baseline when this branch has none (default from CI or origin/HEAD)")
}

// Config turns the flags into the gates to run. Gates named by --fail-on
// run, and so does each gate whose limit flag was set. With
// regressionByDefault (check), the regression gate also runs when nobody
// asked for it, and is then skipped rather than failed without history.
func (g *GateFlags) Config(flags *pflag.FlagSet, regressionByDefault bool) (gate.Config, error) {
	cfg := gate.Config{
		MaxDuration:        g.MaxDuration,
		MaxRegression:      float64(g.MaxRegression),
		RegressionFloor:    g.RegressionFloor,
		MinCacheHit:        float64(g.MinCacheHit),
		SkipWithoutHistory: g.MissingHistory.Value == "skip",
	}
	on := map[string]bool{}
	for _, name := range g.FailOn {
		name = strings.TrimSpace(name)
		if !slices.Contains(gate.Names, name) {
			return cfg, UsageError(fmt.Errorf("--fail-on: unknown gate %q (want %s)", name, strings.Join(gate.Names, ", ")))
		}
		on[name] = true
	}
	if flags.Changed("max-duration") {
		on[gate.Duration] = true
	}
	asked := on[gate.Regression] || flags.Changed("max-regression") || flags.Changed("regression-floor")
	if asked || regressionByDefault {
		on[gate.Regression] = true
	}
	if !asked && !flags.Changed("missing-history") {
		cfg.SkipWithoutHistory = true // a gate nobody asked for does not fail a build
	}
	if flags.Changed("min-cache-hit") {
		on[gate.CacheHit] = true
	}
	switch {
	case on[gate.Duration] && g.MaxDuration <= 0:
		return cfg, UsageError(errors.New("--fail-on duration needs --max-duration"))
	case on[gate.CacheHit] && !flags.Changed("min-cache-hit"):
		return cfg, UsageError(errors.New("--fail-on cache-hit needs --min-cache-hit"))
	case float64(g.MinCacheHit) > 1:
		return cfg, UsageError(errors.New("--min-cache-hit must be at most 100%"))
	case g.BaselineBuilds < 1:
		return cfg, UsageError(errors.New("--baseline-builds must be at least 1"))
	case g.RegressionFloor < 0:
		return cfg, UsageError(errors.New("--regression-floor must not be negative"))
	}
	for _, name := range gate.Names {
		if on[name] {
			cfg.Gates = append(cfg.Gates, name)
		}
	}
	return cfg, nil
}

// Baseline computes the regression baseline for the build with content
// hash from s; s nil means there is no history database, which gives an
// empty baseline saying so.
func (f *Factory) Baseline(ctx context.Context, s store.Reader, g *GateFlags, meta store.Meta, hash string) (*gate.Baseline, error) {
	if s == nil {
		target, _ := f.HistoryTarget(g.DB)
		return &gate.Baseline{Note: "no history database at " + backend.Describe(target) + " (regression gates need earlier builds: store them with --db)"}, nil
	}
	def := g.DefaultBranch
	if def == "" {
		def = buildenv.DefaultBranch(f.Env, f.WorkDir)
	}
	base, err := gate.LoadBaseline(ctx, s, gate.Query{
		Project: meta.Project, Branch: meta.Branch, DefaultBranch: def,
		Builds: g.BaselineBuilds, Exclude: hash,
	})
	return base, HistoryError(err)
}

// OpenBaselineHistory opens the history the regression baseline is read
// from. A history that does not exist is no error (nil store: the gate
// then has no baseline); one that exists and cannot be read is.
func (f *Factory) OpenBaselineHistory(ctx context.Context, db string) (store.Store, error) {
	s, err := f.OpenHistory(ctx, db, backend.Read)
	if errors.Is(err, store.ErrNoHistory) {
		return nil, nil
	}
	return s, err
}

// GateError is the error gate results end a command with: nil when all
// passed or were skipped; exit status 2 when a gate could not be
// evaluated; else exit status 1, naming the failed gates.
func GateError(results []gate.Result) error {
	var failed, broken []gate.Result
	for _, r := range results {
		switch r.Status {
		case gate.StatusFail:
			failed = append(failed, r)
		case gate.StatusError:
			broken = append(broken, r)
		}
	}
	if len(broken) > 0 {
		return UsageError(fmt.Errorf("gate %s could not be evaluated: %s", broken[0].Gate, OneLine(broken[0].Message)))
	}
	if len(failed) == 0 {
		return nil
	}
	if len(failed) == 1 {
		return Failed(fmt.Errorf("gate %s failed: %s", failed[0].Gate, OneLine(failed[0].Message)))
	}
	var names []string
	for _, r := range failed {
		names = append(names, r.Gate)
	}
	return Failed(fmt.Errorf("%d gates failed: %s", len(failed), strings.Join(names, ", ")))
}

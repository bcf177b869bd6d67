// Package gate decides whether a build passes the limits a CI pipeline
// sets on it: a maximum duration, a minimum cache hit rate, and no step
// slower than its history by more than a given fraction.
//
// Check is pure: it reads a parsed build, its Explanation and, for the
// regression gate, a Baseline that LoadBaseline computes from the build
// history (the median run time of each step over the last successful
// builds of the same project and branch).
package gate

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
)

// Gate names, as --fail-on takes them.
const (
	Duration   = "duration"
	Regression = "regression"
	CacheHit   = "cache-hit"
)

// Names lists the gates in the order Check evaluates them.
var Names = []string{Duration, Regression, CacheHit}

// Result statuses.
const (
	StatusPass = "pass"
	StatusFail = "fail"
	// StatusSkip: the gate does not apply (no cache figures, no times), or
	// could not be evaluated and the user asked for it to be skipped then;
	// a skipped gate never fails a pipeline.
	StatusSkip = "skip"
	// StatusError: the gate could not be evaluated (no history to compare
	// with) and was not to be skipped: it fails closed, and the command
	// exits with status 2.
	StatusError = "error"
)

// Defaults for Config.
const (
	DefaultMaxRegression   = 0.25
	DefaultRegressionFloor = 5 * time.Second
)

// Config says which gates run and their limits.
type Config struct {
	// Gates are the gates to evaluate, names from Names.
	Gates []string
	// MaxDuration is the longest the build may take.
	MaxDuration time.Duration
	// MaxRegression is how much longer than its baseline a step may take,
	// as a fraction (0.25 = 25%).
	MaxRegression float64
	// RegressionFloor is the smallest slowdown, in absolute time, that
	// counts as a regression: short steps vary by more than 25% from run to
	// run on shared CI machines, and failing a pipeline over a step that
	// went from 0.4s to 0.6s helps nobody.
	RegressionFloor time.Duration
	// MinCacheHit is the lowest acceptable fraction of Dockerfile steps
	// served from the cache.
	MinCacheHit float64
	// SkipWithoutHistory skips the regression gate when there is no
	// history to compare with; otherwise it is StatusError.
	SkipWithoutHistory bool
}

// Result is the verdict of one gate.
type Result struct {
	Gate   string `json:"gate"`
	Status string `json:"status"`
	// Message explains the verdict with the figures it rests on.
	Message string `json:"message"`
	// Regressions are the steps over the limit (regression gate only).
	Regressions []StepRegression `json:"regressions"`
}

// StepRegression is one step slower than its baseline by more than the
// limit.
type StepRegression struct {
	// Step is the vertex name as the log prints it.
	Step string `json:"step"`
	// Index is the step's position in Explanation.Steps (and the build's
	// vertices), so callers can find its Dockerfile line.
	Index           int     `json:"-"`
	Line            *int    `json:"line"`
	Seconds         float64 `json:"seconds"`
	BaselineSeconds float64 `json:"baseline_seconds"`
	// BaselineRuns is how many runs the baseline median is taken over.
	BaselineRuns int `json:"baseline_runs"`
	// Change is (Seconds - BaselineSeconds) / BaselineSeconds.
	Change float64 `json:"change"`
	// Message says it in a sentence, baseline and limit included.
	Message string `json:"message"`
}

// Failed reports whether any result failed or could not be evaluated.
func Failed(rs []Result) bool {
	return slices.ContainsFunc(rs, func(r Result) bool { return r.Status == StatusFail || r.Status == StatusError })
}

// Check evaluates the gates of cfg against b and its explanation e (which
// must be report.Explain(b, ...)). base is the history baseline for the
// regression gate; nil or empty skips that gate.
func Check(b *model.Build, e *report.Explanation, base *Baseline, cfg Config) []Result {
	var out []Result
	for _, g := range Names {
		if !slices.Contains(cfg.Gates, g) {
			continue
		}
		switch g {
		case Duration:
			out = append(out, checkDuration(b, e, cfg))
		case Regression:
			out = append(out, checkRegression(b, e, base, cfg))
		case CacheHit:
			out = append(out, checkCacheHit(e, cfg))
		}
	}
	return out
}

func checkDuration(b *model.Build, e *report.Explanation, cfg Config) Result {
	r := Result{Gate: Duration, Regressions: []StepRegression{}}
	d, how := b.WallTime()
	if how == "" {
		r.Status = StatusSkip
		r.Message = "the log shows no build or step times"
		return r
	}
	limit := report.FormatSeconds(cfg.MaxDuration.Seconds())
	took := report.FormatSeconds(d.Seconds())
	what := "the build took " + took
	if how == model.WallTimeSum {
		// Plain logs state no total; stages that ran in parallel make
		// the sum an overestimate, so say what was measured.
		what = "the build's steps took " + took + " in total (the log states no build time; parallel stages make this an upper bound)"
	}
	if b.DurationIsLowerBound {
		what = "the build took at least " + took + " (the log ends before it does)"
	}
	switch {
	case d > cfg.MaxDuration:
		r.Status = StatusFail
		r.Message = fmt.Sprintf("%s, over the limit of %s", what, limit)
	case b.DurationIsLowerBound:
		// Within the limit so far says nothing about the rest.
		r.Status = StatusError
		r.Message = fmt.Sprintf("%s, within the limit of %s so far; whether the whole build was is unknown", what, limit)
	default:
		r.Status = StatusPass
		r.Message = fmt.Sprintf("%s, within the limit of %s", what, limit)
	}
	return r
}

func checkCacheHit(e *report.Explanation, cfg Config) Result {
	r := Result{Gate: CacheHit, Regressions: []StepRegression{}}
	if e.CacheHitRate == nil {
		r.Status = StatusSkip
		r.Message = "no Dockerfile step ran or came from the cache, so there is no hit rate"
		return r
	}
	rate := *e.CacheHitRate
	figures := fmt.Sprintf("cache hit rate %s (%d of %d steps cached)", report.FormatShare(rate), e.StepsCached, e.StepsCached+e.StepsRun)
	if rate < cfg.MinCacheHit {
		r.Status = StatusFail
		r.Message = fmt.Sprintf("%s, under the minimum of %s", figures, report.FormatShare(cfg.MinCacheHit))
	} else {
		r.Status = StatusPass
		r.Message = fmt.Sprintf("%s, at or over the minimum of %s", figures, report.FormatShare(cfg.MinCacheHit))
	}
	return r
}

func checkRegression(b *model.Build, e *report.Explanation, base *Baseline, cfg Config) Result {
	r := Result{Gate: Regression, Regressions: []StepRegression{}}
	if base == nil || base.Builds == 0 {
		r.Status = StatusError
		r.Message = "no history to compare with"
		if base != nil && base.Note != "" {
			r.Message = base.Note
		}
		if cfg.SkipWithoutHistory {
			r.Status = StatusSkip
		} else {
			r.Message += " (the gate fails closed; --missing-history skip skips it instead)"
		}
		return r
	}
	keys := b.Identities()
	compared := 0
	for i, v := range b.Vertices {
		if !comparable(v) {
			continue
		}
		sb, ok := base.Steps[keys[i]]
		if !ok || sb.Seconds <= 0 {
			continue
		}
		compared++
		cur := v.Duration.Seconds()
		change := (cur - sb.Seconds) / sb.Seconds
		if change <= cfg.MaxRegression || cur-sb.Seconds < cfg.RegressionFloor.Seconds() {
			continue
		}
		sr := StepRegression{
			Step: v.Name, Index: i, Seconds: round3(cur), BaselineSeconds: round3(sb.Seconds),
			BaselineRuns: sb.Runs, Change: round3(change),
		}
		if i < len(e.Steps) {
			sr.Line = e.Steps[i].Line
		}
		sr.Message = fmt.Sprintf("%s took %s, %s longer than its baseline of %s (the median of %d run%s in %s); the limit is +%s",
			shortName(v.Name), report.FormatSeconds(sr.Seconds), report.FormatShare(sr.Change), report.FormatSeconds(sr.BaselineSeconds),
			sb.Runs, plural(sb.Runs), base.Describe(), report.FormatShare(cfg.MaxRegression))
		r.Regressions = append(r.Regressions, sr)
	}
	// Largest slowdown in time first: that is where the minutes went.
	slices.SortStableFunc(r.Regressions, func(x, y StepRegression) int {
		return cmp.Compare(y.Seconds-y.BaselineSeconds, x.Seconds-x.BaselineSeconds)
	})
	against := "the median over " + base.Describe()
	limit := "+" + report.FormatShare(cfg.MaxRegression)
	switch {
	case len(r.Regressions) > 0:
		r.Status = StatusFail
		var parts []string
		for _, sr := range r.Regressions {
			parts = append(parts, fmt.Sprintf("%s took %s against %s (+%s)", shortName(sr.Step),
				report.FormatSeconds(sr.Seconds), report.FormatSeconds(sr.BaselineSeconds), report.FormatShare(sr.Change)))
		}
		r.Message = fmt.Sprintf("%d step%s regressed over the limit of %s against %s: %s",
			len(r.Regressions), plural(len(r.Regressions)), limit, against, strings.Join(parts, "; "))
	case compared == 0:
		r.Status = StatusPass
		r.Message = "no step that ran in this build has run times in " + against + ", so none can have regressed"
	default:
		r.Status = StatusPass
		by := report.FormatShare(cfg.MaxRegression)
		if cfg.RegressionFloor > 0 {
			by += " and " + report.FormatSeconds(cfg.RegressionFloor.Seconds())
		}
		r.Message = fmt.Sprintf("%d step%s compared with %s; none slower by more than %s", compared, plural(compared), against, by)
	}
	return r
}

// comparable reports whether v's time says something about the step: a
// Dockerfile step that ran to completion. Cache hits and failures take
// times unrelated to the step's usual cost.
func comparable(v *model.Vertex) bool {
	return v.IsStep() && v.Instruction != "" && v.Ran() && v.Error == "" && !v.Canceled && v.HasDuration
}

// shortName cuts a step name for messages: RUN lines can be kilobytes.
func shortName(name string) string {
	name = strings.Join(strings.Fields(name), " ")
	if r := []rune(name); len(r) > 100 {
		return string(r[:99]) + "…"
	}
	return name
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// SchemaVersion is the version of the JSON contract Render writes (Verdict).
const SchemaVersion = 1

// Verdict is the JSON contract of check --format json: every gate's
// result, and whether any failed or could not be evaluated.
type Verdict struct {
	SchemaVersion int      `json:"schema_version"`
	Failed        bool     `json:"failed"`
	Gates         []Result `json:"gates"`
}

// Render writes results as "text" (one line per gate: PASS, FAIL, SKIP or
// ERROR, the gate, the message) or "json" (a Verdict).
func Render(w io.Writer, format string, results []Result) error {
	if results == nil {
		results = []Result{}
	}
	if format == "json" {
		return report.WriteJSON(w, Verdict{SchemaVersion: SchemaVersion, Failed: Failed(results), Gates: results})
	}
	if len(results) == 0 {
		_, err := fmt.Fprintln(w, "No gates to check: set --max-duration, --min-cache-hit or --fail-on.")
		return err
	}
	width, sw := 0, 0
	for _, r := range results {
		width, sw = max(width, len(r.Gate)), max(sw, len(r.Status))
	}
	for _, r := range results {
		if _, err := fmt.Fprintf(w, "%-*s  %-*s  %s\n", sw, strings.ToUpper(r.Status), width, r.Gate, report.TerminalText(strings.Join(strings.Fields(r.Message), " "))); err != nil {
			return err
		}
	}
	return nil
}

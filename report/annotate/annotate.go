// Package annotate turns the analysis of a build (report.Explanation) into
// findings a CI system can show where people look: warnings on the
// Dockerfile lines of slow steps, notices where the layer cache broke, the
// failing step with its exit code and last lines, and the verdicts of the
// pipeline's gates.
//
// New evaluates the rules once; the writers (GitHub workflow commands, a
// GitLab Code Quality report, Markdown summaries, JUnit XML, plain text)
// only format the resulting Report. Every writer treats log text as
// hostile: New masks secrets in it (package redact), and the writers
// neutralise it for the format it ends up in (package safe: controls and
// bidi characters replaced, every line inert for the CI systems, then the
// format's own escaping), so a log cannot inject a workflow command,
// markup, a terminal escape or a forged annotation, nor leak a token.
package annotate

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/redact"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/report/gate"
)

// Finding kinds.
const (
	KindFailed     = "failed-step" // the step that failed the build
	KindSlow       = "slow-step"   // a step over the slow thresholds
	KindCacheMiss  = "cache-miss"  // the first cache miss of a stage
	KindRegression = "regression"  // a step slower than its history (gate)
	KindGate       = "gate"        // a build-level gate that failed or was skipped
	KindTruncated  = "truncated"   // the log does not cover the whole build
)

// Severities, named after GitHub's annotation levels.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
	SeverityNotice  = "notice"
)

// Finding is one thing worth showing about the build.
type Finding struct {
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	// Step is the vertex name as the log prints it; empty for build-level
	// findings.
	Step string `json:"step,omitempty"`
	// File and Line locate the instruction, both or neither: a finding
	// whose step could not be matched to the Dockerfile with confidence
	// has no location rather than a guessed one.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	// Title is a short headline; Message the full sentence(s).
	Title   string `json:"title"`
	Message string `json:"message"`
	// Output holds the last lines the failing step printed.
	Output []string `json:"output,omitempty"`
	// Seconds is the time the finding is about: the step's duration, the
	// time rebuilt after a cache miss. 0 when unknown.
	Seconds float64 `json:"seconds,omitempty"`
	// Key identifies the finding across builds (kind, platform, stage and
	// instruction, not the [n/m] position), for fingerprints.
	Key string `json:"-"`
}

// Rules are the thresholds of the slow-step rule.
type Rules struct {
	// Slow: a step taking at least this long is slow (0 disables).
	Slow time.Duration
	// SlowShare: a step taking at least this fraction of the build is
	// slow (0 disables)...
	SlowShare float64
	// SlowMin: ...if it also takes at least this long, so that a 0.3s
	// COPY in a 1s build is not called slow.
	SlowMin time.Duration
}

// Default rule thresholds.
const (
	DefaultSlow      = 30 * time.Second
	DefaultSlowShare = 0.20
	DefaultSlowMin   = time.Second
)

// DefaultRules returns the default thresholds.
func DefaultRules() Rules {
	return Rules{Slow: DefaultSlow, SlowShare: DefaultSlowShare, SlowMin: DefaultSlowMin}
}

// Options control New.
type Options struct {
	Rules Rules
	// Dockerfile is the file given to report.Explain, if any. It is used to
	// check that the log's own error location ("Dockerfile:3") is a line of
	// this file before pointing at it.
	Dockerfile *dockerfile.File
	// File is the path annotations name (relative to the repository root,
	// as CI systems want it); Dockerfile.Name() when empty.
	File string
	// OutputLines is how many of the failing step's last output lines to
	// show (report.ErrorOutputLines when 0).
	OutputLines int
	// Lines is the Dockerfile's text, line by line. When the file does not
	// parse (the build may have failed on that very error) and Dockerfile
	// is nil, the log's own error location is still used if the file has
	// the instruction the log quotes at that line.
	Lines []string
	// Mask masks secrets in the explanation's log text and in gate
	// results before any finding is made of them. nil masks with the
	// built-in patterns of package redact; redact.None() masks nothing
	// (--no-mask). The explanation no longer has the build's full output,
	// so values the build masks with ::add-mask:: are known only if the
	// caller ran Mask.Build on the build before report.Explain.
	Mask *redact.Redactor
}

// Report is the findings of one build, with what the writers need to
// describe the build around them.
type Report struct {
	Explanation *report.Explanation
	// File is the Dockerfile path findings point at; "" without one.
	File     string
	Rules    Rules
	Findings []Finding
	// Gates are the gate verdicts, when gates ran (see AddGates).
	Gates []gate.Result

	mask *redact.Redactor
}

// New evaluates the rules against e. Findings come sorted: errors first,
// then warnings and notices, each by time, largest first.
//
// The Report's Explanation is a copy of e with its secrets masked (see
// Options.Mask); e is not changed.
func New(e *report.Explanation, opts Options) *Report {
	e = trustedLines(maskExplanation(e, opts.Mask), opts.Dockerfile)
	r := &Report{Explanation: e, Rules: opts.Rules, mask: opts.Mask}
	switch {
	case opts.File != "":
		r.File = opts.File
	case opts.Dockerfile != nil:
		r.File = opts.Dockerfile.Name()
	case e.Dockerfile != nil:
		r.File = *e.Dockerfile
	}
	ev := &evaluator{r: r, e: e, df: opts.Dockerfile, lines: opts.Lines, outLines: opts.OutputLines, mask: opts.Mask}
	if ev.outLines <= 0 {
		ev.outLines = report.ErrorOutputLines
	}
	ev.failure()
	ev.slow()
	ev.cacheMisses()
	if e.Truncated {
		r.Findings = append(r.Findings, Finding{
			Kind: KindTruncated, Severity: SeverityNotice,
			Title:   "Incomplete build log",
			Message: "The log starts or ends in the middle of the build, so steps it does not show are not annotated.",
		})
	}
	r.sort()
	return r
}

// AddGates records gate verdicts: a failed regression becomes an error on
// each regressed step, another failed gate a build-level error, and a
// skipped gate a notice saying why it was skipped. Their messages and
// step names are masked as New masks the explanation.
func (r *Report) AddGates(results []gate.Result) {
	results = maskGates(results, r.mask)
	r.Gates = append(r.Gates, results...)
	for _, g := range results {
		switch {
		case g.Status == gate.StatusFail && g.Gate == gate.Regression:
			for _, sr := range g.Regressions {
				f := Finding{
					Kind: KindRegression, Severity: SeverityError, Step: sr.Step,
					Title: fmt.Sprintf("Step regressed: +%s (%s → %s)", report.FormatShare(sr.Change),
						report.FormatSeconds(sr.BaselineSeconds), report.FormatSeconds(sr.Seconds)),
					Message: sr.Message + ".",
					Seconds: sr.Seconds,
					Key:     KindRegression + "\x00" + r.stepKey(sr.Index),
				}
				// The report's own lines, which trustedLines vetted.
				if sr.Index >= 0 && sr.Index < len(r.Explanation.Steps) {
					if l := r.Explanation.Steps[sr.Index].Line; l != nil && r.File != "" {
						f.File, f.Line = r.File, *l
					}
				}
				r.Findings = append(r.Findings, f)
			}
		case g.Status == gate.StatusFail:
			r.Findings = append(r.Findings, Finding{
				Kind: KindGate, Severity: SeverityError, Key: KindGate + "\x00" + g.Gate,
				Title: "Gate failed: " + g.Gate, Message: capitalize(g.Message) + ".",
			})
		case g.Status == gate.StatusError:
			r.Findings = append(r.Findings, Finding{Kind: KindGate, Severity: SeverityError,
				Title: "Gate could not be evaluated: " + g.Gate, Message: capitalize(g.Message) + "."})
		case g.Status == gate.StatusSkip:
			r.Findings = append(r.Findings, Finding{
				Kind: KindGate, Severity: SeverityNotice, Key: KindGate + "\x00" + g.Gate,
				Title: "Gate skipped: " + g.Gate, Message: capitalize(g.Message) + ".",
			})
		}
	}
	r.sort()
}

var severityRank = map[string]int{SeverityError: 0, SeverityWarning: 1, SeverityNotice: 2}

var kindRank = map[string]int{KindFailed: 0, KindRegression: 1, KindGate: 2, KindSlow: 3, KindCacheMiss: 4, KindTruncated: 5}

func (r *Report) sort() {
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(severityRank[a.Severity], severityRank[b.Severity]),
			cmp.Compare(kindRank[a.Kind], kindRank[b.Kind]),
			cmp.Compare(b.Seconds, a.Seconds),
		)
	})
}

// stepKey is the identity of Explanation.Steps[i] across builds.
func (r *Report) stepKey(i int) string {
	if i < 0 || i >= len(r.Explanation.Steps) {
		return ""
	}
	s := r.Explanation.Steps[i]
	return strings.Join([]string{deref(s.Platform), deref(s.Stage), stepText(s.Name)}, "\x00")
}

type evaluator struct {
	r        *Report
	e        *report.Explanation
	df       *dockerfile.File
	lines    []string
	outLines int
	mask     *redact.Redactor
}

func (ev *evaluator) add(f Finding) { ev.r.Findings = append(ev.r.Findings, f) }

// locate fills f's location from step i's confident Dockerfile line.
func (ev *evaluator) locate(f *Finding, i int) {
	if s := ev.e.Steps[i]; s.Line != nil && ev.r.File != "" {
		f.File, f.Line = ev.r.File, *s.Line
	}
}

func (ev *evaluator) failure() {
	be := ev.e.Error
	if be == nil {
		return
	}
	f := Finding{Kind: KindFailed, Severity: SeverityError, Title: "Build failed", Key: KindFailed}
	if be.ExitCode != nil {
		f.Title = "Build failed: exit code " + strconv.Itoa(*be.ExitCode)
	}
	idx := -1
	if be.Step != nil {
		f.Step = *be.Step
		idx = slices.IndexFunc(ev.e.Steps, func(s report.Step) bool { return s.Name == *be.Step && s.Status == "error" })
		if idx < 0 {
			idx = slices.IndexFunc(ev.e.Steps, func(s report.Step) bool { return s.Name == *be.Step })
		}
	}
	if idx >= 0 {
		f.Key += "\x00" + ev.r.stepKey(idx)
		if d := ev.e.Steps[idx].DurationSeconds; d != nil {
			f.Seconds = *d
		}
	}
	var msg strings.Builder
	switch {
	case be.Step != nil && be.ExitCode != nil:
		fmt.Fprintf(&msg, "%s failed with exit code %d.", short(*be.Step), *be.ExitCode)
	case be.Step != nil:
		fmt.Fprintf(&msg, "%s failed.", short(*be.Step))
	default:
		msg.WriteString("The build failed.")
	}
	if be.Message != "" {
		msg.WriteString(" Error: " + be.Message)
	}
	line, where := ev.failureLine(idx)
	if line > 0 && ev.r.File != "" {
		f.File, f.Line = ev.r.File, line
	} else if where != "" {
		// Say where the log puts it even when that cannot be trusted to
		// be a line of the given file.
		fmt.Fprintf(&msg, " (the log locates it at %s)", where)
	}
	f.Message = msg.String()
	out := be.Output
	f.Output = append([]string(nil), out[max(0, len(out)-ev.outLines):]...)
	ev.add(f)
}

// failureLine picks the line of the failing instruction, or 0. The
// failing step's own confident match wins; the log's "Dockerfile:3" is
// used only when the given file has the very instruction the log quotes
// at that line. where is the log's location as text, for messages.
func (ev *evaluator) failureLine(idx int) (line int, where string) {
	be := ev.e.Error
	if be.Line != nil && be.ExcerptSource != nil && *be.ExcerptSource == "log" {
		file := "Dockerfile"
		if be.File != nil {
			file = *be.File
		}
		where = file + ":" + strconv.Itoa(*be.Line)
	}
	var stepLine *int
	if idx >= 0 {
		stepLine = ev.e.Steps[idx].Line
	}
	switch {
	case stepLine != nil && (be.Line == nil || *be.Line == *stepLine):
		return *stepLine, where
	case stepLine != nil:
		// The log and the given file disagree: the file is not the one
		// that was built, and neither line can be trusted.
		return 0, where
	case be.Line != nil && ev.logExcerptMatches(*be.Line):
		return *be.Line, where
	}
	return 0, where
}

// excerptLine is a line of a Dockerfile excerpt as BuildKit prints it:
// "   3 | >>> RUN make" (the failing instruction) or "   2 |     COPY . .".
var excerptLine = regexp.MustCompile(`^\s*(\d+) \| (>>>|   ) ?(.*)$`)

// logExcerptMatches reports whether every line the log's excerpt marks
// with ">>>" (the failing instruction, as BuildKit read it) is, text for
// text, the same line of the given Dockerfile.
func (ev *evaluator) logExcerptMatches(line int) bool {
	be := ev.e.Error
	if be.ExcerptSource == nil || *be.ExcerptSource != "log" {
		return false
	}
	marked := 0
	for _, l := range be.Excerpt {
		m := excerptLine.FindStringSubmatch(l)
		if m == nil || m[2] != ">>>" {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		text, ok := ev.lineText(n)
		if !ok || strings.TrimRight(text, " \t\r") != strings.TrimRight(m[3], " \t\r") {
			return false
		}
		if n == line {
			marked++
		}
	}
	return marked > 0
}

// lineText returns line n of the given Dockerfile, masked as the log's
// excerpt is, so that the two compare equal when they are the same line.
func (ev *evaluator) lineText(n int) (string, bool) {
	if len(ev.lines) > 0 {
		if n < 1 || n > len(ev.lines) {
			return "", false
		}
		return ev.mask.String(ev.lines[n-1]), true
	}
	if ev.df == nil {
		return "", false
	}
	for _, l := range ev.df.Excerpt(n, 0) {
		if m := excerptLine.FindStringSubmatch(l); m != nil && m[1] == strconv.Itoa(n) {
			return ev.mask.String(m[3]), true
		}
	}
	return "", false
}

func (ev *evaluator) slow() {
	rules := ev.r.Rules
	e := ev.e
	basis, basisText := 0.0, ""
	if e.DurationSeconds != nil && *e.DurationSeconds > 0 {
		basis, basisText = *e.DurationSeconds, "of the build"
	} else {
		// Same basis as report's slow steps: the log states no total.
		for _, s := range e.Steps {
			if s.DurationSeconds != nil && !s.Cached {
				basis += *s.DurationSeconds
			}
		}
		basisText = "of the summed step time"
	}
	for i, s := range e.Steps {
		if s.Status != "done" || s.Cached || s.DurationSeconds == nil {
			continue
		}
		d := *s.DurationSeconds
		share := 0.0
		if basis > 0 {
			share = min(1, d/basis)
		}
		overAbs := rules.Slow > 0 && d >= rules.Slow.Seconds()
		overShare := rules.SlowShare > 0 && share >= rules.SlowShare && d >= rules.SlowMin.Seconds()
		if !overAbs && !overShare {
			continue
		}
		f := Finding{
			Kind: KindSlow, Severity: SeverityWarning, Step: s.Name, Seconds: d,
			Title: "Slow step: " + report.FormatSeconds(d),
			Key:   KindSlow + "\x00" + ev.r.stepKey(i),
		}
		msg := fmt.Sprintf("%s took %s", short(s.Name), report.FormatSeconds(d))
		if basis > 0 {
			f.Title += " (" + report.FormatShare(share) + " " + basisText + ")"
			msg += ", " + report.FormatShare(share) + " " + basisText
			if basisText == "of the build" {
				msg += " (" + report.FormatSeconds(basis) + ")"
			}
		}
		f.Message = msg + "."
		ev.locate(&f, i)
		ev.add(f)
	}
}

// cacheMisses reports the first step of each stage that missed the cache
// and the time rebuilt after it. A first miss that is itself a cache break
// carries the break's rebuilt time (follow-on stages included); one that
// only follows a break in a stage it builds on says so.
func (ev *evaluator) cacheMisses() {
	e := ev.e
	group := ev.stageGroups()
	for i, s := range e.Steps {
		// The failing step's own error says more than that it ran.
		if !s.FirstMiss || s.Status == "error" {
			continue
		}
		f := Finding{Kind: KindCacheMiss, Severity: SeverityNotice, Step: s.Name, Key: KindCacheMiss + "\x00" + ev.r.stepKey(i)}
		ev.locate(&f, i)
		stage := "its stage"
		if s.Stage != nil {
			stage = "stage " + *s.Stage
		}
		if cb := ev.breakAt(s); cb != nil {
			rebuilt := rebuiltText(cb.RebuiltSteps, cb.RebuiltSeconds)
			if cb.RebuiltSeconds != nil {
				f.Seconds = *cb.RebuiltSeconds
			}
			f.Title = "Cache miss: " + rebuilt + " rebuilt"
			var why string
			switch cb.Reason {
			case report.ReasonPreviousCached:
				prev := "the step before it"
				if cb.Previous != nil {
					prev = short(*cb.Previous)
				}
				why = fmt.Sprintf("%s ran although %s came from the cache: something it depends on changed (files it copies, a build argument, the instruction itself).", short(s.Name), prev)
				if cb.Previous != nil && report.IsFromStep(*cb.Previous) {
					why = fmt.Sprintf("%s ran after a cached FROM (%s found its image present): something it depends on changed (files it copies, a build argument, the instruction itself).", short(s.Name), prev)
				}
			case report.ReasonBaseImagePulled:
				why = fmt.Sprintf("%s downloaded its base image, so nothing of %s came from the cache.", short(s.Name), stage)
			default:
				why = fmt.Sprintf("%s is the first step of %s and ran: nothing of %s came from the cache.", short(s.Name), stage, stage)
			}
			if c := cb.Cause; c != nil && c.Kind != report.CauseUnknown {
				// The input that changed, when it is known, says more.
				why = fmt.Sprintf("%s missed the cache: %s.", short(s.Name), c.Detail())
				f.Title = "Cache miss: " + report.CauseLabel(c) + " – " + rebuilt + " rebuilt"
			}
			f.Message = why + " Rebuilt from here: " + rebuilt
			if len(cb.FollowOn) > 0 {
				var names []string
				for _, n := range cb.FollowOn {
					names = append(names, short(n))
				}
				f.Message += ", including the stages that build on it (" + strings.Join(names, "; ") + ")"
			}
			f.Message += "."
		} else {
			steps, secs := ev.rebuiltInStage(i, group)
			rebuilt := rebuiltText(steps, secs)
			if secs != nil {
				f.Seconds = *secs
			}
			f.Title = "Cache miss: " + rebuilt + " rebuilt"
			f.Message = fmt.Sprintf("%s is the first step of %s that ran", short(s.Name), stage)
			if root := ev.rootOf(s); root != nil {
				f.Message += ", because the stage builds on " + short(root.Name)
				if root.Line != nil && ev.r.File != "" {
					f.Message += " (line " + strconv.Itoa(*root.Line) + ")"
				}
				f.Message += ", which missed the cache first"
			}
			f.Message += ". Rebuilt in this stage: " + rebuilt + "."
		}
		ev.add(f)
	}
}

// breakAt returns the cache break (not folded into another) at step s.
func (ev *evaluator) breakAt(s report.Step) *report.CacheBreak {
	for i, cb := range ev.e.CacheBreaks {
		if cb.Name == s.Name && deref(cb.Stage) == deref(s.Stage) && deref(cb.Platform) == deref(s.Platform) && derefInt(cb.Index) == derefInt(s.Index) {
			return &ev.e.CacheBreaks[i]
		}
	}
	return nil
}

// rootOf returns the break s was folded into as a follow-on.
func (ev *evaluator) rootOf(s report.Step) *report.CacheBreak {
	for i, cb := range ev.e.CacheBreaks {
		if slices.Contains(cb.FollowOn, s.Name) {
			return &ev.e.CacheBreaks[i]
		}
	}
	return nil
}

// stageGroups assigns each Dockerfile step the stage it belongs to:
// platform and stage label, and for legacy logs (which print no stage)
// the count of FROMs before it.
func (ev *evaluator) stageGroups() []string {
	out := make([]string, len(ev.e.Steps))
	froms := 0
	legacy := ev.e.Format == "legacy"
	for i, s := range ev.e.Steps {
		if s.Kind != "step" {
			continue
		}
		if legacy && deref(s.Instruction) == "FROM" {
			froms++
		}
		out[i] = deref(s.Platform) + "\x00" + deref(s.Stage) + "\x00" + strconv.Itoa(froms)
	}
	return out
}

// rebuiltInStage counts and times the steps of step i's stage, from i on,
// that did not come from the cache.
func (ev *evaluator) rebuiltInStage(i int, group []string) (int, *float64) {
	n, total, timed := 0, 0.0, false
	for j := range ev.e.Steps {
		s := ev.e.Steps[j]
		if group[j] != group[i] || s.Cached || derefInt(s.Index) < derefInt(ev.e.Steps[i].Index) {
			continue
		}
		if s.Status == "incomplete" {
			continue
		}
		n++
		if s.DurationSeconds != nil {
			total, timed = total+*s.DurationSeconds, true
		}
	}
	if !timed {
		return n, nil
	}
	total = float64(int64(total*1000+0.5)) / 1000
	return n, &total
}

func rebuiltText(steps int, secs *float64) string {
	s := fmt.Sprintf("%d step%s", steps, plural(steps))
	if secs != nil {
		s += " (" + report.FormatSeconds(*secs) + ")"
	}
	return s
}

// stepText is a step name without its "[stage n/m]" label: the part that
// stays the same when lines are added above it.
func stepText(name string) string {
	if strings.HasPrefix(name, "[") {
		if _, rest, ok := strings.Cut(name, "] "); ok {
			return strings.Join(strings.Fields(rest), " ")
		}
	}
	if strings.HasPrefix(name, "Step ") {
		// Legacy "Step 3/7 : RUN make".
		if _, rest, ok := strings.Cut(name, " : "); ok {
			return strings.Join(strings.Fields(rest), " ")
		}
	}
	return strings.Join(strings.Fields(name), " ")
}

// messageNameLen is how much of a step name messages quote: the
// annotation sits on the instruction, and RUN lines can be very long.
const messageNameLen = 100

func short(name string) string {
	return shorten(strings.Join(strings.Fields(name), " "), messageNameLen)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Package report turns a parsed build (model.Build) into an explanation of
// why it was slow: per-step timings, where the layer cache broke and what
// that cost, the slowest steps, advice tied to evidence in the log, and the
// failure when the build failed.
//
// Explain does the analysis once; Renderers (table, json, markdown) only
// format the resulting Explanation, the way BuildKit's progress UI and
// buildx history share one model between several outputs.
package report

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report/dockerfile"
)

// SchemaVersion is the version of the JSON contract (Explanation). It is
// bumped only when a field is removed or changes meaning; new fields may be
// added without a bump. Version 3: a live or imported build cancelled
// while it ran has status "canceled" (it was "failed").
const SchemaVersion = 3

// Options control Explain.
type Options struct {
	// Dockerfile, when set, is the Dockerfile that was built: steps, cache
	// breaks, advice and the error get its line numbers and excerpts.
	Dockerfile *dockerfile.File
	// Baseline is the earlier build of the project whose inputs each
	// cache break's cause is checked against; nil when there is none (the
	// causes then rest on this build alone).
	Baseline *Baseline
}

// Explanation is the analysis of one build. Its JSON encoding is the
// stable contract of `buildstats explain --format json`: every field is
// always present, unknown values are null, lists are never null.
type Explanation struct {
	SchemaVersion int `json:"schema_version"`
	// Format is the input format: "tty", "plain", "rawjson" or "legacy".
	Format string `json:"format"`
	// Source says where a build that is not a saved log came from:
	// "buildkit" (recorded live from a BuildKit daemon), "docker" (live
	// from the Docker Engine) or "buildkit-history" (imported from
	// BuildKit's history); null for logs. See SourceText.
	Source *string `json:"source"`
	// Status is "succeeded", "failed", "canceled" (a live or history
	// build cancelled while it ran) or "unknown".
	Status string `json:"status"`
	// Truncated is set when the log ends before the build does; such a
	// build is never "succeeded".
	Truncated bool `json:"truncated"`
	// BeganMidBuild is set when the log begins after the build began: its
	// counts and times cover only the part the log holds.
	BeganMidBuild bool `json:"began_mid_build"`
	// LogBuild and LogBuilds place the build in its log when the log holds
	// several (a CI retry, a script that builds twice): LogBuild is its
	// 1-based position; both are null for a log of one build.
	LogBuild  *int    `json:"log_build"`
	LogBuilds *int    `json:"log_builds"`
	Builder   *string `json:"builder"`
	// Dockerfile is the name of the Dockerfile used for line numbers.
	Dockerfile *string `json:"dockerfile"`
	// DurationSeconds is the build's wall time when the log states it (or
	// CI timestamps give it).
	DurationSeconds *float64 `json:"duration_seconds"`
	// DurationIsLowerBound: the log ends before the build does, and
	// DurationSeconds is how long it had run by then ("at least").
	DurationIsLowerBound bool `json:"duration_is_lower_bound"`

	// StepsTotal counts the Dockerfile-step vertices; StepsRun those that
	// executed and StepsCached those served from the cache.
	StepsTotal  int `json:"steps_total"`
	StepsRun    int `json:"steps_run"`
	StepsCached int `json:"steps_cached"`
	// CacheHitRate is StepsCached / (StepsCached + StepsRun), null when
	// neither is known.
	CacheHitRate *float64 `json:"cache_hit_rate"`
	// ContextBytes is the size of the build context sent, null when the
	// log does not show it.
	ContextBytes *int64 `json:"context_bytes"`
	// BaseImageBytes is the size of the base image layers downloaded by
	// FROM steps (0 when the log shows none).
	BaseImageBytes int64 `json:"base_image_bytes"`
	// ImageLayerBytes is the total size of the image layers the build's
	// steps produced (Step.LayerBytes summed), null when no step's is known:
	// only live Docker Engine builds record them.
	ImageLayerBytes *int64   `json:"image_layer_bytes"`
	ImageID         *string  `json:"image_id"`
	ImageNames      []string `json:"image_names"`

	// Steps lists every vertex once, in log order.
	Steps []Step `json:"steps"`
	// CacheBreaks are the points where the layer cache stopped being
	// used, each with the time spent rebuilding because of it.
	CacheBreaks []CacheBreak `json:"cache_breaks"`
	// SlowSteps are the longest vertices, longest first.
	SlowSteps []SlowStep `json:"slow_steps"`
	// ShareBasis says what SlowStep.Share is a fraction of:
	// "build_duration" (the build's wall time) or, when the log does not
	// state it, "vertex_time" (the sum of all vertex durations); null when
	// there is nothing to divide by.
	ShareBasis *string `json:"share_basis"`
	// CriticalPath is the chain of dependent steps that bounded the
	// build's time; null when no step has a duration.
	CriticalPath *CriticalPath `json:"critical_path"`
	// Advice are concrete suggestions, each tied to a step of this build.
	Advice []Advice `json:"advice"`
	// Error describes the failure; null unless the build failed.
	Error    *BuildError `json:"error"`
	Warnings []Warning   `json:"warnings"`
	// History compares the build with the previous build of its project
	// in the build history; null when there is none to compare with.
	// Explain leaves it null: only the caller has the history.
	History *History `json:"history"`
}

// Step is one vertex of the build.
type Step struct {
	// Name is the vertex name as printed, without ANSI, status or duration.
	Name string `json:"name"`
	// Kind is "step" (a Dockerfile instruction), "internal" (BuildKit's
	// own loading and auth), "export", "cache" (cache import/export) or
	// "other".
	Kind string `json:"kind"`
	// Stage, Platform, Index, Total and Instruction come from the
	// "[linux/amd64 builder 2/5] RUN" label; null for non-step vertices.
	Stage       *string `json:"stage"`
	Platform    *string `json:"platform"`
	Index       *int    `json:"index"`
	Total       *int    `json:"total"`
	Instruction *string `json:"instruction"`
	// Line is the Dockerfile line of the instruction, when a Dockerfile
	// was given and the step matched it confidently.
	Line *int `json:"line"`
	// Status is "done", "cached", "error", "canceled" or "incomplete"
	// (the log ends before the vertex does).
	Status string `json:"status"`
	Cached bool   `json:"cached"`
	// FirstMiss marks the first step of its stage that missed the cache.
	FirstMiss       bool     `json:"first_miss"`
	Error           *string  `json:"error"`
	ExitCode        *int     `json:"exit_code"`
	DurationSeconds *float64 `json:"duration_seconds"`
	// DurationIsLowerBound: the step had not finished (or failed or was
	// cancelled without a stated time) and DurationSeconds is how long it
	// had run by the last thing the log shows of it.
	DurationIsLowerBound bool `json:"duration_is_lower_bound"`
	// LayerBytes is the size of the image layer the step produced (0 for
	// a step that changed no files), null when unknown: logs do not show
	// it, live Docker Engine builds do.
	LayerBytes *int64     `json:"layer_bytes"`
	Transfers  []Transfer `json:"transfers"`
}

// Transfer is a byte-count progress item of a vertex: a layer download,
// the context upload, an export.
type Transfer struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
	// TotalBytes is null when the log shows only the bytes done.
	TotalBytes *int64 `json:"total_bytes"`
	// DurationSeconds is 0 when the log does not show a duration.
	DurationSeconds float64 `json:"duration_seconds"`
	Done            bool    `json:"done"`
}

// Cache break reasons.
const (
	// ReasonPreviousCached: the step ran although the step before it in
	// its stage came from the cache, so something it depends on changed.
	ReasonPreviousCached = "previous_cached"
	// ReasonFirstStep: the first step of the stage (after its base) ran.
	ReasonFirstStep = "first_step"
	// ReasonBaseImagePulled: the FROM step downloaded the base image.
	ReasonBaseImagePulled = "base_image_pulled"
)

// CacheBreak is a step that ran while the step before it in its stage was
// cached (or the first step of a stage that ran): the point where a chain
// of cached layers broke. Breaks that only follow a break in a stage they
// build on (FROM another stage, COPY --from, the rawjson vertex graph) are
// not separate causes: they are listed in FollowOn and their time is added
// to this break's RebuiltSeconds.
type CacheBreak struct {
	Name        string  `json:"name"`
	Stage       *string `json:"stage"`
	Platform    *string `json:"platform"`
	Index       *int    `json:"index"`
	Instruction *string `json:"instruction"`
	Line        *int    `json:"line"`
	// Reason is one of the Reason* constants.
	Reason string `json:"reason"`
	// Previous is the cached step right before this one, if any.
	Previous *string `json:"previous"`
	// FirstInStage is set when this is the first miss of its stage.
	FirstInStage bool `json:"first_in_stage"`
	// RebuiltSeconds is the time of every step rebuilt because of this
	// break: in its stage from here up to the next break, plus the
	// follow-on breaks. Null when the log gives none of those steps a
	// duration (legacy builder logs without timestamps).
	RebuiltSeconds *float64 `json:"rebuilt_seconds"`
	// RebuiltSteps counts those steps.
	RebuiltSteps int `json:"rebuilt_steps"`
	// FollowOn names the breaks in dependent stages folded into this one.
	FollowOn []string `json:"follow_on"`
	// Cause is why the cache broke here: the first of the Cause* kinds
	// that holds, checked against Options.Baseline. Never null.
	Cause *Cause `json:"cause"`

	seq int // the step's position in the build's vertices
}

// SlowStep is one of the longest vertices of the build.
type SlowStep struct {
	Name string `json:"name"`
	// Kind labels the vertex: "dockerfile step", "base image metadata",
	// "build context", "export", "cache import", "cache export",
	// "internal" or "other".
	Kind            string  `json:"kind"`
	Line            *int    `json:"line"`
	DurationSeconds float64 `json:"duration_seconds"`
	// DurationIsLowerBound: the step had not finished when the log ended.
	DurationIsLowerBound bool `json:"duration_is_lower_bound"`
	// Share is DurationSeconds as a fraction of the basis named by
	// Explanation.ShareBasis (at most 1); null without a basis.
	Share *float64 `json:"share"`
}

// Advice is one suggestion, tied to the step it is about.
type Advice struct {
	// Kind identifies the rule: one of the Advice* constants.
	Kind string  `json:"kind"`
	Step *string `json:"step"`
	Line *int    `json:"line"`
	// Seconds is the time the problem cost in this build, when known.
	Seconds *float64 `json:"seconds"`
	Message string   `json:"message"`
}

// BuildError describes why a build failed.
type BuildError struct {
	// Step is the failing vertex, null when the log does not show it.
	Step *string `json:"step"`
	// File and Line locate the failing instruction: from the log's own
	// "Dockerfile:3" excerpt, else from the given Dockerfile.
	File     *string `json:"file"`
	Line     *int    `json:"line"`
	ExitCode *int    `json:"exit_code"`
	Message  string  `json:"message"`
	// Output is the tail of the failing step's output; OutputLines counts
	// every line it printed.
	Output      []string `json:"output"`
	OutputLines int      `json:"output_lines"`
	// ErrorLines are the lines of the failing step's whole output that
	// carry the error (error, ERR!, fatal, Traceback, exit codes...), the
	// first and the last few, where Output shows only the tail.
	ErrorLines []string `json:"error_lines"`
	// Excerpt is the Dockerfile around the failing instruction, as BuildKit
	// prints it ("   3 | >>> RUN make"); ExcerptSource is "log" when the
	// excerpt came from the build log, "dockerfile" when from the given
	// Dockerfile, null when there is none.
	Excerpt       []string `json:"excerpt"`
	ExcerptSource *string  `json:"excerpt_source"`
}

// Warning is a warning the build printed.
type Warning struct {
	// Step is the vertex the warning belongs to; null for build-level
	// warnings.
	Step    *string `json:"step"`
	Message string  `json:"message"`
}

// Limits of the analysis.
const (
	// SlowStepsLimit is how many vertices SlowSteps lists.
	SlowStepsLimit = 5
	// ErrorOutputLines is how many output lines of the failing step
	// BuildError.Output keeps.
	ErrorOutputLines = 10
	// ExcerptContext is how many lines around the failing instruction an
	// excerpt from the given Dockerfile shows (BuildKit shows about as many).
	ExcerptContext = 2
)

// Explain analyses b. It never fails: what the log does not show is left
// null in the result.
func Explain(b *model.Build, opts Options) *Explanation {
	e := &Explanation{
		SchemaVersion: SchemaVersion,
		Format:        string(b.Format),
		Status:        string(b.Status),
		Truncated:     b.Truncated,
		BeganMidBuild: b.BeganMidBuild,
		Source:        optString(b.Source),
		Builder:       optString(b.Builder),
		ImageID:       optString(b.ImageID),
		ImageNames:    append([]string{}, b.ImageNames...),
		Steps:         []Step{},
		CacheBreaks:   []CacheBreak{},
		SlowSteps:     []SlowStep{},
		Advice:        []Advice{},
		Warnings:      []Warning{},
	}
	if e.Status == "" {
		e.Status = string(model.StatusUnknown)
	}
	if b.HasDuration {
		e.DurationSeconds = ptr(seconds(b.Duration))
		e.DurationIsLowerBound = b.DurationIsLowerBound
	}
	if b.LogBuilds > 1 {
		e.LogBuild, e.LogBuilds = ptr(b.LogIndex), ptr(b.LogBuilds)
	}
	a := newAnalysis(b, opts.Dockerfile)
	a.base = opts.Baseline
	if a.file != nil {
		e.Dockerfile = ptr(a.file.Name())
	}

	for _, v := range b.Vertices {
		if !v.IsStep() {
			continue
		}
		e.StepsTotal++
		switch {
		case v.Cached:
			e.StepsCached++
		case v.Ran():
			e.StepsRun++
		}
	}
	if n := e.StepsCached + e.StepsRun; n > 0 {
		e.CacheHitRate = ptr(round3(float64(e.StepsCached) / float64(n)))
	}
	if n := b.ContextBytes(); n >= 0 {
		e.ContextBytes = ptr(n)
	}
	e.BaseImageBytes = b.BaseImageBytes()
	var layers int64
	layersKnown := false
	for _, v := range b.Vertices {
		if v.HasLayerBytes {
			layers, layersKnown = layers+v.LayerBytes, true
		}
	}
	if layersKnown {
		e.ImageLayerBytes = ptr(layers)
	}

	breaks := a.cacheBreaks()
	for _, v := range b.Vertices {
		e.Steps = append(e.Steps, a.step(v))
	}
	e.CacheBreaks = breaks
	e.SlowSteps, e.ShareBasis = a.slowSteps()
	e.CriticalPath = criticalPath(a.timeline())
	if cp := e.CriticalPath; cp != nil && cp.Basis == BasisStageOrder {
		cp.UnlinkedStages = a.unlinkedStages()
	}
	e.Advice = a.advice(e)
	if b.Status == model.StatusFailed || b.Status == model.StatusCanceled {
		e.Error = a.buildError()
	}
	e.Warnings = warnings(b)
	if a.mismatch != "" {
		e.Warnings = append(e.Warnings, Warning{Message: a.mismatch})
	}
	return e
}

// analysis holds what the parts of Explain share: the build, the optional
// Dockerfile, and the per-vertex results of the cache-chain walk.
type analysis struct {
	b    *model.Build
	file *dockerfile.File

	lines     map[*model.Vertex]int  // confident Dockerfile lines
	firstMiss map[*model.Vertex]bool // first miss of its stage
	missed    map[*model.Vertex]bool // Dockerfile steps that missed the cache
	chains    []*chain
	chainOf   map[*model.Vertex]*chain
	breakAt   map[*model.Vertex]*brk // every break, folded ones included
	// mismatch says why the given Dockerfile was not used for lines.
	mismatch string
	base     *Baseline // what causes are checked against
}

func newAnalysis(b *model.Build, f *dockerfile.File) *analysis {
	a := &analysis{
		b:         b,
		file:      f,
		lines:     map[*model.Vertex]int{},
		firstMiss: map[*model.Vertex]bool{},
		missed:    map[*model.Vertex]bool{},
		chainOf:   map[*model.Vertex]*chain{},
		breakAt:   map[*model.Vertex]*brk{},
	}
	if f != nil {
		placed, differ := 0, 0
		for _, v := range b.Vertices {
			if n, ok := f.Line(v); ok && n > 0 {
				a.lines[v] = n
				if !v.IsStep() || v.Instruction == "" {
					continue
				}
				placed++
				if !f.Agrees(v, n) {
					differ++
				}
			}
		}
		// A Dockerfile that is not the one the log built (a third or more
		// of the steps it places are written differently from what the log
		// shows) gives no line at all: a line it places by position could
		// be a wrong one.
		if differ > 0 && differ*3 >= placed {
			a.mismatch = fmt.Sprintf("%s does not match the build in the log (%d of the %d steps placed in it are written differently): no line numbers are given",
				f.Name(), differ, placed)
			clear(a.lines)
		}
	}
	return a
}

// line returns v's Dockerfile line, or nil when unknown.
func (a *analysis) line(v *model.Vertex) *int {
	if n, ok := a.lines[v]; ok {
		return ptr(n)
	}
	return nil
}

func (a *analysis) step(v *model.Vertex) Step {
	s := Step{
		Name:      v.Name,
		Kind:      string(v.Kind()),
		Status:    string(v.State()),
		Cached:    v.Cached,
		FirstMiss: a.firstMiss[v],
		Error:     optString(v.Error),
		Line:      a.line(v),
		Transfers: []Transfer{},
	}
	if v.IsStep() {
		s.Stage = optString(v.Stage)
		s.Platform = optString(v.Platform)
		s.Index, s.Total = ptr(v.Index), ptr(v.Total)
		s.Instruction = optString(v.Instruction)
	}
	if v.ExitCode != 0 {
		s.ExitCode = ptr(v.ExitCode)
	}
	if v.HasDuration {
		s.DurationSeconds = ptr(seconds(v.Duration))
		s.DurationIsLowerBound = v.DurationIsLowerBound
	}
	if v.HasLayerBytes {
		s.LayerBytes = ptr(v.LayerBytes)
	}
	for _, t := range v.Transfers {
		tr := Transfer{Name: t.Name, Bytes: t.Bytes, DurationSeconds: seconds(t.Duration), Done: t.Done}
		if t.Total > 0 {
			tr.TotalBytes = ptr(t.Total)
		}
		s.Transfers = append(s.Transfers, tr)
	}
	return s
}

func (a *analysis) slowSteps() ([]SlowStep, *string) {
	var basis float64
	var basisName *string
	switch {
	case a.b.HasDuration && a.b.Duration > 0:
		basis, basisName = a.b.Duration.Seconds(), ptr("build_duration")
	default:
		var sum time.Duration
		for _, v := range a.b.Vertices {
			if v.HasDuration && !v.Cached {
				sum += v.Duration
			}
		}
		if sum > 0 {
			basis, basisName = sum.Seconds(), ptr("vertex_time")
		}
	}
	var cands []*model.Vertex
	for _, v := range a.b.Vertices {
		if v.HasDuration && v.Duration > 0 && !v.Cached {
			cands = append(cands, v)
		}
	}
	// Stable: equal durations keep log order.
	slices.SortStableFunc(cands, func(x, y *model.Vertex) int { return cmp.Compare(y.Duration, x.Duration) })
	out := []SlowStep{}
	for _, v := range cands[:min(len(cands), SlowStepsLimit)] {
		s := SlowStep{Name: v.Name, Kind: string(v.Activity()), Line: a.line(v), DurationSeconds: seconds(v.Duration),
			DurationIsLowerBound: v.DurationIsLowerBound}
		if basis > 0 {
			s.Share = ptr(round3(math.Min(1, v.Duration.Seconds()/basis)))
		}
		out = append(out, s)
	}
	return out, basisName
}

var exitCodeRE = regexp.MustCompile(`(?:exit code|non-zero code):? (\d+)`)

// buildError describes the failure: the failing step, its exit code and
// output, and the Dockerfile around it.
func (a *analysis) buildError() *BuildError {
	b := a.b
	be := &BuildError{Message: b.Error, Output: []string{}, Excerpt: []string{}, ErrorLines: []string{}}
	var failed *model.Vertex
	for _, v := range b.Vertices {
		if v.Error != "" && !v.Canceled {
			failed = v
			break
		}
	}
	if failed != nil {
		be.Step = ptr(failed.Name)
		if be.Message == "" {
			be.Message = failed.Error
		}
		if failed.ExitCode != 0 {
			be.ExitCode = ptr(failed.ExitCode)
		}
		out := failed.Output
		be.Output = append(be.Output, out[max(0, len(out)-ErrorOutputLines):]...)
		be.OutputLines = failed.OutputLines
		be.ErrorLines = append(be.ErrorLines, failed.ErrorLines...)
	}
	if be.ExitCode == nil {
		if m := exitCodeRE.FindStringSubmatch(b.Error); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil {
				be.ExitCode = ptr(n)
			}
		}
	}
	// The log's own location and excerpt describe the Dockerfile that was
	// actually built; the given file may have changed since.
	if b.ErrorLine > 0 {
		be.Line = ptr(b.ErrorLine)
		be.File = optString(b.ErrorFile)
	} else if failed != nil {
		if be.Line = a.line(failed); be.Line != nil {
			be.File = ptr(a.file.Name())
		}
	}
	switch {
	case len(b.ErrorContext) > 0:
		be.Excerpt = append(be.Excerpt, b.ErrorContext...)
		be.ExcerptSource = ptr("log")
	case a.file != nil && be.Line != nil && (b.ErrorLine == 0 || failed != nil && a.lines[failed] == b.ErrorLine):
		// Only excerpt the given file at a line it was matched to, so a
		// different file is never shown as the failing one.
		if ex := a.file.Excerpt(*be.Line, ExcerptContext); len(ex) > 0 {
			be.Excerpt = append(be.Excerpt, ex...)
			be.ExcerptSource = ptr("dockerfile")
		}
	}
	return be
}

func warnings(b *model.Build) []Warning {
	out := []Warning{}
	seen := map[[2]string]bool{}
	names := map[string]string{}
	for _, v := range b.Vertices {
		names[v.ID] = v.Name
	}
	add := func(step, msg string) {
		if seen[[2]string{step, msg}] {
			return
		}
		seen[[2]string{step, msg}] = true
		out = append(out, Warning{Step: optString(step), Message: msg})
	}
	for _, w := range b.Warnings {
		add(names[w.Vertex], w.Text)
	}
	for _, v := range b.Vertices {
		for _, w := range v.Warnings {
			add(v.Name, w)
		}
	}
	return out
}

// seconds rounds d to milliseconds, the precision of every log format.
func seconds(d time.Duration) float64 { return round3(d.Seconds()) }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func ptr[T any](v T) *T { return &v }

// Build sources (model.Build.Source).
const (
	SourceBuildKit        = "buildkit"
	SourceDocker          = "docker"
	SourceBuildKitHistory = "buildkit-history"
	SourceDockerbuild     = "dockerbuild" // a .dockerbuild file (docker buildx history export)
)

// SourceText says in words where a build came from, for report headers:
// "recorded live from BuildKit" rather than "rawjson log" for a build
// buildstats recorded itself. It returns format + " log" when source is
// empty (a saved log).
func SourceText(source, format string) string {
	switch source {
	case "":
		return format + " log"
	case SourceBuildKit:
		return "recorded live from BuildKit"
	case SourceDocker:
		return "recorded live from the Docker Engine"
	case SourceBuildKitHistory:
		return "imported from BuildKit history"
	case SourceDockerbuild:
		return "read from a .dockerbuild file"
	}
	// A source a newer collector names: say it rather than hide it.
	return "from " + source
}

// anyLayerBytes reports whether any step has a produced layer size; only
// then do step lists get a Layer column, so log reports stay as they were.
func anyLayerBytes(e *Explanation) bool {
	for _, s := range e.Steps {
		if s.LayerBytes != nil {
			return true
		}
	}
	return false
}

// optString is nil for "" so that absent text encodes as null.
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// newErrorLines are the error lines of the failing step that its output
// tail does not already show.
func newErrorLines(be *BuildError) []string {
	shown := map[string]bool{}
	for _, l := range be.Output {
		shown[l] = true
	}
	var out []string
	for _, l := range be.ErrorLines {
		if !shown[l] {
			out = append(out, l)
		}
	}
	return out
}

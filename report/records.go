package report

import (
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// The JSON contracts of the history commands. Like explain's, they are
// built from output types of their own (not the store's), every key is
// always present, unknown values are null and lists are never null; a
// contract's schema_version changes when a field changes meaning.
const (
	// HistorySchemaVersion versions BuildList (history --format json).
	// Version 2 adds builder, source and buildkit_ref to BuildRow.
	HistorySchemaVersion = 2
	// CompareSchemaVersion versions Comparison (compare --format json).
	// Version 2 adds cache_breaks; 3 BuildRow's builder, source and
	// buildkit_ref.
	CompareSchemaVersion = 3
	// StatsSchemaVersion versions StepStatsReport (slow, misses).
	StatsSchemaVersion = 2
)

// BuildList is what `buildstats history` prints.
type BuildList struct {
	SchemaVersion int        `json:"schema_version"`
	Builds        []BuildRow `json:"builds"`
}

// BuildRow is one stored build, as history lists it.
type BuildRow struct {
	ID        int64     `json:"id"`
	Project   string    `json:"project"`
	Branch    *string   `json:"branch"`
	Commit    *string   `json:"commit"`
	StartedAt time.Time `json:"started_at"`
	Status    string    `json:"status"`
	// DurationSeconds is null when nothing in the build gives a time.
	DurationSeconds *float64 `json:"duration_seconds"`
	// DurationBasis says how the duration was found: "log" (the log states
	// it), "timestamps" (vertex start and end times) or "sum" (the sum of
	// step times: an upper bound, stages may overlap); null with it.
	DurationBasis  *string  `json:"duration_basis"`
	StepsTotal     int      `json:"steps_total"`
	StepsRun       int      `json:"steps_run"`
	StepsCached    int      `json:"steps_cached"`
	StepsFailed    int      `json:"steps_failed"`
	ContextBytes   *int64   `json:"context_bytes"`
	BaseImageBytes int64    `json:"base_image_bytes"`
	CIProvider     *string  `json:"ci_provider"`
	RunURL         *string  `json:"run_url"`
	Runner         *string  `json:"runner"`
	Dockerfile     *string  `json:"dockerfile"`
	Tags           []string `json:"tags"`
	// Format is the log format the build was read from.
	Format      string `json:"format"`
	ContentHash string `json:"content_hash"`
	// Builder is the daemon a live or imported build ran on, or what a
	// log names; Source where the record came from (a log's file name,
	// "live", "buildkit:REF"); BuildKitRef the build's ref in its
	// daemon's history.
	Builder     *string `json:"builder"`
	Source      *string `json:"source"`
	BuildKitRef *string `json:"buildkit_ref"`
}

// NewBuildRow turns a history row into a BuildRow.
func NewBuildRow(s store.BuildSummary) BuildRow {
	r := BuildRow{ID: s.ID, Project: s.Project, Branch: optString(s.Branch), Commit: optString(s.Commit),
		StartedAt: s.StartedAt.UTC(), Status: s.Status, StepsTotal: s.StepsTotal, StepsRun: s.StepsRan,
		StepsCached: s.StepsCached, StepsFailed: s.StepsFailed, BaseImageBytes: s.BaseImageBytes,
		CIProvider: optString(s.CIProvider), RunURL: optString(s.RunURL), Runner: optString(s.Runner),
		Dockerfile: optString(s.Dockerfile), Tags: append([]string{}, s.Tags...), Format: s.Format,
		ContentHash: s.ContentHash, Builder: optString(s.Builder), Source: optString(s.Source), BuildKitRef: optString(s.BuildKitRef)}
	if s.DurationSource != "" {
		r.DurationSeconds, r.DurationBasis = ptr(s.DurationSeconds), ptr(s.DurationSource)
	}
	if s.ContextBytes >= 0 {
		r.ContextBytes = ptr(s.ContextBytes)
	}
	return r
}

// NewBuildList turns history rows into a BuildList.
func NewBuildList(rows []store.BuildSummary) *BuildList {
	l := &BuildList{SchemaVersion: HistorySchemaVersion, Builds: make([]BuildRow, 0, len(rows))}
	for _, r := range rows {
		l.Builds = append(l.Builds, NewBuildRow(r))
	}
	return l
}

// StoredBuild is what `buildstats show` prints: explain's contract (and
// its schema_version) with the history row of the build as "build".
type StoredBuild struct {
	Build BuildRow `json:"build"`
	// Facts are the request of a live or imported build as its daemon
	// ran it (store.BuildFacts); null for a log.
	Facts *store.BuildFacts `json:"facts"`
	// OutputKept says the steps' output was stored (--keep-logs);
	// LogKept that the whole log was, for `buildstats logs`.
	OutputKept bool `json:"output_kept"`
	LogKept    bool `json:"log_kept"`
	*Explanation
}

// StoredExtras are what show adds to a stored build's explanation.
type StoredExtras struct {
	Facts               *store.BuildFacts
	OutputKept, LogKept bool
}

// Comparison is what `buildstats compare` prints: two stored builds step
// by step.
type Comparison struct {
	SchemaVersion int      `json:"schema_version"`
	Before        BuildRow `json:"before"`
	After         BuildRow `json:"after"`
	// DurationDeltaSeconds is After's duration minus Before's; null when
	// either is unknown.
	DurationDeltaSeconds *float64 `json:"duration_delta_seconds"`
	// Steps lists every step identity in either build: After's order,
	// then the steps only Before had.
	Steps []StepChange `json:"steps"`
	// FirstCacheChange is the first step, in After's order, whose cache
	// state changed: usually the step that invalidated the cache.
	FirstCacheChange *StepChange `json:"first_cache_change"`
	// CacheLostSeconds is the run time in After of the steps cached in
	// Before; CacheGainedSeconds the reverse.
	CacheLostSeconds   float64           `json:"cache_lost_seconds"`
	CacheGainedSeconds float64           `json:"cache_gained_seconds"`
	BaseImageChanges   []BaseImageChange `json:"base_image_changes"`
	ContextBytesBefore *int64            `json:"context_bytes_before"`
	ContextBytesAfter  *int64            `json:"context_bytes_after"`
	Added              []StepIdentity    `json:"added"`
	Removed            []StepIdentity    `json:"removed"`
	// CacheBreaks are After's cache breaks as explain reports them, each
	// with its cause found against Before's inputs.
	CacheBreaks []CacheBreak `json:"cache_breaks"`
}

// StepIdentity names a step across builds: model.Identity, labelled.
type StepIdentity struct {
	// Step labels it: "[platform stage] INSTRUCTION args".
	Step        string  `json:"step"`
	Kind        string  `json:"kind"`
	Platform    *string `json:"platform"`
	Stage       *string `json:"stage"`
	Instruction *string `json:"instruction"`
	// Text is the normalised instruction or vertex name.
	Text       string `json:"text"`
	Occurrence int    `json:"occurrence"`
}

func newStepIdentity(r store.StepRef) StepIdentity {
	return StepIdentity{Step: r.Label(), Kind: string(r.Kind), Platform: optString(r.Platform), Stage: optString(r.Stage),
		Instruction: optString(r.Instruction), Text: r.Text, Occurrence: r.Occurrence}
}

// StepChange is one step identity in a comparison.
type StepChange struct {
	StepIdentity
	// BeforeState and AfterState are a model.State ("done", "cached",
	// "error", "canceled", "incomplete") or "absent".
	BeforeState string `json:"before_state"`
	AfterState  string `json:"after_state"`
	// The times are null where the step is absent.
	BeforeSeconds *float64 `json:"before_seconds"`
	AfterSeconds  *float64 `json:"after_seconds"`
	DeltaSeconds  *float64 `json:"delta_seconds"`
	// CacheChanged: a cache hit in one build, a run in the other.
	CacheChanged bool `json:"cache_changed"`
}

func newStepChange(c store.StepChange) StepChange {
	s := StepChange{StepIdentity: newStepIdentity(c.StepRef), BeforeState: string(c.BeforeState),
		AfterState: string(c.AfterState), CacheChanged: c.CacheChanged}
	if c.BeforeState != store.StateAbsent {
		s.BeforeSeconds = ptr(c.BeforeSeconds)
	}
	if c.AfterState != store.StateAbsent {
		s.AfterSeconds = ptr(c.AfterSeconds)
	}
	if s.BeforeSeconds != nil && s.AfterSeconds != nil {
		s.DeltaSeconds = ptr(c.DeltaSeconds)
	}
	return s
}

// BaseImageChange is a FROM whose pinned digest moved.
type BaseImageChange struct {
	StepIdentity
	BeforeDigest string `json:"before_digest"`
	AfterDigest  string `json:"after_digest"`
}

// NewComparison turns the store's comparison into the report.
func NewComparison(c *store.Comparison) *Comparison {
	out := &Comparison{SchemaVersion: CompareSchemaVersion, Before: NewBuildRow(c.Before), After: NewBuildRow(c.After),
		Steps: []StepChange{}, BaseImageChanges: []BaseImageChange{}, Added: []StepIdentity{}, Removed: []StepIdentity{}, CacheBreaks: []CacheBreak{},
		CacheLostSeconds: c.CacheLostSeconds, CacheGainedSeconds: c.CacheGainedSeconds}
	if out.Before.DurationSeconds != nil && out.After.DurationSeconds != nil {
		out.DurationDeltaSeconds = ptr(c.DurationDeltaSeconds)
	}
	for _, s := range c.Steps {
		out.Steps = append(out.Steps, newStepChange(s))
	}
	if c.FirstCacheChange != nil {
		out.FirstCacheChange = ptr(newStepChange(*c.FirstCacheChange))
	}
	for _, b := range c.BaseImageChanges {
		out.BaseImageChanges = append(out.BaseImageChanges, BaseImageChange{StepIdentity: newStepIdentity(b.StepRef),
			BeforeDigest: b.BeforeDigest, AfterDigest: b.AfterDigest})
	}
	if c.ContextBytesBefore >= 0 {
		out.ContextBytesBefore = ptr(c.ContextBytesBefore)
	}
	if c.ContextBytesAfter >= 0 {
		out.ContextBytesAfter = ptr(c.ContextBytesAfter)
	}
	for _, r := range c.Added {
		out.Added = append(out.Added, newStepIdentity(r))
	}
	for _, r := range c.Removed {
		out.Removed = append(out.Removed, newStepIdentity(r))
	}
	return out
}

// Step statistics reports.
const (
	StatsSlow   = "slow"   // Store.Slow: ranked by total run time
	StatsMisses = "misses" // Store.Misses: ranked by time lost to cache misses
)

// StepStatsReport is what `buildstats slow` and `buildstats misses`
// print: a window of the history and its step statistics.
type StepStatsReport struct {
	SchemaVersion int `json:"schema_version"`
	// Kind is StatsSlow or StatsMisses.
	Kind  string     `json:"kind"`
	Since time.Time  `json:"since"`
	Until *time.Time `json:"until"`
	// Project and Branch are the filters; null for all.
	Project *string `json:"project"`
	Branch  *string `json:"branch"`
	// Builds counts the builds in the window.
	Builds int        `json:"builds"`
	Steps  []StepStat `json:"steps"`
}

// StepStat is one step identity's figures over the window. Times are of
// the executions that ran (cache hits are left out); percentiles are
// nearest-rank.
type StepStat struct {
	StepIdentity
	Project   string `json:"project"`
	StepID    int64  `json:"step_id"`
	Builds    int    `json:"builds"`
	Runs      int    `json:"runs"`
	CacheHits int    `json:"cache_hits"`
	// MissRate is runs / (runs + cache hits), null for vertices that are
	// never cached (not Dockerfile steps).
	MissRate *float64 `json:"miss_rate"`
	// TimedRuns counts the runs whose time the logs tell (a legacy log
	// without timestamps, or one that ends inside a step, does not). The
	// times are of those runs, null when there is none; the sums are then
	// lower bounds when TimedRuns < Runs.
	TimedRuns    int      `json:"timed_runs"`
	P50Seconds   *float64 `json:"p50_seconds"`
	P95Seconds   *float64 `json:"p95_seconds"`
	MaxSeconds   *float64 `json:"max_seconds"`
	MeanSeconds  *float64 `json:"mean_seconds"`
	TotalSeconds *float64 `json:"total_seconds"`
	// LostSeconds is the run time of the cache misses: what the cache
	// would have saved.
	LostSeconds *float64 `json:"lost_seconds"`
}

// sumText shows a summed time, "≥" when some runs had no known time.
func (s StepStat) sumText(sum *float64) string {
	if sum != nil && s.TimedRuns < s.Runs {
		return "≥" + FormatSeconds(*sum)
	}
	return optSeconds(sum)
}

// NewStepStatsReport gathers a slow or misses answer: kind is StatsSlow
// or StatsMisses, project and branch "" for all, until zero for now.
func NewStepStatsReport(kind, project, branch string, since, until time.Time, builds int, steps []store.StepStats) *StepStatsReport {
	r := &StepStatsReport{SchemaVersion: StatsSchemaVersion, Kind: kind, Since: since.UTC(), Builds: builds,
		Steps: make([]StepStat, 0, len(steps)), Project: optString(project), Branch: optString(branch)}
	if !until.IsZero() {
		r.Until = ptr(until.UTC())
	}
	for _, st := range steps {
		s := StepStat{StepIdentity: newStepIdentity(st.StepRef), Project: st.Project, StepID: st.StepID, Builds: st.Builds,
			Runs: st.Runs, CacheHits: st.CacheHits, TimedRuns: st.Timed}
		if st.Timed > 0 {
			s.P50Seconds, s.P95Seconds, s.MaxSeconds, s.MeanSeconds = ptr(st.P50), ptr(st.P95), ptr(st.Max), ptr(st.Mean)
		}
		if st.Timed > 0 || st.Runs == 0 {
			// Nothing ran: no time was spent, which is known.
			s.TotalSeconds, s.LostSeconds = ptr(st.Total), ptr(st.Lost)
		}
		if st.Kind == model.KindStep {
			s.MissRate = ptr(st.MissRate)
		}
		r.Steps = append(r.Steps, s)
	}
	return r
}

// maskText masks secrets in the text of a step identity.
func (s *StepIdentity) maskText(mask func(string) string) {
	if mask == nil {
		return
	}
	s.Step, s.Text = mask(s.Step), mask(s.Text)
}

// mask masks secrets in the comparison's step texts: a history stored
// before masking, or with --no-mask, may hold them.
func (c *Comparison) mask(mask func(string) string) {
	for i := range c.Steps {
		c.Steps[i].maskText(mask)
	}
	if c.FirstCacheChange != nil {
		c.FirstCacheChange.maskText(mask)
	}
	for i := range c.BaseImageChanges {
		c.BaseImageChanges[i].maskText(mask)
	}
	for _, list := range [][]StepIdentity{c.Added, c.Removed} {
		for i := range list {
			list[i].maskText(mask)
		}
	}
}

// mask masks secrets in the steps' texts.
func (r *StepStatsReport) mask(mask func(string) string) {
	for i := range r.Steps {
		r.Steps[i].maskText(mask)
	}
}

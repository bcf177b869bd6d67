// Package store is the build history's domain: the Store interface every
// command reads and writes the history through, the queries and results it
// speaks, and the errors callers test for. It needs no database driver.
// Implementations live in subpackages: sqlite, the embedded default, and
// postgres, a history a team shares on a server; store/backend opens
// either by name. store/storetest is the conformance suite each
// implementation passes unchanged, so commands behave the same whichever
// one holds the history.
//
// A step's identity across builds is its project plus model.Identity
// (platform, stage and normalised instruction), never its "n/m" position,
// which shifts whenever a Dockerfile line is added. What a build's steps
// are (state, kind, identity, whether they ran) is the model's to say:
// stores persist and aggregate those facts, they do not re-derive them.
//
// Read-only commands open a history with a Reader, which never writes: it
// refuses a missing or empty database (ErrNoHistory) instead of creating
// one, and a database of an older schema (ErrSchemaTooOld) instead of
// upgrading it.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// Store is a build history that can be written to. Implementations are
// safe for concurrent use.
type Store interface {
	Reader
	// Ingest stores one build in a single transaction. Builds are keyed by
	// Meta.ContentHash: ingesting the same content again stores nothing and
	// returns the existing id with created == false.
	Ingest(ctx context.Context, b *model.Build, m Meta, opts IngestOptions) (id int64, created bool, err error)
	// IngestBatch stores many builds in one transaction, all or none.
	IngestBatch(ctx context.Context, items []BatchItem) ([]BatchResult, error)
	// Prune deletes, in one transaction, the builds that started before
	// olderThan with everything stored with them: vertices, transfers,
	// kept output, their share of the daily rollups, and the step
	// identities, projects and branches no remaining build uses. With
	// dryRun it deletes nothing (and works on a Reader opened read-only)
	// and reports what it would delete. Ids of deleted builds are never
	// given to new ones.
	Prune(ctx context.Context, olderThan time.Time, dryRun bool) (PruneResult, error)
	// Claim records that owner is about to store the build known by key
	// (a BuildKit history ref) until the claim expires after ttl, so two
	// processes that see the same build (`build` and `import --follow`)
	// agree on who stores it. It reports false when another owner holds
	// an unexpired claim on key; claiming again as the same owner extends
	// the claim. Expired claims are dropped.
	Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, error)
	// Release drops owner's claim on key; another owner's is left.
	Release(ctx context.Context, key, owner string) error
}

// Reader is the read side of a build history: everything the reporting
// commands need. Implementations are safe for concurrent use.
type Reader interface {
	// History lists builds newest first.
	History(ctx context.Context, q HistoryQuery) ([]BuildSummary, error)
	// Summary returns the history row of one build.
	Summary(ctx context.Context, id int64) (BuildSummary, error)
	// Build returns a stored build as the parser produced it (minus vertex
	// output unless it was ingested with KeepLogs) and its metadata.
	Build(ctx context.Context, id int64) (*model.Build, Meta, error)
	// Resolve turns a user's build reference into an id: a numeric id,
	// "latest", "previous" (the one before latest), "latest~N", or a content
	// hash prefix. project, when not empty, scopes latest/previous.
	Resolve(ctx context.Context, ref, project string) (int64, error)
	// Compare diffs two builds step by step.
	Compare(ctx context.Context, before, after int64) (*Comparison, error)
	// Slow ranks step identities by the time they took over a window;
	// steps that were always cached are left out.
	Slow(ctx context.Context, q WindowQuery) ([]StepStats, error)
	// Misses ranks Dockerfile steps by the time lost to cache misses.
	Misses(ctx context.Context, q WindowQuery) ([]StepStats, error)
	// Trends aggregates builds per day or week.
	Trends(ctx context.Context, q TrendQuery) (*Trends, error)
	// StepPeriods breaks Slow's figures down per period for the steps q
	// names, in one query: oldest period first, then by identity; a
	// period in which a step was not built has no row for it.
	StepPeriods(ctx context.Context, q PeriodQuery) ([]StepPeriod, error)
	// BranchPeriods counts the builds per period and branch: oldest
	// period first, then most builds, then by name; a branch without
	// builds in a period has no row there.
	BranchPeriods(ctx context.Context, q PeriodQuery) ([]BranchPeriod, error)
	// MissPeriods is the time lost to cache misses per period (see
	// MissPeriod), oldest first. A period that lost nothing has no row:
	// whether it had builds at all is Trends' to say.
	MissPeriods(ctx context.Context, q PeriodQuery) ([]MissPeriod, error)
	// PreviousMisses lists the steps that were cached in the previous build
	// of the same project and are not cached in this one.
	PreviousMisses(ctx context.Context, id int64) (*PreviousMisses, error)
	// Inventory lists every build with what identifies it across stores
	// and how many rows it has, sorted by content hash: what a copy
	// between histories compares (see Checksum).
	Inventory(ctx context.Context) ([]InventoryItem, error)
	// ContextNodes returns the stored context directory nodes among
	// hashes (see inputs.go); hashes it does not hold are left out.
	ContextNodes(ctx context.Context, hashes []model.Hash) (map[model.Hash]*model.ContextDir, error)
	// BuildCauses returns the causes stored with a build
	// (IngestOptions.Causes), in step order.
	BuildCauses(ctx context.Context, id int64) ([]BreakCause, error)
	// MissCauses adds up the stored causes of cache breaks (BreakCause)
	// over a window, by kind and area, most rebuilt time first.
	MissCauses(ctx context.Context, q CauseQuery) ([]CauseStats, error)
	// Log returns the whole log kept with a build, nil when none was
	// kept; ErrNotFound when there is no such build.
	Log(ctx context.Context, id int64) (*BuildLog, error)
	// Close releases the database.
	Close() error
}

// Counter is implemented by stores that count builds without reading
// them (both stores do): what History would list, its Limit ignored.
type Counter interface {
	Count(ctx context.Context, q HistoryQuery) (int, error)
}

// CountBuilds counts the builds of q with r's Count, else by listing them.
func CountBuilds(ctx context.Context, r Reader, q HistoryQuery) (int, error) {
	q.Limit = 0
	if c, ok := r.(Counter); ok {
		return c.Count(ctx, q)
	}
	rows, err := r.History(ctx, q)
	return len(rows), err
}

// Errors callers can test with errors.Is. The returned errors wrap these
// with the database path and what to do about it.
var (
	// ErrNotFound: no build matches the id or reference.
	ErrNotFound = errors.New("build not found")
	// ErrNotDatabase: the file is not an SQLite database (or is damaged
	// beyond SQLite's ability to read it), or the database holds another
	// program's tables. It is left untouched.
	ErrNotDatabase = errors.New("not a buildstats database")
	// ErrSchemaTooNew: the database was written by a newer buildstats. It is
	// refused, never rewritten.
	ErrSchemaTooNew = errors.New("database schema is newer than this buildstats")
	// ErrLocked: another process held the database (or, on a server, the
	// rows or lock a write needed) for longer than the busy or lock
	// timeout.
	ErrLocked = errors.New("database is locked")
	// ErrNoHistory: a Reader was asked to open a history that does not
	// exist or holds nothing. Nothing was created.
	ErrNoHistory = errors.New("no build history")
	// ErrSchemaTooOld: a Reader found a database of an older schema. A
	// Reader never upgrades it; a command that writes does.
	ErrSchemaTooOld = errors.New("database schema is older than this buildstats")
	// ErrUnwritable: the database cannot be written: a read-only file,
	// directory or role, or a full disk. Retrying another build will not help.
	ErrUnwritable = errors.New("the build history cannot be written")
	// ErrUnavailable: a database server could not be reached, refused the
	// login or the role, or went away (restarted) during the command.
	// Nothing half-written stays behind; running the command again when
	// the server is back is safe (builds are keyed by content).
	ErrUnavailable = errors.New("the build history database is unavailable")
)

// IsDatabaseError reports whether err is about the history database as a
// whole (unusable, locked, unwritable, missing) rather than about one build:
// a command should stop rather than go on with the next build.
func IsDatabaseError(err error) bool {
	for _, e := range []error{ErrNotDatabase, ErrSchemaTooNew, ErrSchemaTooOld, ErrLocked, ErrNoHistory, ErrUnwritable, ErrUnavailable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Meta is what the log does not say about a build: where and from what it
// was built. The CLI fills it from flags, DetectCI and DetectGit.
type Meta struct {
	Project    string   `json:"project"`
	Branch     string   `json:"branch,omitempty"`
	Commit     string   `json:"commit,omitempty"`
	CIProvider string   `json:"ci_provider,omitempty"` // "github-actions", "gitlab-ci", "buildkite", "circleci", "jenkins"
	RunURL     string   `json:"run_url,omitempty"`
	Runner     string   `json:"runner,omitempty"`
	Dockerfile string   `json:"dockerfile,omitempty"`
	Tags       []string `json:"tags,omitempty"` // image tags; defaults to the names the log shows

	// Started is when the build started; StartedSource says where that came
	// from ("log", "flag", "file", "ingest"). See StartTime. When zero,
	// Ingest uses the log's start time, else the time of ingest.
	Started       time.Time `json:"started_at"`
	StartedSource string    `json:"started_source,omitempty"`

	// ContentHash identifies the build's content, normally HashReader's sum
	// of the raw log bytes. When empty, Ingest hashes the parsed build.
	ContentHash string `json:"content_hash,omitempty"`
	// Source is the log file name the build was ingested from, "-" for
	// stdin; informational only.
	Source string `json:"source,omitempty"`

	// BuildKitRef is the build's ref in its BuildKit daemon's history, for
	// live and imported BuildKit builds: `show REF` finds it.
	BuildKitRef string `json:"buildkit_ref,omitempty"`
	// Facts are the build's request as the daemon ran it, for live and
	// imported builds; nil when not known (a log does not say).
	Facts *BuildFacts `json:"facts,omitempty"`
	// LogKept says the build's whole log is stored (IngestOptions.Log);
	// Build sets it, Ingest ignores it.
	LogKept bool `json:"log_kept,omitempty"`
}

// BuildLog is a build's whole log as `buildx history logs` prints it
// (plain progress), gzip'd, kept when the build was stored with
// --keep-logs.
type BuildLog struct {
	// Gz is the gzip'd text.
	Gz []byte
	// Bytes is the text's length before compression.
	Bytes int64
	// Truncated says the log went past the cap and its end was not kept.
	Truncated bool
}

// BuildFacts are what `docker buildx history inspect` shows of a build:
// its request (build args, target, platforms, ...) and where it came
// from. Secrets are recorded by id only.
type BuildFacts struct {
	Frontend   string            `json:"frontend,omitempty"`
	Dockerfile string            `json:"dockerfile,omitempty"` // the file name the frontend read
	Target     string            `json:"target,omitempty"`
	Platforms  []string          `json:"platforms,omitempty"`
	BuildArgs  map[string]string `json:"build_args,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Contexts are named build contexts (--build-context NAME=VALUE).
	Contexts  map[string]string `json:"contexts,omitempty"`
	NoCache   bool              `json:"no_cache,omitempty"`
	Pull      bool              `json:"pull,omitempty"`
	Network   string            `json:"network,omitempty"`
	CacheFrom []string          `json:"cache_from,omitempty"`
	CacheTo   []string          `json:"cache_to,omitempty"`
	// Attests are the attestations asked for: "provenance" or
	// "provenance:mode=max", "sbom", ...
	Attests []string `json:"attests,omitempty"`
	Secrets []string `json:"secrets,omitempty"` // ids
	SSH     []string `json:"ssh,omitempty"`     // ids
	Outputs []string `json:"outputs,omitempty"` // exporter types
	// VCSRevision and VCSSource are the source revision and repository
	// the build came from (buildx's vcs:revision and vcs:source).
	VCSRevision string `json:"vcs_revision,omitempty"`
	VCSSource   string `json:"vcs_source,omitempty"`
	// Materials are what the provenance attestation says the build
	// resolved (images, git sources, HTTP files) with their digests.
	Materials []Material `json:"materials,omitempty"`
}

// Material is one resolved dependency of a build's provenance.
type Material struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest,omitempty"`
}

// Merge returns m with its empty fields filled from o, so that
// flags.Merge(DetectCI(os.Getenv)).Merge(DetectGit(dir)) gives flags
// precedence over CI variables over the local checkout.
func (m Meta) Merge(o Meta) Meta {
	str := func(a *string, b string) {
		if *a == "" {
			*a = b
		}
	}
	str(&m.Project, o.Project)
	str(&m.Branch, o.Branch)
	str(&m.Commit, o.Commit)
	str(&m.CIProvider, o.CIProvider)
	str(&m.RunURL, o.RunURL)
	str(&m.Runner, o.Runner)
	str(&m.Dockerfile, o.Dockerfile)
	str(&m.ContentHash, o.ContentHash)
	str(&m.Source, o.Source)
	if len(m.Tags) == 0 {
		m.Tags = o.Tags
	}
	if m.Started.IsZero() {
		m.Started, m.StartedSource = o.Started, o.StartedSource
	}
	return m
}

// IngestOptions control what Ingest keeps.
type IngestOptions struct {
	// KeepLogs stores the vertex output tails and the Dockerfile excerpt of
	// a failed build. Off by default: build output can hold secrets.
	KeepLogs bool
	// Log, when not nil, is the whole log to keep with the build.
	Log *BuildLog
	// Causes are why the build's cache broke, stored for misses
	// --by-cause. Ingesting a build that is already stored keeps the
	// causes it was stored with.
	Causes []BreakCause
}

// HistoryQuery selects builds for History. Zero fields do not filter.
type HistoryQuery struct {
	Project string
	Branch  string
	// Builder keeps the builds of one builder (BuildSummary.Builder).
	Builder string
	Since   time.Time // inclusive
	Until   time.Time // exclusive
	Limit   int       // 0 = all
}

// BuildSummary is one history row.
type BuildSummary struct {
	ID              int64     `json:"id"`
	Project         string    `json:"project"`
	Branch          string    `json:"branch"`
	Commit          string    `json:"commit"`
	StartedAt       time.Time `json:"started_at"`
	Status          string    `json:"status"`
	DurationSeconds float64   `json:"duration_seconds"`
	// DurationSource says how the duration was found: "log" (the log states
	// it), "timestamps" (vertex start/end times) or "sum" (the sum of vertex
	// durations, an upper bound when stages ran in parallel).
	DurationSource string `json:"duration_source"`
	StepsTotal     int    `json:"steps_total"`
	StepsCached    int    `json:"steps_cached"`
	StepsRan       int    `json:"steps_ran"`
	StepsFailed    int    `json:"steps_failed"`
	// ContextBytes is the build context transfer size, -1 when unknown.
	ContextBytes   int64    `json:"context_bytes"`
	BaseImageBytes int64    `json:"base_image_bytes"`
	CIProvider     string   `json:"ci_provider,omitempty"`
	RunURL         string   `json:"run_url,omitempty"`
	Runner         string   `json:"runner,omitempty"`
	Dockerfile     string   `json:"dockerfile,omitempty"`
	Tags           []string `json:"tags,omitempty"`
	Format         string   `json:"format"`
	ContentHash    string   `json:"content_hash"`
	// Builder is the daemon a live or imported build ran on ("buildkit
	// unix:///...", "docker unix:///..."), or what a log names.
	Builder string `json:"builder,omitempty"`
	// Source is where the record came from: a log's file name, "-" for
	// stdin, "live", "buildkit:REF" for a BuildKit build.
	Source string `json:"source,omitempty"`
	// BuildKitRef is the build's ref in its daemon's history.
	BuildKitRef string `json:"buildkit_ref,omitempty"`
}

// StepRef names a step identity of a project: the same Dockerfile step
// across builds (see model.Identity), with the id the store gave it.
type StepRef struct {
	StepID  int64  `json:"step_id"`
	Project string `json:"project,omitempty"`
	model.Identity
}

// Less orders step references by project, then identity: the same in
// every store, whatever ids it gave them.
func (r StepRef) Less(o StepRef) bool {
	if r.Project != o.Project {
		return r.Project < o.Project
	}
	return r.Key() < o.Key()
}

// StateAbsent is a step's state in a build that does not have it, in
// comparisons; the other states are model.State's.
const StateAbsent model.State = "absent"

// StepChange is one step identity in a comparison of two builds.
type StepChange struct {
	StepRef
	BeforeState   model.State `json:"before_state"`
	AfterState    model.State `json:"after_state"`
	BeforeSeconds float64     `json:"before_seconds"`
	AfterSeconds  float64     `json:"after_seconds"`
	DeltaSeconds  float64     `json:"delta_seconds"`
	// CacheChanged is set when the step was a cache hit in one build and
	// ran in the other.
	CacheChanged bool `json:"cache_changed"`
}

// BaseImageChange is a FROM step whose pinned digest differs.
type BaseImageChange struct {
	StepRef
	BeforeDigest string `json:"before_digest"`
	AfterDigest  string `json:"after_digest"`
}

// Comparison is Compare's answer.
type Comparison struct {
	Before               BuildSummary `json:"before"`
	After                BuildSummary `json:"after"`
	DurationDeltaSeconds float64      `json:"duration_delta_seconds"`
	// Steps lists every identity in either build: After's order, then the
	// steps only Before had.
	Steps []StepChange `json:"steps"`
	// FirstCacheChange is the first step (in After's order) whose cache
	// state changed: usually the step that invalidated the cache.
	FirstCacheChange *StepChange `json:"first_cache_change,omitempty"`
	// CacheLostSeconds is what the lost cache cost: the run time in After
	// of every step that was cached in Before. CacheGainedSeconds is the
	// reverse.
	CacheLostSeconds   float64           `json:"cache_lost_seconds"`
	CacheGainedSeconds float64           `json:"cache_gained_seconds"`
	BaseImageChanges   []BaseImageChange `json:"base_image_changes"`
	// Context sizes, -1 when the log does not show them.
	ContextBytesBefore int64     `json:"context_bytes_before"`
	ContextBytesAfter  int64     `json:"context_bytes_after"`
	Added              []StepRef `json:"added"`
	Removed            []StepRef `json:"removed"`
}

// WindowQuery selects the builds Slow and Misses look at. Zero fields do
// not filter.
type WindowQuery struct {
	Since   time.Time // inclusive
	Until   time.Time // exclusive
	Project string
	Branch  string
	// Kinds limits Slow to vertex kinds; empty means all. Misses always
	// looks at Dockerfile steps (model.KindStep) only.
	Kinds []model.Kind
	// Steps limits Slow and Misses to these step identities (StepRef.StepID);
	// empty means all. A chart of a few steps over many periods asks for
	// just those.
	Steps []int64
	Limit int // 0 = all
}

// StepStats is one step identity's figures over a window. Times are over
// the executions that ran (not cache hits); percentiles are nearest-rank.
type StepStats struct {
	StepRef
	Builds    int     `json:"builds"`     // builds in the window that had the step
	Runs      int     `json:"runs"`       // executions that ran
	CacheHits int     `json:"cache_hits"` // executions served from the cache
	MissRate  float64 `json:"miss_rate"`  // runs / (runs + cache hits), Dockerfile steps only
	// Timed counts the runs whose time is known; the times below are of
	// those (all 0 when none is).
	Timed int     `json:"timed_runs"`
	P50   float64 `json:"p50_seconds"`
	P95   float64 `json:"p95_seconds"`
	Max   float64 `json:"max_seconds"`
	Mean  float64 `json:"mean_seconds"`
	Total float64 `json:"total_seconds"` // summed run time
	// Lost is the run time of cache misses: Total for Dockerfile steps,
	// 0 for vertices that are never cached.
	Lost float64 `json:"lost_seconds"`
}

// Period is a trend bucket.
type Period string

// Trend periods. Weeks start on Monday 00:00 UTC, days at 00:00 UTC.
const (
	Day  Period = "day"
	Week Period = "week"
)

// TrendQuery selects Trends' builds and buckets.
type TrendQuery struct {
	Period  Period    // Week when empty
	Since   time.Time // inclusive; zero = from the first build
	Until   time.Time // exclusive; zero = through the last build
	Project string
	Branch  string
	// Regressions is how many regressed steps to return (default 5);
	// Baseline how many periods before the latest one they are compared
	// against (default 4).
	Regressions int
	Baseline    int
}

// TrendPeriod is one bucket of Trends.
type TrendPeriod struct {
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Builds      int       `json:"builds"`
	Failed      int       `json:"failed"`
	FailureRate float64   `json:"failure_rate"`
	// Timed counts the builds whose duration is known; P50 and P95 are of
	// those (0 when none is).
	Timed        int     `json:"timed_builds"`
	P50          float64 `json:"p50_seconds"`
	P95          float64 `json:"p95_seconds"`
	StepsTotal   int     `json:"steps_total"`
	StepsCached  int     `json:"steps_cached"`
	CacheHitRate float64 `json:"cache_hit_rate"`
}

// StepRegression is a step whose typical run time rose in the latest
// period against the periods before it: its p50 run time grew by at least
// 20% and 0.1 s.
type StepRegression struct {
	StepRef
	BaselineSeconds float64 `json:"baseline_seconds"` // p50 run time over the baseline periods
	CurrentSeconds  float64 `json:"current_seconds"`  // p50 run time in the latest period
	DeltaSeconds    float64 `json:"delta_seconds"`
	BaselineRuns    int     `json:"baseline_runs"`
	CurrentRuns     int     `json:"current_runs"`
}

// Trends is Trends' answer.
type Trends struct {
	Period  Period        `json:"period"`
	Periods []TrendPeriod `json:"periods"` // oldest first, empty periods included
	// Regressions compares the latest period with up to Baseline periods
	// before it, largest p50 increase first.
	Regressions []StepRegression `json:"regressions"`
}

// PreviousMisses is PreviousMisses' answer.
type PreviousMisses struct {
	Build    BuildSummary  `json:"build"`
	Previous *BuildSummary `json:"previous,omitempty"` // nil for a project's first build
	// Steps were cached in Previous and ran (or failed) in Build, in
	// Build's order.
	Steps []StepChange `json:"steps"`
}

// PruneResult is what Prune deleted, or would delete with dryRun.
type PruneResult struct {
	OlderThan time.Time `json:"older_than"`
	DryRun    bool      `json:"dry_run"`
	Builds    int       `json:"builds"`   // builds deleted
	Vertices  int       `json:"vertices"` // their vertices (steps and other work)
	// Steps is the number of step identities no remaining build has.
	Steps int `json:"step_identities"`
	// ContextNodes is the number of stored context directory nodes no
	// remaining build's context has (see inputs.go); 0 in a dry run,
	// which does not walk the trees.
	ContextNodes int `json:"context_nodes"`
	// Projects breaks the deleted builds down by project, by name; a
	// project with nothing to delete is not listed.
	Projects []ProjectPrune `json:"projects"`
}

// ProjectPrune is one project's part of a PruneResult.
type ProjectPrune struct {
	Project  string `json:"project"`
	Builds   int    `json:"builds"`
	Vertices int    `json:"vertices"`
	Kept     int    `json:"kept"` // the project's builds that stay
}

// InventoryItem is one build as Inventory lists it: what identifies it in
// any store, and what it holds.
type InventoryItem struct {
	ID          int64     `json:"id"` // in this store; not part of the checksum
	ContentHash string    `json:"content_hash"`
	Project     string    `json:"project"`
	Branch      string    `json:"branch"`
	StartedAt   time.Time `json:"started_at"`
	Status      string    `json:"status"`
	StepsTotal  int       `json:"steps_total"`
	Vertices    int       `json:"vertices"`
	Transfers   int       `json:"transfers"`
	Outputs     int       `json:"outputs"`   // vertices with kept output lines
	LogsKept    bool      `json:"logs_kept"` // ingested with IngestOptions.KeepLogs
	Inputs      bool      `json:"inputs"`    // stored with model.Build.Inputs
	Causes      int       `json:"causes"`    // stored causes of cache breaks (IngestOptions.Causes)
}

// Checksum is the checksum of an inventory: "sha256:" and the hex SHA-256
// of one line per build, in content hash order, of its content hash,
// project, branch, start time (Unix ms), status, Dockerfile steps,
// vertices, transfers, kept outputs, whether logs were kept, whether its
// inputs were and how many causes, separated by tabs (text fields Go-quoted, so no value can forge a separator). Two stores holding the same builds have the same checksum
// whatever their ids; a build missing, added, or stored with a different
// number of rows changes it.
func Checksum(items []InventoryItem) string {
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b InventoryItem) int { return strings.Compare(a.ContentHash, b.ContentHash) })
	h := sha256.New()
	for _, it := range sorted {
		fmt.Fprintf(h, "%q\t%q\t%q\t%d\t%q\t%d\t%d\t%d\t%d\t%t\t%t\t%d\n", it.ContentHash, it.Project, it.Branch,
			it.StartedAt.UnixMilli(), it.Status, it.StepsTotal, it.Vertices, it.Transfers, it.Outputs, it.LogsKept, it.Inputs, it.Causes)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Package model holds the types every buildstats package speaks: a Build and
// its Vertices, as recovered from a BuildKit or legacy Docker build log or a
// live BuildKit status stream.
//
// The model is deliberately plain data: parsers fill it, the store persists
// it and reports read it. Fields that a given input format cannot provide are
// left at their zero value; the Has*/Known* accessors tell "zero" from
// "unknown" where it matters.
package model

import (
	"strings"
	"time"
)

// Format names the kind of input a Build was recovered from.
type Format string

// Input formats.
const (
	FormatTTY     Format = "tty"     // BuildKit tty progress (`[+] Building ...`, ` => ...`)
	FormatPlain   Format = "plain"   // BuildKit --progress=plain (`#5 ...`)
	FormatRawJSON Format = "rawjson" // BuildKit --progress=rawjson, one SolveStatus per line
	FormatLegacy  Format = "legacy"  // the legacy builder (`Step 2/5 : ...`)
)

// Status is the outcome of a build.
type Status string

// Build outcomes. A build cancelled while it ran (recorded live or read
// from a daemon's history) is StatusCanceled; a text log's is StatusFailed,
// as the log cannot tell.
const (
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
	StatusUnknown   Status = "unknown" // the log ends before the build says how it ended
)

// Build is one docker build as recovered from its log or status stream.
type Build struct {
	Format Format `json:"format"`
	Status Status `json:"status"`

	// Duration is the build's total wall time where the input states it
	// (the tty header, rawjson timestamps, CI timestamps); see HasDuration.
	Duration    time.Duration `json:"duration_ns,omitempty"`
	HasDuration bool          `json:"has_duration,omitempty"`
	// DurationFromTimestamps is set when Duration was derived from CI line
	// timestamps (the span from the first to the last build line) rather
	// than stated by the builder: legacy logs and plain logs with a CI
	// prefix. Without timestamps such a build has no duration (HasDuration
	// false), never 0.
	DurationFromTimestamps bool `json:"duration_from_timestamps,omitempty"`
	// DurationIsLowerBound is set when the log ends before the build does:
	// Duration is how long the build had run by then ("at least").
	DurationIsLowerBound bool `json:"duration_is_lower_bound,omitempty"`

	// Started and Completed are absolute times where the input gives them
	// (rawjson, live streams, CI line timestamps); zero otherwise.
	Started   time.Time `json:"started,omitzero"`
	Completed time.Time `json:"completed,omitzero"`

	// Builder is the builder or driver the log names, for example
	// "docker:default" or `"default" instance using docker driver`.
	Builder string `json:"builder,omitempty"`

	// Vertices in order of first appearance, each listed once.
	Vertices []*Vertex `json:"vertices"`

	// Error is the build's summary error (`ERROR: failed to solve: ...`).
	Error string `json:"error,omitempty"`
	// ErrorContext holds the Dockerfile excerpt BuildKit prints under a
	// failed build (`Dockerfile:3` followed by numbered lines).
	ErrorContext []string `json:"error_context,omitempty"`
	// ErrorFile and ErrorLine locate the failing instruction when the error
	// excerpt names them (`Dockerfile:3`); ErrorLine is 0 when unknown.
	ErrorFile string `json:"error_file,omitempty"`
	ErrorLine int    `json:"error_line,omitempty"`

	// Warnings are build-level warnings: lint checks, a non-fatal cache
	// import failure, "No output specified" and the like.
	Warnings []Warning `json:"warnings,omitempty"`

	// ImageID and ImageNames come from `writing image sha256:...`,
	// `naming to ...` or the legacy `Successfully built/tagged` lines.
	ImageID    string   `json:"image_id,omitempty"`
	ImageNames []string `json:"image_names,omitempty"`

	// Inputs is what went into the build (base image digests, the
	// Dockerfile, build args, the context), as far as it is recorded;
	// nil when nothing is. See Inputs.
	Inputs *Inputs `json:"inputs,omitempty"`

	// Source says where a build came from when it was not a saved log:
	// "buildkit" (recorded live from a BuildKit daemon), "docker" (live from
	// the Docker Engine), "buildkit-history" (imported from BuildKit's
	// history API). Empty for logs.
	Source string `json:"source,omitempty"`

	// Truncated is set when the input ends before the build does: no
	// FINISHED header, no image written or named, no "Successfully built",
	// fewer vertices than the tty header counts, a legacy "Step 25/49" with
	// no later step, a vertex still running. A truncated build's Status is
	// never StatusSucceeded: it is StatusUnknown, or StatusFailed when the
	// part the log holds already shows a failure.
	Truncated bool `json:"truncated,omitempty"`
	// BeganMidBuild is set when the input begins after the build began (its
	// first lines are missing: the first vertex has no name line). Counts
	// and durations cover only what the log holds; the outcome, when the
	// log shows it, is still known. Before BeganMidBuild existed, Truncated
	// covered this case too: readers that want "the log does not hold the
	// whole build" test Truncated || BeganMidBuild.
	BeganMidBuild bool `json:"began_mid_build,omitempty"`

	// LogIndex and LogBuilds place the build in its log when one log holds
	// several builds (a CI retry, a script that builds twice): LogIndex is
	// its 1-based position, LogBuilds how many builds the log holds (2 or
	// more). Both are 0 for a log that holds one build and for builds that
	// did not come from a log (live, imported), so a log and a live
	// recording of the same build give the same record. parse.Parse returns
	// the last build; parse.ParseAll returns each.
	LogIndex  int `json:"log_index,omitempty"`
	LogBuilds int `json:"log_builds,omitempty"`
}

// Warning is a warning BuildKit or the builder attached to the build or to a
// vertex.
type Warning struct {
	Vertex string `json:"vertex,omitempty"` // vertex ID, empty for build-level warnings
	Text   string `json:"text,omitempty"`
}

// Vertex is one node of the build graph: a Dockerfile step, an internal
// operation ("[internal] load build context"), or an export.
type Vertex struct {
	// ID identifies the vertex within its build: the plain-progress number
	// ("5"), the rawjson digest, or a synthesized key for tty and legacy.
	ID string `json:"id,omitempty"`
	// Digest is the vertex digest where the input shows it (rawjson, the
	// `#5 sha256:...` lines of older docker CLIs).
	Digest string `json:"digest,omitempty"`
	// Inputs are the digests of the vertices this one depends on (rawjson).
	Inputs []string `json:"inputs,omitempty"`

	// Name is the vertex name as printed, without ANSI, status prefix
	// (CACHED/ERROR/CANCELED) or duration.
	Name string `json:"name"`
	// NameTruncated is set when the tty display cut the name to fit.
	NameTruncated bool `json:"name_truncated,omitempty"`

	// Label parts of "[linux/arm64 builder 2/5] RUN ...".
	Platform string `json:"platform,omitempty"` // "linux/arm64"; empty when not shown
	Stage    string `json:"stage,omitempty"`    // "builder", "stage-0", "internal", "auth"; empty when not shown
	Index    int    `json:"index,omitempty"`    // 2; 0 for non-Dockerfile vertices
	Total    int    `json:"total,omitempty"`    // 5; 0 for non-Dockerfile vertices

	// Instruction is the upper-case Dockerfile instruction ("RUN") and Args
	// the text after it, for Dockerfile steps; both empty otherwise.
	Instruction string `json:"instruction,omitempty"`
	Args        string `json:"args,omitempty"`

	Cached   bool `json:"cached"`
	Canceled bool `json:"canceled,omitempty"`
	// Error is the vertex's error text; ExitCode the process exit code when
	// the error states one (0 when unknown).
	Error    string `json:"error,omitempty"`
	ExitCode int    `json:"exit_code,omitempty"`

	// Duration as the input reports it (`DONE 12.3s`, the tty timer, merged
	// rawjson intervals); see HasDuration. A cached step that spent time
	// (loading cache layers) keeps that time.
	Duration    time.Duration `json:"duration_ns,omitempty"`
	HasDuration bool          `json:"has_duration,omitempty"`
	// DurationIsLowerBound is set when the vertex had not finished (or
	// failed or was cancelled without a stated time) and Duration is only
	// how long it had run by the last thing the log shows of it: its last
	// output line's time offset, a tty timer, the last timestamp.
	DurationIsLowerBound bool `json:"duration_is_lower_bound,omitempty"`
	// Completed is set once the input reports the vertex as finished
	// (DONE, CACHED, ERROR, CANCELED, or a completion time).
	Completed bool `json:"completed,omitempty"`

	// Started and Ended are absolute times where the input gives them.
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`

	// LayerBytes is the size of the image layer this step produced, where
	// the collector could read it (the Docker Engine's image history); no
	// log shows it. See HasLayerBytes.
	LayerBytes    int64 `json:"layer_bytes,omitempty"`
	HasLayerBytes bool  `json:"has_layer_bytes,omitempty"`

	// Transfers are byte-count progress items: layer downloads, context and
	// Dockerfile transfers, exports.
	Transfers []Transfer `json:"transfers,omitempty"`

	Warnings []string `json:"warnings,omitempty"`

	// Output is the tail of the vertex's output (at most OutputTailLines
	// lines), without the plain-progress time offsets.
	Output []string `json:"output,omitempty"`
	// OutputLines counts all output lines seen, kept or not.
	OutputLines int `json:"output_lines,omitempty"`
	// ErrorLines are output lines from anywhere in the output (not only the
	// tail) that carry an error: "error", "ERR!", "fatal", "Traceback",
	// "missing", "exit code", "failed" and the like. They are kept for
	// vertices that failed, were cancelled or had not finished, at most
	// ErrorLinesMax of them (the first few and the last ones), each cut to
	// ErrorLineMaxBytes.
	ErrorLines []string `json:"error_lines,omitempty"`
}

// OutputTailLines is how many of a vertex's last output lines are kept.
const OutputTailLines = 20

// Bounds of Vertex.ErrorLines.
const (
	ErrorLinesMax     = 12
	ErrorLineMaxBytes = 512
)

// MaxDuration bounds every duration the parsers accept: a stated time
// longer than this (or negative, or not a number) is not a time but a
// corrupt or hostile log, and is dropped rather than kept.
const MaxDuration = 31 * 24 * time.Hour

// MaxBytes bounds every size the parsers accept (1 PiB).
const MaxBytes = int64(1) << 50

// Transfer is one progress item with a byte count, such as
// `sha256:… 29.13MB / 29.13MB` or `transferring context: 392B`.
type Transfer struct {
	Name     string        `json:"name"`            // "sha256:2f44…", "transferring context", "exporting layers"
	Bytes    int64         `json:"bytes,omitempty"` // bytes done
	Total    int64         `json:"total,omitempty"` // total bytes, 0 when not shown
	Duration time.Duration `json:"duration_ns,omitempty"`
	Done     bool          `json:"done,omitempty"`
}

// IsStep reports whether the vertex is a Dockerfile instruction (it has an
// [n/m] position).
func (v *Vertex) IsStep() bool { return v.Total > 0 }

// IsInternal reports whether the vertex is BuildKit's own bookkeeping rather
// than a Dockerfile step or export: [internal], [auth], metadata loads.
func (v *Vertex) IsInternal() bool {
	return v.Stage == "internal" || v.Stage == "auth" || strings.HasPrefix(v.Name, "[internal]") || strings.HasPrefix(v.Name, "[auth]")
}

// AddOutput appends a line to the vertex output, keeping only the tail, for
// code that builds a model itself (the parsers keep their own ring buffer).
func (v *Vertex) AddOutput(line string) {
	v.OutputLines++
	if len(v.Output) < OutputTailLines {
		v.Output = append(v.Output, line)
		return
	}
	copy(v.Output, v.Output[1:])
	v.Output[len(v.Output)-1] = line
}

// SetTransfer records the latest state of the transfer with the given name,
// replacing an earlier report of the same item.
func (v *Vertex) SetTransfer(t Transfer) {
	for i := range v.Transfers {
		if v.Transfers[i].Name == t.Name {
			v.Transfers[i] = t
			return
		}
	}
	v.Transfers = append(v.Transfers, t)
}

// Steps returns the Dockerfile-step vertices of the build, in order.
func (b *Build) Steps() []*Vertex {
	var out []*Vertex
	for _, v := range b.Vertices {
		if v.IsStep() {
			out = append(out, v)
		}
	}
	return out
}

// ContextBytes is the size of the build context transfer, or -1 when the
// log does not show it.
func (b *Build) ContextBytes() int64 {
	for _, v := range b.Vertices {
		// BuildKit's "[internal] load build context", or the legacy
		// builder's "Sending build context to Docker daemon".
		if v.Activity() != ActivityContext {
			continue
		}
		for _, t := range v.Transfers {
			if strings.HasPrefix(t.Name, "transferring context") {
				return t.Bytes
			}
		}
	}
	return -1
}

// BaseImageBytes is the total size of the layers downloaded for FROM steps
// (transfers named by digest under a FROM vertex), or 0 when none were.
func (b *Build) BaseImageBytes() int64 {
	var n int64
	for _, v := range b.Vertices {
		if v.Instruction != "FROM" {
			continue
		}
		for _, t := range v.Transfers {
			if strings.HasPrefix(t.Name, "sha256:") {
				size := t.Total
				if size == 0 {
					size = t.Bytes
				}
				n = AddBytes(n, size)
			}
		}
	}
	return n
}

// How WallTime found a build's duration.
const (
	WallTimeLog        = "log"        // the log or stream states it
	WallTimeTimestamps = "timestamps" // the span of the vertices' start/end times
	WallTimeSum        = "sum"        // the sum of vertex durations: an upper bound, stages may overlap
)

// WallTime is the build's duration as well as the input allows: as stated,
// else the span of vertex timestamps, else the sum of vertex durations. basis
// is one of the WallTime* constants, or "" when nothing is known.
func (b *Build) WallTime() (d time.Duration, basis string) {
	if b.HasDuration && b.Duration >= 0 && b.Duration <= MaxDuration {
		if b.DurationFromTimestamps {
			return b.Duration, WallTimeTimestamps
		}
		return b.Duration, WallTimeLog
	}
	if span := b.Completed.Sub(b.Started); !b.Started.IsZero() && span > 0 && span <= MaxDuration {
		return span, WallTimeLog
	}
	var first, last time.Time
	var sum time.Duration
	timed := false
	for _, v := range b.Vertices {
		if v.HasDuration {
			timed = true
			sum = AddDurations(sum, v.Duration)
		}
		if v.Started.IsZero() {
			continue
		}
		end := v.Ended
		if end.IsZero() && v.HasDuration {
			end = v.Started.Add(v.Duration)
		}
		if end.IsZero() {
			end = v.Started
		}
		if first.IsZero() || v.Started.Before(first) {
			first = v.Started
		}
		if end.After(last) {
			last = end
		}
	}
	switch {
	case !first.IsZero() && last.After(first) && last.Sub(first) <= MaxDuration:
		return last.Sub(first), WallTimeTimestamps
	case timed:
		return sum, WallTimeSum
	}
	return 0, ""
}

// AddDurations returns a+b for non-negative durations, saturating at
// MaxDuration instead of overflowing.
func AddDurations(a, b time.Duration) time.Duration {
	if a < 0 || b < 0 {
		return max(a, b, 0)
	}
	if a > MaxDuration-b {
		return MaxDuration
	}
	return a + b
}

// AddBytes returns a+b for non-negative sizes, saturating at MaxBytes.
func AddBytes(a, b int64) int64 {
	if a < 0 || b < 0 {
		return max(a, b, 0)
	}
	if a > MaxBytes-b {
		return MaxBytes
	}
	return a + b
}

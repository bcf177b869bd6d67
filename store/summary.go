package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// Aggregates are the per-build figures a store precomputes at ingest so
// that history and trends never scan vertices.
type Aggregates struct {
	Duration       time.Duration
	DurationSource string // a model.WallTime* basis
	StepsTotal     int
	StepsCached    int
	StepsRan       int
	StepsFailed    int
	RanTime        time.Duration // summed run time of the steps that ran
	ContextBytes   int64         // -1 when unknown
	BaseImageBytes int64
}

// Summarize computes a build's Aggregates, the same way for every store.
func Summarize(b *model.Build) Aggregates {
	a := Aggregates{ContextBytes: b.ContextBytes(), BaseImageBytes: b.BaseImageBytes()}
	a.Duration, a.DurationSource = b.WallTime()
	for _, v := range b.Vertices {
		if !v.IsStep() {
			continue
		}
		a.StepsTotal++
		if v.State() == model.StateCached {
			a.StepsCached++
		}
		if v.Ran() {
			a.StepsRan++
			a.RanTime += v.Duration
		}
		if v.State() == model.StateError {
			a.StepsFailed++
		}
	}
	return a
}

// StartTime picks a build's start time: the log's own where it has one,
// else the --time flag, else the log file's modification time. It returns
// the time and its source for Meta.StartedSource; both are zero when none
// is known (Ingest then uses the time of ingest).
func StartTime(b *model.Build, flag, fileTime time.Time) (time.Time, string) {
	switch {
	case b != nil && !b.Started.IsZero():
		return b.Started, "log"
	case !flag.IsZero():
		return flag, "flag"
	case !fileTime.IsZero():
		return fileTime, "file"
	}
	return time.Time{}, ""
}

// BuildHash is the content hash Ingest uses when Meta.ContentHash is empty:
// a hash of the parsed build, so the same build recorded twice hashes alike.
func BuildHash(b *model.Build) string {
	data, _ := json.Marshal(b) // plain data: cannot fail
	sum := sha256.Sum256(data)
	return "build-sha256:" + hex.EncodeToString(sum[:])
}

// BatchItem is one build for IngestBatch.
type BatchItem struct {
	Build   *model.Build
	Meta    Meta
	Options IngestOptions
}

// BatchResult is IngestBatch's answer for one item.
type BatchResult struct {
	ID      int64 `json:"id"`
	Created bool  `json:"created"`
}

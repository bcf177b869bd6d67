package model

import (
	"strings"
	"time"
)

// State is where a vertex ended up. It is defined once, here: reports,
// the store, the gates and the CI annotations all read it from State
// rather than from the flags it is derived from.
type State string

// Vertex states.
const (
	StateDone       State = "done"       // finished and was not served from the cache
	StateCached     State = "cached"     // served from the layer cache
	StateError      State = "error"      // failed
	StateCanceled   State = "canceled"   // stopped before it finished (another step failed, Ctrl-C)
	StateIncomplete State = "incomplete" // the input ends before the vertex does
)

// State returns the vertex's final state. When the flags contradict each
// other (hostile or damaged input), the order below decides: canceled, then
// error, then cached, then done.
func (v *Vertex) State() State {
	switch {
	case v.Canceled:
		return StateCanceled
	case v.Error != "":
		return StateError
	case v.Cached:
		return StateCached
	case v.Completed:
		return StateDone
	}
	return StateIncomplete
}

// Ran reports whether the vertex executed to an end (done or failed) rather
// than coming from the cache, being cancelled or still running. Only such
// vertices have run times worth comparing and counting as cache misses. A
// FROM that resolved its image from the local store (see ResolvedLocally)
// did not run.
func (v *Vertex) Ran() bool {
	switch v.State() {
	case StateError:
		return true
	case StateDone:
		return !v.ResolvedLocally()
	}
	return false
}

// CacheHit reports whether a step's result came from the cache: CACHED, or a
// FROM whose image was already present.
func (v *Vertex) CacheHit() bool {
	return v.State() == StateCached || v.ResolvedLocally()
}

// ResolvedLocally reports whether the vertex is a FROM step that found its
// image in the local store: it finished (not cached, failed or cancelled)
// without pulling (see PulledImage). BuildKit shows such a step done in
// 0.0s rather than CACHED. It did no work: it is not a step that ran, and a
// cache break does not start there.
func (v *Vertex) ResolvedLocally() bool {
	return v.Instruction == "FROM" && v.State() == StateDone && !v.PulledImage()
}

// FromPullMinDuration is how long a FROM step must take to count as a base
// image download when the log shows no layer transfers. Resolving a
// reference to an image that is present takes well under a second.
const FromPullMinDuration = time.Second

// PulledImage reports whether a FROM step downloaded its image: it shows
// layer transfers or extraction, printed output (the legacy builder prints
// its pulls: "Pulling from library/alpine"), or took at least
// FromPullMinDuration.
func (v *Vertex) PulledImage() bool {
	if v.Instruction != "FROM" {
		return false
	}
	for _, t := range v.Transfers {
		if t.Bytes > 0 || t.Total > 0 || strings.HasPrefix(t.Name, "sha256:") || strings.HasPrefix(t.Name, "extracting") {
			return true
		}
	}
	return v.OutputLines > 0 || v.HasDuration && v.Duration >= FromPullMinDuration
}

// Kind is what a vertex is for, coarsely.
type Kind string

// Vertex kinds.
const (
	KindStep     Kind = "step"     // a Dockerfile instruction ([n/m] position)
	KindInternal Kind = "internal" // BuildKit's own work: metadata, context, Dockerfile and auth loads
	KindExport   Kind = "export"   // exporting, writing, naming, pushing the result
	KindCache    Kind = "cache"    // importing or exporting build cache
	KindOther    Kind = "other"
)

// Activity is what a vertex is for, finer than Kind: the label a report
// shows next to a slow vertex.
type Activity string

// Vertex activities; Activity.Kind maps each to its Kind.
const (
	ActivityStep         Activity = "dockerfile step"
	ActivityBaseMetadata Activity = "base image metadata"
	ActivityContext      Activity = "build context"
	ActivityCacheImport  Activity = "cache import"
	ActivityCacheExport  Activity = "cache export"
	ActivityExport       Activity = "export"
	ActivityInternal     Activity = "internal"
	ActivityOther        Activity = "other"
)

// Kind is the coarse kind of the activity.
func (a Activity) Kind() Kind {
	switch a {
	case ActivityStep:
		return KindStep
	case ActivityBaseMetadata, ActivityContext, ActivityInternal:
		return KindInternal
	case ActivityExport:
		return KindExport
	case ActivityCacheImport, ActivityCacheExport:
		return KindCache
	}
	return KindOther
}

// Activity classifies the vertex by its position label and name.
func (v *Vertex) Activity() Activity {
	if v.IsStep() {
		return ActivityStep
	}
	name := strings.ToLower(v.Name)
	switch {
	case strings.Contains(name, "load metadata for"):
		return ActivityBaseMetadata
	case strings.Contains(name, "build context"), name == "copy /context /":
		// "copy /context /" is the Docker Engine unpacking an uploaded
		// context (API builds).
		return ActivityContext
	case strings.HasPrefix(name, "importing cache"):
		return ActivityCacheImport
	case strings.HasPrefix(name, "exporting cache"):
		return ActivityCacheExport
	case strings.HasPrefix(name, "exporting"), strings.HasPrefix(name, "importing to"),
		strings.HasPrefix(name, "writing image"), strings.HasPrefix(name, "naming to"),
		strings.HasPrefix(name, "pushing"), strings.HasPrefix(name, "sending tarball"),
		strings.HasPrefix(name, "unpacking to"):
		return ActivityExport
	case v.IsInternal():
		return ActivityInternal
	}
	return ActivityOther
}

// Kind is the coarse kind of the vertex: Activity().Kind().
func (v *Vertex) Kind() Kind { return v.Activity().Kind() }

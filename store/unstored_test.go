package store

import "github.com/buildstats/buildstats/parse/model"

// dropUnstored clears the model fields the parser fills that this schema
// does not store yet (added to parse/model by the parse-logs branch):
// where a build sits in a log of several, lower-bound and
// timestamp-derived durations, a log that began mid-build, and a failed
// step's error lines. Round-trip tests compare everything else; storing
// these needs a schema version of its own.
func dropUnstored(b *model.Build) {
	b.LogIndex, b.LogBuilds = 0, 0
	b.DurationIsLowerBound, b.DurationFromTimestamps, b.BeganMidBuild = false, false, false
	for _, v := range b.Vertices {
		v.DurationIsLowerBound = false
		v.ErrorLines = nil
	}
}

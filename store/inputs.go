package store

import (
	"context"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// What a store keeps of a build's inputs (model.Build.Inputs), and of why
// its cache broke.
//
// A store keeps a build's inputs with the build, in the same transaction,
// and gives them back with Build. The context manifest is kept as
// content-addressed directory nodes (model.ContextDir, by its hash): a
// node is stored once however many builds have it, so a directory that did
// not change costs nothing, and a build whose context differs from the last
// one by one file adds only the nodes on that file's path. Build returns the
// manifest without its nodes; ContextNodes fetches them as a comparison
// needs them. A Dockerfile's text is likewise stored once per distinct
// content.

// BreakCause is why the cache broke at one step of a build, as the report
// named it when the build was stored (see report.Cause): misses --by-cause
// adds them up over a window.
type BreakCause struct {
	// Seq is the position of the step in Build.Vertices.
	Seq int `json:"seq"`
	// Kind and Confidence are report.Cause's ("context_files", "exact").
	Kind       string `json:"kind"`
	Confidence string `json:"confidence"`
	// Area narrows the kind for grouping: for context_files the directory
	// the changed files share ("src/"), for build_arg the argument names,
	// for base_image the image; "" otherwise.
	Area string `json:"area,omitempty"`
	// RebuiltSeconds is the time rebuilt because of the break (the break's
	// own steps and those folded into it); 0 when unknown.
	RebuiltSeconds float64 `json:"rebuilt_seconds"`
	// PreviousBuild is the build the inputs were compared with; 0 for
	// none.
	PreviousBuild int64 `json:"previous_build,omitempty"`
}

// CauseStats adds up the cache breaks of one cause over a window.
type CauseStats struct {
	Kind string `json:"kind"`
	Area string `json:"area"`
	// Builds counts the builds with at least one break of this cause,
	// Breaks the breaks.
	Builds int `json:"builds"`
	Breaks int `json:"breaks"`
	// RebuiltSeconds is the time rebuilt because of them.
	RebuiltSeconds float64 `json:"rebuilt_seconds"`
	// Confidence counts the breaks by confidence ("exact", "likely",
	// "unknown").
	Confidence map[string]int `json:"confidence"`
}

// CauseQuery selects the builds MissCauses looks at; zero fields do not
// filter.
type CauseQuery struct {
	Since   time.Time // inclusive
	Until   time.Time // exclusive
	Project string
	Branch  string
}

// NodeLoader returns a model.NodeLoader that fetches nodes from r.
func NodeLoader(ctx context.Context, r Reader) model.NodeLoader {
	return func(hs []model.Hash) (map[model.Hash]*model.ContextDir, error) {
		return r.ContextNodes(ctx, hs)
	}
}

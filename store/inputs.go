package store

import (
	"context"
	"fmt"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// What a store keeps of a build's inputs (model.Build.Inputs), and of why
// its cache broke.
//
// Every implementation keeps them the same way (store/sqlite's schema v6 is
// the reference; store/storetest's InputsRoundTrip, InputsContextDiff and
// MissCauses check it):
//
//   - context_nodes (hash PRIMARY KEY, data): model.ContextDir.Encode() by
//     its SHA-256, written from the root down, skipping a subtree whose
//     node is already stored, "on conflict do nothing" against concurrent
//     writers;
//   - dockerfiles (hash PRIMARY KEY, content): each distinct text once;
//   - build_inputs (build_id PRIMARY KEY, inputs, dockerfile_hash,
//     context_root): model.Inputs as JSON with the Dockerfile's content
//     and the context's nodes left out;
//   - break_causes (build_id, seq, kind, confidence, area, rebuilt_ms,
//     previous_id), one row per IngestOptions.Causes entry;
//
// all written in the build's own transaction. Deleting a build deletes its
// build_inputs and break_causes rows; nodes and Dockerfile texts no build
// refers to any more are garbage a prune must sweep (a node is reachable
// from a build_inputs.context_root through the directory entries of the
// nodes on the way).
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

// CopyContextNodes puts into m.Nodes the directory nodes of m's tree that
// to does not hold, read from from, so that storing m in to stores its
// whole tree. It walks the tree a level at a time and does not enter a
// directory whose node to already has (its nodes are there too).
func CopyContextNodes(ctx context.Context, from, to Reader, m *model.ContextManifest) error {
	if m.Nodes == nil {
		m.Nodes = map[model.Hash]*model.ContextDir{}
	}
	level := []model.Hash{m.Root}
	for len(level) > 0 {
		have, err := to.ContextNodes(ctx, level)
		if err != nil {
			return err
		}
		var want []model.Hash
		for _, h := range level {
			if have[h] == nil && m.Nodes[h] == nil {
				want = append(want, h)
			}
		}
		got, err := from.ContextNodes(ctx, want)
		if err != nil {
			return err
		}
		var next []model.Hash
		for _, h := range want {
			d := got[h]
			if d == nil {
				return fmt.Errorf("context directory node %s is missing", h)
			}
			m.Nodes[h] = d
			for _, e := range d.Entries {
				if e.IsDir() {
					next = append(next, e.Hash)
				}
			}
		}
		level = next
	}
	return nil
}

// ReachableNodes walks the context trees from roots through the nodes
// load returns and calls keep with every node hash reached, each once: what
// a prune must not delete.
func ReachableNodes(roots []model.Hash, load func([]model.Hash) (map[model.Hash]*model.ContextDir, error), keep func(model.Hash)) error {
	seen := map[model.Hash]bool{}
	level := []model.Hash{}
	for _, r := range roots {
		if !seen[r] {
			seen[r] = true
			level = append(level, r)
		}
	}
	for len(level) > 0 {
		got, err := load(level)
		if err != nil {
			return err
		}
		var next []model.Hash
		for _, h := range level {
			keep(h)
			d := got[h]
			if d == nil {
				continue // a damaged tree: nothing below it to keep
			}
			for _, e := range d.Entries {
				if e.IsDir() && !seen[e.Hash] {
					seen[e.Hash] = true
					next = append(next, e.Hash)
				}
			}
		}
		level = next
	}
	return nil
}

package backend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/buildstats/buildstats/store"
)

// CopyOptions tune Copy.
type CopyOptions struct {
	// BatchVertices bounds a target transaction: builds are stored in
	// batches of about this many vertices (default 20,000), each all or
	// none, so an interrupted copy keeps whole batches and a rerun goes on
	// from there.
	BatchVertices int
	// Progress, when set, is called after each batch with the number of
	// builds copied so far and the number to copy.
	Progress func(copied, total int)
}

// CopyResult says what Copy did and what it verified.
type CopyResult struct {
	Builds   int `json:"builds"`   // builds in the source
	Vertices int `json:"vertices"` // their vertices
	// Copied builds (and their vertices) were stored in the target by this
	// run; Present ones the target had already (same content hash, same
	// rows), so a second run copies nothing.
	Copied         int `json:"copied"`
	CopiedVertices int `json:"copied_vertices"`
	Present        int `json:"present"`
	// TargetBuilds is how many builds the target has afterwards: more
	// than Builds when it had builds of its own.
	TargetBuilds int `json:"target_builds"`
	// Checksum is store.Checksum of the source's inventory; the target's
	// inventory of the same builds was found to have the same one.
	Checksum string `json:"checksum"`
	// Tokens counts the server access tokens this run copied (see
	// copyTokens).
	Tokens int `json:"tokens"`
}

// ErrCopyMismatch is Copy's error when a build is in both histories with
// different contents, or the target's copies do not match the source
// after copying.
var ErrCopyMismatch = errors.New("the histories do not match")

// Copy copies every build of from that to does not have (by content hash)
// with its metadata and, where they were kept, its logs, oldest first,
// then verifies the target: every source build is there with the same
// project, branch, start time, status and numbers of steps, vertices,
// transfers and kept outputs, and the two inventories' checksums over the
// source's builds are equal. Builds the target has and the source does not
// are left alone. Running it again copies nothing.
//
// A build both have under one content hash but with different rows is
// refused (ErrCopyMismatch) before anything is written.
func Copy(ctx context.Context, from store.Reader, to store.Store, opts CopyOptions) (CopyResult, error) {
	var res CopyResult
	if opts.BatchVertices <= 0 {
		opts.BatchVertices = 20_000
	}
	src, err := from.Inventory(ctx)
	if err != nil {
		return res, fmt.Errorf("copy: read the source: %w", err)
	}
	dst, err := to.Inventory(ctx)
	if err != nil {
		return res, fmt.Errorf("copy: read the target: %w", err)
	}
	res.Builds = len(src)
	for _, it := range src {
		res.Vertices += it.Vertices
	}
	have := make(map[string]store.InventoryItem, len(dst))
	for _, it := range dst {
		have[it.ContentHash] = it
	}
	var todo []store.InventoryItem
	for _, it := range src {
		d, ok := have[it.ContentHash]
		if !ok {
			todo = append(todo, it)
			continue
		}
		if !sameBuild(it, d) {
			return res, fmt.Errorf("copy: %w: build %s is in both, as %s in the source and %s in the target; nothing was copied",
				ErrCopyMismatch, it.ContentHash, describeItem(it), describeItem(d))
		}
		res.Present++
	}
	// Oldest first, so the target numbers them in the order they ran.
	slices.SortStableFunc(todo, func(a, b store.InventoryItem) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	for len(todo) > 0 {
		n, verts := 0, 0
		for n < len(todo) && (n == 0 || verts+todo[n].Vertices <= opts.BatchVertices) {
			verts += todo[n].Vertices
			n++
		}
		batch := make([]store.BatchItem, n)
		for i, it := range todo[:n] {
			b, m, err := from.Build(ctx, it.ID)
			if err != nil {
				return res, fmt.Errorf("copy: read build %s: %w", it.ContentHash, err)
			}
			// The context's directory nodes the target does not hold yet
			// go with the build; the causes it was stored with too.
			if b.Inputs != nil && b.Inputs.Context != nil {
				if err := store.CopyContextNodes(ctx, from, to, b.Inputs.Context); err != nil {
					return res, fmt.Errorf("copy: read build %s: %w", it.ContentHash, err)
				}
			}
			causes, err := from.BuildCauses(ctx, it.ID)
			if err != nil {
				return res, fmt.Errorf("copy: read build %s: %w", it.ContentHash, err)
			}
			ingestOpts := store.IngestOptions{KeepLogs: it.LogsKept, Causes: causes}
			if m.LogKept {
				if ingestOpts.Log, err = from.Log(ctx, it.ID); err != nil {
					return res, fmt.Errorf("copy: read build %s: %w", it.ContentHash, err)
				}
			}
			batch[i] = store.BatchItem{Build: b, Meta: m, Options: ingestOpts}
		}
		out, err := to.IngestBatch(ctx, batch)
		if err != nil {
			return res, fmt.Errorf("copy: after %d of %d builds: %w", res.Copied, res.Copied+len(todo), err)
		}
		for i, r := range out {
			if r.Created {
				res.Copied++
				res.CopiedVertices += todo[i].Vertices
			} else {
				res.Present++ // stored by someone else meanwhile; verified below
			}
		}
		todo = todo[n:]
		if opts.Progress != nil {
			opts.Progress(res.Copied, res.Copied+len(todo))
		}
	}
	if err := verify(ctx, src, to, &res); err != nil {
		return res, err
	}
	res.Tokens, err = copyTokens(ctx, from, to, time.Now())
	return res, err
}

// copyTokens copies the source's server access tokens that still work
// (neither revoked nor expired at now) and the target lacks (by hash), so
// CI runners keep theirs when a team moves its history. Revoked and
// expired ones grant nothing and stay behind: a copy can never bring back
// a revoked token. A token revoked in the source later must be revoked in
// the target too.
func copyTokens(ctx context.Context, from store.Reader, to store.Store, now time.Time) (int, error) {
	src, ok := from.(store.TokenStore)
	dst, ok2 := to.(store.TokenStore)
	if !ok || !ok2 {
		return 0, nil
	}
	theirs, err := src.Tokens(ctx)
	if err != nil {
		return 0, fmt.Errorf("copy: read the source's tokens: %w", err)
	}
	ours, err := dst.Tokens(ctx)
	if err != nil {
		return 0, fmt.Errorf("copy: read the target's tokens: %w", err)
	}
	have := map[string]bool{}
	for _, t := range ours {
		have[t.Hash] = true
	}
	n := 0
	for _, t := range theirs {
		if !t.Usable(now) || have[t.Hash] {
			continue
		}
		if _, err := dst.CreateToken(ctx, t); err != nil {
			return n, fmt.Errorf("copy: token %d: %w", t.ID, err)
		}
		have[t.Hash] = true
		n++
	}
	return n, nil
}

// verify checks that to holds every build of src as src has it.
func verify(ctx context.Context, src []store.InventoryItem, to store.Reader, res *CopyResult) error {
	dst, err := to.Inventory(ctx)
	if err != nil {
		return fmt.Errorf("copy: verify the target: %w", err)
	}
	res.TargetBuilds = len(dst)
	byHash := make(map[string]store.InventoryItem, len(dst))
	for _, it := range dst {
		byHash[it.ContentHash] = it
	}
	mirror := make([]store.InventoryItem, 0, len(src))
	for _, it := range src {
		d, ok := byHash[it.ContentHash]
		if !ok {
			return fmt.Errorf("copy: %w: build %s (%s) is not in the target", ErrCopyMismatch, it.ContentHash, describeItem(it))
		}
		if !sameBuild(it, d) {
			return fmt.Errorf("copy: %w: build %s is %s in the source and %s in the target", ErrCopyMismatch,
				it.ContentHash, describeItem(it), describeItem(d))
		}
		mirror = append(mirror, d)
	}
	res.Checksum = store.Checksum(src)
	if got := store.Checksum(mirror); got != res.Checksum {
		return fmt.Errorf("copy: %w: the source's builds have checksum %s, their copies %s", ErrCopyMismatch, res.Checksum, got)
	}
	return nil
}

// sameBuild compares two inventory items but for their store ids.
func sameBuild(a, b store.InventoryItem) bool {
	a.ID, b.ID = 0, 0
	return a.ContentHash == b.ContentHash && a.Project == b.Project && a.Branch == b.Branch && a.StartedAt.Equal(b.StartedAt) &&
		a.Status == b.Status && a.StepsTotal == b.StepsTotal && a.Vertices == b.Vertices && a.Transfers == b.Transfers &&
		a.Outputs == b.Outputs && a.LogsKept == b.LogsKept && a.Inputs == b.Inputs && a.Causes == b.Causes
}

func describeItem(it store.InventoryItem) string {
	return fmt.Sprintf("project %q branch %q started %s, %s, %d vertices, %d transfers, %d outputs", it.Project, it.Branch,
		it.StartedAt.Format("2006-01-02T15:04:05.000Z"), it.Status, it.Vertices, it.Transfers, it.Outputs)
}

package serve

import (
	"context"

	"github.com/buildstats/buildstats/store"
)

// maxBatch is how many builds one transaction stores at most.
const maxBatch = 64

// batcher stores the builds of concurrent requests together: one
// goroutine commits, and the builds that arrive while it does are stored
// in the next transaction, all in one. A commit waits for the disk
// (fsync), so this is what lets many CI jobs send at once.
type batcher struct {
	s    store.Store
	jobs chan *job
}

// job is one build waiting to be stored.
type job struct {
	item store.BatchItem
	done chan jobResult
}

type jobResult struct {
	res store.BatchResult
	err error
}

func newBatcher(s store.Store) *batcher {
	bt := &batcher{s: s, jobs: make(chan *job, 4*maxBatch)}
	go bt.run()
	return bt
}

// store stores the items (the builds of one log) and returns their
// results in order. The items are stored whole: a request that goes away
// does not take back what it sent.
func (bt *batcher) store(items []store.BatchItem) ([]store.BatchResult, error) {
	jobs := make([]*job, len(items))
	for i, it := range items {
		jobs[i] = &job{item: it, done: make(chan jobResult, 1)}
		bt.jobs <- jobs[i]
	}
	out := make([]store.BatchResult, len(items))
	var err error
	for i, j := range jobs {
		r := <-j.done
		out[i] = r.res
		if r.err != nil && err == nil {
			err = r.err
		}
	}
	return out, err
}

func (bt *batcher) run() {
	ctx := context.Background()
	for first := range bt.jobs {
		batch := []*job{first}
	more:
		for len(batch) < maxBatch {
			select {
			case j := <-bt.jobs:
				batch = append(batch, j)
			default:
				break more
			}
		}
		items := make([]store.BatchItem, len(batch))
		for i, j := range batch {
			items[i] = j.item
		}
		res, err := bt.s.IngestBatch(ctx, items)
		if err == nil {
			for i, j := range batch {
				j.done <- jobResult{res: res[i]}
			}
			continue
		}
		// The batch is all or none: when one build fails, the others
		// are stored alone, so only its request fails.
		for _, j := range batch {
			var r jobResult
			if len(batch) > 1 && !store.IsDatabaseError(err) {
				r.res.ID, r.res.Created, r.err = bt.s.Ingest(ctx, j.item.Build, j.item.Meta, j.item.Options)
			} else {
				r.err = err
			}
			j.done <- r
		}
	}
}

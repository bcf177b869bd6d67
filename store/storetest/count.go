package storetest

import (
	"testing"
	"time"

	"github.com/buildstats/buildstats/store"
)

// testCount checks that a store's Count (store.Counter) counts what
// History lists, whatever the filter.
func testCount(t *testing.T, open Opener) {
	s := open(t)
	c, ok := s.(store.Counter)
	if !ok {
		t.Fatalf("%T does not implement store.Counter", s)
	}
	if n, err := c.Count(Ctx, store.HistoryQuery{}); err != nil || n != 0 {
		t.Fatalf("Count of an empty store: %d, %v", n, err)
	}
	IngestFixtures(t, s)
	all, err := s.History(Ctx, store.HistoryQuery{})
	if err != nil || len(all) < 3 {
		t.Fatalf("history: %d builds, %v", len(all), err)
	}
	mid := all[len(all)/2].StartedAt
	for _, q := range []store.HistoryQuery{{}, {Limit: 1}, {Project: all[0].Project}, {Project: "no such project"},
		{Branch: all[0].Branch}, {Since: mid}, {Until: mid}, {Since: mid, Until: mid.Add(time.Hour)}} {
		rows, err := s.History(Ctx, store.HistoryQuery{Project: q.Project, Branch: q.Branch, Since: q.Since, Until: q.Until})
		if err != nil {
			t.Fatal(err)
		}
		n, err := c.Count(Ctx, q)
		if err != nil || n != len(rows) {
			t.Errorf("Count(%+v) = %d, %v; History lists %d", q, n, err, len(rows))
		}
	}
}

package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// pruneBuild is one build of the prune tests.
type pruneBuild struct {
	project, branch string
	at              time.Time
	build           *model.Build
	keepLogs        bool
}

func (p pruneBuild) meta(i int) store.Meta {
	return store.Meta{Project: p.project, Branch: p.branch, Started: p.at, ContentHash: fmt.Sprintf("prune:%d:%s", i, p.project)}
}

// pruneBuilds are builds over four days around a cutoff in the middle of
// the second: a project with only old builds (and its own branch), steps
// only old builds had, a build on the cutoff's day on either side of it,
// kept output and transfers.
func pruneBuilds() ([]pruneBuild, time.Time) {
	day := func(d int, h int) time.Time { return T0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	cutoff := day(1, 5) // T0 is 10:00: 15:00 on the second day
	mk := func(makeTime, testTime time.Duration, extra ...*model.Vertex) *model.Build {
		b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Vertices: []*model.Vertex{
			{ID: "ctx", Name: "[internal] load build context", Stage: "internal", Completed: true, HasDuration: true,
				Duration: 100 * time.Millisecond, Transfers: []model.Transfer{{Name: "transferring context", Bytes: 4096, Done: true}}},
			Step("", 1, 3, "FROM", "docker.io/library/alpine:3.20", 0),
			Step("", 2, 3, "RUN", "make", makeTime),
			Step("", 3, 3, "RUN", "make test", testTime),
		}}
		b.Vertices = append(b.Vertices, extra...)
		for _, v := range b.Vertices {
			if v.Ran() {
				v.AddOutput("output of " + v.Name)
			}
		}
		return b
	}
	legacy := func() *model.Vertex { return Step("", 4, 4, "RUN", "legacy-only", 2*time.Second) }
	return []pruneBuild{
		{"old", "legacy", day(-1, 0), mk(5*time.Second, -1), true},
		{"app", "main", day(0, 0), mk(4*time.Second, time.Second, legacy()), true},
		{"app", "feature-x", day(0, 3), mk(-1, 2*time.Second, legacy()), false},
		{"old", "legacy", day(1, 0), mk(-1, -1), false},
		{"app", "main", day(1, 1), mk(6*time.Second, time.Second), true}, // the cutoff's day, before it
		{"app", "main", day(1, 8), mk(7*time.Second, -1), false},         // the cutoff's day, after it
		{"app", "feature-y", day(1, 9), mk(-1, 3*time.Second), false},
		{"app", "main", day(2, 0), mk(5*time.Second, 2*time.Second), true},
		{"lib", "main", day(2, 2), mk(time.Second, time.Second), false},
	}, cutoff
}

func ingestPruneBuilds(t *testing.T, s store.Store, builds []pruneBuild, keep func(pruneBuild) bool) map[string]int64 {
	t.Helper()
	ids := map[string]int64{}
	for i, pb := range builds {
		if !keep(pb) {
			continue
		}
		m := pb.meta(i)
		id, created, err := s.Ingest(Ctx, pb.build, m, store.IngestOptions{KeepLogs: pb.keepLogs})
		if err != nil || !created {
			t.Fatalf("ingest %s: %v created=%v", m.ContentHash, err, created)
		}
		ids[m.ContentHash] = id
	}
	return ids
}

// WithoutIDs clears store ids (they differ between stores) and sorts
// step figures by identity, so two stores' answers compare.
func WithoutIDs(v any) any {
	switch x := v.(type) {
	case []store.BuildSummary:
		for i := range x {
			x[i].ID = 0
		}
	case []store.StepStats:
		for i := range x {
			x[i].StepID = 0
		}
		sort.SliceStable(x, func(i, j int) bool { return x[i].Project+x[i].Label() < x[j].Project+x[j].Label() })
	case *store.Trends:
		for i := range x.Regressions {
			x.Regressions[i].StepID = 0
		}
	}
	return v
}

// SameAnswers checks that a and b answer every reporting query alike.
func SameAnswers(t *testing.T, a, b store.Reader, what string) {
	t.Helper()
	since, until := T0.AddDate(0, 0, -3), T0.AddDate(0, 0, 4)
	for _, q := range []store.WindowQuery{{}, {Project: "app"}, {Branch: "main"}, {Project: "app", Branch: "main"},
		{Since: since, Until: until}, {Since: T0.AddDate(0, 0, 1).Add(7 * time.Hour), Until: until, Branch: "main"}} {
		for name, f := range map[string]func(store.Reader) (any, error){
			"history": func(s store.Reader) (any, error) {
				h, err := s.History(Ctx, store.HistoryQuery{Project: q.Project, Branch: q.Branch, Since: q.Since, Until: q.Until})
				return WithoutIDs(h), err
			},
			"slow":   func(s store.Reader) (any, error) { r, err := s.Slow(Ctx, q); return WithoutIDs(r), err },
			"misses": func(s store.Reader) (any, error) { r, err := s.Misses(Ctx, q); return WithoutIDs(r), err },
			"trends": func(s store.Reader) (any, error) {
				r, err := s.Trends(Ctx, store.TrendQuery{Period: store.Day, Project: q.Project, Branch: q.Branch, Since: q.Since, Until: q.Until})
				return WithoutIDs(r), err
			},
		} {
			x, err1 := f(a)
			y, err2 := f(b)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s %s %+v: %v, %v", what, name, q, err1, err2)
			}
			if !reflect.DeepEqual(x, y) {
				t.Errorf("%s: %s %+v differs: %s", what, name, q, FirstDifference(x, y))
			}
		}
	}
}

// FirstDifference describes where got and want first differ, as a few
// lines of their indented JSON around the first line that differs: a
// year of rows printed whole hides the one field that matters.
func FirstDifference(got, want any) string {
	g, _ := json.MarshalIndent(got, "", " ")
	w, _ := json.MarshalIndent(want, "", " ")
	gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		if i < len(gl) && i < len(wl) && gl[i] == wl[i] {
			continue
		}
		from := max(0, i-6)
		return fmt.Sprintf("at line %d of the JSON:\n got %s\nwant %s", i+1,
			strings.Join(gl[from:min(len(gl), i+2)], "\n     "), strings.Join(wl[from:min(len(wl), i+2)], "\n     "))
	}
	return "only in fields JSON does not show"
}

// Prune removes old builds and everything of theirs, and leaves a history
// that answers every query as if the old builds had never been stored.
func testPrune(t *testing.T, open Opener) {
	s := open(t)
	builds, cutoff := pruneBuilds()
	ids := ingestPruneBuilds(t, s, builds, func(pruneBuild) bool { return true })
	var maxID int64
	for _, id := range ids {
		maxID = max(maxID, id)
	}
	inv, err := s.Inventory(Ctx)
	if err != nil {
		t.Fatal(err)
	}
	vertices := map[string]int{}
	for _, it := range inv {
		vertices[it.ContentHash] = it.Vertices
	}
	// What should go: builds 0-4 (before 15:00 on the second day).
	want := store.PruneResult{OlderThan: cutoff, Projects: []store.ProjectPrune{
		{Project: "app", Builds: 3, Vertices: vertices[builds[1].meta(1).ContentHash] + vertices[builds[2].meta(2).ContentHash] + vertices[builds[4].meta(4).ContentHash], Kept: 3},
		{Project: "old", Builds: 2, Vertices: vertices[builds[0].meta(0).ContentHash] + vertices[builds[3].meta(3).ContentHash], Kept: 0},
	}}
	want.Builds, want.Vertices = 5, want.Projects[0].Vertices+want.Projects[1].Vertices
	// Identities only pruned builds had: all of "old"'s (5: context, FROM,
	// make, make test) ... and app's "RUN legacy-only".
	want.Steps = 4 + 1

	dry, err := s.Prune(Ctx, cutoff, true)
	if err != nil {
		t.Fatal(err)
	}
	want.DryRun = true
	if !reflect.DeepEqual(dry, want) {
		t.Errorf("dry run:\n got %+v\nwant %+v", dry, want)
	}
	if h, _ := s.History(Ctx, store.HistoryQuery{}); len(h) != len(builds) {
		t.Fatalf("a dry run deleted builds: %d left", len(h))
	}
	got, err := s.Prune(Ctx, cutoff, false)
	if err != nil {
		t.Fatal(err)
	}
	want.DryRun = false
	if !reflect.DeepEqual(got, want) {
		t.Errorf("prune:\n got %+v\nwant %+v", got, want)
	}
	checkIntegrity(t, s)

	// The same answers as a history that never had the old builds.
	ref := open(t)
	kept := func(pb pruneBuild) bool { return !pb.at.Before(cutoff) }
	ingestPruneBuilds(t, ref, builds, kept)
	SameAnswers(t, s, ref, "after prune")
	invS, _ := s.Inventory(Ctx)
	invR, _ := ref.Inventory(Ctx)
	if store.Checksum(invS) != store.Checksum(invR) || len(invS) != 4 {
		t.Errorf("inventory after prune:\n got %+v\nwant %+v", invS, invR)
	}
	for i, pb := range builds {
		m := pb.meta(i)
		id := ids[m.ContentHash]
		_, _, err := s.Build(Ctx, id)
		_, rerr := s.Resolve(Ctx, strings.TrimPrefix(m.ContentHash, "prune:"), "")
		if kept(pb) && err != nil {
			t.Errorf("build %d (kept): %v", id, err)
		}
		if !kept(pb) && (!errors.Is(err, store.ErrNotFound) || rerr == nil) {
			t.Errorf("build %d (pruned): %v; resolve: %v", id, err, rerr)
		}
	}

	// Nothing more to prune at the same cutoff.
	if again, err := s.Prune(Ctx, cutoff, false); err != nil || again.Builds != 0 || again.Steps != 0 || len(again.Projects) != 0 {
		t.Errorf("second prune: %+v %v", again, err)
	}

	// A pruned build can be stored again; it gets an id no build had, and
	// its identities (deleted with it) come back as new ones, in this
	// store whose caches knew the old ones.
	id, created, err := s.Ingest(Ctx, builds[1].build, builds[1].meta(1), store.IngestOptions{KeepLogs: true})
	if err != nil || !created || id <= maxID {
		t.Errorf("re-ingest of a pruned build: id %d (max before %d), created %v, %v", id, maxID, created, err)
	}
	if _, _, err := s.Ingest(Ctx, builds[0].build, builds[0].meta(0), store.IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	checkIntegrity(t, s)
	ingestPruneBuilds(t, ref, builds, func(pb pruneBuild) bool { return pb.at.Equal(builds[0].at) || pb.at.Equal(builds[1].at) })
	SameAnswers(t, s, ref, "after re-ingest")

	// Everything goes, the newest build included; the next build still
	// gets an id no earlier build had.
	h, _ := s.History(Ctx, store.HistoryQuery{})
	for _, r := range h {
		maxID = max(maxID, r.ID)
	}
	all, err := s.Prune(Ctx, T0.AddDate(1, 0, 0), false)
	if err != nil || all.Builds != len(h) {
		t.Fatalf("prune everything: %+v %v", all, err)
	}
	if inv, err := s.Inventory(Ctx); err != nil || len(inv) != 0 {
		t.Errorf("inventory after pruning everything: %+v %v", inv, err)
	}
	checkIntegrity(t, s)
	id, created, err = s.Ingest(Ctx, builds[8].build, builds[8].meta(8), store.IngestOptions{})
	if err != nil || !created || id <= maxID {
		t.Errorf("ingest after pruning everything: id %d (max before %d), created %v, %v", id, maxID, created, err)
	}
	checkIntegrity(t, s)
}

// A batch is one transaction: an item that cannot be stored leaves none
// of the batch behind.
func testBatchAllOrNone(t *testing.T, open Opener) {
	s := open(t)
	first := MustIngest(t, s, ParseFixture(t, Probe("plain-cold.log")), store.Meta{Project: "p", Started: T0})
	items := []store.BatchItem{
		{Build: ParseFixture(t, Probe("multistage-plain-cold.log")), Meta: store.Meta{Project: "p", Started: T0.Add(time.Hour), ContentHash: "b1"}},
		{Build: ParseFixture(t, Probe("multistage-plain-warm.log")), Meta: store.Meta{Project: "p2", Branch: "new", Started: T0.Add(2 * time.Hour), ContentHash: "b2"}},
		{Build: ParseFixture(t, Probe("plain-warm.log")), Meta: store.Meta{Started: T0.Add(3 * time.Hour), ContentHash: "no project"}},
	}
	if res, err := s.IngestBatch(Ctx, items); err == nil {
		t.Fatalf("a batch with an item without a project was stored: %+v", res)
	}
	if h, err := s.History(Ctx, store.HistoryQuery{}); err != nil || len(h) != 1 || h[0].ID != first {
		t.Errorf("after the failed batch: %+v %v", h, err)
	}
	if slow, _ := s.Slow(Ctx, store.WindowQuery{Project: "p2"}); len(slow) != 0 {
		t.Errorf("the failed batch left rollups: %+v", slow)
	}
	checkIntegrity(t, s)
	items[2].Meta.Project = "p"
	res, err := s.IngestBatch(Ctx, items)
	if err != nil || len(res) != 3 || !res[0].Created || !res[2].Created {
		t.Fatalf("the batch again: %+v %v", res, err)
	}
	if h, _ := s.History(Ctx, store.HistoryQuery{}); len(h) != 4 {
		t.Errorf("history has %d builds, want 4", len(h))
	}
	checkIntegrity(t, s)
}

// Every read of a build that is not there is store.ErrNotFound.
func testNotFound(t *testing.T, open Opener) {
	s := open(t)
	id := MustIngest(t, s, ParseFixture(t, Probe("plain-cold.log")), store.Meta{Project: "p", Started: T0})
	missing := id + 1000
	if _, err := s.Summary(Ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Summary: %v", err)
	}
	if _, _, err := s.Build(Ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Build: %v", err)
	}
	if _, err := s.Compare(Ctx, missing, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Compare: %v", err)
	}
	if _, err := s.PreviousMisses(Ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PreviousMisses: %v", err)
	}
	if _, err := s.Resolve(Ctx, "previous", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Resolve previous of one build: %v", err)
	}
	for _, err := range []error{store.ErrNotFound} {
		if store.IsDatabaseError(err) {
			t.Errorf("%v is a database error", err)
		}
	}
}

// Inventory counts each build's rows, and two stores holding the same
// builds, stored in another order, have the same checksum.
func testInventory(t *testing.T, open Opener) {
	a, b := open(t), open(t)
	builds, _ := pruneBuilds()
	ingestPruneBuilds(t, a, builds, func(pruneBuild) bool { return true })
	for i := len(builds) - 1; i >= 0; i-- {
		pb := builds[i]
		if _, _, err := b.Ingest(Ctx, pb.build, pb.meta(i), store.IngestOptions{KeepLogs: pb.keepLogs}); err != nil {
			t.Fatal(err)
		}
	}
	inv, err := a.Inventory(Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv) != len(builds) {
		t.Fatalf("%d items, want %d", len(inv), len(builds))
	}
	for i := 1; i < len(inv); i++ {
		if inv[i-1].ContentHash >= inv[i].ContentHash {
			t.Errorf("inventory not sorted by content hash: %q before %q", inv[i-1].ContentHash, inv[i].ContentHash)
		}
	}
	byHash := map[string]store.InventoryItem{}
	for _, it := range inv {
		byHash[it.ContentHash] = it
	}
	for i, pb := range builds {
		it := byHash[pb.meta(i).ContentHash]
		outputs := 0
		if pb.keepLogs {
			for _, v := range pb.build.Vertices {
				if len(v.Output) > 0 {
					outputs++
				}
			}
		}
		if it.Vertices != len(pb.build.Vertices) || it.Transfers != 1 || it.Outputs != outputs || it.LogsKept != pb.keepLogs ||
			it.Project != pb.project || it.Branch != pb.branch || !it.StartedAt.Equal(pb.at) || it.Status != "succeeded" ||
			it.StepsTotal != len(pb.build.Vertices)-1 {
			t.Errorf("inventory of build %d: %+v", i, it)
		}
	}
	invB, err := b.Inventory(Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if store.Checksum(inv) != store.Checksum(invB) {
		t.Errorf("the same builds in another order have another checksum")
	}
	invB[0].Vertices++
	if store.Checksum(inv) == store.Checksum(invB) {
		t.Errorf("a vertex more does not change the checksum")
	}
	if !strings.HasPrefix(store.Checksum(inv), "sha256:") || len(store.Checksum(inv)) != 71 {
		t.Errorf("checksum %q", store.Checksum(inv))
	}
}

package sqlite

import (
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/storetest"
)

// v4Builds are two builds of one project whose identities version 3 kept
// apart and version 4 makes one: the stage's case differs, the FROM names
// ":latest" and a digest, a cache import is "other" in v3, and the FROM that
// found its image present counted as a run in v3.
func v4Builds() []*model.Build {
	digest := "@sha256:" + fmt.Sprintf("%064x", 42)
	mk := func(stage string, runCached bool) *model.Build {
		from := storetest.Step(stage, 1, 2, "FROM", "docker.io/library/golang:latest"+digest, 0)
		from.Name = "[" + stage + " 1/2] FROM docker.io/library/golang:latest" + digest
		run := storetest.Step(stage, 2, 2, "RUN", "make", 2*time.Second)
		if runCached {
			run.Cached, run.Duration = true, 0
		}
		imp := &model.Vertex{ID: "c", Name: "importing cache manifest from ghcr.io/acme/app:cache", Completed: true,
			HasDuration: true, Duration: 500 * time.Millisecond}
		exp := &model.Vertex{ID: "e", Name: "exporting to image", Completed: true, HasDuration: true, Duration: time.Second}
		return &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Vertices: []*model.Vertex{imp, from, run, exp}}
	}
	return []*model.Build{mk("Builder", false), mk("builder", true)}
}

// A version 3 database upgrades to the answers a fresh version 4 database
// gives for the same builds.
func TestMigrateToV4(t *testing.T) {
	ref, _ := openTemp(t)
	old, oldPath := openTemp(t)
	var ids []int64
	for i, b := range v4Builds() {
		m := store.Meta{Project: "p", Branch: "main", Started: storetest.T0.AddDate(0, 0, i), ContentHash: fmt.Sprint("b", i)}
		storetest.MustIngest(t, ref, b, m)
		ids = append(ids, storetest.MustIngest(t, old, b, m))
	}
	// Turn old back into what version 3 stored: the first build's
	// vertices on identities of their own with v3's text and kinds, and
	// the present FROMs counted as runs.
	db := old.DB()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rows, err := db.Query(`SELECT seq, step_id FROM vertices WHERE build_id = ?`, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	type vs struct{ seq, step int64 }
	var first []vs
	for rows.Next() {
		var v vs
		rows.Scan(&v.seq, &v.step)
		first = append(first, v)
	}
	rows.Close()
	for _, v := range first {
		exec(`INSERT INTO steps (project_id, key, kind, platform, stage, instruction, text, occurrence, args)
			SELECT project_id, 'v3-' || id, CASE WHEN kind = 'cache' THEN 'other' ELSE kind END, platform,
			CASE WHEN kind = 'step' THEN 'Builder' ELSE stage END, instruction,
			CASE WHEN instruction = 'FROM' THEN 'FROM golang:latest' ELSE text END, occurrence, args
			FROM steps WHERE id = ?`, v.step)
		exec(`UPDATE vertices SET step_id = last_insert_rowid() WHERE build_id = ? AND seq = ?`, ids[0], v.seq)
	}
	exec(`UPDATE vertices SET run_ms = 0 WHERE instruction = 'FROM'`)
	exec(`UPDATE builds SET steps_ran = steps_ran + 1`)
	exec(`DELETE FROM step_days`)
	exec(`INSERT INTO step_days (step_id, day, builds, hits, runs)
		SELECT v.step_id, b.started_at / 86400000, COUNT(*), SUM(v.cached), COALESCE(group_concat(v.run_ms, ','), '')
		FROM vertices v JOIN builds b ON b.id = v.build_id GROUP BY v.step_id, b.started_at / 86400000`)
	downgradeV5(t, db)
	exec(`UPDATE buildstats_schema SET version = 3`)
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM steps`).Scan(&n)
	if n != 8 {
		t.Fatalf("the v3 database has %d identities, want 8", n)
	}
	old.Close()

	up, err := Open(oldPath)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	up.DB().QueryRow(`SELECT COUNT(*) FROM steps`).Scan(&n)
	if n != 4 {
		t.Errorf("after the upgrade: %d identities, want 4", n)
	}
	checkIntegrity(t, up)
	same := func(what string, get func(s *Store) (any, error)) {
		t.Helper()
		want, err1 := get(ref)
		got, err2 := get(up)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v, %v", what, err1, err2)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s after the upgrade:\n got %+v\nwant %+v", what, got, want)
		}
	}
	same("history", func(s *Store) (any, error) { return s.History(storetest.Ctx, store.HistoryQuery{}) })
	noIDs := func(xs []store.StepStats) []store.StepStats {
		for i := range xs {
			xs[i].StepID = 0
		}
		sort.Slice(xs, func(i, j int) bool { return xs[i].Label() < xs[j].Label() })
		return xs
	}
	same("slow", func(s *Store) (any, error) {
		xs, err := s.Slow(storetest.Ctx, store.WindowQuery{Since: storetest.T0.AddDate(0, 0, -1)})
		return noIDs(xs), err
	})
	same("misses", func(s *Store) (any, error) {
		xs, err := s.Misses(storetest.Ctx, store.WindowQuery{Since: storetest.T0.AddDate(0, 0, -1)})
		return noIDs(xs), err
	})
	same("compare", func(s *Store) (any, error) {
		c, err := s.Compare(storetest.Ctx, ids[0], ids[1])
		if err != nil {
			return nil, err
		}
		for i := range c.Steps {
			c.Steps[i].StepID = 0
		}
		if c.FirstCacheChange != nil {
			c.FirstCacheChange.StepID = 0
		}
		return c, nil
	})
	for _, id := range ids {
		same(fmt.Sprint("build ", id), func(s *Store) (any, error) {
			b, m, err := s.Build(storetest.Ctx, id)
			return []any{b, m}, err
		})
	}
}

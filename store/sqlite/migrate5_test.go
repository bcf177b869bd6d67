package sqlite

import (
	"database/sql"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/internal/analysis"
	"github.com/buildstats/buildstats/store/storetest"
)

// schemaV3to4 is what versions 3 and 4 changed in the tables as released,
// frozen like schemaV1 (version 4 changed data only).
const schemaV3to4 = `
ALTER TABLE builds ADD COLUMN build_source TEXT;
ALTER TABLE vertices ADD COLUMN layer_bytes INTEGER;
UPDATE buildstats_schema SET version = 4;
`

// downgradeV5 takes out what version 5 added, leaving version 4's tables.
func downgradeV5(t *testing.T, db *sql.DB) {
	t.Helper()
	if _, err := db.Exec(dropV6 + `DROP TABLE step_branch_days; DROP TABLE step_weeks; DROP TABLE step_branch_weeks; ALTER TABLE buildstats_schema DROP COLUMN pruned;
		ALTER TABLE buildstats_schema DROP COLUMN build_id_floor; ALTER TABLE builds DROP COLUMN log_index;
		ALTER TABLE builds DROP COLUMN log_builds; ALTER TABLE builds DROP COLUMN duration_from_timestamps;
		ALTER TABLE builds DROP COLUMN duration_is_lower_bound; ALTER TABLE builds DROP COLUMN began_mid_build;
		ALTER TABLE vertices DROP COLUMN duration_is_lower_bound; ALTER TABLE vertices DROP COLUMN error_lines;
		DROP INDEX builds_trend;
		CREATE INDEX builds_trend ON builds(started_at, project_id, branch_id, status, duration_ns, steps_total, steps_cached);
		UPDATE buildstats_schema SET version = 4`); err != nil {
		t.Fatal(err)
	}
}

// A version 4 database upgrades to version 5 with its branch rollup filled
// from the vertices: the same answers as before for every filter, now read
// from the rollup for branches too, and a schema like a fresh one.
func TestMigrateFromV4(t *testing.T) {
	s, path := openTemp(t)
	cfg := storetest.GenConfig{Builds: 300, Steps: 12, Projects: 3, Start: storetest.T0, Span: 20 * 24 * time.Hour, Seed: 11}
	if err := generate(storetest.Ctx, s, cfg); err != nil {
		t.Fatal(err)
	}
	since, until := storetest.T0.Add(5*time.Hour), storetest.T0.AddDate(0, 0, 19)
	queries := []store.WindowQuery{{}, {Since: since, Until: until}, {Branch: "main"}, {Branch: "main", Since: since, Until: until},
		{Project: "service-01", Branch: "main", Since: since}, {Branch: "feature-3"}}
	answers := func(s *Store) []any {
		t.Helper()
		var out []any
		for _, q := range queries {
			slow, err1 := s.Slow(storetest.Ctx, q)
			misses, err2 := s.Misses(storetest.Ctx, q)
			tr, err3 := s.Trends(storetest.Ctx, store.TrendQuery{Period: store.Day, Since: q.Since, Until: q.Until, Project: q.Project, Branch: q.Branch})
			if err1 != nil || err2 != nil || err3 != nil {
				t.Fatal(err1, err2, err3)
			}
			out = append(out, slow, misses, tr)
		}
		return out
	}
	before := answers(s)
	downgradeV5(t, s.DB())
	frozen, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "v4.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Close()
	if _, err := frozen.Exec(schemaV1 + schemaV1to2 + schemaV3to4); err != nil {
		t.Fatal(err)
	}
	if got, want := schemaShape(t, s.DB()), schemaShape(t, frozen); got != want {
		t.Fatalf("the test's v4 database is not version 4 as released:\n got %s\nwant %s", got, want)
	}
	s.Close()
	if _, err := OpenReadOnly(path); err == nil {
		t.Fatal("a read-only open accepted a version 4 database")
	}

	up, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	checkShapeIsFresh(t, up)
	checkIntegrity(t, up)
	if after := answers(up); !reflect.DeepEqual(after, before) {
		t.Errorf("answers differ after the upgrade")
	}
	var rows int
	up.DB().QueryRow(`SELECT COUNT(*) FROM step_branch_days`).Scan(&rows)
	if rows == 0 {
		t.Fatal("no branch rollup after the upgrade")
	}
	// Whole days of a branch now come from the rollup, and agree with the
	// vertices.
	f := analysis.Filter{Lo: storetest.T0.UnixMilli(), Hi: storetest.T0.AddDate(0, 0, 21).UnixMilli(), Branch: "main"}
	fast, err := up.stepWindow(storetest.Ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	f.NoRollup = true
	full, err := up.stepWindow(storetest.Ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(fast) == 0 || len(fast) != len(full) {
		t.Fatalf("%d steps from the rollup, %d from vertices", len(fast), len(full))
	}
	for id, a := range fast {
		b := full[id]
		sort.Slice(a.Durations, func(i, j int) bool { return a.Durations[i] < a.Durations[j] })
		sort.Slice(b.Durations, func(i, j int) bool { return b.Durations[i] < b.Durations[j] })
		if !reflect.DeepEqual(a, b) {
			t.Errorf("step %d: rollup %+v, vertices %+v", id, a, b)
		}
	}
}

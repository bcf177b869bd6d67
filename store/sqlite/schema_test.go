package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the plain driver, for databases made by hand

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/storetest"
)

// schemaV1 is version 1 of the schema as released, frozen here so the test
// keeps checking the upgrade path after migrations change.
const schemaV1 = `
CREATE TABLE buildstats_schema (version INTEGER NOT NULL);
INSERT INTO buildstats_schema (version) VALUES (1);
CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE branches (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE builds (
	id INTEGER PRIMARY KEY, content_hash TEXT NOT NULL UNIQUE,
	project_id INTEGER NOT NULL REFERENCES projects(id), branch_id INTEGER NOT NULL REFERENCES branches(id),
	commit_sha TEXT NOT NULL, ci_provider TEXT NOT NULL, run_url TEXT NOT NULL, runner TEXT NOT NULL,
	dockerfile TEXT NOT NULL, tags TEXT, source TEXT NOT NULL, started_at INTEGER NOT NULL,
	started_source TEXT NOT NULL, ingested_at INTEGER NOT NULL, format TEXT NOT NULL, status TEXT NOT NULL,
	log_duration_ns INTEGER, log_started_ns INTEGER, log_completed_ns INTEGER, builder TEXT NOT NULL,
	error TEXT NOT NULL, error_context TEXT, error_file TEXT NOT NULL, error_line INTEGER NOT NULL,
	warnings TEXT, image_id TEXT NOT NULL, image_names TEXT, truncated INTEGER NOT NULL, logs_kept INTEGER NOT NULL);
CREATE INDEX builds_started ON builds(started_at);
CREATE INDEX builds_project_started ON builds(project_id, started_at);
CREATE TABLE steps (
	id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id), key TEXT NOT NULL,
	kind TEXT NOT NULL, platform TEXT NOT NULL, stage TEXT NOT NULL, instruction TEXT NOT NULL,
	text TEXT NOT NULL, occurrence INTEGER NOT NULL, args TEXT NOT NULL, UNIQUE (project_id, key));
CREATE TABLE vertices (
	build_id INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE, seq INTEGER NOT NULL,
	step_id INTEGER NOT NULL REFERENCES steps(id), vertex_id TEXT NOT NULL, digest TEXT NOT NULL, inputs TEXT,
	name TEXT, name_truncated INTEGER NOT NULL, platform TEXT NOT NULL, stage TEXT NOT NULL,
	step_index INTEGER NOT NULL, step_total INTEGER NOT NULL, instruction TEXT NOT NULL, args TEXT,
	cached INTEGER NOT NULL, canceled INTEGER NOT NULL, completed INTEGER NOT NULL, error TEXT NOT NULL,
	exit_code INTEGER NOT NULL, duration_ns INTEGER NOT NULL, has_duration INTEGER NOT NULL,
	started_ns INTEGER, ended_ns INTEGER, warnings TEXT, output_lines INTEGER NOT NULL,
	PRIMARY KEY (build_id, seq)) WITHOUT ROWID;
CREATE TABLE vertex_output (build_id INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
	seq INTEGER NOT NULL, lines TEXT NOT NULL, PRIMARY KEY (build_id, seq)) WITHOUT ROWID;
CREATE TABLE transfers (build_id INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
	seq INTEGER NOT NULL, pos INTEGER NOT NULL, name TEXT NOT NULL, bytes INTEGER NOT NULL,
	total INTEGER NOT NULL, duration_ns INTEGER NOT NULL, done INTEGER NOT NULL,
	PRIMARY KEY (build_id, seq, pos)) WITHOUT ROWID;
`

// schemaV1to2 is the version 2 migration as released, frozen like
// schemaV1.
const schemaV1to2 = `
ALTER TABLE builds ADD COLUMN duration_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN duration_source TEXT NOT NULL DEFAULT 'sum';
ALTER TABLE builds ADD COLUMN steps_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN steps_cached INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN steps_ran INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN steps_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN ran_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN context_bytes INTEGER NOT NULL DEFAULT -1;
ALTER TABLE builds ADD COLUMN base_image_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vertices ADD COLUMN run_ms INTEGER;
ALTER TABLE vertices ADD COLUMN image_digest TEXT NOT NULL DEFAULT '';
CREATE INDEX builds_trend ON builds(started_at, project_id, branch_id, status, duration_ns, steps_total, steps_cached);
CREATE TABLE step_days (
	step_id INTEGER NOT NULL REFERENCES steps(id), day INTEGER NOT NULL, builds INTEGER NOT NULL,
	hits INTEGER NOT NULL, runs TEXT NOT NULL, PRIMARY KEY (step_id, day)) WITHOUT ROWID;
UPDATE buildstats_schema SET version = 2;
`

// schemaShape describes a database's schema for comparison: every table's
// columns (name, type, NOT NULL, default, key) and every index's columns,
// whatever the CREATE text that made them looked like.
func schemaShape(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query(`SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')
		AND name NOT LIKE 'sqlite_stat%' ORDER BY type, name`) // ANALYZE's statistics come and go
	if err != nil {
		t.Fatal(err)
	}
	type obj struct{ typ, name, table string }
	var objs []obj
	for rows.Next() {
		var o obj
		if err := rows.Scan(&o.typ, &o.name, &o.table); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	rows.Close()
	var sb strings.Builder
	for _, o := range objs {
		fmt.Fprintf(&sb, "%s %s on %s:", o.typ, o.name, o.table)
		q := `SELECT name, type, "notnull", COALESCE(dflt_value, 'NULL'), pk FROM pragma_table_info(?)`
		if o.typ == "index" {
			q = `SELECT COALESCE(name, ''), '', 0, '', seqno FROM pragma_index_info(?)`
		}
		cols, err := db.Query(q, o.name)
		if err != nil {
			t.Fatal(err)
		}
		for cols.Next() {
			var name, typ, dflt string
			var notNull, pk int
			if err := cols.Scan(&name, &typ, &notNull, &dflt, &pk); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&sb, " (%s %s %d %s %d)", name, typ, notNull, dflt, pk)
		}
		cols.Close()
		sb.WriteByte('\n')
	}
	return sb.String()
}

// freshShape is the schema of a database Open creates.
func freshShape(t *testing.T) string {
	t.Helper()
	s, _ := openTemp(t)
	return schemaShape(t, s.DB())
}

// An upgraded database has exactly the schema of a fresh one.
func checkShapeIsFresh(t *testing.T, s *Store) {
	t.Helper()
	if got, want := schemaShape(t, s.DB()), freshShape(t); got != want {
		t.Errorf("upgraded schema differs from a fresh one:\n got %s\nwant %s", got, want)
	}
}

// A version 1 database, made by hand, opens, is upgraded in place and keeps
// its build, now with the aggregates version 2 precomputes.
func TestMigrateFromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	started := storetest.T0.UnixMilli()
	_, err = db.Exec(schemaV1+`
INSERT INTO projects (id, name) VALUES (1, 'legacy');
INSERT INTO branches (id, name) VALUES (1, 'main');
INSERT INTO builds VALUES (1, 'sha256:v1', 1, 1, 'c0ffee', '', '', '', 'Dockerfile', '["app:1"]', 'old.log', ?, 'file', ?,
	'plain', 'succeeded', NULL, NULL, NULL, '', '', NULL, '', 0, NULL, '', '["app:1"]', 0, 0);
INSERT INTO steps VALUES (1, 1, 'k1', 'internal', '', 'internal', '', '[internal] load build context', 0, '');
INSERT INTO steps VALUES (2, 1, 'k2', 'step', '', '', 'FROM', 'FROM alpine:3.20', 0, 'docker.io/library/alpine:3.20@sha256:`+strings.Repeat("1", 64)+`');
INSERT INTO steps VALUES (3, 1, 'k3', 'step', '', '', 'RUN', 'RUN make', 0, 'make');
INSERT INTO vertices VALUES (1, 0, 1, '1', '', NULL, '[internal] load build context', 0, '', 'internal', 0, 0, '', '',
	0, 0, 1, '', 0, 300000000, 1, NULL, NULL, NULL, 0);
INSERT INTO vertices VALUES (1, 1, 2, '2', '', NULL, NULL, 0, '', '', 1, 2, 'FROM', NULL, 1, 0, 1, '', 0, 0, 0, NULL, NULL, NULL, 0);
INSERT INTO vertices VALUES (1, 2, 3, '3', '', NULL, NULL, 0, '', '', 2, 2, 'RUN', NULL, 0, 0, 1, '', 0, 4000000000, 1, NULL, NULL, NULL, 2);
INSERT INTO transfers VALUES (1, 0, 0, 'transferring context', 2048, 0, 0, 1);
`, started, started)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v int
	s.DB().QueryRow(`SELECT version FROM buildstats_schema`).Scan(&v)
	if v != SchemaVersion {
		t.Fatalf("version %d after upgrade, want %d", v, SchemaVersion)
	}
	h, err := s.History(storetest.Ctx, store.HistoryQuery{})
	if err != nil || len(h) != 1 {
		t.Fatalf("history: %+v %v", h, err)
	}
	r := h[0]
	if r.Project != "legacy" || r.Commit != "c0ffee" || !r.StartedAt.Equal(storetest.T0) || r.StepsTotal != 2 || r.StepsCached != 1 ||
		r.StepsRan != 1 || r.ContextBytes != 2048 || !storetest.Near(r.DurationSeconds, 4.3) || r.DurationSource != "sum" || r.Dockerfile != "Dockerfile" {
		t.Errorf("upgraded summary: %+v", r)
	}
	b, m, err := s.Build(storetest.Ctx, 1)
	if err != nil || len(b.Vertices) != 3 || b.Vertices[2].Name != "[2/2] RUN make" || b.Vertices[2].OutputLines != 2 ||
		b.Vertices[1].Args != "docker.io/library/alpine:3.20@sha256:"+strings.Repeat("1", 64) || m.Source != "old.log" {
		t.Errorf("upgraded build: %v %+v %+v", err, b, m)
	}
	// The copied columns the v2 index needs were backfilled.
	slow, err := s.Slow(storetest.Ctx, store.WindowQuery{Since: storetest.T0})
	if err != nil || len(slow) != 2 || slow[0].Text != "RUN make" || slow[0].Total != 4 {
		t.Errorf("slow after upgrade: %+v %v", slow, err)
	}
	if b != nil && (b.Source != "" || b.Vertices[2].HasLayerBytes) {
		t.Errorf("a v1 build has source %q, layer bytes %v", b.Source, b.Vertices[2].HasLayerBytes)
	}
	// And the upgraded database takes new builds.
	storetest.MustIngest(t, s, storetest.ParseFixture(t, storetest.Probe("plain-cold.log")), store.Meta{Project: "legacy", Started: storetest.T0.Add(time.Hour)})
	checkIntegrity(t, s)
	checkShapeIsFresh(t, s)
}

// liveBuild decorates a parsed log as a live build of the given source
// would be: the source named and, as the Docker Engine collector does,
// every RUN, COPY and ADD step with the size of the layer it produced
// (some empty, which is not the same as unknown); other steps unknown.
// A version 2 database keeps every build through the upgrade to version 3,
// reads back exactly as before, and then stores what version 3 adds. The
// v2 database is made by ingesting fixtures and taking the version 3
// columns back out, checked against the frozen version 2 schema.
func TestMigrateFromV2(t *testing.T) {
	s, path := openTemp(t)
	ids := storetest.IngestMulti(t, s)
	fail := storetest.ParseFixture(t, storetest.Probe("run-fail-plain.log"))
	for _, v := range fail.Vertices {
		// Version 2 cannot keep a lower bound: it would come back as a
		// known time and change the answers compared below.
		v.DurationIsLowerBound = false
	}
	ids = append(ids, storetest.MustIngest(t, s, fail, store.Meta{Project: "multi", Started: storetest.T0.Add(6 * time.Hour), Source: "fail.log"}))
	type stored struct {
		b *model.Build
		m store.Meta
	}
	var before []stored
	for _, id := range ids {
		b, m, err := s.Build(storetest.Ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, stored{b, m})
	}
	histBefore, err := s.History(storetest.Ctx, store.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	slowBefore, err := s.Slow(storetest.Ctx, store.WindowQuery{Since: storetest.T0})
	if err != nil {
		t.Fatal(err)
	}
	downgradeV5(t, s.DB())
	if _, err := s.DB().Exec(`ALTER TABLE builds DROP COLUMN build_source; ALTER TABLE vertices DROP COLUMN layer_bytes;
		UPDATE buildstats_schema SET version = 2`); err != nil {
		t.Fatal(err)
	}
	frozen, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "v2.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Close()
	if _, err := frozen.Exec(schemaV1 + schemaV1to2); err != nil {
		t.Fatal(err)
	}
	if got, want := schemaShape(t, s.DB()), schemaShape(t, frozen); got != want {
		t.Fatalf("the test's v2 database is not version 2 as released:\n got %s\nwant %s", got, want)
	}
	s.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v int
	s.DB().QueryRow(`SELECT version FROM buildstats_schema`).Scan(&v)
	if v != SchemaVersion || SchemaVersion != 8 {
		t.Fatalf("version %d after upgrade, want 8", v)
	}
	checkShapeIsFresh(t, s)
	for i, id := range ids {
		b, m, err := s.Build(storetest.Ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		// What version 5 added to a build was not kept by version 2.
		want := *before[i].b
		want.LogIndex, want.LogBuilds = 0, 0
		want.DurationFromTimestamps, want.DurationIsLowerBound, want.BeganMidBuild = false, false, false
		want.Vertices = nil
		for _, v := range before[i].b.Vertices {
			w := *v
			w.DurationIsLowerBound, w.ErrorLines = false, nil
			want.Vertices = append(want.Vertices, &w)
		}
		if !reflect.DeepEqual(b, &want) || !reflect.DeepEqual(m, before[i].m) {
			t.Errorf("build %d reads back differently after the upgrade: %s", id, storetest.FirstDifference(b, &want))
		}
	}
	if h, err := s.History(storetest.Ctx, store.HistoryQuery{}); err != nil || !reflect.DeepEqual(h, histBefore) {
		t.Errorf("history after the upgrade: %v\n got %+v\nwant %+v", err, h, histBefore)
	}
	if slow, err := s.Slow(storetest.Ctx, store.WindowQuery{Since: storetest.T0}); err != nil || !reflect.DeepEqual(slow, slowBefore) {
		t.Errorf("slow after the upgrade: %v: %s", err, storetest.FirstDifference(slow, slowBefore))
	}

	// The upgraded database stores a live build's source and layer sizes.
	live := storetest.LiveBuild(storetest.ParseFixture(t, storetest.Probe("multistage-plain-warm.log")), "docker")
	id := storetest.MustIngest(t, s, live, store.Meta{Project: "multi", Started: storetest.T0.Add(7 * time.Hour), ContentHash: "live"})
	got, _, err := s.Build(storetest.Ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	storetest.NormTimes(live)
	if !reflect.DeepEqual(got, live) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(live)
		t.Errorf("live build reads back differently:\n got %s\nwant %s", g, w)
	}
	checkIntegrity(t, s)
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A database from a newer buildstats is refused and left byte for byte.
func TestNewerSchemaRefused(t *testing.T) {
	s, path := openTemp(t)
	storetest.MustIngest(t, s, storetest.ParseFixture(t, storetest.Probe("plain-cold.log")), store.Meta{Project: "p"})
	if _, err := s.DB().Exec(fmt.Sprintf(`UPDATE buildstats_schema SET version = %d`, SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	s.Close() // checkpoints the WAL into the file
	before := fileBytes(t, path)
	_, err := Open(path)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open: %v, want store.ErrSchemaTooNew", err)
	}
	for _, want := range []string{path, fmt.Sprintf("version %d", SchemaVersion+1), fmt.Sprintf("up to version %d", SchemaVersion), "not modified"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if !bytes.Equal(before, fileBytes(t, path)) {
		t.Error("the newer database was modified")
	}

	// The same with the newer version still in an un-checkpointed WAL, as
	// a crashed newer buildstats leaves it: closing a read-write
	// connection would checkpoint it into the file.
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; UPDATE buildstats_schema SET version = ` + strconv.Itoa(SchemaVersion+2)); err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	os.WriteFile(crashed, fileBytes(t, path), 0o600)
	os.WriteFile(crashed+"-wal", fileBytes(t, path+"-wal"), 0o600)
	mainBefore, walBefore := fileBytes(t, crashed), fileBytes(t, crashed+"-wal")
	if len(walBefore) == 0 {
		t.Fatal("no WAL to test with")
	}
	if _, err := Open(crashed); !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", SchemaVersion+2)) {
		t.Fatalf("Open with the version in the WAL: %v", err)
	}
	if !bytes.Equal(mainBefore, fileBytes(t, crashed)) || !bytes.Equal(walBefore, fileBytes(t, crashed+"-wal")) {
		t.Error("the newer database or its WAL was modified")
	}
}

// Files that are not buildstats databases are refused, untouched.
func TestNotADatabase(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.db")
	os.WriteFile(text, []byte(strings.Repeat("these are my notes, not a database\n", 200)), 0o644)
	// A valid header over garbage: SQLite itself has to reject it.
	garbage := filepath.Join(dir, "garbage.db")
	g := append([]byte("SQLite format 3\x00"), bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 2048)...)
	os.WriteFile(garbage, g, 0o644)
	// Another program's SQLite database.
	foreign := filepath.Join(dir, "foreign.db")
	db, _ := sql.Open("sqlite3", foreign)
	if _, err := db.Exec(`CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ann')`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, path := range []string{text, garbage, foreign} {
		before := fileBytes(t, path)
		s, err := Open(path)
		if err == nil {
			s.Close()
			t.Errorf("%s: opened", path)
			continue
		}
		if !errors.Is(err, store.ErrNotDatabase) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "unchanged") {
			t.Errorf("%s: %v", filepath.Base(path), err)
		}
		if !bytes.Equal(before, fileBytes(t, path)) {
			t.Errorf("%s was modified", path)
		}
		if _, err := os.Stat(path + "-wal"); err == nil && path == text {
			t.Errorf("%s: a WAL file was created", path)
		}
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("Open(directory): %v", err)
	}
}

// A writer holding the database longer than the busy timeout makes ingest
// fail with ErrLocked, and nothing is lost: the next ingest succeeds.
func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	s, err := OpenWith(path, Options{BusyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := storetest.MustIngest(t, s, storetest.ParseFixture(t, storetest.Probe("plain-cold.log")), store.Meta{Project: "p", Started: storetest.T0})

	other, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	if _, err := other.Exec(`BEGIN IMMEDIATE; INSERT INTO projects (name) VALUES ('holding the lock')`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err = s.Ingest(storetest.Ctx, storetest.ParseFixture(t, storetest.Probe("plain-warm.log")), store.Meta{Project: "p", Started: storetest.T0.Add(time.Hour)}, store.IngestOptions{})
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("ingest while locked: %v", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("gave up after %v, before the busy timeout", waited)
	}
	// Readers are not blocked by a writer in WAL mode.
	if h, err := s.History(storetest.Ctx, store.HistoryQuery{}); err != nil || len(h) != 1 || h[0].ID != first {
		t.Errorf("history while locked: %+v %v", h, err)
	}
	other.Exec(`ROLLBACK`)
	if _, created, err := s.Ingest(storetest.Ctx, storetest.ParseFixture(t, storetest.Probe("plain-warm.log")), store.Meta{Project: "p", Started: storetest.T0.Add(time.Hour)}, store.IngestOptions{}); err != nil || !created {
		t.Fatalf("ingest after the lock was released: %v", err)
	}
	checkIntegrity(t, s)
}

// Cancelling the context abandons an ingest without storing anything.
func TestIngestCanceled(t *testing.T) {
	s, _ := openTemp(t)
	c, cancel := context.WithCancel(storetest.Ctx)
	cancel()
	b := storetest.ParseFixture(t, storetest.Probe("multistage-plain-cold.log"))
	if _, _, err := s.Ingest(c, b, store.Meta{Project: "p"}, store.IngestOptions{}); err == nil {
		t.Fatal("canceled ingest succeeded")
	}
	if h, _ := s.History(storetest.Ctx, store.HistoryQuery{}); len(h) != 0 {
		t.Errorf("canceled ingest stored %+v", h)
	}
	storetest.MustIngest(t, s, b, store.Meta{Project: "p"})
}

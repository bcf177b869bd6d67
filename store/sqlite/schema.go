package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/internal/analysis"
)

// SchemaVersion is the schema this package reads and writes. Open upgrades
// older databases to it and refuses newer ones.
const SchemaVersion = 8

// weekOfStart is the week (analysis.WeekOf) of a build's start.
var weekOfStart = analysis.WeekSQL("b.started_at / 86400000")

// migration moves a database from version-1 to version. Each runs inside
// the transaction that also records the new version, so a crash leaves the
// database at the old version, never half-migrated.
type migration struct {
	version int
	sql     string
	post    func(ctx context.Context, tx *sql.Tx) error // data backfill, after sql
}

// Repeated text is stored once: a vertex's name is NULL when it is the
// canonical "[stage i/n] INSTR args" (see analysis.CanonicalName) and its args are
// NULL when they equal steps.args, the raw arguments first seen for that
// step identity. That halves the size of the vertices table.
//
// Units: started_at is Unix milliseconds (UTC), day is days since the epoch
// (UTC) and run_ms milliseconds; the *_ns columns hold the model's own
// nanosecond values so a build reads back exactly. Lists are
// JSON text. WITHOUT ROWID is SQLite's clustered-table spelling and
// REFERENCES are declared for documentation and future deletes but not
// enforced at ingest (see OpenWith); a server database would keep both.
var migrations = []migration{
	{
		// v1: builds, their vertices, transfers and metadata.
		version: 1,
		sql: `
CREATE TABLE projects (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);
CREATE TABLE branches (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);
CREATE TABLE builds (
	id               INTEGER PRIMARY KEY,
	content_hash     TEXT NOT NULL UNIQUE,
	project_id       INTEGER NOT NULL REFERENCES projects(id),
	branch_id        INTEGER NOT NULL REFERENCES branches(id),
	commit_sha       TEXT NOT NULL,
	ci_provider      TEXT NOT NULL,
	run_url          TEXT NOT NULL,
	runner           TEXT NOT NULL,
	dockerfile       TEXT NOT NULL,
	tags             TEXT,
	source           TEXT NOT NULL,
	started_at       INTEGER NOT NULL,
	started_source   TEXT NOT NULL,
	ingested_at      INTEGER NOT NULL,
	format           TEXT NOT NULL,
	status           TEXT NOT NULL,
	log_duration_ns  INTEGER,
	log_started_ns   INTEGER,
	log_completed_ns INTEGER,
	builder          TEXT NOT NULL,
	error            TEXT NOT NULL,
	error_context    TEXT,
	error_file       TEXT NOT NULL,
	error_line       INTEGER NOT NULL,
	warnings         TEXT,
	image_id         TEXT NOT NULL,
	image_names      TEXT,
	truncated        INTEGER NOT NULL,
	logs_kept        INTEGER NOT NULL
);
CREATE INDEX builds_started ON builds(started_at);
CREATE INDEX builds_project_started ON builds(project_id, started_at);
CREATE TABLE steps (
	id          INTEGER PRIMARY KEY,
	project_id  INTEGER NOT NULL REFERENCES projects(id),
	key         TEXT NOT NULL,
	kind        TEXT NOT NULL,
	platform    TEXT NOT NULL,
	stage       TEXT NOT NULL,
	instruction TEXT NOT NULL,
	text        TEXT NOT NULL,
	occurrence  INTEGER NOT NULL,
	args        TEXT NOT NULL,
	UNIQUE (project_id, key)
);
CREATE TABLE vertices (
	build_id       INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
	seq            INTEGER NOT NULL,
	step_id        INTEGER NOT NULL REFERENCES steps(id),
	vertex_id      TEXT NOT NULL,
	digest         TEXT NOT NULL,
	inputs         TEXT,
	name           TEXT,
	name_truncated INTEGER NOT NULL,
	platform       TEXT NOT NULL,
	stage          TEXT NOT NULL,
	step_index     INTEGER NOT NULL,
	step_total     INTEGER NOT NULL,
	instruction    TEXT NOT NULL,
	args           TEXT,
	cached         INTEGER NOT NULL,
	canceled       INTEGER NOT NULL,
	completed      INTEGER NOT NULL,
	error          TEXT NOT NULL,
	exit_code      INTEGER NOT NULL,
	duration_ns    INTEGER NOT NULL,
	has_duration   INTEGER NOT NULL,
	started_ns     INTEGER,
	ended_ns       INTEGER,
	warnings       TEXT,
	output_lines   INTEGER NOT NULL,
	PRIMARY KEY (build_id, seq)
) WITHOUT ROWID;
CREATE TABLE vertex_output (
	build_id INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
	seq      INTEGER NOT NULL,
	lines    TEXT NOT NULL,
	PRIMARY KEY (build_id, seq)
) WITHOUT ROWID;
CREATE TABLE transfers (
	build_id    INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
	seq         INTEGER NOT NULL,
	pos         INTEGER NOT NULL,
	name        TEXT NOT NULL,
	bytes       INTEGER NOT NULL,
	total       INTEGER NOT NULL,
	duration_ns INTEGER NOT NULL,
	done        INTEGER NOT NULL,
	PRIMARY KEY (build_id, seq, pos)
) WITHOUT ROWID;
`,
	},
	{
		// v2: aggregates precomputed at ingest. Per build: step counts,
		// run time, context and base image sizes, so history and trends
		// read builds only (builds_trend covers them). Per step identity
		// and UTC day: executions, cache hits and every run time, so slow,
		// misses and regressions over months read one row per step and day
		// instead of one per vertex, with exact percentiles. run_ms is NULL
		// for vertices that did not run.
		version: 2,
		sql: `
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
	step_id INTEGER NOT NULL REFERENCES steps(id),
	day     INTEGER NOT NULL,
	builds  INTEGER NOT NULL,
	hits    INTEGER NOT NULL,
	runs    TEXT NOT NULL,
	PRIMARY KEY (step_id, day)
) WITHOUT ROWID;
`,
		post: backfillV2,
	},
	{
		// v3: what live builds know and logs do not. builds.build_source
		// is model.Build.Source ("buildkit", "docker", "buildkit-history";
		// NULL for logs), not to be confused with builds.source, the file
		// the build was ingested from. vertices.layer_bytes is the size of
		// the image layer the step produced; NULL when unknown, so a step
		// that made an empty layer (0) is told from one nobody measured.
		// Nothing to backfill: no earlier version stored either.
		version: 3,
		sql: `
ALTER TABLE builds ADD COLUMN build_source TEXT;
ALTER TABLE vertices ADD COLUMN layer_bytes INTEGER;
`,
	},
	{
		// v4: step identities and run times follow the model's one
		// definition (model.Identity, Vertex.Ran): stages are
		// case-insensitive, FROM references are normalised by
		// distribution/reference, cache import/export vertices are their own
		// kind, and a FROM that found its image present, a cancelled or an
		// unfinished step did not run. No table changes; the data is
		// recomputed (see reidentify).
		version: 4,
		post:    reidentify,
	},
	{
		// v5: a branch dimension and a weekly grain for the rollup, and
		// what deleting builds (Prune) needs.
		//
		// step_branch_days is step_days split by branch, keyed branch first:
		// a branch filter (with or without a project) reads that branch's
		// rows instead of every vertex of the window, and the queries
		// without one keep reading step_days, which has a fifth of the rows.
		// step_weeks and step_branch_weeks are the same per ISO week (week
		// is the day number of its Monday): a year is 52 rows per step
		// plus the days around them, not 365.
		//
		// buildstats_schema.pruned counts prunes that deleted something:
		// ingesters cache project, branch and step ids, and drop the cache
		// when it moved, since a pruned id may be handed out again.
		// build_id_floor is the highest build id a prune deleted: new builds
		// are numbered above it, so an id people have seen never names
		// another build.
		//
		// It also keeps what the parser says about the limits of what a
		// log shows, so a stored build reads back as it was parsed: its
		// place in a log of several builds (log_index from 1; 0 with
		// log_builds 0 when the log held one), a duration taken from CI
		// timestamps or one that is only a lower bound (the log ends
		// first), a log that began mid-build, a step whose time is a lower
		// bound, and the lines of a failed step's output that carry its
		// error (JSON, NULL when none; kept only with the output, like
		// error_context). Builds stored before keep the defaults: their
		// parser did not know.
		//
		// A step that ran for a time the log does not tell has run_ms -1
		// (analysis.UnknownRun) instead of 0, so it counts as a run and
		// never as 0 s in a percentile; trends leave builds without a
		// duration (duration_source '') out of theirs, from the index.
		version: 5,
		sql: `
ALTER TABLE buildstats_schema ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE buildstats_schema ADD COLUMN build_id_floor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN log_index INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN log_builds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN duration_from_timestamps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN duration_is_lower_bound INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN began_mid_build INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vertices ADD COLUMN duration_is_lower_bound INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vertices ADD COLUMN error_lines TEXT;
DROP INDEX builds_trend;
CREATE INDEX builds_trend ON builds(started_at, project_id, branch_id, status, duration_ns, duration_source, steps_total, steps_cached);
UPDATE vertices SET run_ms = -1 WHERE run_ms IS NOT NULL AND has_duration = 0;
DELETE FROM step_days;
INSERT INTO step_days (step_id, day, builds, hits, runs)
	SELECT v.step_id, b.started_at / 86400000, COUNT(*), SUM(v.cached), COALESCE(group_concat(v.run_ms, ','), '')
	FROM vertices v JOIN builds b ON b.id = v.build_id GROUP BY v.step_id, b.started_at / 86400000;
CREATE TABLE step_branch_days (
	branch_id INTEGER NOT NULL REFERENCES branches(id),
	step_id   INTEGER NOT NULL REFERENCES steps(id),
	day       INTEGER NOT NULL,
	builds    INTEGER NOT NULL,
	hits      INTEGER NOT NULL,
	runs      TEXT NOT NULL,
	PRIMARY KEY (branch_id, step_id, day)
) WITHOUT ROWID;
INSERT INTO step_branch_days (branch_id, step_id, day, builds, hits, runs)
	SELECT b.branch_id, v.step_id, b.started_at / 86400000, COUNT(*), SUM(v.cached), COALESCE(group_concat(v.run_ms, ','), '')
	FROM vertices v JOIN builds b ON b.id = v.build_id GROUP BY b.branch_id, v.step_id, b.started_at / 86400000;
CREATE TABLE step_weeks (
	step_id INTEGER NOT NULL REFERENCES steps(id),
	week    INTEGER NOT NULL,
	builds  INTEGER NOT NULL,
	hits    INTEGER NOT NULL,
	runs    TEXT NOT NULL,
	PRIMARY KEY (step_id, week)
) WITHOUT ROWID;
CREATE TABLE step_branch_weeks (
	branch_id INTEGER NOT NULL REFERENCES branches(id),
	step_id   INTEGER NOT NULL REFERENCES steps(id),
	week      INTEGER NOT NULL,
	builds    INTEGER NOT NULL,
	hits      INTEGER NOT NULL,
	runs      TEXT NOT NULL,
	PRIMARY KEY (branch_id, step_id, week)
) WITHOUT ROWID;
INSERT INTO step_weeks (step_id, week, builds, hits, runs)
	SELECT v.step_id, ` + weekOfStart + `, COUNT(*), SUM(v.cached), COALESCE(group_concat(v.run_ms, ','), '')
	FROM vertices v JOIN builds b ON b.id = v.build_id GROUP BY v.step_id, ` + weekOfStart + `;
INSERT INTO step_branch_weeks (branch_id, step_id, week, builds, hits, runs)
	SELECT b.branch_id, v.step_id, ` + weekOfStart + `, COUNT(*), SUM(v.cached), COALESCE(group_concat(v.run_ms, ','), '')
	FROM vertices v JOIN builds b ON b.id = v.build_id GROUP BY b.branch_id, v.step_id, ` + weekOfStart + `;
`,
	},
	{
		// v6: what went into each build and why its cache broke (see
		// inputsSchema). Nothing to backfill: no earlier version recorded
		// inputs.
		version: 6,
		sql:     inputsSchema,
	},
	{
		// v7: what live and imported BuildKit builds add (see
		// liveSchema): the daemon's history ref, the build's facts as the
		// daemon ran it, its whole log when kept, and the claims that let
		// `build` and `import --follow` agree on who stores a build.
		// Nothing to backfill: earlier versions kept the ref only inside
		// the source column.
		version: 7,
		sql:     liveSchema,
	},
	{
		// v8: the access tokens of buildstats serve (see tokens.go).
		// Self-contained: no other table refers to it.
		version: 8,
		sql:     tokensSchema,
	},
}

// liveSchema is version 7. facts is store.BuildFacts as JSON; a kept log
// is gzip'd plain progress (store.BuildLog); a claim is held by owner until
// expires_ms (Unix milliseconds), see Store.Claim.
const liveSchema = `
ALTER TABLE builds ADD COLUMN buildkit_ref TEXT;
ALTER TABLE builds ADD COLUMN facts TEXT;
CREATE INDEX builds_buildkit_ref ON builds (buildkit_ref) WHERE buildkit_ref IS NOT NULL;
CREATE TABLE build_logs (
	build_id  INTEGER PRIMARY KEY REFERENCES builds(id),
	gz        BLOB NOT NULL,
	bytes     INTEGER NOT NULL,
	truncated INTEGER NOT NULL
);
CREATE TABLE build_claims (
	key        TEXT PRIMARY KEY,
	owner      TEXT NOT NULL,
	expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
`

// backfillV2 computes the v2 columns for builds stored by v1 with the same
// code ingest uses, so old and new rows agree.
func backfillV2(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM builds ORDER BY id`)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		b, _, err := loadBuild(ctx, tx, id, 2)
		if err != nil {
			return fmt.Errorf("build %d: %w", id, err)
		}
		a := store.Summarize(b)
		if _, err := tx.ExecContext(ctx, `UPDATE builds SET duration_ns = ?, duration_source = ?, steps_total = ?,
			steps_cached = ?, steps_ran = ?, steps_failed = ?, ran_ns = ?, context_bytes = ?, base_image_bytes = ?
			WHERE id = ?`, int64(a.Duration), a.DurationSource, a.StepsTotal, a.StepsCached, a.StepsRan, a.StepsFailed,
			int64(a.RanTime), a.ContextBytes, a.BaseImageBytes, id); err != nil {
			return err
		}
		for seq, v := range b.Vertices {
			if _, err := tx.ExecContext(ctx, `UPDATE vertices SET run_ms = ?, image_digest = ? WHERE build_id = ? AND seq = ?`,
				runMs(v), v.ImageDigest(), id, seq); err != nil {
				return err
			}
		}
	}
	// Builds start after 1970, so integer division is the UTC day.
	_, err = tx.ExecContext(ctx, `INSERT INTO step_days (step_id, day, builds, hits, runs)
		SELECT v.step_id, b.started_at / 86400000, COUNT(*), SUM(v.cached), COALESCE(group_concat(v.run_ms, ','), '')
		FROM vertices v JOIN builds b ON b.id = v.build_id GROUP BY v.step_id, b.started_at / 86400000`)
	return err
}

// reidentify recomputes what v4 defines anew: every step identity's key
// (merging identities that the new rule makes one), every vertex's run
// time, the builds' step counts and the daily rollup. It uses the model's
// own methods, so migrated and newly ingested rows agree.
func reidentify(ctx context.Context, tx *sql.Tx) error {
	if err := rekeySteps(ctx, tx); err != nil {
		return fmt.Errorf("step identities: %w", err)
	}
	if err := recountRuns(ctx, tx); err != nil {
		return fmt.Errorf("run times: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM step_days`); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO step_days (step_id, day, builds, hits, runs)
		SELECT v.step_id, b.started_at / 86400000, COUNT(*), SUM(v.cached), COALESCE(group_concat(v.run_ms, ','), '')
		FROM vertices v JOIN builds b ON b.id = v.build_id GROUP BY v.step_id, b.started_at / 86400000`)
	return err
}

// rekeySteps gives every steps row the key of its identity under the
// current model and merges rows whose identities became one.
func rekeySteps(ctx context.Context, tx *sql.Tx) error {
	type row struct {
		id, project int64
		args        string
		old, new    model.Identity
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, project_id, kind, platform, stage, instruction, text, occurrence, args
		FROM steps ORDER BY id`)
	if err != nil {
		return err
	}
	var all []*row
	for rows.Next() {
		r := &row{}
		if err := rows.Scan(&r.id, &r.project, &r.old.Kind, &r.old.Platform, &r.old.Stage, &r.old.Instruction,
			&r.old.Text, &r.old.Occurrence, &r.args); err != nil {
			rows.Close()
			return err
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	type pkey struct {
		project int64
		key     string
	}
	canonical := map[pkey]*row{}
	for _, r := range all {
		r.new = r.old
		r.new.Stage = strings.ToLower(r.old.Stage)
		if r.old.Kind == model.KindStep && r.old.Instruction != "" {
			args := strings.TrimPrefix(strings.TrimPrefix(r.old.Text, r.old.Instruction), " ")
			r.new.Text = model.NormaliseInstruction(r.old.Instruction, args)
		} else if r.old.Kind != model.KindStep {
			r.new.Kind = (&model.Vertex{Name: r.old.Text, Stage: r.old.Stage}).Kind()
		}
		k := pkey{r.project, r.new.Key()}
		if c := canonical[k]; c != nil {
			// Merge r into c: its vertices move, keeping their own args
			// (NULL meant "the same as r's").
			if _, err := tx.ExecContext(ctx, `UPDATE vertices SET step_id = ?, args = COALESCE(args, ?) WHERE step_id = ?`,
				c.id, r.args, r.id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE vertices SET args = NULL WHERE step_id = ? AND args = ?`, c.id, c.args); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM steps WHERE id = ?`, r.id); err != nil {
				return err
			}
			continue
		}
		canonical[k] = r
	}
	// Two passes keep the (project, key) index unique at every moment.
	for _, r := range canonical {
		if _, err := tx.ExecContext(ctx, `UPDATE steps SET key = ? WHERE id = ?`, "v4-"+strconv.FormatInt(r.id, 10), r.id); err != nil {
			return err
		}
	}
	for _, r := range canonical {
		if _, err := tx.ExecContext(ctx, `UPDATE steps SET key = ?, kind = ?, stage = ?, text = ? WHERE id = ?`,
			r.new.Key(), string(r.new.Kind), r.new.Stage, r.new.Text, r.id); err != nil {
			return err
		}
	}
	return nil
}

// recountRuns recomputes each vertex's run_ms and each build's step counts
// with Vertex.Ran and store.Summarize, streaming the vertices in order.
func recountRuns(ctx context.Context, tx *sql.Tx) error {
	// Whether a FROM pulled its image depends on its transfers.
	transfers := map[[2]int64][]model.Transfer{}
	trows, err := tx.QueryContext(ctx, `SELECT t.build_id, t.seq, t.name, t.bytes, t.total FROM transfers t
		JOIN vertices v ON v.build_id = t.build_id AND v.seq = t.seq WHERE v.instruction = 'FROM'`)
	if err != nil {
		return err
	}
	for trows.Next() {
		var k [2]int64
		var tr model.Transfer
		if err := trows.Scan(&k[0], &k[1], &tr.Name, &tr.Bytes, &tr.Total); err != nil {
			trows.Close()
			return err
		}
		transfers[k] = append(transfers[k], tr)
	}
	trows.Close()
	if err := trows.Err(); err != nil {
		return err
	}
	type runChange struct {
		build, seq int64
		run        any
	}
	var changes []runChange
	type counts struct{ cached, ran, failed, ranNs int64 }
	perBuild := map[int64]counts{}
	rows, err := tx.QueryContext(ctx, `SELECT build_id, seq, step_index, step_total, instruction, cached, canceled,
		completed, error, duration_ns, has_duration, run_ms FROM vertices ORDER BY build_id, seq`)
	if err != nil {
		return err
	}
	var cur int64 = -1
	var vs []*model.Vertex
	flush := func() {
		if cur < 0 {
			return
		}
		a := store.Summarize(&model.Build{Vertices: vs})
		perBuild[cur] = counts{int64(a.StepsCached), int64(a.StepsRan), int64(a.StepsFailed), int64(a.RanTime)}
		vs = vs[:0]
	}
	for rows.Next() {
		var build, seq int64
		var cached, canceled, completed, hasDur int
		var oldRun sql.NullInt64
		v := &model.Vertex{}
		if err := rows.Scan(&build, &seq, &v.Index, &v.Total, &v.Instruction, &cached, &canceled, &completed,
			&v.Error, &v.Duration, &hasDur, &oldRun); err != nil {
			rows.Close()
			return err
		}
		if build != cur {
			flush()
			cur = build
		}
		v.Cached, v.Canceled, v.Completed, v.HasDuration = cached != 0, canceled != 0, completed != 0, hasDur != 0
		v.Transfers = transfers[[2]int64{build, seq}]
		vs = append(vs, v)
		run := runMs(v)
		n, ok := run.(int64)
		if ok != oldRun.Valid || ok && n != oldRun.Int64 {
			changes = append(changes, runChange{build, seq, run})
		}
	}
	flush()
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range changes {
		if _, err := tx.ExecContext(ctx, `UPDATE vertices SET run_ms = ? WHERE build_id = ? AND seq = ?`, c.run, c.build, c.seq); err != nil {
			return err
		}
	}
	for id, c := range perBuild {
		if _, err := tx.ExecContext(ctx, `UPDATE builds SET steps_cached = ?, steps_ran = ?, steps_failed = ?, ran_ns = ?
			WHERE id = ? AND (steps_cached, steps_ran, steps_failed, ran_ns) IS NOT (?, ?, ?, ?)`,
			c.cached, c.ran, c.failed, c.ranNs, id, c.cached, c.ran, c.failed, c.ranNs); err != nil {
			return err
		}
	}
	return nil
}

// migrate brings the database from its current version to SchemaVersion in
// one write transaction. It re-reads the version inside the transaction:
// another process may have migrated while this one waited for the lock.
func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dsn)
	if err != nil {
		return s.wrap("upgrade schema", err)
	}
	defer tx.Rollback()
	version, err := schemaVersion(ctx, tx)
	if err != nil {
		return s.wrap("upgrade schema", err)
	}
	if version > SchemaVersion {
		return s.tooNew(version)
	}
	if version == SchemaVersion {
		return nil
	}
	if version < 0 {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA application_id = %d;
			CREATE TABLE buildstats_schema (version INTEGER NOT NULL);
			INSERT INTO buildstats_schema (version) VALUES (0)`, applicationID)); err != nil {
			return s.wrap("create schema", err)
		}
		version = 0
	}
	for _, m := range migrations {
		if m.version <= version {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); m.sql != "" && err != nil {
			return s.wrap(fmt.Sprintf("upgrade schema to version %d", m.version), err)
		}
		if m.post != nil {
			if err := m.post(ctx, tx); err != nil {
				return s.wrap(fmt.Sprintf("upgrade schema to version %d", m.version), err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE buildstats_schema SET version = ?`, m.version); err != nil {
			return s.wrap("record schema version", err)
		}
	}
	return s.wrap("upgrade schema", tx.Commit())
}

// queryer is what *sql.DB and *sql.Tx have in common.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// schemaVersion returns the recorded version, -1 for an empty database, or
// an error wrapping errForeign for an SQLite database some other program
// owns.
func schemaVersion(ctx context.Context, q queryer) (int, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return 0, err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return 0, err
		}
		tables = append(tables, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	found := false
	for _, t := range tables {
		if t == "buildstats_schema" {
			found = true
		}
	}
	var app int64
	if err := q.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&app); err != nil {
		return 0, err
	}
	if app != 0 && app != applicationID {
		return 0, errForeign // another program's file, even one without tables yet
	}
	if !found {
		if len(tables) > 0 {
			return 0, errForeign
		}
		return -1, nil
	}
	var v int
	if err := q.QueryRowContext(ctx, `SELECT version FROM buildstats_schema`).Scan(&v); err != nil {
		return 0, err
	}
	return v, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

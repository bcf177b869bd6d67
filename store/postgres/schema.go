package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/buildstats/buildstats/store"
)

// migration moves a database from version-1 to version. Each runs in the
// transaction that records the new version (PostgreSQL's DDL is
// transactional), so a failure leaves the old version intact.
type migration struct {
	version int
	sql     string
}

// migrations is the schema's history. PostgreSQL's versions count on
// their own, from 1: the first one has everything SQLite's version 5 has.
//
// Units are SQLite's, so both stores share their arithmetic: started_at
// and ingested_at are Unix milliseconds (UTC), day is days since the epoch
// (UTC), run_ms milliseconds, *_ns the model's nanoseconds. Text keys are
// COLLATE "C": content hash prefixes are range scans and every listing
// sorts as Go (and SQLite) compare strings, whatever the database's
// locale. Unknown is NULL: context_bytes, layer_bytes, log durations.
//
// Repeated text is stored once, as in SQLite: a vertex's name is NULL when
// it is the canonical "[stage i/n] INSTR args" and its args NULL when they
// equal steps.args.
//
// Foreign keys guard the small tables. The bulk tables (vertices,
// transfers, vertex_output and the rollups) have none: a per-row check
// would cost a trigger per vertex on every COPY, every id they hold comes
// from the same transaction, ingests and prunes exclude each other with an
// advisory lock, and CheckIntegrity verifies them.
var migrations = []migration{
	{
		version: 1,
		sql: `
CREATE TABLE projects (
	id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name text COLLATE "C" NOT NULL UNIQUE
);
CREATE TABLE branches (
	id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name text COLLATE "C" NOT NULL UNIQUE
);
CREATE TABLE builds (
	id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	content_hash     text COLLATE "C" NOT NULL UNIQUE,
	project_id       bigint NOT NULL REFERENCES projects(id),
	branch_id        bigint NOT NULL REFERENCES branches(id),
	commit_sha       text NOT NULL,
	ci_provider      text NOT NULL,
	run_url          text NOT NULL,
	runner           text NOT NULL,
	dockerfile       text NOT NULL,
	tags             text[],
	source           text NOT NULL,
	started_at       bigint NOT NULL,
	started_source   text NOT NULL,
	ingested_at      bigint NOT NULL,
	format           text NOT NULL,
	status           text NOT NULL,
	log_duration_ns  bigint,
	log_started_ns   bigint,
	log_completed_ns bigint,
	builder          text NOT NULL,
	error            text NOT NULL,
	error_context    text[],
	error_file       text NOT NULL,
	error_line       integer NOT NULL,
	warnings         jsonb,
	image_id         text NOT NULL,
	image_names      text[],
	truncated        boolean NOT NULL,
	logs_kept        boolean NOT NULL,
	build_source     text,
	duration_ns      bigint NOT NULL,
	duration_source  text NOT NULL,
	steps_total      integer NOT NULL,
	steps_cached     integer NOT NULL,
	steps_ran        integer NOT NULL,
	steps_failed     integer NOT NULL,
	ran_ns           bigint NOT NULL,
	context_bytes    bigint,
	base_image_bytes bigint NOT NULL,
	-- What the parser says about the limits of the log (SQLite's v5).
	log_index                integer NOT NULL,
	log_builds               integer NOT NULL,
	duration_from_timestamps boolean NOT NULL,
	duration_is_lower_bound  boolean NOT NULL,
	began_mid_build          boolean NOT NULL
);
-- History and trends read builds by time, with or without a project or a
-- branch; trends reads only the included columns (index-only scans), the
-- duration's source among them: a build without one has no duration.
CREATE INDEX builds_started ON builds (started_at, id)
	INCLUDE (project_id, branch_id, status, duration_ns, duration_source, steps_total, steps_cached);
CREATE INDEX builds_project_started ON builds (project_id, started_at, id)
	INCLUDE (branch_id, status, duration_ns, duration_source, steps_total, steps_cached);
CREATE INDEX builds_branch_started ON builds (branch_id, started_at, id)
	INCLUDE (project_id, status, duration_ns, duration_source, steps_total, steps_cached);
CREATE TABLE steps (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	project_id  bigint NOT NULL REFERENCES projects(id),
	key         text COLLATE "C" NOT NULL,
	kind        text NOT NULL,
	platform    text NOT NULL,
	stage       text NOT NULL,
	instruction text NOT NULL,
	text        text NOT NULL,
	occurrence  integer NOT NULL,
	args        text NOT NULL,
	UNIQUE (project_id, key)
);
CREATE TABLE vertices (
	build_id       bigint NOT NULL,
	seq            integer NOT NULL,
	step_id        bigint NOT NULL,
	vertex_id      text NOT NULL,
	digest         text NOT NULL,
	inputs         text[],
	name           text,
	name_truncated boolean NOT NULL,
	platform       text NOT NULL,
	stage          text NOT NULL,
	step_index     integer NOT NULL,
	step_total     integer NOT NULL,
	instruction    text NOT NULL,
	args           text,
	cached         boolean NOT NULL,
	canceled       boolean NOT NULL,
	completed      boolean NOT NULL,
	error          text NOT NULL,
	exit_code      integer NOT NULL,
	duration_ns    bigint NOT NULL,
	has_duration   boolean NOT NULL,
	started_ns     bigint,
	ended_ns       bigint,
	warnings       text[],
	output_lines   integer NOT NULL,
	run_ms         bigint,
	image_digest   text NOT NULL,
	layer_bytes    bigint,
	duration_is_lower_bound boolean NOT NULL,
	error_lines    text[],
	PRIMARY KEY (build_id, seq)
);
CREATE TABLE vertex_output (
	build_id bigint NOT NULL,
	seq      integer NOT NULL,
	lines    text[] NOT NULL,
	PRIMARY KEY (build_id, seq)
);
CREATE TABLE transfers (
	build_id    bigint NOT NULL,
	seq         integer NOT NULL,
	pos         integer NOT NULL,
	name        text NOT NULL,
	bytes       bigint NOT NULL,
	total       bigint NOT NULL,
	duration_ns bigint NOT NULL,
	done        boolean NOT NULL,
	PRIMARY KEY (build_id, seq, pos)
);
-- Per step identity and UTC day, and per ISO week (keyed by the day
-- number of its Monday): executions, cache hits and every run time
-- (comma-separated ms), so slow, misses and regressions over a year read
-- 52 weekly rows per step and a few daily ones around them, with exact
-- percentiles; per branch too, for branch filters. Keys lead with the
-- period (after the branch): rows are written in time order, so a range
-- of periods is a compact part of the table and of its index. Upserts
-- rewrite rows: room for updates on the same page.
CREATE TABLE step_days (
	day     integer NOT NULL,
	step_id bigint NOT NULL,
	builds  integer NOT NULL,
	hits    integer NOT NULL,
	runs    text NOT NULL,
	PRIMARY KEY (day, step_id)
) WITH (fillfactor = 80);
CREATE TABLE step_branch_days (
	branch_id bigint NOT NULL,
	day       integer NOT NULL,
	step_id   bigint NOT NULL,
	builds    integer NOT NULL,
	hits      integer NOT NULL,
	runs      text NOT NULL,
	PRIMARY KEY (branch_id, day, step_id)
) WITH (fillfactor = 80);
CREATE TABLE step_weeks (
	week    integer NOT NULL,
	step_id bigint NOT NULL,
	builds  integer NOT NULL,
	hits    integer NOT NULL,
	runs    text NOT NULL,
	PRIMARY KEY (week, step_id)
) WITH (fillfactor = 80);
CREATE TABLE step_branch_weeks (
	branch_id bigint NOT NULL,
	week      integer NOT NULL,
	step_id   bigint NOT NULL,
	builds    integer NOT NULL,
	hits      integer NOT NULL,
	runs      text NOT NULL,
	PRIMARY KEY (branch_id, week, step_id)
) WITH (fillfactor = 80);
`,
	},
	{
		// Version 2: what went into each build and why its cache broke
		// (inputsSchema). Nothing to backfill: no earlier version recorded
		// inputs.
		version: 2,
		sql:     inputsSchema,
	},
	{
		// Version 3: what live and imported BuildKit builds add, as
		// SQLite's version 7 (liveSchema). Nothing to backfill.
		version: 3,
		sql:     liveSchema,
	},
	{
		// Version 4: the access tokens of buildstats serve (see
		// tokens.go). Self-contained: no other table refers to it.
		version: 4,
		sql:     tokensSchema,
	},
	{
		// Version 5: the rollups packed, a row per project and period
		// (packedRollupSchema); the rows of version 4 move into them.
		version: 5,
		sql:     packedRollupSchema,
	},
	{
		// Each step's number of runs, of timed runs and their total, beside
		// its list of run times (runTotalsSchema).
		version: 6,
		sql:     runTotalsSchema,
	},
}

// liveSchema is version 3: the daemon's history ref, the build's facts
// (store.BuildFacts as JSON), its whole log when kept (gzip'd plain
// progress) and the claims of Store.Claim.
const liveSchema = `
ALTER TABLE builds ADD COLUMN buildkit_ref text;
ALTER TABLE builds ADD COLUMN facts text;
CREATE INDEX builds_buildkit_ref ON builds (buildkit_ref) WHERE buildkit_ref IS NOT NULL;
CREATE TABLE build_logs (
	build_id  bigint PRIMARY KEY REFERENCES builds(id) ON DELETE CASCADE,
	gz        bytea NOT NULL,
	bytes     bigint NOT NULL,
	truncated boolean NOT NULL
);
CREATE TABLE build_claims (
	key        text PRIMARY KEY,
	owner      text NOT NULL,
	expires_ms bigint NOT NULL
);
`

// SchemaVersion is the schema this package reads and writes.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// tables are the names the schema creates, besides buildstats_schema: a
// database that has one of them but no buildstats_schema is another
// program's.
var tables = append([]string{"projects", "branches", "builds", "steps", "vertices", "vertex_output", "transfers", "step_days", "step_branch_days",
	"step_weeks", "step_branch_weeks", "rollup_days", "rollup_branch_days", "rollup_weeks", "rollup_branch_weeks", "tokens"}, inputTables...)

// Advisory lock keys ("bsts" and a number), per database. Schema changes
// take migrateLock; ingests take pruneLock shared and prunes exclusive, so
// a prune never deletes an identity an ingest is about to use.
const (
	migrateLock int64 = 0x62737473_00000001
	pruneLock   int64 = 0x62737473_00000002
)

// querier is what a pool, a connection and a transaction share.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// errForeign marks a database with tables of our names that buildstats did
// not create.
var errForeign = errors.New("foreign database")

// schemaVersion returns the recorded version, -1 when the current schema
// (the first of search_path) holds no buildstats tables, or errForeign.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var has bool
	var clashing []string
	err := q.QueryRow(ctx, `SELECT to_regclass('buildstats_schema') IS NOT NULL,
		ARRAY(SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename = ANY($1) ORDER BY 1)`,
		tables).Scan(&has, &clashing)
	if err != nil {
		return 0, err
	}
	if !has {
		if len(clashing) > 0 {
			return 0, fmt.Errorf("%w: it has tables named %v but no buildstats_schema", errForeign, clashing)
		}
		return -1, nil
	}
	var v int
	if err := q.QueryRow(ctx, `SELECT version FROM buildstats_schema`).Scan(&v); err != nil {
		return 0, err
	}
	return v, nil
}

// init checks the schema and, for a writer, creates or upgrades it.
func (s *Store) init(ctx context.Context) error {
	version, err := s.checkVersion(ctx, s.pool)
	if err != nil {
		return err
	}
	switch {
	case version == SchemaVersion():
		return nil
	case s.readOnly && version < 0:
		return fmt.Errorf("%w in %s (it has no buildstats tables): store builds with buildstats ingest, build, import or annotate --db first",
			store.ErrNoHistory, s.target)
	case s.readOnly:
		return fmt.Errorf("%w: %s has schema version %d and this buildstats reads version %d; a command that stores "+
			"builds (ingest, build, import, annotate --db) upgrades it; this one only reads, so it was left unchanged",
			store.ErrSchemaTooOld, s.target, version, SchemaVersion())
	}
	return s.migrate(ctx)
}

// checkVersion reads the schema version and refuses what Open must not
// touch: another program's tables, a newer schema.
func (s *Store) checkVersion(ctx context.Context, q querier) (int, error) {
	version, err := schemaVersion(ctx, q)
	if errors.Is(err, errForeign) {
		return 0, fmt.Errorf("%w: %s is not a buildstats history (%v); it was left unchanged; "+
			"use a database of its own, or another schema with search_path in the URL", store.ErrNotDatabase, s.target, err)
	}
	if err != nil {
		return 0, s.wrap("open build history", err)
	}
	if version > SchemaVersion() {
		return 0, fmt.Errorf("%w: %s has schema version %d and this buildstats understands up to version %d; "+
			"upgrade buildstats to read it (the database was not modified)", store.ErrSchemaTooNew, s.target, version, SchemaVersion())
	}
	return version, nil
}

// migrate brings the schema to SchemaVersion in one transaction, holding
// an advisory lock so that many processes opening a new database at once
// create it once: the others wait, then find it done.
func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.wrap("upgrade schema", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// A large upgrade may take a while: wait for it longer than for a
	// build's locks.
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5min'`); err != nil {
		return s.wrap("upgrade schema", err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return s.wrap("upgrade schema", err)
	}
	version, err := s.checkVersion(ctx, tx)
	if err != nil || version == SchemaVersion() {
		return err
	}
	if version < 0 {
		if _, err := tx.Exec(ctx, `CREATE TABLE buildstats_schema (
			one     boolean PRIMARY KEY DEFAULT true CHECK (one),
			version integer NOT NULL,
			pruned  bigint NOT NULL DEFAULT 0
		);
		COMMENT ON TABLE buildstats_schema IS 'buildstats build history: schema version and prune count';
		INSERT INTO buildstats_schema (version) VALUES (0)`); err != nil {
			return s.wrap("create schema", err)
		}
		version = 0
	}
	for _, m := range migrations {
		if m.version <= version {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return s.wrap(fmt.Sprintf("upgrade schema to version %d", m.version), err)
		}
		if _, err := tx.Exec(ctx, `UPDATE buildstats_schema SET version = $1`, m.version); err != nil {
			return s.wrap("record schema version", err)
		}
	}
	return s.wrap("upgrade schema", tx.Commit(ctx))
}

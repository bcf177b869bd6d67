package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/internal/analysis"
)

// DefaultBusyTimeout is how long a write waits for another process that
// holds the database before failing with ErrLocked.
const DefaultBusyTimeout = 10 * time.Second

// Options tune Open.
type Options struct {
	// BusyTimeout overrides DefaultBusyTimeout.
	BusyTimeout time.Duration
	// ReadOnly opens an existing database without ever writing to it: a
	// missing or empty file is store.ErrNoHistory and an older schema
	// store.ErrSchemaTooOld, instead of a new or upgraded database.
	ReadOnly bool

	cachePages int // tests: a tiny page cache makes transactions spill into the WAL
}

// SQLite is the SQLite Store. It is safe for concurrent use, and several
// processes may use one database file: it runs in WAL mode, and writers wait
// up to the busy timeout for each other.
type Store struct {
	db   *sql.DB
	path string
	busy time.Duration

	wmu      sync.Mutex // serialises this process's writers; SQLite serialises processes
	readOnly bool

	// Committed project, branch and step ids, valid while the database's
	// prune count is pruned: a prune deletes unused ones, and SQLite may
	// hand a deleted id out again.
	mu     sync.Mutex
	names  map[nameKey]int64
	steps  map[stepKey]stepVal
	pruned int64
}

// nameKey is a project or branch name.
type nameKey struct {
	table, name string
}

// driverName is go-sqlite3 with a connect hook for per-connection settings.
const driverName = "sqlite3_buildstats"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		// Memory-mapped reads: each CLI command is a fresh process with a
		// cold page cache, and mapping the file saves a read() and a copy
		// per page on the large scans of slow, misses and trends.
		_, err := c.Exec(`PRAGMA mmap_size = 1073741824`, nil)
		return err
	}})
}

var _ store.Store = (*Store)(nil)

// sqliteMagic starts every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// applicationID marks buildstats databases in the SQLite header (PRAGMA
// application_id), so another program's database is told from a new one
// even before it has tables.
const applicationID = 0x62737473 // "bsts"

// Open opens the database at path with default options, creating it (mode
// 0600, parent directories 0700) if it does not exist. See OpenWith.
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenReadOnly opens an existing database for reading only. See
// Options.ReadOnly.
func OpenReadOnly(path string) (*Store, error) { return OpenWith(path, Options{ReadOnly: true}) }

// OpenWith opens or creates the database at path and upgrades its schema
// (unless o.ReadOnly). It refuses, without writing to it, a file that is
// not an SQLite database (ErrNotDatabase), an SQLite database of another
// program (ErrNotDatabase) and a database with a newer schema
// (ErrSchemaTooNew).
func OpenWith(path string, o Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open build history: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	s := &Store{path: abs, busy: o.BusyTimeout, names: map[nameKey]int64{}, steps: map[stepKey]stepVal{}}
	if s.busy <= 0 {
		s.busy = DefaultBusyTimeout
	}
	if o.ReadOnly {
		if err := s.openReadOnly(context.Background()); err != nil {
			return nil, err
		}
		return s, nil
	}
	if err := s.prepareFile(); err != nil {
		return nil, err
	}
	// mode=rw: the file exists by now, and SQLite must not create one with
	// the umask's permissions if it vanished. _txlock=immediate takes the
	// write lock at BEGIN, so two writers queue on the busy timeout instead
	// of one failing when it upgrades a read lock. Foreign keys are not
	// enforced: every write goes through ingest, which takes its ids from
	// the same transaction, and enforcement would cost two lookups per
	// vertex (tests run PRAGMA foreign_key_check instead).
	cache := -65536 // KiB: the step index's working set stays in memory during bulk ingests
	if o.cachePages > 0 {
		cache = o.cachePages
	}
	dsn := fmt.Sprintf("file:%s?mode=rw&_busy_timeout=%d&_txlock=immediate&_foreign_keys=0&_cache_size=%d",
		(&url.URL{Path: abs}).EscapedPath(), s.busy.Milliseconds(), cache)
	// Look before writing anything: a read-only connection cannot change
	// the file, not even by checkpointing a newer buildstats's WAL on close.
	if err := s.probe(context.Background()); err != nil {
		return nil, err
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	s.db = db
	if err := s.init(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// prepareFile creates a missing database file with mode 0600, and checks an
// existing one starts like an SQLite database before SQLite touches it.
func (s *Store) prepareFile() error {
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
			return fmt.Errorf("create build history directory: %w: %v", store.ErrUnwritable, err)
		}
		f, err := os.OpenFile(s.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return nil // another process created it first
		}
		if err != nil {
			return fmt.Errorf("create build history: %w: %v", store.ErrUnwritable, err)
		}
		return f.Close()
	}
	if err != nil {
		return fmt.Errorf("open build history: %w", err)
	}
	defer f.Close()
	return s.checkFile(f)
}

// checkFile refuses a directory, and a file that does not start like an
// SQLite database, before SQLite touches it. An empty file is fine.
func (s *Store) checkFile(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("open build history: %s is a directory, not a database file", s.path)
	}
	head := make([]byte, len(sqliteMagic))
	n, err := io.ReadFull(f, head)
	if n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
		return nil // empty: SQLite treats it as a new database
	}
	if !bytes.Equal(head[:n], sqliteMagic) {
		return fmt.Errorf("%w: %s is not an SQLite database (it starts with %q); it was left unchanged; "+
			"move it away or point --db/BUILDSTATS_DB at another file", store.ErrNotDatabase, s.path, head[:n])
	}
	return nil
}

// openReadOnly opens an existing database with a read-only connection. It
// never creates, upgrades or switches the journal mode of a database.
func (s *Store) openReadOnly(ctx context.Context) error {
	s.readOnly = true
	noHistory := func(why string) error {
		return fmt.Errorf("%w at %s (%s): store builds with buildstats ingest, build, import or annotate --db first",
			store.ErrNoHistory, s.path, why)
	}
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return noHistory("no such file")
	}
	if err != nil {
		return fmt.Errorf("open build history: %w", err)
	}
	err = s.checkFile(f)
	st, serr := f.Stat()
	f.Close()
	if err != nil {
		return err
	}
	if serr == nil && st.Size() == 0 {
		return noHistory("the file is empty")
	}
	db, err := sql.Open(driverName, fmt.Sprintf("file:%s?mode=ro&_busy_timeout=%d",
		(&url.URL{Path: s.path}).EscapedPath(), s.busy.Milliseconds()))
	if err != nil {
		return err
	}
	version, err := s.checkVersion(ctx, db)
	switch {
	case err != nil:
	case version < 0:
		err = noHistory("it has no buildstats tables")
	case version < SchemaVersion:
		err = fmt.Errorf("%w: %s has schema version %d and this buildstats reads version %d; a command that stores "+
			"builds (ingest, build, import, annotate --db) upgrades it; this one only reads, so it was left unchanged",
			store.ErrSchemaTooOld, s.path, version, SchemaVersion)
	}
	if err != nil {
		db.Close()
		return err
	}
	s.db = db
	return nil
}

// errReadOnly is returned by writes to a store opened with ReadOnly.
var errReadOnly = errors.New("the build history was opened read-only")

// errForeign marks an SQLite database with tables but no buildstats schema.
var errForeign = errors.New("foreign database")

// probe refuses, through a read-only connection, files that are not
// buildstats databases and databases with a newer schema.
func (s *Store) probe(ctx context.Context) error {
	db, err := sql.Open(driverName, fmt.Sprintf("file:%s?mode=ro&_busy_timeout=%d",
		(&url.URL{Path: s.path}).EscapedPath(), s.busy.Milliseconds()))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = s.checkVersion(ctx, db)
	return err
}

// checkVersion reads the schema version and refuses what Open must not
// touch.
func (s *Store) checkVersion(ctx context.Context, q queryer) (int, error) {
	version, err := schemaVersion(ctx, q)
	if errors.Is(err, errForeign) {
		return 0, fmt.Errorf("%w: %s is an SQLite database of another program (it has tables or an application id, but no buildstats schema); "+
			"it was left unchanged", store.ErrNotDatabase, s.path)
	}
	if err != nil {
		return 0, s.wrap("open build history", err)
	}
	if version > SchemaVersion {
		return 0, s.tooNew(version)
	}
	return version, nil
}

// init checks the schema version again (another process may have upgraded
// it since the probe), then switches to WAL and migrates.
func (s *Store) init(ctx context.Context) error {
	// Two processes opening a new database at once can meet while it is
	// still in rollback-journal mode, where SQLite reports some lock
	// conflicts at once instead of through the busy handler (the WAL switch,
	// a reader meeting a writer). Retry those until the busy timeout.
	deadline := time.Now().Add(s.busy)
	for {
		err := s.initOnce(ctx)
		if !errors.Is(err, store.ErrLocked) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (s *Store) initOnce(ctx context.Context) error {
	version, err := s.checkVersion(ctx, s.db)
	if err != nil {
		return err
	}
	// WAL lets readers run during an ingest and makes a killed writer's
	// transaction vanish on the next open. The mode is stored in the file.
	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
		return s.wrap("enable WAL", err)
	}
	if version < SchemaVersion {
		return s.migrate(ctx)
	}
	return nil
}

func (s *Store) tooNew(version int) error {
	return fmt.Errorf("%w: %s has schema version %d and this buildstats understands up to version %d; "+
		"upgrade buildstats to read it (the database was not modified)", store.ErrSchemaTooNew, s.path, version, SchemaVersion)
}

// wrap turns SQLite's busy and corruption errors into the package's errors
// with a message that says what happened to which file.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			return fmt.Errorf("%s: %w: another process kept %s busy for more than %v; try again when it has finished",
				op, store.ErrLocked, s.path, s.busy)
		case sqlite3.ErrNotADB, sqlite3.ErrCorrupt:
			return fmt.Errorf("%s: %w: %s is damaged or not a database (%v); it was left unchanged",
				op, store.ErrNotDatabase, s.path, err)
		case sqlite3.ErrReadonly, sqlite3.ErrPerm, sqlite3.ErrCantOpen:
			return fmt.Errorf("%s: %w: %s or its directory is read-only (%v)", op, store.ErrUnwritable, s.path, err)
		case sqlite3.ErrFull:
			return fmt.Errorf("%s: %w: the disk holding %s is full (%v)", op, store.ErrUnwritable, s.path, err)
		}
	}
	if errors.Is(err, errReadOnly) {
		return fmt.Errorf("%s: %w: %v", op, store.ErrUnwritable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close closes the database. It runs PRAGMA optimize first, as SQLite
// recommends, so the query planner's statistics follow the data.
func (s *Store) Close() error {
	if !s.readOnly {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.db.ExecContext(ctx, `PRAGMA optimize`) // best effort: a busy database just skips it
	}
	return s.db.Close()
}

// DB exposes the underlying handle for tests and maintenance tools.
func (s *Store) DB() *sql.DB { return s.db }

// CheckIntegrity runs SQLite's own consistency checks (the b-trees, and
// the foreign keys ingest does not enforce, see OpenWith), then checks that
// the daily rollups hold exactly what the vertices say. It reads every
// vertex: a tool for tests and maintenance, not for every command.
func (s *Store) CheckIntegrity(ctx context.Context) error {
	var res string
	if err := s.db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return s.wrap("integrity check", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check of %s: %s", s.path, res)
	}
	rows, err := s.db.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return s.wrap("foreign key check", err)
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		rows.Scan(&table, &rowid, &parent, &fkid)
		return fmt.Errorf("foreign key check of %s: %s row %v has no %s", s.path, table, rowid, parent)
	}
	if err := rows.Err(); err != nil {
		return s.wrap("foreign key check", err)
	}
	rows.Close()
	if err := s.checkRollups(ctx); err != nil {
		return fmt.Errorf("rollup check of %s: %w", s.path, err)
	}
	return nil
}

// checkRollups recomputes the four rollups from the vertices.
func (s *Store) checkRollups(ctx context.Context) error {
	c := analysis.NewRollupCheck()
	rows, err := s.db.QueryContext(ctx, `SELECT b.branch_id, v.step_id, b.started_at / 86400000, v.cached, v.run_ms
		FROM vertices v JOIN builds b ON b.id = v.build_id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var branch, step, day int64
		var cached bool
		var run sql.NullInt64
		if err := rows.Scan(&branch, &step, &day, &cached, &run); err != nil {
			rows.Close()
			return err
		}
		var r *int64
		if run.Valid {
			r = &run.Int64
		}
		c.Vertex(branch, step, day, cached, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT 1, 0, step_id, day, builds, hits, runs FROM step_days
		UNION ALL SELECT 1, branch_id, step_id, day, builds, hits, runs FROM step_branch_days
		UNION ALL SELECT 7, 0, step_id, week, builds, hits, runs FROM step_weeks
		UNION ALL SELECT 7, branch_id, step_id, week, builds, hits, runs FROM step_branch_weeks`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var grain, branch, step, from int64
		var builds, hits int
		var runs []byte
		if err := rows.Scan(&grain, &branch, &step, &from, &builds, &hits, &runs); err != nil {
			return err
		}
		c.Row(analysis.Grain(grain), branch, step, from, builds, hits, runs)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return c.Err()
}

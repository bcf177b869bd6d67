package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/postgres/pgtest"
	"github.com/buildstats/buildstats/store/storetest"
)

var ctx = context.Background()

// admin connects to db as the superuser, for looking behind the store.
func admin(t *testing.T, db pgtest.Database) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(ctx, db.Admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(ctx) })
	return c
}

// publicTables lists the tables of db's public schema.
func publicTables(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	var names []string
	if err := c.QueryRow(ctx, `SELECT COALESCE(array_agg(tablename::text ORDER BY tablename), '{}') FROM pg_tables WHERE schemaname = 'public'`).Scan(&names); err != nil {
		t.Fatal(err)
	}
	return strings.Join(names, ",")
}

// noSecret fails t if err's text holds a password of the test roles.
func noSecret(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, pw := range []string{pgtest.WriterPassword, pgtest.ReaderPassword} {
		if strings.Contains(err.Error(), pw) {
			t.Errorf("%s: the error shows a password: %v", what, err)
		}
	}
}

// The read-only role (SELECT only) reads everything, and a read-only open
// never writes: not on an empty database, not on an old schema, not when
// asked to store a build; the server itself refuses its writes.
func TestReadOnlyRole(t *testing.T) {
	db := pgtest.NewDatabase(t)
	c := admin(t, db)

	// Nothing there yet: no history, and nothing created.
	if _, err := Open(ctx, db.Reader, Options{ReadOnly: true}); !errors.Is(err, store.ErrNoHistory) || !strings.Contains(err.Error(), "xxxxx") {
		t.Errorf("read-only open of an empty database: %v", err)
	}
	if tables := publicTables(t, c); tables != "" {
		t.Fatalf("a read-only open created tables: %s", tables)
	}

	w, err := Open(ctx, db.Writer, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ids := storetest.IngestMulti(t, w)
	storetest.MustIngest(t, w, storetest.ParseFixture(t, storetest.Probe("run-fail-plain.log")),
		store.Meta{Project: "multi", Branch: "feature", Started: storetest.T0.Add(6 * time.Hour), ContentHash: "fail"})

	r, err := Open(ctx, db.Reader, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Every read the commands make.
	reads := map[string]func() error{
		"history": func() error { _, err := r.History(ctx, store.HistoryQuery{}); return err },
		"summary": func() error { _, err := r.Summary(ctx, ids[0]); return err },
		"build":   func() error { _, _, err := r.Build(ctx, ids[1]); return err },
		"resolve": func() error { _, err := r.Resolve(ctx, "latest", "multi"); return err },
		"compare": func() error { _, err := r.Compare(ctx, ids[1], ids[2]); return err },
		"slow": func() error {
			_, err := r.Slow(ctx, store.WindowQuery{Since: storetest.T0.Add(-time.Hour), Until: storetest.T0.AddDate(0, 0, 2), Branch: "main"})
			return err
		},
		"misses":          func() error { _, err := r.Misses(ctx, store.WindowQuery{Project: "multi"}); return err },
		"trends":          func() error { _, err := r.Trends(ctx, store.TrendQuery{Period: store.Day}); return err },
		"previous misses": func() error { _, err := r.PreviousMisses(ctx, ids[2]); return err },
		"inventory":       func() error { _, err := r.Inventory(ctx); return err },
		"prune dry run":   func() error { _, err := r.Prune(ctx, storetest.T0.AddDate(1, 0, 0), true); return err },
	}
	for name, read := range reads {
		if err := read(); err != nil {
			t.Errorf("%s as the read-only role: %v", name, err)
		}
	}
	if _, _, err := r.Ingest(ctx, storetest.ParseFixture(t, storetest.Probe("plain-cold.log")), store.Meta{Project: "p"}, store.IngestOptions{}); !errors.Is(err, store.ErrUnwritable) {
		t.Errorf("ingest on a read-only store: %v", err)
	}
	if _, err := r.Prune(ctx, storetest.T0.AddDate(1, 0, 0), false); !errors.Is(err, store.ErrUnwritable) {
		t.Errorf("prune on a read-only store: %v", err)
	}

	// The read-only role opened for writing: the schema is current, so
	// the open needs no DDL; its writes are refused, one clear error.
	rw, err := Open(ctx, db.Reader, Options{})
	if err != nil {
		t.Fatalf("the read-only role cannot open a current history: %v", err)
	}
	defer rw.Close()
	_, _, err = rw.Ingest(ctx, storetest.ParseFixture(t, storetest.Probe("plain-cold.log")), store.Meta{Project: "p"}, store.IngestOptions{})
	if !errors.Is(err, store.ErrUnwritable) || !store.IsDatabaseError(err) || !strings.Contains(err.Error(), "may not write") {
		t.Errorf("ingest as the read-only role: %v", err)
	}
	noSecret(t, "ingest as the read-only role", err)

	// The writer's own URL opened read-only: the server refuses writes in
	// its transactions, whatever this package does.
	wr, err := Open(ctx, db.Writer, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Close()
	if _, err := wr.Pool().Exec(ctx, `UPDATE buildstats_schema SET pruned = pruned`); err == nil || !strings.Contains(err.Error(), "read-only transaction") {
		t.Errorf("a write through a read-only store's connection: %v", err)
	}

	// An older schema is refused, unchanged, with what to do.
	if _, err := c.Exec(ctx, `UPDATE buildstats_schema SET version = 0`); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, db.Reader, Options{ReadOnly: true})
	if !errors.Is(err, store.ErrSchemaTooOld) || !strings.Contains(err.Error(), "ingest") {
		t.Errorf("read-only open of an older schema: %v", err)
	}
	var v int
	c.QueryRow(ctx, `SELECT version FROM buildstats_schema`).Scan(&v)
	if v != 0 {
		t.Errorf("a read-only open changed the schema version to %d", v)
	}
	// The read-only role cannot upgrade it either: one error, nothing done.
	_, err = Open(ctx, db.Reader, Options{})
	if !errors.Is(err, store.ErrUnwritable) {
		t.Errorf("the read-only role upgrading the schema: %v", err)
	}
	c.Exec(ctx, `UPDATE buildstats_schema SET version = $1`, SchemaVersion())
}

// A newer schema is refused by readers and writers alike, untouched;
// another program's tables are not adopted.
func TestNewerSchemaAndForeignTables(t *testing.T) {
	s, db := openNew(t)
	storetest.MustIngest(t, s, storetest.ParseFixture(t, storetest.Probe("plain-cold.log")), store.Meta{Project: "p"})
	c := admin(t, db)
	if _, err := c.Exec(ctx, `UPDATE buildstats_schema SET version = 7`); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		target := db.Writer
		if ro {
			target = db.Reader
		}
		_, err := Open(ctx, target, Options{ReadOnly: ro})
		if !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), "version 7") ||
			!strings.Contains(err.Error(), fmt.Sprintf("up to version %d", SchemaVersion())) || !strings.Contains(err.Error(), "not modified") {
			t.Errorf("open (read-only %v) of a newer schema: %v", ro, err)
		}
		noSecret(t, "newer schema", err)
	}
	var v int
	c.QueryRow(ctx, `SELECT version FROM buildstats_schema`).Scan(&v)
	if v != 7 {
		t.Errorf("the newer schema's version became %d", v)
	}

	other := pgtest.NewDatabase(t)
	oc := admin(t, other)
	if _, err := oc.Exec(ctx, `CREATE TABLE builds (name text); INSERT INTO builds VALUES ('not ours')`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, other.Admin, Options{})
	if !errors.Is(err, store.ErrNotDatabase) || !strings.Contains(err.Error(), "builds") || !strings.Contains(err.Error(), "unchanged") {
		t.Errorf("open of another program's database: %v", err)
	}
	if tables := publicTables(t, oc); tables != "builds" {
		t.Errorf("another program's database now has tables %s", tables)
	}
}

// An older schema is upgraded by a writer (and refused by a reader): a
// migration added for the test plays the next version.
func TestMigrateOlderSchema(t *testing.T) {
	s, db := openNew(t)
	id := storetest.MustIngest(t, s, storetest.ParseFixture(t, storetest.Probe("plain-cold.log")), store.Meta{Project: "p", Started: storetest.T0})
	s.Close()
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = append(migrations[:len(migrations):len(migrations)], migration{version: SchemaVersion() + 1,
		sql: `CREATE TABLE next_version (x integer); INSERT INTO next_version VALUES (42)`})
	if _, err := Open(ctx, db.Reader, Options{ReadOnly: true}); !errors.Is(err, store.ErrSchemaTooOld) {
		t.Errorf("read-only open of the older schema: %v", err)
	}
	up, err := Open(ctx, db.Writer, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	var v, x int
	c := admin(t, db)
	c.QueryRow(ctx, `SELECT version FROM buildstats_schema`).Scan(&v)
	c.QueryRow(ctx, `SELECT x FROM next_version`).Scan(&x)
	if v != SchemaVersion() || x != 42 {
		t.Errorf("after the upgrade: version %d, next_version %d", v, x)
	}
	if b, _, err := up.Build(ctx, id); err != nil || len(b.Vertices) == 0 {
		t.Errorf("the build after the upgrade: %v", err)
	}
	// A failed migration leaves the old version, whole.
	migrations = append(migrations[:len(migrations):len(migrations)], migration{version: SchemaVersion() + 1,
		sql: `CREATE TABLE half_done (x integer); SELECT no_such_function()`})
	if _, err := Open(ctx, db.Writer, Options{}); err == nil {
		t.Fatal("a failing migration succeeded")
	}
	c.QueryRow(ctx, `SELECT version FROM buildstats_schema`).Scan(&v)
	if v != SchemaVersion()-1 || strings.Contains(publicTables(t, c), "half_done") {
		t.Errorf("a failed migration left version %d, tables %s", v, publicTables(t, c))
	}
}

// Many processes opening a new database at once create its schema once;
// the advisory lock makes the others wait and find it done. (The
// many-process ingest test does the same from separate processes.)
func TestConcurrentFirstOpen(t *testing.T) {
	db := pgtest.NewDatabase(t)
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, err := Open(ctx, db.Writer, Options{MaxConns: 1})
			if err == nil {
				_, _, err = s.Ingest(ctx, storetest.ParseFixture(t, storetest.Probe("plain-cold.log")),
					store.Meta{Project: "p", ContentHash: fmt.Sprint("same-", i%3)}, store.IngestOptions{})
				s.Close()
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("opener %d: %v", i, err)
		}
	}
	c := admin(t, db)
	var v, builds int
	c.QueryRow(ctx, `SELECT version FROM buildstats_schema`).Scan(&v)
	c.QueryRow(ctx, `SELECT count(*) FROM builds`).Scan(&builds)
	if v != SchemaVersion() || builds != 3 {
		t.Errorf("version %d, %d builds; want %d, 3", v, builds, SchemaVersion())
	}
}

// Passwords never appear in what the package says: Redact, and every
// error that names the database, including pgx's own.
func TestPasswordsRedacted(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://ci:s3cret@db.example/buildstats":            "postgres://ci:xxxxx@db.example/buildstats",
		"postgresql://ci:s%40cr%3Aet@db:5432/b?sslmode=require": "postgresql://ci:xxxxx@db:5432/b?sslmode=require",
		"postgres://ci@db/b?password=s3cret&sslmode=disable":    "postgres://ci@db/b?password=xxxxx&sslmode=disable",
		"postgres://db/b": "postgres://db/b",
		"host=db dbname=b user=ci password=s3cret sslmode=disable":         "host=db dbname=b user=ci password=xxxxx sslmode=disable",
		`host=db password='it\'s secret' dbname=b`:                         "host=db password=xxxxx dbname=b",
		"postgres://ci:s3cret@db:notaport/b":                               "postgres://ci:xxxxx@db:notaport/b",
		"/var/lib/buildstats/history.db":                                   "/var/lib/buildstats/history.db",
		"POSTGRES://ci:Pa55@db/b":                                          "POSTGRES://ci:xxxxx@db/b",
		"postgres://ci:p@ss@db/b":                                          "postgres://ci:xxxxx@db/b",
		"postgres://ci:pa/ss@db/b":                                         "postgres://ci:xxxxx@db/b",
		"host=db password = s3cret":                                        "host=db password = xxxxx",
		"postgres://ci:s3cret@db/b?host=/tmp&password=other&user=x":        "postgres://ci:xxxxx@db/b?host=/tmp&password=xxxxx&user=x",
		"host=/tmp/bspg port=5432 dbname=t user=buildstats_ci password=pw": "host=/tmp/bspg port=5432 dbname=t user=buildstats_ci password=xxxxx",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}

	db := pgtest.NewDatabase(t)
	srv := pgtest.Shared(t)
	wrong := strings.Replace(db.Writer, pgtest.WriterPassword, "Wrong-"+pgtest.WriterPassword, 1)
	cases := map[string]string{
		"wrong password":    wrong,
		"no such socket":    strings.Replace(db.Writer, url.QueryEscape(srv.Dir), url.QueryEscape(srv.Dir+"-gone"), 1),
		"malformed URL":     fmt.Sprintf("postgres://%s:%s@db:notaport/%s", pgtest.Writer, pgtest.WriterPassword, db.Name),
		"no such database":  strings.Replace(db.Writer, db.Name, db.Name+"_gone", 1),
		"keyword/value DSN": fmt.Sprintf("host=%s port=5432 dbname=%s user=%s password=Wrong-%s", srv.Dir, db.Name, pgtest.Writer, pgtest.WriterPassword),
	}
	for what, target := range cases {
		for _, ro := range []bool{false, true} {
			_, err := Open(ctx, target, Options{ReadOnly: ro})
			if err == nil {
				t.Errorf("%s: opened", what)
				continue
			}
			if strings.Contains(err.Error(), pgtest.WriterPassword) {
				t.Errorf("%s (read-only %v): the error shows the password: %v", what, ro, err)
			}
			if !strings.Contains(err.Error(), "xxxxx") {
				t.Errorf("%s (read-only %v): the error does not name the database: %v", what, ro, err)
			}
			if what != "malformed URL" && !store.IsDatabaseError(err) {
				t.Errorf("%s (read-only %v): not a database error: %v", what, ro, err)
			}
			t.Logf("%s (read-only %v): %v", what, ro, err)
		}
	}
}

package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/storetest"
)

// A read-only open never creates, fills or upgrades a database.
func TestReadOnlyNeverWrites(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing", "history.db")
	if _, err := OpenReadOnly(missing); !errors.Is(err, store.ErrNoHistory) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing database: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a read-only open created %s", filepath.Dir(missing))
	}

	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o600)
	if _, err := OpenReadOnly(empty); !errors.Is(err, store.ErrNoHistory) {
		t.Errorf("empty file: %v", err)
	}
	if st, _ := os.Stat(empty); st.Size() != 0 {
		t.Errorf("a read-only open wrote %d bytes into an empty file", st.Size())
	}

	// A database of an older schema is refused, unchanged, with what to do.
	old := filepath.Join(dir, "v1.db")
	makeV1(t, old)
	before := fileBytes(t, old)
	if _, err := OpenReadOnly(old); !errors.Is(err, store.ErrSchemaTooOld) || !strings.Contains(err.Error(), "ingest") {
		t.Errorf("old schema: %v", err)
	}
	if !bytes.Equal(before, fileBytes(t, old)) {
		t.Error("a read-only open changed an old database")
	}

	// A current database reads, and refuses writes.
	cur := filepath.Join(dir, "current.db")
	w, err := Open(cur)
	if err != nil {
		t.Fatal(err)
	}
	id := storetest.MustIngest(t, w, storetest.ParseFixture(t, storetest.Probe("plain-cold.log")), store.Meta{Project: "p", Started: storetest.T0})
	w.Close()
	before = fileBytes(t, cur)
	r, err := OpenReadOnly(cur)
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := r.History(context.Background(), store.HistoryQuery{}); err != nil || len(rows) != 1 || rows[0].ID != id {
		t.Errorf("History = %v, %v", rows, err)
	}
	if _, _, err := r.Ingest(context.Background(), storetest.ParseFixture(t, storetest.Probe("plain-warm.log")), store.Meta{Project: "p"}, store.IngestOptions{}); !errors.Is(err, store.ErrUnwritable) {
		t.Errorf("Ingest on a read-only store: %v", err)
	}
	// A dry run of prune only reads; a real one is refused.
	if res, err := r.Prune(context.Background(), storetest.T0.AddDate(1, 0, 0), true); err != nil || res.Builds != 1 {
		t.Errorf("dry-run prune on a read-only store: %+v %v", res, err)
	}
	if _, err := r.Prune(context.Background(), storetest.T0.AddDate(1, 0, 0), false); !errors.Is(err, store.ErrUnwritable) {
		t.Errorf("prune on a read-only store: %v", err)
	}
	r.Close()
	if !bytes.Equal(before, fileBytes(t, cur)) {
		t.Error("a read-only open changed the database file")
	}
}

// makeV1 writes a database of schema version 1 with the migration's SQL.
func makeV1(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE buildstats_schema (version INTEGER NOT NULL); INSERT INTO buildstats_schema VALUES (1);` + migrations[0].sql); err != nil {
		t.Fatal(err)
	}
}

// Another program's SQLite file that has an application id but no tables
// yet is not adopted.
func TestForeignApplicationID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, _ := sql.Open("sqlite3", path)
	if _, err := db.Exec(`PRAGMA application_id = 1234`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := fileBytes(t, path)
	for _, open := range []func(string) (*Store, error){Open, OpenReadOnly} {
		if s, err := open(path); !errors.Is(err, store.ErrNotDatabase) {
			if s != nil {
				s.Close()
			}
			t.Errorf("opened another program's database: %v", err)
		}
	}
	if !bytes.Equal(before, fileBytes(t, path)) {
		t.Error("another program's database was modified")
	}
	// Ours carry our id.
	ours := filepath.Join(t.TempDir(), "h.db")
	s, err := Open(ours)
	if err != nil {
		t.Fatal(err)
	}
	var app int64
	s.DB().QueryRow(`PRAGMA application_id`).Scan(&app)
	s.Close()
	if app != applicationID {
		t.Errorf("application_id = %d, want %d", app, applicationID)
	}
}

// A full disk is one ErrUnwritable error, and the database stays readable.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	s, err := Open(filepath.Join(dir, "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Fill the disk but for a little room.
	filler, _ := os.Create(filepath.Join(dir, "filler"))
	filler.Write(bytes.Repeat([]byte{1}, 400<<10))
	filler.Close()
	var lastErr error
	for i := 0; i < 50 && lastErr == nil; i++ {
		b := bigBuild(400)
		_, _, lastErr = s.Ingest(context.Background(), b, store.Meta{Project: "p", Started: storetest.T0, ContentHash: "full-" + string(rune('a'+i))}, store.IngestOptions{})
	}
	if !errors.Is(lastErr, store.ErrUnwritable) || !strings.Contains(lastErr.Error(), "full") {
		t.Fatalf("ingest into a full disk: %v", lastErr)
	}
	if !store.IsDatabaseError(lastErr) {
		t.Error("a full disk is not a database error")
	}
	if _, err := s.History(context.Background(), store.HistoryQuery{}); err != nil {
		t.Errorf("history after a full disk: %v", err)
	}
}

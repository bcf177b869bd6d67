package pgtest

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// The server runs as its own user on a socket in its directory, each test
// gets its own database, the writer owns it and the reader can only read
// what the writer creates, and the roles need their passwords.
func TestServerAndRoles(t *testing.T) {
	ctx := context.Background()
	srv := Shared(t)
	if pid := srv.PID(); pid <= 0 || syscall.Kill(pid, 0) != nil {
		t.Fatalf("postmaster PID %d is not running", pid)
	}
	if _, err := os.Stat(srv.Dir + "/.s.PGSQL.5432"); err != nil {
		t.Fatalf("no socket in %s: %v", srv.Dir, err)
	}
	db := srv.CreateDatabase(t)
	w, err := pgx.Connect(ctx, db.Writer)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	if _, err := w.Exec(ctx, `CREATE TABLE t (x int); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	r, err := pgx.Connect(ctx, db.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	var x int
	if err := r.QueryRow(ctx, `SELECT x FROM t`).Scan(&x); err != nil || x != 1 {
		t.Errorf("the reader cannot read the writer's table: %v", err)
	}
	for _, q := range []string{`INSERT INTO t VALUES (2)`, `CREATE TABLE u (x int)`, `DELETE FROM t`} {
		if _, err := r.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("the reader may %s: %v", q, err)
		}
	}
	bad := strings.Replace(db.Reader, ReaderPassword, "wrong", 1)
	if c, err := pgx.Connect(ctx, bad); err == nil {
		c.Close(ctx)
		t.Error("the reader logged in with a wrong password")
	}
	other := srv.CreateDatabase(t)
	if other.Name == db.Name {
		t.Error("two tests share a database")
	}
}

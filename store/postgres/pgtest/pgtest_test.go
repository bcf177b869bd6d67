package pgtest

import (
	"context"
	"os"
	"os/exec"
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

// Without PostgreSQL a test skips and says why, unless PostgreSQL is
// required (CI, BUILDSTATS_REQUIRE_POSTGRES=1): then it fails.
func TestMissingPostgres(t *testing.T) {
	if os.Getenv("BUILDSTATS_PGTEST_CHILD") != "" {
		Shared(t)
		t.Fatal("a server started without PostgreSQL")
	}
	run := func(env ...string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingPostgres$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "BUILDSTATS_PGTEST_CHILD=1", "BUILDSTATS_POSTGRES_BIN=/nonexistent", "CI=", "BUILDSTATS_REQUIRE_POSTGRES=")
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "--- SKIP") || !strings.Contains(out, "no initdb and postgres") || !strings.Contains(out, "install-test-deps.sh") {
		t.Errorf("without PostgreSQL: %v\n%s", err, out)
	}
	for _, env := range []string{"CI=true", "BUILDSTATS_REQUIRE_POSTGRES=1"} {
		out, err := run(env)
		if err == nil || !strings.Contains(out, "--- FAIL") || !strings.Contains(out, "PostgreSQL is required") {
			t.Errorf("without PostgreSQL, %s: %v\n%s", env, err, out)
		}
	}
}

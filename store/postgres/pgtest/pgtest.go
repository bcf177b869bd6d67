// Package pgtest runs a private PostgreSQL server for tests, the way the
// daemon tests run buildkitd: Debian's postgresql package (the highest
// /usr/lib/postgresql/*/bin, else initdb and postgres from PATH), initdb
// into a temp directory, the server listening only on a unix socket there,
// stopped by PID when the tests end. As root, initdb and the server run as
// the postgres user (PostgreSQL refuses root), in a directory chowned to it.
//
// One server serves a test binary (start it lazily with Shared, stop it in
// TestMain with Main); each test gets a fresh database from NewDatabase,
// owned by a writer role, readable by a read-only role, set up with the
// same SQL the README gives teams (TeamSQL).
//
// Without PostgreSQL the tests skip and say why; with CI set or
// BUILDSTATS_REQUIRE_POSTGRES=1 (.ci/run sets it after
// store/postgres/install-test-deps.sh) they fail instead.
//
// For tests only: no non-test code may import it.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// InstallHint is how to get PostgreSQL for the tests.
const InstallHint = "run store/postgres/install-test-deps.sh as root (apt-get install postgresql)"

// The roles NewDatabase sets up, with passwords that tests check never
// appear in messages.
const (
	Writer         = "buildstats_ci"
	WriterPassword = "ci-Secret-4711"
	Reader         = "buildstats_ro"
	ReaderPassword = "ro-Secret-0815"
)

// Required reports whether a missing PostgreSQL fails the tests instead of
// skipping them: in CI, or with BUILDSTATS_REQUIRE_POSTGRES=1.
func Required() bool {
	return os.Getenv("BUILDSTATS_REQUIRE_POSTGRES") == "1" || os.Getenv("CI") != ""
}

// Unavailable skips t with reason, or fails it when PostgreSQL is
// required.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s (PostgreSQL is required: CI or BUILDSTATS_REQUIRE_POSTGRES=1 is set)", reason)
	}
	t.Skip(reason)
}

// Server is a running private PostgreSQL.
type Server struct {
	// Dir holds the data directory, the socket and the server log.
	Dir string
	// Bin is the directory of the PostgreSQL programs used.
	Bin string

	cred *syscall.Credential // the postgres user when running as root
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Binaries finds initdb and postgres: in $BUILDSTATS_POSTGRES_BIN if set,
// else the highest version under /usr/lib/postgresql, else on PATH.
func Binaries() (string, error) {
	if d := os.Getenv("BUILDSTATS_POSTGRES_BIN"); d != "" {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
		return "", fmt.Errorf("no initdb and postgres in BUILDSTATS_POSTGRES_BIN=%s; %s", d, InstallHint)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return "", fmt.Errorf("PostgreSQL not found (no /usr/lib/postgresql/*/bin, no initdb on PATH); %s", InstallHint)
	}
	initdb, _ = filepath.EvalSymlinks(initdb)
	d := filepath.Dir(initdb)
	if !isExec(filepath.Join(d, "postgres")) {
		return "", fmt.Errorf("no postgres program beside %s; %s", initdb, InstallHint)
	}
	return d, nil
}

func isExec(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start initialises and starts a server in a new temp directory. It
// returns an error saying why when PostgreSQL cannot run here.
func Start() (*Server, error) {
	bin, err := Binaries()
	if err != nil {
		return nil, err
	}
	s := &Server{Bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and there is no postgres user to run the server as (PostgreSQL refuses root); %s", InstallHint)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// A short path: unix socket paths are limited to 107 bytes.
	if s.Dir, err = os.MkdirTemp("", "bspg"); err != nil {
		return nil, err
	}
	if s.cred != nil {
		if err := os.Chown(s.Dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			os.RemoveAll(s.Dir)
			return nil, err
		}
	}
	out, err := s.command(filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", "postgres", "-E", "UTF8",
		"--locale=C", "--auth-local=trust", "--auth-host=reject", "--no-sync").CombinedOutput()
	if err != nil {
		os.RemoveAll(s.Dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// The superuser logs in over the socket without a password (the tests'
	// own administration); every other role needs its password, as on a
	// team's server.
	hba := "local all postgres trust\nlocal all all scram-sha-256\n"
	if err := s.writeFile(filepath.Join(s.dataDir(), "pg_hba.conf"), hba); err != nil {
		os.RemoveAll(s.Dir)
		return nil, err
	}
	if err := s.start(); err != nil {
		os.RemoveAll(s.Dir)
		return nil, err
	}
	if err := s.setupRoles(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.Dir, "data") }

// LogPath is the server's log file.
func (s *Server) LogPath() string { return filepath.Join(s.Dir, "postgres.log") }

// command runs a PostgreSQL program as the server's user.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	return cmd
}

// writeFile writes a file the server's user owns.
func (s *Server) writeFile(path, data string) error {
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		return err
	}
	if s.cred != nil {
		return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
	}
	return nil
}

// start runs the postmaster and waits until it accepts connections.
func (s *Server) start() error {
	logf, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	// Only the unix socket: nothing listens on the network. fsync stays on,
	// so commit times are what a real server's are.
	cmd := s.command(filepath.Join(s.Bin, "postgres"), "-D", s.dataDir(),
		"-c", "listen_addresses=", "-c", "unix_socket_directories="+s.Dir, "-c", "port=5432",
		"-c", "max_connections=200", "-c", "logging_collector=off", "-c", "log_min_messages=warning")
	cmd.Stdout, cmd.Stderr = logf, logf
	// If the test binary dies without cleaning up, the server goes too.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start postgres: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.URL("postgres", "postgres", ""))
		cancel()
		if err == nil {
			c.Close(context.Background())
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(s.LogPath())
			return fmt.Errorf("postgres exited during startup: %s", tail(string(log)))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.signal(syscall.SIGQUIT)
			return fmt.Errorf("postgres did not accept connections within 60 s: %v", err)
		}
	}
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}

// PID is the postmaster's process id.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) signal(sig syscall.Signal) {
	if pid := s.PID(); pid > 0 {
		syscall.Kill(pid, sig)
	}
}

// wait waits for the postmaster to exit, killing it after timeout.
func (s *Server) wait(timeout time.Duration) {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(timeout):
		s.signal(syscall.SIGKILL)
		<-done
	}
}

// Restart shuts the server down the way an administrator's restart does
// (a fast shutdown: open transactions are aborted, clients disconnected)
// and starts it again.
func (s *Server) Restart() error {
	s.signal(syscall.SIGINT)
	s.wait(30 * time.Second)
	return s.start()
}

// Crash kills the postmaster with SIGKILL, as an out-of-memory killer
// would, and starts the server again, which recovers from its WAL.
func (s *Server) Crash() error {
	s.signal(syscall.SIGKILL)
	s.wait(10 * time.Second)
	// The killed postmaster's backends notice and exit; until they have,
	// the new one refuses to start on their shared memory.
	var err error
	for i := 0; i < 100; i++ {
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Stop shuts the server down by PID and removes its directory.
func (s *Server) Stop() {
	s.signal(syscall.SIGINT)
	s.wait(30 * time.Second)
	os.RemoveAll(s.Dir)
}

// URL is a connection URL for database db as role user over the unix
// socket; password may be empty.
func (s *Server) URL(db, user, password string) string {
	u := &url.URL{Scheme: "postgres", Path: "/" + db, RawQuery: url.Values{"host": {s.Dir}, "port": {"5432"}}.Encode()}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}

// Admin connects to database db as the superuser.
func (s *Server) Admin(ctx context.Context, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, s.URL(db, "postgres", ""))
}

// setupRoles creates the writer and the read-only role, as a team does
// once per server (TeamSQL's first part).
func (s *Server) setupRoles() error {
	ctx := context.Background()
	c, err := s.Admin(ctx, "postgres")
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	for _, q := range TeamRolesSQL(WriterPassword, ReaderPassword) {
		if _, err := c.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// TeamRolesSQL creates the two roles of a team's setup: buildstats_ci,
// which CI logs in as to store builds, and buildstats_ro, which can only
// read. Run once per server as a superuser (or a role with CREATEROLE).
func TeamRolesSQL(writerPassword, readerPassword string) []string {
	return []string{
		fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, Writer, writerPassword),
		fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, Reader, readerPassword),
	}
}

// TeamDatabaseSQL creates a team's database, owned by the writer (which
// then creates and upgrades the tables), and lets the read-only role read
// every table the writer creates in it, now and after upgrades. The first
// two statements run in the server's maintenance database, the rest in the
// new database; all as a superuser.
func TeamDatabaseSQL(db string) (inServer, inDatabase []string) {
	return []string{
			fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, db, Writer),
			fmt.Sprintf(`GRANT CONNECT ON DATABASE %s TO %s`, db, Reader),
		}, []string{
			fmt.Sprintf(`GRANT USAGE ON SCHEMA public TO %s`, Reader),
			fmt.Sprintf(`ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public GRANT SELECT ON TABLES TO %s`, Writer, Reader),
		}
}

// Database is a fresh database on a Server.
type Database struct {
	Name string
	// Writer connects as the owner, which may create and upgrade the
	// schema and store builds; Reader as the role that can only SELECT;
	// Admin as the superuser. All carry their passwords.
	Writer, Reader, Admin string
}

var dbSeq atomic.Int64

// CreateDatabase makes a fresh database with TeamDatabaseSQL, dropped when
// t ends.
func (s *Server) CreateDatabase(t testing.TB) Database {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	c, err := s.Admin(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	inServer, inDB := TeamDatabaseSQL(name)
	for _, q := range inServer {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	dc, err := s.Admin(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close(ctx)
	for _, q := range inDB {
		if _, err := dc.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		c, err := s.Admin(ctx, "postgres")
		if err != nil {
			return // the server is gone: nothing to drop
		}
		defer c.Close(ctx)
		c.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	})
	return Database{Name: name, Writer: s.URL(name, Writer, WriterPassword), Reader: s.URL(name, Reader, ReaderPassword),
		Admin: s.URL(name, "postgres", "")}
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Shared returns the test binary's server, starting it on first use; it
// skips t (or fails it, see Required) when PostgreSQL cannot run here.
// Main stops it.
func Shared(t testing.TB) *Server {
	t.Helper()
	// Read so that a new value per CI run (.ci/run sets one) keeps the Go
	// test cache from replaying tests against a live server.
	_ = os.Getenv("BUILDSTATS_TEST_RUN")
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	if sharedErr != nil {
		Unavailable(t, "no PostgreSQL server for the test: "+sharedErr.Error())
	}
	return shared
}

// NewDatabase is Shared(t).CreateDatabase(t).
func NewDatabase(t testing.TB) Database {
	t.Helper()
	return Shared(t).CreateDatabase(t)
}

// Main runs the tests and stops the shared server, if one was started.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	os.Exit(code)
}

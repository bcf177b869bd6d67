package postgres

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/postgres/pgtest"
	"github.com/buildstats/buildstats/store/storetest"
)

// TestHelperProcess is not a test: the tests below re-run the test binary
// with BUILDSTATS_HELPER set to get more processes on one database.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("BUILDSTATS_HELPER")
	if mode == "" {
		t.Skip("helper process for the multi-process tests")
	}
	if err := helper(mode, os.Getenv("BUILDSTATS_HELPER_DB")); err != nil {
		// One line, as a command prints it.
		fmt.Printf("ERR unavailable=%v database=%v %v\n", errors.Is(err, store.ErrUnavailable), store.IsDatabaseError(err), err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helper(mode, url string) error {
	seed, _ := strconv.ParseUint(os.Getenv("BUILDSTATS_HELPER_SEED"), 10, 64)
	n, _ := strconv.Atoi(os.Getenv("BUILDSTATS_HELPER_N"))
	// Start together: every process races to create the schema.
	if at, err := strconv.ParseInt(os.Getenv("BUILDSTATS_HELPER_AT"), 10, 64); err == nil {
		time.Sleep(time.Until(time.UnixMilli(at)))
	}
	s, err := Open(ctx, url, Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	switch mode {
	case "ingest":
		// One transaction per build, as separate `buildstats ingest` runs,
		// stopping at the first error as they do.
		cfg := storetest.GenConfig{Builds: n, Steps: 20, Projects: 2, Start: storetest.T0, Span: 24 * time.Hour, Seed: seed}
		created, seen := 0, 0
		err := storetest.GenHistory(cfg, func(b *model.Build, m store.Meta) error {
			_, c, err := s.Ingest(ctx, b, m, store.IngestOptions{})
			if err != nil {
				return err
			}
			seen++
			if c {
				created++
			}
			fmt.Println("ok", seen)
			return nil
		})
		fmt.Println("ingested", created, "seen", seen)
		return err
	case "kill":
		// Stop for good half way through sending a large build's vertices.
		testHookVertex = func(i int) {
			if i == 1000 {
				fmt.Println("MID")
				os.Stdout.Sync()
				time.Sleep(time.Hour)
			}
		}
		_, _, err := s.Ingest(ctx, bigBuild(2000), store.Meta{Project: "big", Started: storetest.T0, ContentHash: "big"}, store.IngestOptions{KeepLogs: true})
		return err
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

// bigBuild has n Dockerfile steps with transfers and output.
func bigBuild(n int) *model.Build {
	b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded}
	for i := 1; i <= n; i++ {
		v := storetest.Step("", i, n, "RUN", fmt.Sprintf("step %d", i), time.Duration(i)*time.Millisecond)
		v.Transfers = []model.Transfer{{Name: "sha256:" + strconv.Itoa(i), Bytes: int64(i), Done: true}}
		v.AddOutput("line of output")
		b.Vertices = append(b.Vertices, v)
	}
	return b
}

func helperCmd(mode, db string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BUILDSTATS_HELPER="+mode, "BUILDSTATS_HELPER_DB="+db)
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// runIngesters runs one ingest helper per seed at once, n builds each,
// and returns their outputs.
func runIngesters(t *testing.T, db string, seeds []int, n int) []string {
	t.Helper()
	at := time.Now().Add(time.Second).UnixMilli()
	var wg sync.WaitGroup
	outs := make([]string, len(seeds))
	for i, seed := range seeds {
		cmd := helperCmd("ingest", db, "BUILDSTATS_HELPER_SEED="+strconv.Itoa(seed), "BUILDSTATS_HELPER_N="+strconv.Itoa(n),
			"BUILDSTATS_HELPER_AT="+strconv.FormatInt(at, 10))
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := cmd.CombinedOutput()
			outs[i] = string(out)
			if err != nil {
				t.Errorf("process %d: %v\n%s", i, err, lastLines(string(out), 5))
			}
		}()
	}
	wg.Wait()
	return outs
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// count runs a COUNT query as the superuser.
func count(t *testing.T, db pgtest.Database, query string) int {
	t.Helper()
	var n int
	if err := admin(t, db).QueryRow(ctx, query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Sixteen processes ingesting 50 builds each into one new database, at
// once: every build lands once; then the same again with every process
// storing the same 50 builds: each is stored once, and every process is
// told which were new.
func TestManyProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	db := pgtest.NewDatabase(t)
	const procs, perProcess = 16, 50
	seeds := make([]int, procs)
	for i := range seeds {
		seeds[i] = 100 + i
	}
	start := time.Now()
	for i, out := range runIngesters(t, db.Writer, seeds, perProcess) {
		if !strings.Contains(out, fmt.Sprintf("ingested %d seen %d", perProcess, perProcess)) {
			t.Errorf("process %d: %s", i, lastLines(out, 3))
		}
	}
	t.Logf("%d processes stored %d builds of 24 vertices, one transaction each, in %v", procs, procs*perProcess, time.Since(start).Round(time.Millisecond))
	builds := count(t, db, `SELECT count(*) FROM builds`)
	distinct := count(t, db, `SELECT count(DISTINCT content_hash) FROM builds`)
	vertices := count(t, db, `SELECT count(*) FROM vertices`)
	if builds != procs*perProcess || distinct != builds || vertices != builds*24 {
		t.Errorf("%d builds (%d distinct), %d vertices; want %d, %d, %d", builds, distinct, vertices, procs*perProcess, procs*perProcess, procs*perProcess*24)
	}
	s, err := Open(ctx, db.Reader, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkIntegrity(t, s)

	// The same 50 builds from every process.
	same := make([]int, procs)
	for i := range same {
		same[i] = 7
	}
	created := 0
	for i, out := range runIngesters(t, db.Writer, same, perProcess) {
		var c, seen int
		for _, line := range strings.Split(out, "\n") {
			if _, err := fmt.Sscanf(line, "ingested %d seen %d", &c, &seen); err == nil {
				break
			}
		}
		if seen != perProcess {
			t.Errorf("process %d saw %d builds: %s", i, seen, lastLines(out, 3))
		}
		created += c
	}
	if created != perProcess {
		t.Errorf("the processes created %d builds between them, want %d", created, perProcess)
	}
	if n := count(t, db, `SELECT count(*) FROM builds`); n != (procs+1)*perProcess {
		t.Errorf("%d builds after the duplicated run, want %d", n, (procs+1)*perProcess)
	}
	if n := count(t, db, `SELECT count(*) FROM vertices`); n != (procs+1)*perProcess*24 {
		t.Errorf("%d vertices after the duplicated run, want %d", n, (procs+1)*perProcess*24)
	}
	checkIntegrity(t, s)
}

// A process killed in the middle of an ingest (half its build's vertices
// sent with COPY) leaves nothing of the build, and it can be ingested
// again.
func TestKilledMidIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	s, db := openNew(t)
	before := storetest.MustIngest(t, s, storetest.ParseFixture(t, storetest.Probe("multistage-plain-cold.log")),
		store.Meta{Project: "big", Started: storetest.T0.Add(-time.Hour)})
	steps := count(t, db, `SELECT count(*) FROM steps`)

	cmd := helperCmd("kill", db.Writer)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "MID\n" {
		cmd.Process.Kill()
		t.Fatalf("helper said %q, %v", line, err)
	}
	// The helper is inside its transaction, 1000 vertices sent.
	if n := count(t, db, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query ILIKE 'copy%'`); n != 1 {
		t.Errorf("%d COPY statements running, want the helper's", n)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)
	cmd.Wait()
	// The server notices the closed socket and rolls back.
	deadline := time.Now().Add(10 * time.Second)
	for count(t, db, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'copy%'`) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the killed process's transaction is still there")
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkIntegrity(t, s)
	got := []int{count(t, db, `SELECT count(*) FROM builds`), count(t, db, `SELECT count(*) FROM vertices`),
		count(t, db, `SELECT count(*) FROM transfers`), count(t, db, `SELECT count(*) FROM vertex_output`), count(t, db, `SELECT count(*) FROM steps`)}
	if want := []int{1, 10, 3, 0, steps}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the kill: builds, vertices, transfers, outputs, steps = %v; want %v", got, want)
	}
	if h, _ := s.History(ctx, store.HistoryQuery{}); len(h) != 1 || h[0].ID != before {
		t.Errorf("history after the kill: %+v", h)
	}
	id, created, err := s.Ingest(ctx, bigBuild(2000), store.Meta{Project: "big", Started: storetest.T0, ContentHash: "big"}, store.IngestOptions{KeepLogs: true})
	if err != nil || !created {
		t.Fatalf("re-ingest: %v %v", created, err)
	}
	if sum, _ := s.Summary(ctx, id); sum.StepsTotal != 2000 {
		t.Errorf("re-ingested build has %d steps", sum.StepsTotal)
	}
	checkIntegrity(t, s)
}

// A server restarted (or its postmaster killed) while a process ingests
// gives that process one clear error; nothing half-written stays, and a
// rerun stores the rest.
func TestServerRestartMidIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes and restarts the server")
	}
	srv := pgtest.Shared(t)
	for _, how := range []string{"restart", "crash"} {
		t.Run(how, func(t *testing.T) {
			db := srv.CreateDatabase(t)
			const n = 300
			cmd := helperCmd("ingest", db.Writer, "BUILDSTATS_HELPER_SEED=3", "BUILDSTATS_HELPER_N="+strconv.Itoa(n))
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(stdout)
			var out []string
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("the helper stopped before 30 builds: %v %q", err, out)
				}
				out = append(out, strings.TrimSpace(line))
				if line == "ok 30\n" {
					break
				}
			}
			var err error
			if how == "restart" {
				err = srv.Restart()
			} else {
				err = srv.Crash()
			}
			if err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(r)
			werr := cmd.Wait()
			out = append(out, strings.Split(strings.TrimSpace(string(rest)), "\n")...)
			var errs []string
			for _, l := range out {
				if strings.HasPrefix(l, "ERR") {
					errs = append(errs, l)
				}
			}
			if werr == nil || len(errs) != 1 {
				t.Fatalf("the helper exited with %v and said %d errors: %q", werr, len(errs), errs)
			}
			msg := errs[0]
			t.Logf("the ingest stopped with: %s", msg)
			if !strings.HasPrefix(msg, "ERR unavailable=true database=true ") || !strings.Contains(msg, "run the command again") ||
				strings.Contains(msg, pgtest.WriterPassword) || !strings.Contains(msg, "xxxxx") {
				t.Errorf("not one clear error: %s", msg)
			}

			s, err := Open(ctx, db.Writer, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			checkIntegrity(t, s)
			stored := count(t, db, `SELECT count(*) FROM builds`)
			if stored < 30 || stored >= n || count(t, db, `SELECT count(*) FROM vertices`) != stored*24 {
				t.Errorf("%d builds and %d vertices after the %s", stored, count(t, db, `SELECT count(*) FROM vertices`), how)
			}
			// The rerun stores the rest.
			again, err := helperCmd("ingest", db.Writer, "BUILDSTATS_HELPER_SEED=3", "BUILDSTATS_HELPER_N="+strconv.Itoa(n)).CombinedOutput()
			if err != nil || !strings.Contains(string(again), fmt.Sprintf("ingested %d seen %d", n-stored, n)) {
				t.Fatalf("rerun: %v\n%s", err, lastLines(string(again), 3))
			}
			if got := count(t, db, `SELECT count(*) FROM builds`); got != n {
				t.Errorf("%d builds after the rerun, want %d", got, n)
			}
			checkIntegrity(t, s)
		})
	}
}

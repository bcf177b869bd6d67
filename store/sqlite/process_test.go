package sqlite

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/storetest"
)

// TestHelperProcess is not a test: the tests below re-run the test binary
// with BUILDSTATS_HELPER set to get a second process on the same database.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("BUILDSTATS_HELPER")
	if mode == "" {
		t.Skip("helper process for the multi-process tests")
	}
	if err := helper(mode, os.Getenv("BUILDSTATS_HELPER_DB")); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helper(mode, path string) error {
	seed, _ := strconv.ParseUint(os.Getenv("BUILDSTATS_HELPER_SEED"), 10, 64)
	n, _ := strconv.Atoi(os.Getenv("BUILDSTATS_HELPER_N"))
	// Start together: both processes race to create and migrate the file.
	if at, err := strconv.ParseInt(os.Getenv("BUILDSTATS_HELPER_AT"), 10, 64); err == nil {
		time.Sleep(time.Until(time.UnixMilli(at)))
	}
	// The killed writer gets a tiny page cache, so its transaction has
	// spilled uncommitted pages into the WAL by the time it dies.
	s, err := OpenWith(path, Options{cachePages: map[bool]int{true: 10}[mode == "kill"]})
	if err != nil {
		return err
	}
	defer s.Close()
	switch mode {
	case "ingest":
		// One transaction per build, as separate `buildstats ingest` runs.
		cfg := storetest.GenConfig{Builds: n, Steps: 20, Projects: 2, Start: storetest.T0, Span: 24 * time.Hour, Seed: seed}
		count := 0
		err := storetest.GenHistory(cfg, func(b *model.Build, m store.Meta) error {
			_, created, err := s.Ingest(storetest.Ctx, b, m, store.IngestOptions{})
			if err == nil && created {
				count++
			}
			return err
		})
		fmt.Println("ingested", count)
		return err
	case "query":
		return helperQuery(s, os.Getenv("BUILDSTATS_HELPER_QUERY"))
	case "kill":
		// Stop for good half way through writing a large build's vertices.
		b := bigBuild(2000)
		testHookVertex = func(i int) {
			if i == 1000 {
				fmt.Println("MID")
				os.Stdout.Sync()
				time.Sleep(time.Hour)
			}
		}
		_, _, err := s.Ingest(storetest.Ctx, b, store.Meta{Project: "big", Started: storetest.T0, ContentHash: "big"}, store.IngestOptions{KeepLogs: true})
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

func helperCmd(t *testing.T, mode, db string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BUILDSTATS_HELPER="+mode, "BUILDSTATS_HELPER_DB="+db)
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// Two processes ingesting into one new database at once both succeed:
// one creates and migrates the file, then WAL and the busy timeout let
// their transactions take turns.
func TestConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	db := filepath.Join(t.TempDir(), "shared", "history.db")
	const perProcess = 100
	at := time.Now().Add(500 * time.Millisecond).UnixMilli()
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		cmd := helperCmd(t, "ingest", db, "BUILDSTATS_HELPER_SEED="+strconv.Itoa(100+i),
			"BUILDSTATS_HELPER_N="+strconv.Itoa(perProcess), "BUILDSTATS_HELPER_AT="+strconv.FormatInt(at, 10))
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := cmd.CombinedOutput()
			outs[i], errs[i] = string(out), err
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || !strings.Contains(outs[i], fmt.Sprintf("ingested %d", perProcess)) {
			t.Errorf("process %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	s, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// How often consecutive ids came from different processes: the
	// transactions interleaved rather than one process running after the
	// other.
	defer func() {
		rows, _ := s.DB().Query(`SELECT content_hash FROM builds ORDER BY id`)
		defer rows.Close()
		switches, last := 0, ""
		for rows.Next() {
			var h string
			rows.Scan(&h)
			if p := strings.Split(h, ":")[1]; p != last {
				switches, last = switches+1, p
			}
		}
		t.Logf("%d builds from two processes, ingest order switched process %d times", 2*perProcess, switches-1)
	}()
	var builds, vertices int
	s.DB().QueryRow(`SELECT COUNT(*) FROM builds`).Scan(&builds)
	s.DB().QueryRow(`SELECT COUNT(*) FROM vertices`).Scan(&vertices)
	if builds != 2*perProcess || vertices != 2*perProcess*24 {
		t.Errorf("%d builds and %d vertices, want %d and %d", builds, vertices, 2*perProcess, 2*perProcess*24)
	}
	checkIntegrity(t, s)
}

// A process killed in the middle of an ingest leaves a valid database
// without any part of its build, and the build can be ingested again.
func TestKilledMidIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	s, db := openTemp(t)
	before := storetest.MustIngest(t, s, storetest.ParseFixture(t, storetest.Probe("multistage-plain-cold.log")), store.Meta{Project: "big", Started: storetest.T0.Add(-time.Hour)})

	walBefore := int64(0)
	if st, err := os.Stat(db + "-wal"); err == nil {
		walBefore = st.Size()
	}
	cmd := helperCmd(t, "kill", db)
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
	// The helper is inside the transaction, 1000 vertices written.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)
	cmd.Wait()
	st, err := os.Stat(db + "-wal")
	if err != nil || st.Size()-walBefore < 100<<10 {
		t.Fatalf("the killed transaction did not reach the WAL (%v): the test would prove nothing", err)
	}
	t.Logf("the killed transaction left %d KiB of uncommitted pages in the WAL", (st.Size()-walBefore)>>10)

	s.Close()
	s, err = Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkIntegrity(t, s)
	var builds, vertices, transfers, outputs, projects int
	s.DB().QueryRow(`SELECT COUNT(*) FROM builds`).Scan(&builds)
	s.DB().QueryRow(`SELECT COUNT(*) FROM vertices`).Scan(&vertices)
	s.DB().QueryRow(`SELECT COUNT(*) FROM transfers`).Scan(&transfers)
	s.DB().QueryRow(`SELECT COUNT(*) FROM vertex_output`).Scan(&outputs)
	if builds != 1 || vertices != 10 || transfers != 3 || outputs != 0 {
		t.Errorf("after the kill: %d builds, %d vertices, %d transfers, %d outputs; want 1, 10, 3, 0", builds, vertices, transfers, outputs)
	}
	if h, _ := s.History(storetest.Ctx, store.HistoryQuery{}); len(h) != 1 || h[0].ID != before {
		t.Errorf("history after the kill: %+v", h)
	}
	s.DB().QueryRow(`SELECT COUNT(*) FROM projects`).Scan(&projects)
	id, created, err := s.Ingest(storetest.Ctx, bigBuild(2000), store.Meta{Project: "big", Started: storetest.T0, ContentHash: "big"}, store.IngestOptions{KeepLogs: true})
	if err != nil || !created {
		t.Fatalf("re-ingest: %v %v", created, err)
	}
	if sum, _ := s.Summary(storetest.Ctx, id); sum.StepsTotal != 2000 {
		t.Errorf("re-ingested build has %d steps", sum.StepsTotal)
	}
	checkIntegrity(t, s)
}

package backend

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildstats/buildstats/collect/logfile"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/postgres"
	"github.com/buildstats/buildstats/store/postgres/pgtest"
	"github.com/buildstats/buildstats/store/storetest"
)

// TestHelperProcess is not a test: the figures below re-run the test
// binary with BUILDSTATS_HELPER set, to time what a fresh CLI process
// pays.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("BUILDSTATS_HELPER")
	if mode == "" {
		t.Skip("helper process for the figures")
	}
	if err := helper(mode, os.Getenv("BUILDSTATS_HELPER_DB")); err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helper(mode, target string) error {
	start, c0 := time.Now(), cpuTime()
	switch mode {
	case "query":
		// One query as the first thing a new process does, as a command.
		q, ok := storetest.FindYearQuery(os.Getenv("BUILDSTATS_HELPER_QUERY"))
		if !ok {
			return fmt.Errorf("no query %q", os.Getenv("BUILDSTATS_HELPER_QUERY"))
		}
		s, err := Open(ctx, target, Read)
		if err != nil {
			return err
		}
		defer s.Close()
		opened := time.Now()
		if _, err := q.Run(s); err != nil {
			return err
		}
		fmt.Println("us", time.Since(opened).Microseconds(), time.Since(start).Microseconds(), (cpuTime() - c0).Microseconds())
		return nil
	case "single":
		// `buildstats ingest build.log` of one CI job: open, parse a small
		// real log, store it, close.
		s, err := Open(ctx, target, Write)
		if err != nil {
			return err
		}
		opened := time.Now()
		f, err := os.Open(storetest.Probe("multistage-plain-cold.log"))
		if err != nil {
			return err
		}
		hr := logfile.NewHashReader(f)
		b, err := parse.Parse(hr, parse.Options{})
		f.Close()
		if err != nil {
			return err
		}
		m := store.Meta{Project: "single", Branch: "main", Started: time.Now(), ContentHash: hr.Sum() + ":" + os.Getenv("BUILDSTATS_HELPER_N")}
		parsed := time.Now()
		if _, created, err := s.Ingest(ctx, b, m, store.IngestOptions{}); err != nil || !created {
			return fmt.Errorf("ingest: created %v, %v", created, err)
		}
		ingested := time.Now()
		if err := s.Close(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "open %v parse %v ingest %v close %v\n", opened.Sub(start), parsed.Sub(opened), ingested.Sub(parsed), time.Since(ingested))
		fmt.Println("us", time.Since(start).Microseconds(), time.Since(start).Microseconds(), (cpuTime() - c0).Microseconds())
		return nil
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

// cpuTime is the process's user+system CPU time. The machine the figures
// come from is shared, so CPU time is reported beside wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fresh is one run of a helper process: the work it timed, the whole
// process as the parent saw it, and the helper's CPU time.
type fresh struct{ work, process, cpu time.Duration }

func runFresh(t *testing.T, mode, target string, env ...string) fresh {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BUILDSTATS_HELPER="+mode, "BUILDSTATS_HELPER_DB="+target)
	cmd.Env = append(cmd.Env, env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("%s helper: %v\n%s", mode, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		var work, inProc, cpu int64
		if _, err := fmt.Sscanf(line, "us %d %d %d", &work, &inProc, &cpu); err == nil {
			return fresh{time.Duration(work) * time.Microsecond, wall, time.Duration(cpu) * time.Microsecond}
		}
	}
	t.Fatalf("%s helper: no timing in %q", mode, out)
	return fresh{}
}

// median of the runs' durations picked by f.
func median(runs []fresh, f func(fresh) time.Duration) time.Duration {
	ds := make([]time.Duration, len(runs))
	for i, r := range runs {
		ds[i] = f(r)
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// generateYear stores the year of history in batches of 100 builds, as a
// backfill would, and returns the wall and CPU time it took.
func generateYear(t *testing.T, s store.Store) (time.Duration, time.Duration) {
	t.Helper()
	start, c0 := time.Now(), cpuTime()
	var items []store.BatchItem
	flush := func() {
		if _, err := s.IngestBatch(ctx, items); err != nil {
			t.Fatal(err)
		}
		items = items[:0]
	}
	err := storetest.GenHistory(storetest.YearConfig, func(b *model.Build, m store.Meta) error {
		items = append(items, store.BatchItem{Build: storetest.Clone(b), Meta: m})
		if len(items) == 100 {
			flush()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) > 0 {
		flush()
	}
	return time.Since(start), cpuTime() - c0
}

// TestFiguresSideBySide measures both stores in one run, one after the
// other, each query in fresh processes: the year of history (50,000
// builds, 2,000,000 Dockerfile steps) stored in batches, a single small
// build stored by a new process, and trends, slow and misses over the
// year with and without project and branch filters, which must each take
// under 300 ms (the median of three fresh processes). It also checks that
// both stores give the same answers and that their rollups match their
// vertices at this scale.
//
// It runs only with BUILDSTATS_BIG=1 (a few minutes). BUILDSTATS_BIG_DB
// keeps the SQLite file and BUILDSTATS_BIG_PG names a PostgreSQL database
// to keep the year in, for reruns; otherwise both are made anew in temp
// directories and a private server.
func TestFiguresSideBySide(t *testing.T) {
	if os.Getenv("BUILDSTATS_BIG") == "" {
		t.Skip("set BUILDSTATS_BIG=1 to generate a year of history in both stores and time them")
	}
	targets := []struct{ name, target string }{
		{"SQLite", os.Getenv("BUILDSTATS_BIG_DB")},
		{"PostgreSQL", os.Getenv("BUILDSTATS_BIG_PG")},
	}
	if targets[0].target == "" {
		targets[0].target = filepath.Join(t.TempDir(), "year.db")
	}
	if targets[1].target == "" {
		targets[1].target = pgtest.NewDatabase(t).Writer
	}
	steps := storetest.YearConfig.Builds * (storetest.YearConfig.Steps + 4)
	stores := make([]store.Store, len(targets))
	for i, tg := range targets {
		s := open(t, tg.target, Write)
		stores[i] = s
		h, err := s.History(ctx, store.HistoryQuery{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(h) == 0 {
			wall, cpu := generateYear(t, s)
			t.Logf("%-10s stored the year (%d builds, %d vertices) in batches of 100 builds: %v wall, %v CPU in this process: %.0f steps/s (%.0f per CPU second here)",
				tg.name, storetest.YearConfig.Builds, steps, wall.Round(time.Millisecond), cpu.Round(time.Millisecond),
				float64(steps)/wall.Seconds(), float64(steps)/cpu.Seconds())
		}
		if pg, ok := s.(*postgres.Store); ok {
			// What autovacuum does on a live server a minute after a
			// large load: statistics for the planner, the visibility map
			// for index-only scans.
			start := time.Now()
			if _, err := pg.Pool().Exec(ctx, `VACUUM ANALYZE`); err != nil {
				t.Fatal(err)
			}
			t.Logf("%-10s VACUUM ANALYZE after the load: %v", tg.name, time.Since(start).Round(time.Millisecond))
		}
	}

	// A single small build from a new process, ten times each.
	for _, tg := range targets {
		var runs []fresh
		for i := range 10 {
			runs = append(runs, runFresh(t, "single", tg.target, "BUILDSTATS_HELPER_N="+strconv.Itoa(int(time.Now().UnixNano()))+"-"+strconv.Itoa(i)))
		}
		t.Logf("%-10s one small build from a new process: median %.1f ms open+parse+ingest+close, %.1f ms whole process (max %.1f), %.1f ms CPU",
			tg.name, ms(median(runs, func(f fresh) time.Duration { return f.work })), ms(median(runs, func(f fresh) time.Duration { return f.process })),
			ms(slices.MaxFunc(runs, func(a, b fresh) int { return int(a.process - b.process) }).process), ms(median(runs, func(f fresh) time.Duration { return f.cpu })))
		if med := median(runs, func(f fresh) time.Duration { return f.process }); tg.name == "PostgreSQL" && med > 100*time.Millisecond {
			t.Errorf("%s: a single build from a new process took %v, over 100 ms", tg.name, med)
		}
	}

	// The year's queries, each in three fresh processes per store.
	t.Logf("%-44s %28s   %28s", "query (median of 3 fresh processes)", "SQLite ms (CPU ms)", "PostgreSQL ms (CPU ms)")
	for _, q := range storetest.YearQueries {
		line := fmt.Sprintf("%-44s", q.Name)
		for _, tg := range targets {
			var runs []fresh
			for range 3 {
				runs = append(runs, runFresh(t, "query", tg.target, "BUILDSTATS_HELPER_QUERY="+q.Name))
			}
			work := median(runs, func(f fresh) time.Duration { return f.work })
			line += fmt.Sprintf(" %12.1f (%6.1f) [%6.1f]", ms(work), ms(median(runs, func(f fresh) time.Duration { return f.cpu })),
				ms(slices.MinFunc(runs, func(a, b fresh) int { return int(a.work - b.work) }).work))
			if q.Budget && work > storetest.YearBudget {
				t.Errorf("%s on %s: %v in a fresh process, over %v", q.Name, tg.name, work, storetest.YearBudget)
			}
		}
		t.Log(line)
	}

	// Both stores answer alike.
	for _, q := range []store.WindowQuery{
		{Since: storetest.YearConfig.Start, Until: storetest.YearEnd},
		{Since: storetest.YearConfig.Start.Add(13 * time.Hour), Until: storetest.YearEnd.Add(-5 * time.Hour), Branch: "main"},
		{Project: "service-03", Branch: "feature-2"},
	} {
		for name, f := range map[string]func(store.Reader) (any, error){
			"slow":   func(s store.Reader) (any, error) { r, err := s.Slow(ctx, q); return storetest.WithoutIDs(r), err },
			"misses": func(s store.Reader) (any, error) { r, err := s.Misses(ctx, q); return storetest.WithoutIDs(r), err },
			"trends": func(s store.Reader) (any, error) {
				r, err := s.Trends(ctx, store.TrendQuery{Since: q.Since, Until: q.Until, Project: q.Project, Branch: q.Branch})
				return storetest.WithoutIDs(r), err
			},
		} {
			a, err1 := f(stores[0])
			b, err2 := f(stores[1])
			if err1 != nil || err2 != nil || !reflect.DeepEqual(a, b) {
				t.Errorf("%s %+v differs between the stores (%v, %v)", name, q, err1, err2)
			}
		}
	}
	// Their rollups hold exactly what their vertices say.
	for i, s := range stores {
		start := time.Now()
		if err := s.(interface{ CheckIntegrity(context.Context) error }).CheckIntegrity(ctx); err != nil {
			t.Errorf("%s: %v", targets[i].name, err)
		}
		t.Logf("%-10s integrity and rollup check over the year: %v", targets[i].name, time.Since(start).Round(time.Millisecond))
	}
}

// TestCopyYearFigures times copying the year of history from SQLite to a
// new PostgreSQL database and back to a new SQLite file, each verified, and
// a second copy that finds everything there. It runs only with
// BUILDSTATS_BIG=1; BUILDSTATS_BIG_DB names an SQLite year to start from.
func TestCopyYearFigures(t *testing.T) {
	if os.Getenv("BUILDSTATS_BIG") == "" {
		t.Skip("set BUILDSTATS_BIG=1 to copy a year of history between the stores")
	}
	path := os.Getenv("BUILDSTATS_BIG_DB")
	if path == "" {
		path = filepath.Join(t.TempDir(), "year.db")
	}
	lite := open(t, path, Write)
	if h, _ := lite.History(ctx, store.HistoryQuery{Limit: 1}); len(h) == 0 {
		generateYear(t, lite)
	}
	pg := open(t, pgtest.NewDatabase(t).Writer, Write)
	back := open(t, filepath.Join(t.TempDir(), "back.db"), Write)
	for _, c := range []struct {
		name     string
		from, to store.Store
	}{{"SQLite -> PostgreSQL", lite, pg}, {"again", lite, pg}, {"PostgreSQL -> SQLite", pg, back}} {
		start, c0 := time.Now(), cpuTime()
		res, err := Copy(ctx, c.from, c.to, CopyOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		wall := time.Since(start)
		t.Logf("%-21s copied %d of %d builds (%d vertices) in %v wall, %v CPU here (%.0f vertices/s); verified, checksum %s",
			c.name, res.Copied, res.Builds, res.CopiedVertices, wall.Round(time.Millisecond), (cpuTime() - c0).Round(time.Millisecond),
			float64(res.CopiedVertices)/wall.Seconds(), res.Checksum)
	}
}

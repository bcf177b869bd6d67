package sqlite

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/internal/analysis"
	"github.com/buildstats/buildstats/store/storetest"
)

// timeInFreshProcess runs one query as the first thing a new process does
// with the database, as a CLI command would, and returns its duration.
func timeInFreshProcess(t *testing.T, path, name string) time.Duration {
	out, err := helperCmd(t, "query", path, "BUILDSTATS_HELPER_QUERY="+name).CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a fresh process: %v\n%s", name, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if us, ok := strings.CutPrefix(line, "us "); ok {
			n, _ := strconv.ParseInt(us, 10, 64)
			return time.Duration(n) * time.Microsecond
		}
	}
	t.Fatalf("%s: no timing in %q", name, out)
	return 0
}

// helperQuery is the helper process side of timeInFreshProcess.
func helperQuery(s *Store, name string) error {
	q, ok := storetest.FindYearQuery(name)
	if !ok {
		return fmt.Errorf("no query %q", name)
	}
	start := time.Now()
	if _, err := q.Run(s); err != nil {
		return err
	}
	fmt.Println("us", time.Since(start).Microseconds())
	return nil
}

// TestYearOfHistory generates a year of history (50,000 builds, 2,000,000
// Dockerfile steps plus 200,000 other vertices) in one transaction and
// times the queries. It runs only with BUILDSTATS_BIG=1; generation takes
// about half a minute. BUILDSTATS_BIG_DB=path keeps the database for
// reruns.
func TestYearOfHistory(t *testing.T) {
	if os.Getenv("BUILDSTATS_BIG") == "" {
		t.Skip("set BUILDSTATS_BIG=1 to generate 50,000 builds and time the queries")
	}
	path := filepath.Join(t.TempDir(), "year.db")
	if p := os.Getenv("BUILDSTATS_BIG_DB"); p != "" {
		path = p
	}
	opened := time.Now()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("opened (and upgraded if older) in %v", time.Since(opened).Round(time.Millisecond))
	cfg := storetest.YearConfig
	var n int
	s.DB().QueryRowContext(storetest.Ctx, `SELECT COUNT(*) FROM builds`).Scan(&n)
	if n == 0 {
		start, c0 := time.Now(), cpuTime()
		if err := generate(storetest.Ctx, s, cfg); err != nil {
			t.Fatal(err)
		}
		el, cpu := time.Since(start), cpuTime()-c0
		steps := cfg.Builds * (cfg.Steps + 4)
		t.Logf("generated %d builds, %d vertices (%d Dockerfile steps) in one transaction: %v wall, %v CPU: %.0f vertices/s (%.0f per CPU second)",
			cfg.Builds, steps, cfg.Builds*cfg.Steps, el.Round(time.Millisecond), cpu.Round(time.Millisecond),
			float64(steps)/el.Seconds(), float64(steps)/cpu.Seconds())
		// Checkpoint so the file holds everything and its size means something.
		s.DB().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	if st, err := os.Stat(path); err == nil {
		t.Logf("database size %.1f MB", float64(st.Size())/1e6)
	}

	// Each query is timed as the first call of a fresh process (cold
	// SQLite cache, what a CLI command pays), and as the best of three
	// calls in this process.
	for _, q := range storetest.YearQueries {
		fresh := timeInFreshProcess(t, path, q.Name)
		best := time.Hour
		rows := 0
		for i := 0; i < 3; i++ {
			start := time.Now()
			n, err := q.Run(s)
			if err != nil {
				t.Fatalf("%s: %v", q.Name, err)
			}
			best, rows = min(best, time.Since(start)), n
		}
		t.Logf("%-42s fresh process %7.1f ms   warm %7.1f ms   (%d rows)", q.Name, ms(fresh), ms(best), rows)
		if q.Budget && max(fresh, best) > storetest.YearBudget {
			t.Errorf("%s took %v, over %v", q.Name, max(fresh, best), storetest.YearBudget)
		}
	}

	// The rollup and the vertices agree at this scale too, and the run
	// time of Dockerfile steps adds up to the builds' ran_ns (up to
	// per-vertex millisecond rounding).
	year := analysis.Filter{Lo: cfg.Start.UnixMilli(), Hi: storetest.YearEnd.UnixMilli() - 3600_000}
	fast, err := s.stepWindow(storetest.Ctx, year)
	if err != nil {
		t.Fatal(err)
	}
	year.NoRollup = true
	full, err := s.stepWindow(storetest.Ctx, year)
	if err != nil {
		t.Fatal(err)
	}
	for id, a := range fast {
		if b := full[id]; b == nil || a.Builds != b.Builds || a.Hits != b.Hits || a.Total != b.Total || a.Max != b.Max || !sameMultiset(a.Durations, b.Durations) {
			t.Fatalf("step %d: the rollup and the vertices disagree", id)
		}
	}
	all, _ := s.Slow(storetest.Ctx, store.WindowQuery{})
	var stepMs, ranNs float64
	for _, st := range all {
		if st.Kind == model.KindStep {
			stepMs += st.Total * 1000
		}
	}
	s.DB().QueryRow(`SELECT SUM(ran_ns) FROM builds`).Scan(&ranNs)
	if rel := math.Abs(stepMs-ranNs/1e6) / (ranNs / 1e6); rel > 1e-4 {
		t.Errorf("slow's step run time %.0f ms, builds' ran_ns %.0f ms", stepMs, ranNs/1e6)
	}

	// The planted regression (a deps step of service-00, 3x slower for the
	// last five days) leads the weekly regressions of that project.
	tr, _ := s.Trends(storetest.Ctx, store.TrendQuery{Period: store.Week, Since: cfg.Start, Until: storetest.YearEnd, Project: "service-00"})
	for _, r := range tr.Regressions {
		t.Logf("regression: %s %s: %.1fs -> %.1fs", r.Project, r.Label(), r.BaselineSeconds, r.CurrentSeconds)
	}
	if len(tr.Regressions) == 0 || !strings.Contains(tr.Regressions[0].Text, "target-5") {
		t.Errorf("planted regression not found first: %+v", tr.Regressions)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

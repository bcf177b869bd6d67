package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestYearOfHistory generates a year of history (50,000 builds, 2,000,000
// Dockerfile steps) and times the heavy queries. It runs only with
// BUILDSTATS_BIG=1: generation takes about a minute.
func TestYearOfHistory(t *testing.T) {
	if os.Getenv("BUILDSTATS_BIG") == "" {
		t.Skip("set BUILDSTATS_BIG=1 to generate 50,000 builds and time the queries")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "year.db")
	if p := os.Getenv("BUILDSTATS_BIG_DB"); p != "" {
		path = p
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	end := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	cfg := genConfig{Builds: 50_000, Steps: 40, Projects: 12, Start: end.AddDate(-1, 0, 0), Span: 365 * 24 * time.Hour, Seed: 1}
	var n int
	s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM builds`).Scan(&n)
	if n == 0 {
		t0, c0 := time.Now(), cpuTime()
		if err := generate(ctx, s, cfg); err != nil {
			t.Fatal(err)
		}
		el, cpu := time.Since(t0), cpuTime()-c0
		steps := cfg.Builds * (cfg.Steps + 4)
		t.Logf("generated %d builds, %d vertices (%d Dockerfile steps) in one transaction: %v wall, %v CPU: %.0f vertices/s (%.0f per CPU second)",
			cfg.Builds, steps, cfg.Builds*cfg.Steps, el.Round(time.Millisecond), cpu.Round(time.Millisecond),
			float64(steps)/el.Seconds(), float64(steps)/cpu.Seconds())
	}
	if st, err := os.Stat(path); err == nil {
		t.Logf("database size %.1f MB", float64(st.Size())/1e6)
	}
	timeIt := func(name string, f func() (int, error)) time.Duration {
		best := time.Hour
		var rows int
		for i := 0; i < 3; i++ {
			t0 := time.Now()
			n, err := f()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			best, rows = min(best, time.Since(t0)), n
		}
		t.Logf("%-40s %8.1f ms  (%d rows)", name, float64(best.Microseconds())/1000, rows)
		return best
	}
	budget := 500 * time.Millisecond
	check := func(name string, d time.Duration) {
		if d > budget {
			t.Errorf("%s took %v, over %v", name, d, budget)
		}
	}
	check("trends weekly, a year", timeIt("trends weekly, a year", func() (int, error) {
		tr, err := s.Trends(ctx, TrendQuery{Period: Week, Since: cfg.Start, Until: end})
		if err != nil {
			return 0, err
		}
		return len(tr.Periods), err
	}))
	timeIt("trends daily, a year", func() (int, error) {
		tr, err := s.Trends(ctx, TrendQuery{Period: Day, Since: cfg.Start, Until: end})
		if err != nil {
			return 0, err
		}
		return len(tr.Periods), err
	})
	check("slow, a year", timeIt("slow, a year", func() (int, error) {
		r, err := s.Slow(ctx, WindowQuery{Since: cfg.Start, Until: end})
		return len(r), err
	}))
	timeIt("slow, last 30 days", func() (int, error) {
		r, err := s.Slow(ctx, WindowQuery{Since: end.AddDate(0, 0, -30), Until: end})
		return len(r), err
	})
	timeIt("slow, a year, one project", func() (int, error) {
		r, err := s.Slow(ctx, WindowQuery{Since: cfg.Start, Until: end, Project: "service-00"})
		return len(r), err
	})
	timeIt("slow, a year, one project+branch", func() (int, error) {
		r, err := s.Slow(ctx, WindowQuery{Since: cfg.Start, Until: end, Project: "service-00", Branch: "main"})
		return len(r), err
	})
	check("misses, a year", timeIt("misses, a year", func() (int, error) {
		r, err := s.Misses(ctx, WindowQuery{Since: cfg.Start, Until: end})
		return len(r), err
	}))
	timeIt("history, limit 20", func() (int, error) {
		r, err := s.History(ctx, HistoryQuery{Limit: 20})
		return len(r), err
	})
	timeIt("history, one project, limit 20", func() (int, error) {
		r, err := s.History(ctx, HistoryQuery{Limit: 20, Project: "service-03"})
		return len(r), err
	})
	timeIt("compare previous latest", func() (int, error) {
		a, _ := s.Resolve(ctx, "previous", "service-00")
		b, _ := s.Resolve(ctx, "latest", "service-00")
		c, err := s.Compare(ctx, a, b)
		if err != nil {
			return 0, err
		}
		return len(c.Steps), nil
	})
	timeIt("previous misses of latest", func() (int, error) {
		b, _ := s.Resolve(ctx, "latest", "")
		c, err := s.PreviousMisses(ctx, b)
		if err != nil {
			return 0, err
		}
		return len(c.Steps), nil
	})
	tr, _ := s.Trends(ctx, TrendQuery{Period: Week, Since: cfg.Start, Until: end, Project: "service-00"})
	for _, r := range tr.Regressions {
		t.Logf("regression: %s %s: %.1fs -> %.1fs", r.Project, r.Label(), r.BaselineSeconds, r.CurrentSeconds)
	}
}

package serve

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/sqlite"
	"github.com/buildstats/buildstats/store/storetest"
)

// fillYear stores storetest's year of history (50,000 builds) in s, in
// batches, unless it holds builds already.
func fillYear(t *testing.T, s store.Store) {
	t.Helper()
	if rows, err := s.History(storetest.Ctx, store.HistoryQuery{Limit: 1}); err != nil || len(rows) > 0 {
		return
	}
	start := time.Now()
	var batch []store.BatchItem
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := s.IngestBatch(storetest.Ctx, batch)
		batch = batch[:0]
		return err
	}
	err := storetest.GenHistory(storetest.YearConfig, func(b *model.Build, m store.Meta) error {
		// GenHistory reuses its build: store a copy.
		data, err := json.Marshal(b)
		if err != nil {
			return err
		}
		var c model.Build
		if err := json.Unmarshal(data, &c); err != nil {
			return err
		}
		batch = append(batch, store.BatchItem{Build: &c, Meta: m})
		if len(batch) == 1000 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stored a year of history (%d builds) in %v", storetest.YearConfig.Builds, time.Since(start).Round(time.Second))
}

// yearPages are the pages and API answers timed over a year of history.
func yearPages(latest, before, step int64) []string {
	// A window that starts at noon: its first day comes from the
	// vertices, not the rollups.
	noon := storetest.YearEnd.AddDate(0, 0, -7*26).Add(12 * time.Hour).Format(time.RFC3339)
	return []string{
		"/", "/?project=service-00", "/?project=service-00&branch=main", "/?status=failed", "/?page=100",
		fmt.Sprintf("/builds/%d", latest), fmt.Sprintf("/compare?before=%d&after=%d", before, latest),
		"/trends", "/trends?since=52w", "/trends?project=service-00&period=day&since=13w",
		"/trends?period=day&since=52w", fmt.Sprintf("/trends?since=52w&step=%d", step), "/trends?branch=main&since=52w",
		"/trends?since=" + noon,
		"/slow", "/slow?since=52w", "/misses", "/misses?since=52w&project=service-00",
		"/api/v1/builds", "/api/v1/builds?limit=1000", fmt.Sprintf("/api/v1/builds/%d", latest),
		"/api/v1/trends?since=52w", fmt.Sprintf("/api/v1/trends?since=52w&period=day&step=%d", step),
		"/api/v1/slow?since=52w", "/api/v1/misses",
	}
}

// TestYearOfHistoryPages times every page and API answer over a year of
// history (50,000 builds) on SQLite, and on PostgreSQL with
// BUILDSTATS_BIG_PG=1: the first request and the best of three. It runs
// only with BUILDSTATS_BIG=1 (generating the year takes minutes);
// BUILDSTATS_BIG_DB=path keeps the SQLite database for reruns.
func TestYearOfHistoryPages(t *testing.T) {
	if os.Getenv("BUILDSTATS_BIG") == "" {
		t.Skip("set BUILDSTATS_BIG=1 to time the pages over 50,000 builds")
	}
	backends := []struct {
		name string
		open opener
	}{{"sqlite", func(t testing.TB) store.Store {
		path := os.Getenv("BUILDSTATS_BIG_DB")
		if path == "" {
			return openSQLite(t)
		}
		s, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}}}
	if os.Getenv("BUILDSTATS_BIG_PG") != "" {
		backends = append(backends, struct {
			name string
			open opener
		}{"postgres", openPostgres})
	}
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			s := bk.open(t)
			fillYear(t, s)
			// The pages' windows end now: the year ends on YearEnd.
			ts := start(t, s, Config{ReadOpen: true, Now: func() time.Time { return storetest.YearEnd }})
			rows, err := s.History(storetest.Ctx, store.HistoryQuery{Limit: 2})
			if err != nil || len(rows) < 2 {
				t.Fatal(rows, err)
			}
			top, err := s.Slow(storetest.Ctx, store.WindowQuery{Limit: 1})
			if err != nil || len(top) == 0 {
				t.Fatal(top, err)
			}
			var worst time.Duration
			for _, p := range yearPages(rows[0].ID, rows[1].ID, top[0].StepID) {
				var times []time.Duration
				var size int
				for i := 0; i < 3; i++ {
					t0 := time.Now()
					a := do(t, "GET", ts.URL+p, "", "", nil)
					times = append(times, time.Since(t0))
					if a.code != 200 {
						t.Fatalf("GET %s: %d %.300s", p, a.code, a.body)
					}
					size = len(a.body)
				}
				first, best := times[0], slices.Min(times)
				worst = max(worst, best)
				t.Logf("%-52s first %7.1f ms   best %7.1f ms   %8d bytes", p, ms(first), ms(best), size)
				if best > 300*time.Millisecond {
					t.Errorf("GET %s took %v at best, over 300 ms", p, best)
				}
			}
			t.Logf("%s: slowest page or answer (best of 3) %.1f ms", bk.name, ms(worst))
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

package serve

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildstats/buildstats/collect/logfile"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/storetest"
)

// realLogs returns n real logs of fixtures/real that parse, and how many
// builds each holds.
func realLogs(t testing.TB, n int) ([][]byte, []int) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(storetest.FixturesDir(), "real", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	var logs [][]byte
	var builds []int
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		l, err := logfile.ReadFrom(strings.NewReader(string(data)), p, "")
		if err != nil {
			continue
		}
		logs, builds = append(logs, data), append(builds, len(l.Builds))
		if len(logs) == n {
			return logs, builds
		}
	}
	t.Fatalf("only %d real logs parse, want %d", len(logs), n)
	return nil, nil
}

// percentile is the nearest-rank percentile p of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Load: 50 concurrent clients each send 20 real logs (each client's copy
// made distinct by trailing blank lines, so 1,000 different logs) to a
// server on SQLite and on PostgreSQL. Every log is stored once, no answer
// is a 5xx, and the ingest latency is logged.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 1,000 ingests per store")
	}
	const clients, perClient = 50, 20
	logs, builds := realLogs(t, perClient)
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			ts := start(t, s, Config{ReadOpen: true})
			// Five projects, as a team would have.
			toks := make([]string, 5)
			for i := range toks {
				toks[i], _ = token(t, s, fmt.Sprintf("project-%d", i), store.ScopeIngest, time.Time{})
			}
			var mu sync.Mutex
			var lat []time.Duration
			ids := map[int64]int{}
			var bad []string
			var wg sync.WaitGroup
			// The bodies are compressed before the clock starts: CI runners
			// gzip on their own machines, not on the server's cores.
			bodies := make([][][]byte, clients)
			for c := range bodies {
				tail := strings.Repeat("\n", c+1)
				for _, l := range logs {
					bodies[c] = append(bodies[c], gzipped(append(append([]byte{}, l...), tail...)))
				}
			}
			began := time.Now()
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func(c int) {
					defer wg.Done()
					for j, body := range bodies[c] {
						t0 := time.Now()
						a := do(t, "POST", fmt.Sprintf("%s/api/v1/builds?branch=b%d", ts.URL, c%7), toks[c%len(toks)], "gzip", body)
						took := time.Since(t0)
						mu.Lock()
						lat = append(lat, took)
						if a.code != 201 {
							bad = append(bad, fmt.Sprintf("client %d log %d: %d %.200s", c, j, a.code, a.body))
						} else {
							for _, id := range stored(t, a).IDs {
								ids[id]++
							}
						}
						mu.Unlock()
					}
				}(c)
			}
			wg.Wait()
			wall := time.Since(began)
			if len(bad) > 0 {
				t.Fatalf("%d of %d requests not stored:\n%s", len(bad), clients*perClient, strings.Join(bad[:min(len(bad), 10)], "\n"))
			}
			want := 0
			for _, n := range builds {
				want += n * clients
			}
			for id, n := range ids {
				if n != 1 {
					t.Errorf("build %d answered %d times", id, n)
				}
			}
			if got := countBuilds(t, s); got != want || len(ids) != want {
				t.Fatalf("%d builds stored, %d ids answered; want %d (1,000 logs)", got, len(ids), want)
			}
			slices.Sort(lat)
			t.Logf("%s: %d logs (%d builds) from %d clients in %v (%.0f logs/s); ingest latency p50 %v, p95 %v, max %v",
				st.name, len(lat), want, clients, wall.Round(time.Millisecond), float64(len(lat))/wall.Seconds(),
				percentile(lat, 0.5).Round(time.Millisecond), percentile(lat, 0.95).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
			_ = context.Background
		})
	}
}

package postgres

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/storetest"
)

// benchBuilds makes n synthetic builds of 40 Dockerfile steps (44
// vertices), as SQLite's benchmarks do.
func benchBuilds(n int, seed uint64) ([]*model.Build, []store.Meta) {
	var builds []*model.Build
	var metas []store.Meta
	cfg := storetest.GenConfig{Builds: n, Steps: 40, Projects: 12, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Span: 90 * 24 * time.Hour, Seed: seed}
	storetest.GenHistory(cfg, func(bd *model.Build, m store.Meta) error {
		builds = append(builds, storetest.Clone(bd))
		metas = append(metas, m)
		return nil
	})
	return builds, metas
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportSteps reports vertices stored per wall second, per CPU second of
// this process, and per CPU second of this process and the server's
// processes together: the figure a busy machine skews least.
func reportSteps(b *testing.B, s *Store, steps int, c0, s0 time.Duration) {
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
	client := cpuTime() - c0
	b.ReportMetric(float64(steps)/client.Seconds(), "steps/client-cpu-s")
	if server := serverCPU(b, s) - s0; server > 0 {
		b.ReportMetric(float64(steps)/(client+server).Seconds(), "steps/cpu-s")
	}
	b.ReportMetric(0, "ns/op")
}

// serverCPU is the CPU time the server's live processes have used: the
// postmaster's and its children's, read from /proc (the test server runs
// on this machine).
func serverCPU(b *testing.B, s *Store) time.Duration {
	var backend int
	if err := s.Pool().QueryRow(storetest.Ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		b.Fatal(err)
	}
	stat := func(pid string) (ppid string, cpu time.Duration) {
		data, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return "", 0
		}
		// Fields after the command name, which ends at the last ')'.
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		if len(f) < 13 {
			return "", 0
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		return f[1], time.Duration(utime+stime) * 10 * time.Millisecond // clock ticks of 1/100 s
	}
	postmaster, _ := stat(strconv.Itoa(backend))
	_, total := stat(postmaster)
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if ppid, cpu := stat(p.Name()); ppid == postmaster {
			total += cpu
		}
	}
	return total
}

// BenchmarkIngest stores one build of 44 vertices per Ingest call, one
// transaction each, into a database that already holds 2,000 builds.
func BenchmarkIngest(b *testing.B) {
	s, _ := openNew(b)
	warm, warmMeta := benchBuilds(2000, 7)
	for i := 0; i < len(warm); i += 100 {
		items := make([]store.BatchItem, 100)
		for j := range items {
			items[j] = store.BatchItem{Build: warm[i+j], Meta: warmMeta[i+j]}
		}
		if _, err := s.IngestBatch(storetest.Ctx, items); err != nil {
			b.Fatal(err)
		}
	}
	builds, metas := benchBuilds(1000, 8)
	b.ResetTimer()
	c0, s0 := cpuTime(), serverCPU(b, s)
	steps := 0
	for i := 0; i < b.N; i++ {
		k := i % len(builds)
		m := metas[k]
		m.ContentHash = m.ContentHash + ":" + strconv.Itoa(i)
		if _, _, err := s.Ingest(storetest.Ctx, builds[k], m, store.IngestOptions{}); err != nil {
			b.Fatal(err)
		}
		steps += len(builds[k].Vertices)
	}
	reportSteps(b, s, steps, c0, s0)
}

// BenchmarkIngestBatch stores 100 builds (4,400 vertices) per IngestBatch
// transaction.
func BenchmarkIngestBatch(b *testing.B) {
	s, _ := openNew(b)
	builds, metas := benchBuilds(1000, 9)
	b.ResetTimer()
	c0, s0 := cpuTime(), serverCPU(b, s)
	steps := 0
	for i := 0; i < b.N; i++ {
		items := make([]store.BatchItem, 100)
		for j := range items {
			k := (i*100 + j) % len(builds)
			m := metas[k]
			m.ContentHash = m.ContentHash + ":" + strconv.Itoa(i*100+j)
			items[j] = store.BatchItem{Build: builds[k], Meta: m}
			steps += len(builds[k].Vertices)
		}
		if _, err := s.IngestBatch(storetest.Ctx, items); err != nil {
			b.Fatal(err)
		}
	}
	reportSteps(b, s, steps, c0, s0)
}

// BenchmarkIngestBatchYear stores the start of the generated year (12
// projects, 137 builds a day, 60% on main) in time order, as a backfill
// does: 100 builds (4,400 vertices) per IngestBatch transaction, and 455
// (20,000 vertices, what `migrate` sends). The builds are generated
// before the clock starts.
func BenchmarkIngestBatchYear(b *testing.B) {
	for _, per := range []int{100, 455} {
		b.Run(fmt.Sprintf("builds=%d", per), func(b *testing.B) {
			s, _ := openNew(b)
			cfg := storetest.YearConfig
			cfg.Builds = per * b.N
			cfg.Span = time.Duration(float64(cfg.Span) * float64(cfg.Builds) / float64(storetest.YearConfig.Builds))
			var items []store.BatchItem
			steps := 0
			err := storetest.GenHistory(cfg, func(bd *model.Build, m store.Meta) error {
				items = append(items, store.BatchItem{Build: storetest.Clone(bd), Meta: m})
				steps += len(bd.Vertices)
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			c0, s0 := cpuTime(), serverCPU(b, s)
			for batch := range slices.Chunk(items, per) {
				if _, err := s.IngestBatch(storetest.Ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			reportSteps(b, s, steps, c0, s0)
		})
	}
}

package sqlite

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/storetest"
)

// benchBuilds makes n synthetic builds of 40 Dockerfile steps (44 vertices).
func benchBuilds(b *testing.B, n int, seed uint64) ([]*model.Build, []store.Meta) {
	b.Helper()
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

func vertexCount(bs []*model.Build) int {
	n := 0
	for _, b := range bs {
		n += len(b.Vertices)
	}
	return n
}

// BenchmarkIngest stores one build of 44 vertices per Ingest call, one
// transaction each, as separate `buildstats ingest` runs do, into a
// database that already holds 2,000 builds.
func BenchmarkIngest(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	warm, warmMeta := benchBuilds(b, 2000, 7)
	items := make([]store.BatchItem, len(warm))
	for i := range warm {
		items[i] = store.BatchItem{Build: warm[i], Meta: warmMeta[i]}
	}
	if _, err := s.IngestBatch(storetest.Ctx, items); err != nil {
		b.Fatal(err)
	}
	builds, metas := benchBuilds(b, 1000, 8)
	b.ResetTimer()
	c0 := cpuTime()
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
	reportSteps(b, steps, c0)
}

// reportSteps reports vertices stored per wall second and per CPU second
// (the machine the figures come from is shared).
func reportSteps(b *testing.B, steps int, c0 time.Duration) {
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
	b.ReportMetric(float64(steps)/(cpuTime()-c0).Seconds(), "steps/cpu-s")
	b.ReportMetric(0, "ns/op") // per build, not interesting next to steps/s
}

// BenchmarkIngestBatch stores 100 builds (4,400 vertices) per IngestBatch
// transaction.
func BenchmarkIngestBatch(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	builds, metas := benchBuilds(b, 1000, 9)
	b.ResetTimer()
	c0 := cpuTime()
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
	reportSteps(b, steps, c0)
}

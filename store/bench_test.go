package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// benchBuilds makes n synthetic builds of 40 Dockerfile steps (44 vertices).
func benchBuilds(b *testing.B, n int, seed uint64) ([]*model.Build, []Meta) {
	b.Helper()
	var builds []*model.Build
	var metas []Meta
	cfg := genConfig{Builds: n, Steps: 40, Projects: 12, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Span: 90 * 24 * time.Hour, Seed: seed}
	genHistory(cfg, func(bd *model.Build, m Meta) error {
		c := *bd
		c.Vertices = make([]*model.Vertex, len(bd.Vertices))
		for i, v := range bd.Vertices {
			vc := *v
			c.Vertices[i] = &vc
		}
		builds = append(builds, &c)
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

// BenchmarkIngest stores one build per Ingest call (one transaction each),
// as `buildstats ingest` does, on a database that already holds history.
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	warm, warmMeta := benchBuilds(b, 2000, 7)
	items := make([]BatchItem, len(warm))
	for i := range warm {
		items[i] = BatchItem{Build: warm[i], Meta: warmMeta[i]}
	}
	if _, err := s.IngestBatch(ctx, items); err != nil {
		b.Fatal(err)
	}
	builds, metas := benchBuilds(b, 1000, 8)
	b.ResetTimer()
	steps := 0
	for i := 0; i < b.N; i++ {
		k := i % len(builds)
		m := metas[k]
		m.ContentHash = m.ContentHash + ":" + itoa(i)
		if _, _, err := s.Ingest(ctx, builds[k], m, IngestOptions{}); err != nil {
			b.Fatal(err)
		}
		steps += len(builds[k].Vertices)
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkIngestBatch stores 100 builds per transaction with IngestBatch.
func BenchmarkIngestBatch(b *testing.B) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	builds, metas := benchBuilds(b, 1000, 9)
	b.ResetTimer()
	steps := 0
	for i := 0; i < b.N; i++ {
		items := make([]BatchItem, 100)
		for j := range items {
			k := (i*100 + j) % len(builds)
			m := metas[k]
			m.ContentHash = m.ContentHash + ":" + itoa(i*100+j)
			items[j] = BatchItem{Build: builds[k], Meta: m}
			steps += len(builds[k].Vertices)
		}
		if _, err := s.IngestBatch(ctx, items); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
}

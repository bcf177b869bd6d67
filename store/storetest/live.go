package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/buildstats/buildstats/store"
)

// testLiveFacts: a live or imported build's BuildKit ref, facts and kept
// log round-trip; `show REF` finds it by its ref or a prefix of it; a
// build without them reads back without; prune takes the log with it.
func testLiveFacts(t *testing.T, open Opener) {
	s := open(t)
	facts := &store.BuildFacts{
		Frontend: "dockerfile.v0", Dockerfile: "Dockerfile", Target: "app", Platforms: []string{"linux/amd64", "linux/arm64"},
		BuildArgs: map[string]string{"V": "1"}, Labels: map[string]string{"org.opencontainers.image.title": "x"},
		Contexts: map[string]string{"base": "docker-image://alpine"}, NoCache: true, Pull: true, Network: "none",
		CacheFrom: []string{"type=local,src=/c"}, CacheTo: []string{"type=local,dest=/c,mode=max"},
		Attests: []string{"provenance:mode=max"}, Secrets: []string{"tok"}, SSH: []string{"default"}, Outputs: []string{"image"},
		VCSRevision: "0123abcd", VCSSource: "https://example.com/r.git",
		Materials: []store.Material{{URI: "pkg:docker/alpine@3.20", Digest: map[string]string{"sha256": "ab"}}},
	}
	log := &store.BuildLog{Gz: []byte{0x1f, 0x8b, 1, 2, 3}, Bytes: 1234, Truncated: true}
	b := ParseFixture(t, Probe("plain-cold.log"))
	m := store.Meta{Project: "live", Started: T0, ContentHash: "buildkit-sha256:live1", BuildKitRef: "q2w3e4r5t6y7u8i9o0p1a2s3d", Facts: facts}
	id, created, err := s.Ingest(Ctx, b, m, store.IngestOptions{Log: log})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	other := MustIngest(t, s, ParseFixture(t, Probe("plain-warm.log")), store.Meta{Project: "live", Started: T0.Add(time.Hour)})

	_, got, err := s.Build(Ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.BuildKitRef != m.BuildKitRef || !reflect.DeepEqual(got.Facts, facts) || !got.LogKept {
		t.Fatalf("read back ref %q, facts %+v, log kept %v", got.BuildKitRef, got.Facts, got.LogKept)
	}
	if l, err := s.Log(Ctx, id); err != nil || l == nil || !reflect.DeepEqual(*l, *log) {
		t.Fatalf("Log = %+v, %v", l, err)
	}
	_, plain, err := s.Build(Ctx, other)
	if err != nil || plain.BuildKitRef != "" || plain.Facts != nil || plain.LogKept {
		t.Fatalf("a build without them: %+v, %v", plain, err)
	}
	if l, err := s.Log(Ctx, other); err != nil || l != nil {
		t.Fatalf("Log of a build without one = %+v, %v", l, err)
	}
	if _, err := s.Log(Ctx, other+100); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Log of no build: %v", err)
	}
	for _, ref := range []string{m.BuildKitRef, m.BuildKitRef[:8]} {
		if got, err := s.Resolve(Ctx, ref, ""); err != nil || got != id {
			t.Errorf("Resolve(%s) = %d, %v; want %d", ref, got, err, id)
		}
	}
	// Builds stored before the ref had its column carry it in the source.
	old := MustIngest(t, s, ParseFixture(t, Probe("multistage-plain-cold.log")), store.Meta{Project: "live", Started: T0.Add(2 * time.Hour), Source: "buildkit:zzzzzz9999old"})
	if got, err := s.Resolve(Ctx, "zzzzzz9999old", ""); err != nil || got != old {
		t.Errorf("Resolve by the source's ref = %d, %v; want %d", got, err, old)
	}
	// Ingesting the same content again keeps what was stored.
	if _, created, err := s.Ingest(Ctx, b, store.Meta{Project: "live", ContentHash: m.ContentHash}, store.IngestOptions{}); err != nil || created {
		t.Fatal(created, err)
	}
	if _, got, _ := s.Build(Ctx, id); got.Facts == nil || !got.LogKept {
		t.Fatal("a duplicate ingest dropped the facts or the log")
	}
	if _, err := s.Prune(Ctx, T0.Add(time.Minute), false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Log(Ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Log after prune: %v", err)
	}
	checkIntegrity(t, s)
}

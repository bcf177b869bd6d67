package model

import (
	"testing"
	"time"
)

func TestVertexState(t *testing.T) {
	tests := []struct {
		name string
		v    Vertex
		want State
		ran  bool
	}{
		{"finished", Vertex{Completed: true, HasDuration: true}, StateDone, true},
		{"cached", Vertex{Cached: true, Completed: true}, StateCached, false},
		{"failed", Vertex{Error: "exit code: 1", Completed: true}, StateError, true},
		{"failed without completion", Vertex{Error: "x"}, StateError, true},
		{"cancelled", Vertex{Canceled: true, Completed: true, HasDuration: true}, StateCanceled, false},
		{"still running with a timer", Vertex{HasDuration: true}, StateIncomplete, false},
		{"listed only", Vertex{}, StateIncomplete, false},
		// Contradictions: one order decides.
		{"cancelled and failed", Vertex{Canceled: true, Error: "x"}, StateCanceled, false},
		{"failed and cached", Vertex{Error: "x", Cached: true}, StateError, true},
		{"cached after it ran", Vertex{Cached: true, Completed: true, HasDuration: true}, StateCached, false},
	}
	for _, tt := range tests {
		if got := tt.v.State(); got != tt.want {
			t.Errorf("%s: State() = %q, want %q", tt.name, got, tt.want)
		}
		if got := tt.v.Ran(); got != tt.ran {
			t.Errorf("%s: Ran() = %v, want %v", tt.name, got, tt.ran)
		}
	}
}

func TestVertexActivity(t *testing.T) {
	tests := []struct {
		v        Vertex
		activity Activity
		kind     Kind
	}{
		{Vertex{Name: "[2/3] RUN make", Index: 2, Total: 3}, ActivityStep, KindStep},
		{Vertex{Name: "[internal] load metadata for docker.io/library/alpine:3.20", Stage: "internal"}, ActivityBaseMetadata, KindInternal},
		{Vertex{Name: "[internal] load build context", Stage: "internal"}, ActivityContext, KindInternal},
		{Vertex{Name: "sending build context to Docker daemon", Stage: "internal"}, ActivityContext, KindInternal},
		{Vertex{Name: "copy /context /"}, ActivityContext, KindInternal},
		{Vertex{Name: "[internal] load .dockerignore", Stage: "internal"}, ActivityInternal, KindInternal},
		{Vertex{Name: "[auth] library/alpine:pull token for registry-1.docker.io", Stage: "auth"}, ActivityInternal, KindInternal},
		{Vertex{Name: "importing cache manifest from ghcr.io/acme/app:cache"}, ActivityCacheImport, KindCache},
		{Vertex{Name: "exporting cache to registry"}, ActivityCacheExport, KindCache},
		{Vertex{Name: "exporting to image"}, ActivityExport, KindExport},
		{Vertex{Name: "writing image sha256:abc"}, ActivityExport, KindExport},
		{Vertex{Name: "naming to docker.io/library/app:latest"}, ActivityExport, KindExport},
		{Vertex{Name: "pushing layers"}, ActivityExport, KindExport},
		{Vertex{Name: "resolve image config for docker-image://docker.io/docker/dockerfile:1"}, ActivityOther, KindOther},
	}
	for _, tt := range tests {
		if got := tt.v.Activity(); got != tt.activity {
			t.Errorf("%q: Activity() = %q, want %q", tt.v.Name, got, tt.activity)
		}
		if got := tt.v.Kind(); got != tt.kind {
			t.Errorf("%q: Kind() = %q, want %q", tt.v.Name, got, tt.kind)
		}
	}
}

func TestFromResolvedLocally(t *testing.T) {
	local := Vertex{Instruction: "FROM", Index: 1, Total: 3, Completed: true, HasDuration: true}
	pulled := Vertex{Instruction: "FROM", Index: 1, Total: 3, Completed: true, HasDuration: true, Duration: 6 * time.Second}
	extracted := Vertex{Instruction: "FROM", Index: 1, Total: 3, Completed: true,
		Transfers: []Transfer{{Name: "extracting sha256:2f44"}}}
	downloaded := Vertex{Instruction: "FROM", Index: 1, Total: 3, Completed: true,
		Transfers: []Transfer{{Name: "sha256:2f44", Bytes: 29130000, Total: 29130000}}}
	for _, tt := range []struct {
		name           string
		v              Vertex
		ran, hit, pull bool
	}{
		{"resolved locally", local, false, true, false},
		{"long FROM", pulled, true, false, true},
		{"extracted", extracted, true, false, true},
		{"downloaded", downloaded, true, false, true},
		{"RUN", Vertex{Instruction: "RUN", Index: 2, Total: 3, Completed: true}, true, false, false},
		{"cached RUN", Vertex{Instruction: "RUN", Index: 2, Total: 3, Completed: true, Cached: true}, false, true, false},
	} {
		if got := tt.v.Ran(); got != tt.ran {
			t.Errorf("%s: Ran() = %v, want %v", tt.name, got, tt.ran)
		}
		if got := tt.v.CacheHit(); got != tt.hit {
			t.Errorf("%s: CacheHit() = %v, want %v", tt.name, got, tt.hit)
		}
		if got := tt.v.PulledImage(); got != tt.pull {
			t.Errorf("%s: PulledImage() = %v, want %v", tt.name, got, tt.pull)
		}
	}
}

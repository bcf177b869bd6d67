package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExplainHashesOnlyWithAHistory: explain reads a log without hashing
// it when no history can hold it, and still finds an ingested log by its
// hash in the default history (no --db, no BUILDSTATS_DB).
func TestExplainHashesOnlyWithAHistory(t *testing.T) {
	dir := t.TempDir()
	h := &testHistory{t: t, db: filepath.Join(dir, ".local", "share", "buildstats", "history.db"), env: map[string]string{"HOME": dir}}
	if out := h.ok("explain", "--format", "json", msColdLog).out; !strings.Contains(out, `"history": null`) {
		t.Errorf("no history, yet history is not null:\n%s", out)
	}
	h.ok("ingest", "--project", "demo", "--time", "2026-11-20T10:00:00Z", msWarmLog)
	h.ok("ingest", "--project", "demo", "--time", "2026-11-21T10:00:00Z", msColdLog)
	if _, err := os.Stat(h.db); err != nil {
		t.Fatalf("ingest did not use the default history: %v", err)
	}
	var e struct {
		History *struct {
			BuildID *int64 `json:"build_id"`
			Basis   string `json:"basis"`
		} `json:"history"`
	}
	h.jsonOut(&e, "explain", "--project", "elsewhere", "--format", "json", msColdLog)
	if e.History == nil || e.History.Basis != "previous" || e.History.BuildID == nil || *e.History.BuildID != 2 {
		t.Errorf("history = %+v, want the log found by its hash (build 2, basis previous)", e.History)
	}
}

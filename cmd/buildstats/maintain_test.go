package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/store/postgres/pgtest"
)

// migrate copies a history to PostgreSQL and back: the copies answer as
// the original, a second run copies nothing, passwords never show, and a
// copy into a history that has a build under the same content with other
// figures is refused before anything is written.
func TestMigrate(t *testing.T) {
	h := demoHistory(t)
	db := pgtest.NewDatabase(t)

	r := h.ok("migrate", "--to", db.Writer)
	if !strings.Contains(r.out, "copied 3 builds (") || !strings.Contains(r.out, "verified: all 3 builds of the source are in the target (which has 3), checksum sha256:") {
		t.Errorf("migrate to PostgreSQL:\n%s", r.out)
	}
	if strings.Contains(r.out+r.err, pgtest.WriterPassword) {
		t.Errorf("the password shows:\n%s%s", r.out, r.err)
	}
	var again struct {
		SchemaVersion int    `json:"schema_version"`
		To            string `json:"to"`
		Copied        int    `json:"copied"`
		Present       int    `json:"present"`
		Checksum      string `json:"checksum"`
	}
	h.jsonOut(&again, "migrate", "--to", db.Writer, "--format", "json")
	if again.SchemaVersion != 1 || again.Copied != 0 || again.Present != 3 || !strings.HasPrefix(again.Checksum, "sha256:") ||
		strings.Contains(again.To, pgtest.WriterPassword) || !strings.Contains(again.To, "xxxxx") {
		t.Errorf("a second migrate: %+v", again)
	}

	// Every read command answers alike from the copy, even as the
	// read-only role.
	for _, args := range [][]string{{"history", "--format", "json", "--limit", "0"}, {"slow", "--all-projects", "--since", "30d", "--format", "json"},
		{"trends", "--period", "day", "--since", "30d", "--format", "json"}} {
		want := withoutIDs(t, h.ok(args...).out)
		got := withoutIDs(t, h.ok(append(args, "--db", db.Reader)...).out)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s answers differently from PostgreSQL:\n got %v\nwant %v", strings.Join(args, " "), got, want)
		}
	}

	back := filepath.Join(t.TempDir(), "back.db")
	h.ok("migrate", "--from", db.Reader, "--to", back)
	if got, want := h.ok("history", "--db", back, "--format", "json").out, h.ok("history", "--format", "json").out; got != want {
		t.Errorf("the copy of the copy lists other builds:\n got %s\nwant %s", got, want)
	}

	// The same content stored with other figures is a different history.
	other := newHistory(t)
	other.ok("ingest", "--project", "elsewhere", "--time", "2026-11-20T10:00:00Z", msWarmLog)
	before := other.ok("history", "--format", "json").out
	r = h.run("migrate", "--to", other.db)
	if r.code != 2 || !strings.HasPrefix(r.err, "buildstats: ") || strings.Count(strings.TrimSpace(r.err), "\n") != 0 ||
		!strings.Contains(r.err, "do not match") {
		t.Errorf("a mismatched target: exit %d, stderr %q", r.code, r.err)
	}
	if after := other.ok("history", "--format", "json").out; after != before {
		t.Errorf("a refused migrate changed the target:\n%s", after)
	}

	for _, c := range []struct{ args, want string }{
		{"migrate", "--to is required"},
		{"migrate --to " + h.db, "the same history"},
	} {
		r := h.run(strings.Fields(c.args)...)
		if r.code != 2 || !strings.Contains(r.err, c.want) {
			t.Errorf("%s: exit %d, stderr %q", c.args, r.code, r.err)
		}
	}
}

// withoutIDs decodes JSON output without the ids ("id", "step_id") each
// store numbers its own way.
func withoutIDs(t *testing.T, out string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var strip func(any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "id")
			delete(x, "step_id")
			for _, e := range x {
				strip(e)
			}
		case []any:
			for _, e := range x {
				strip(e)
			}
		}
	}
	strip(v)
	return v
}

// prune deletes old builds, says what it did or would do, and refuses a
// cut-off that would delete everything.
func TestPrune(t *testing.T) {
	h := demoHistory(t) // builds on 2026-11-20, -21, -22; "now" is 2026-11-23 12:00
	var dry struct {
		DryRun   bool `json:"dry_run"`
		Builds   int  `json:"builds"`
		Vertices int  `json:"vertices"`
		Projects []struct {
			Project string `json:"project"`
			Builds  int    `json:"builds"`
			Kept    int    `json:"kept"`
		} `json:"projects"`
	}
	h.jsonOut(&dry, "prune", "--older-than", "2d", "--dry-run", "--format", "json")
	if !dry.DryRun || dry.Builds != 2 || dry.Vertices == 0 || len(dry.Projects) != 1 || dry.Projects[0].Project != "demo" ||
		dry.Projects[0].Builds != 2 || dry.Projects[0].Kept != 1 {
		t.Errorf("dry run: %+v", dry)
	}
	var rows []historyRow
	h.historyJSON(&rows, "history", "--format", "json")
	if len(rows) != 3 {
		t.Fatalf("a dry run deleted builds: %d left", len(rows))
	}
	r := h.ok("prune", "--older-than", "2d")
	if !strings.HasPrefix(r.out, "removed 2 builds (") || !strings.Contains(r.out, "started before 2026-11-21 12:00 UTC") {
		t.Errorf("prune:\n%s", r.out)
	}
	h.historyJSON(&rows, "history", "--format", "json")
	if len(rows) != 1 || rows[0].Branch != "feature" {
		t.Errorf("after the prune: %+v", rows)
	}
	r = h.ok("prune", "--older-than", "2d")
	if !strings.Contains(r.out, "nothing to remove") {
		t.Errorf("a second prune:\n%s", r.out)
	}
	for _, c := range []struct{ args, want string }{
		{"prune", "--older-than is required"},
		{"prune --older-than 2030-01-01", "not in the past"},
		{"prune --older-than soon", "--older-than"},
	} {
		r := h.run(strings.Fields(c.args)...)
		if r.code != 2 || !strings.Contains(r.err, c.want) {
			t.Errorf("%s: exit %d, stderr %q", c.args, r.code, r.err)
		}
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(h.ok("prune", "--older-than", "1h", "--dry-run", "--format", "json").out), &out); err != nil || out["projects"] == nil {
		t.Errorf("JSON of an empty prune: %v %v", out, err)
	}
}

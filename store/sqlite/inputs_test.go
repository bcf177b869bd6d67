package sqlite

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/storetest"
)

// dropV8 takes a fresh database back to before version 8 (tokens).
const dropV8 = `DROP TABLE tokens;`

// dropV7 takes a fresh database back to before version 7 (BuildKit refs,
// facts, kept logs, claims).
const dropV7 = dropV8 + `DROP TABLE build_claims; DROP TABLE build_logs; DROP INDEX builds_buildkit_ref;
ALTER TABLE builds DROP COLUMN facts; ALTER TABLE builds DROP COLUMN buildkit_ref;`

// dropV6 takes a fresh database back to before version 6, for the tests
// of older versions' upgrades.
const dropV6 = dropV7 + `DROP TABLE break_causes; DROP TABLE build_inputs; DROP TABLE dockerfiles; DROP TABLE context_nodes;`

// A version 5 database upgrades to version 6: its builds stay as they
// were, without inputs, and new builds store theirs.
func TestMigrateToV6(t *testing.T) {
	s, path := openTemp(t)
	id := storetest.MustIngest(t, s, storetest.ParseFixture(t, storetest.Probe("plain-cold.log")), store.Meta{Project: "p", Started: storetest.T0})
	if _, err := s.DB().Exec(dropV6 + `UPDATE buildstats_schema SET version = 5`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenReadOnly(path); err == nil {
		t.Fatal("a reader opened a version 5 database")
	}
	up, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	checkShapeIsFresh(t, up)
	if b, _, err := up.Build(storetest.Ctx, id); err != nil || b.Inputs != nil {
		t.Fatalf("an old build after the upgrade: inputs %+v, %v", b.Inputs, err)
	}
	b := storetest.ParseFixture(t, storetest.Probe("plain-warm.log"))
	b.Inputs = storetest.InputsOf(map[string]string{"a.txt": "a"}, map[string]string{"V": "1"})
	id2 := storetest.MustIngest(t, up, b, store.Meta{Project: "p", Started: storetest.T0.Add(time.Hour)})
	if got, _, err := up.Build(storetest.Ctx, id2); err != nil || got.Inputs == nil || got.Inputs.Context.Root != b.Inputs.Context.Root {
		t.Fatalf("a new build after the upgrade: %+v, %v", got.Inputs, err)
	}
	checkIntegrity(t, up)
}

// What a context costs in the database: a build whose context differs from
// the previous build's by one file adds only the nodes on that file's path.
func TestContextStorageCost(t *testing.T) {
	s, _ := openTemp(t)
	files := map[string]string{}
	n := 20000
	if os.Getenv("BUILDSTATS_FIGURES") == "1" {
		n = 100000
	}
	for i := range n {
		files[fmt.Sprintf("pkg%02d/mod%02d/dir%d/file%03d.txt", i/10000, i/1000%10, i/100%10, i%100)] = fmt.Sprint("content ", i)
	}
	count := func() (nodes, bytes int64) {
		s.DB().QueryRow(`SELECT COUNT(*), COALESCE(SUM(length(data) + length(hash)), 0) FROM context_nodes`).Scan(&nodes, &bytes)
		return
	}
	ingest := func(hash string, at time.Duration) time.Duration {
		b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Inputs: &model.Inputs{Context: storetest.Manifest(files)},
			Vertices: []*model.Vertex{storetest.Step("", 1, 1, "COPY", ". .", time.Second)}}
		start := time.Now()
		storetest.MustIngest(t, s, b, store.Meta{Project: "p", Started: storetest.T0.Add(at), ContentHash: hash})
		return time.Since(start)
	}
	took := ingest("first", 0)
	nodes1, bytes1 := count()
	files["pkg00/mod03/dir4/file042.txt"] = "changed"
	took2 := ingest("second", time.Hour)
	nodes2, bytes2 := count()
	ingest("third", 2*time.Hour) // the same context again
	nodes3, _ := count()
	var dbBytes int64
	s.DB().QueryRow(`SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`).Scan(&dbBytes)
	t.Logf("%d files: first build %d nodes, %d bytes, ingested in %v; one changed file: +%d nodes, +%d bytes, ingested in %v; database %d KB",
		n, nodes1, bytes1, took.Round(time.Millisecond), nodes2-nodes1, bytes2-bytes1, took2.Round(time.Millisecond), dbBytes>>10)
	if nodes2-nodes1 != 4 {
		t.Errorf("one changed file added %d nodes, want 4 (its directory and each parent)", nodes2-nodes1)
	}
	if nodes3 != nodes2 {
		t.Errorf("the same context again added %d nodes", nodes3-nodes2)
	}
	if grew := bytes2 - bytes1; grew > 16<<10 {
		t.Errorf("one changed file added %d bytes", grew)
	}
	// Each build's inputs row is small, whatever the context's size.
	var rowBytes int
	s.DB().QueryRow(`SELECT MAX(length(inputs)) FROM build_inputs`).Scan(&rowBytes)
	if rowBytes > 512 {
		t.Errorf("an inputs row holds %d bytes", rowBytes)
	}
	checkIntegrity(t, s)
}

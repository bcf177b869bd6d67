package backend

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/postgres/pgtest"
	"github.com/buildstats/buildstats/store/storetest"
)

// A copy takes every build's inputs (the context's nodes too, each once)
// and causes, SQLite to PostgreSQL and back, and the checksums say so.
func TestCopyInputs(t *testing.T) {
	lite := open(t, filepath.Join(t.TempDir(), "history.db"), Write)
	files := map[string]string{"src/app.py": "1", "src/lib/u.py": "u", "docs/a.md": "a"}
	cause := store.BreakCause{Seq: 0, Kind: "context_files", Confidence: "exact", Area: "src/", RebuiltSeconds: 1.5, PreviousBuild: 1}
	for i, change := range []string{"1", "2"} {
		files["src/app.py"] = change
		b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded,
			Inputs:   storetest.InputsOf(files, map[string]string{"V": change, "API_TOKEN": "t" + change}),
			Vertices: []*model.Vertex{storetest.Step("", 1, 1, "COPY", "src/ /src/", time.Second)}}
		m := store.Meta{Project: "p", Started: storetest.T0.Add(time.Duration(i) * time.Hour), ContentHash: "in:" + change}
		if _, _, err := lite.Ingest(ctx, b, m, store.IngestOptions{Causes: []store.BreakCause{cause}}); err != nil {
			t.Fatal(err)
		}
	}
	db := pgtest.NewDatabase(t)
	pg := open(t, db.Writer, Write)
	res, err := Copy(ctx, lite, pg, CopyOptions{})
	if err != nil || res.Copied != 2 {
		t.Fatalf("copy: %+v %v", res, err)
	}
	back := open(t, filepath.Join(t.TempDir(), "back.db"), Write)
	res2, err := Copy(ctx, pg, back, CopyOptions{})
	if err != nil || res2.Checksum != res.Checksum {
		t.Fatalf("copy back: %+v %v", res2, err)
	}
	for _, to := range []store.Reader{pg, back} {
		sameBuilds(t, lite, to)
		inv, _ := to.Inventory(ctx)
		for _, it := range inv {
			if !it.Inputs || it.Causes != 1 {
				t.Errorf("inventory: %+v", it)
			}
			if c, err := to.BuildCauses(ctx, it.ID); err != nil || !reflect.DeepEqual(c, []store.BreakCause{cause}) {
				t.Errorf("causes: %+v %v", c, err)
			}
		}
		// The two contexts compare in the copy: every node is there.
		first, _ := to.Resolve(ctx, "previous", "p")
		second, _ := to.Resolve(ctx, "latest", "p")
		a, _, _ := to.Build(ctx, first)
		b, _, _ := to.Build(ctx, second)
		var changed []string
		err := model.DiffContexts(a.Inputs.Context, b.Inputs.Context, store.NodeLoader(ctx, to), nil, func(c model.ContextChange) bool {
			changed = append(changed, c.Path)
			return true
		})
		if err != nil || strings.Join(changed, ",") != "src/app.py" {
			t.Errorf("the copied contexts: %q %v", changed, err)
		}
	}
}

// A copy takes a build's kept log (build --keep-logs) with it, byte for
// byte, SQLite to PostgreSQL and back.
func TestCopyKeptLog(t *testing.T) {
	lite := open(t, filepath.Join(t.TempDir(), "history.db"), Write)
	kept := store.NewBuildLog([]byte("#1 [internal] load build definition\n#1 DONE 0.1s\n"), true)
	b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded,
		Vertices: []*model.Vertex{storetest.Step("", 1, 1, "RUN", "make", time.Second)}}
	if _, _, err := lite.Ingest(ctx, b, store.Meta{Project: "p", Started: storetest.T0, ContentHash: "log:1"}, store.IngestOptions{Log: kept}); err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewDatabase(t)
	pg := open(t, db.Writer, Write)
	if _, err := Copy(ctx, lite, pg, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	back := open(t, filepath.Join(t.TempDir(), "back.db"), Write)
	if _, err := Copy(ctx, pg, back, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, to := range []store.Reader{pg, back} {
		id, err := to.Resolve(ctx, "latest", "p")
		if err != nil {
			t.Fatal(err)
		}
		got, err := to.Log(ctx, id)
		if err != nil || got == nil || !reflect.DeepEqual(*got, *kept) {
			t.Errorf("the copied log: %+v %v, want %+v", got, err, kept)
		}
	}
}

package storetest

import (
	"crypto/sha256"
	"encoding/json"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// Manifest builds a context manifest in memory from path -> content, as
// collect/buildcontext would read it from a directory with those files.
// A content starting with "x:" is an executable file.
func Manifest(files map[string]string) *model.ContextManifest {
	m := &model.ContextManifest{Nodes: map[model.Hash]*model.ContextDir{}, Source: model.FromFlag}
	var build func(prefix string) model.Hash
	build = func(prefix string) model.Hash {
		d := &model.ContextDir{}
		seen := map[string]bool{}
		for p, content := range files {
			rest, ok := strings.CutPrefix(p, prefix)
			if !ok || rest == "" {
				continue
			}
			name, _, isDir := strings.Cut(rest, "/")
			if seen[name] {
				continue
			}
			seen[name] = true
			if isDir {
				m.Dirs++
				d.Entries = append(d.Entries, model.ContextEntry{Name: name, Mode: fs.ModeDir | 0o755, Hash: build(prefix + name + "/")})
				continue
			}
			mode := fs.FileMode(0o644)
			if c, ok := strings.CutPrefix(content, "x:"); ok {
				mode, content = 0o755, c
			}
			m.Files++
			m.Bytes += int64(len(content))
			d.Entries = append(d.Entries, model.ContextEntry{Name: name, Mode: mode, Size: int64(len(content)), Hash: sha256.Sum256([]byte(content))})
		}
		d.SortEntries()
		h := d.Hash()
		m.Nodes[h] = d
		return h
	}
	m.Root = build("")
	return m
}

// InputsOf is a full set of inputs for a test build.
func InputsOf(files map[string]string, args map[string]string) *model.Inputs {
	digest := "sha256:" + strings.Repeat("ab", 32)
	return &model.Inputs{
		Dockerfile: model.NewDockerfileInput("Dockerfile", []byte("FROM alpine:3.20\nARG VERSION\nCOPY src/ /src/\nRUN make\n"), model.FromFlag),
		BaseImages: []model.BaseImage{{Stage: "", Ref: "alpine:3.20", Digest: digest, Source: model.FromLog}},
		Args:       model.NewBuildArgs(args, model.FromFlag),
		Target:     &model.Recorded{Value: "app", Source: model.FromFlag},
		NoCache:    &model.NoCache{Stages: []string{"test"}, Source: model.FromFlag},
		Context:    Manifest(files),
		Commit:     &model.Recorded{Value: "0123abcd", Source: model.FromFlag},
		CacheSources: []model.CacheSource{{Ref: "ghcr.io/acme/app:cache", Error: "not found", Source: model.FromLog},
			{Ref: "type=gha", Source: model.FromDockerbuild}},
	}
}

// inputsBuild is a small build carrying inputs.
func inputsBuild(in *model.Inputs) *model.Build {
	return &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Inputs: in, Vertices: []*model.Vertex{
		Step("", 1, 2, "COPY", "src/ /src/", time.Second),
		Step("", 2, 2, "RUN", "make", 2*time.Second),
	}}
}

// withoutNodes is what a store gives back: the manifest without its nodes.
func withoutNodes(in *model.Inputs) *model.Inputs {
	out := *in
	if in.Context != nil {
		c := *in.Context
		c.Nodes = nil
		out.Context = &c
	}
	return &out
}

func testInputsRoundTrip(t *testing.T, open Opener) {
	s := open(t)
	files := map[string]string{"Dockerfile": "FROM alpine", "src/app.py": "print(1)", "src/lib/u.py": "u", "run.sh": "x:echo"}
	in := InputsOf(files, map[string]string{"VERSION": "1.2", "NPM_TOKEN": "s3cr3t"})
	id := MustIngest(t, s, inputsBuild(in), store.Meta{Project: "p", Started: T0, ContentHash: "in:1"})
	checkIntegrity(t, s)

	b, _, err := s.Build(Ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if b.Inputs == nil {
		t.Fatal("the inputs were not stored")
	}
	if b.Inputs.Context.Nodes != nil {
		t.Error("Build returned the context's nodes; they are fetched with ContextNodes")
	}
	want, _ := json.Marshal(withoutNodes(in))
	got, _ := json.Marshal(b.Inputs)
	if string(got) != string(want) {
		t.Errorf("inputs read back\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(string(got), "s3cr3t") {
		t.Error("a secret-looking build arg's value came back in clear")
	}
	if b.Inputs.Dockerfile.Content == "" {
		t.Error("the Dockerfile's text was not kept")
	}

	// Every node of the tree comes back, byte for byte.
	var hashes []model.Hash
	for h := range in.Context.Nodes {
		hashes = append(hashes, h)
	}
	nodes, err := s.ContextNodes(Ctx, append(hashes, sha256.Sum256([]byte("not a node"))))
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != len(hashes) {
		t.Fatalf("ContextNodes gave %d of %d nodes", len(nodes), len(hashes))
	}
	for h, d := range nodes {
		if d.Hash() != h || !reflect.DeepEqual(d.Entries, in.Context.Nodes[h].Entries) {
			t.Errorf("node %s differs", h)
		}
	}

	// A build without inputs has none.
	id2 := MustIngest(t, s, inputsBuild(nil), store.Meta{Project: "p", Started: T0.Add(time.Hour), ContentHash: "in:2"})
	if b, _, err := s.Build(Ctx, id2); err != nil || b.Inputs != nil {
		t.Errorf("a build stored without inputs has %+v (%v)", b.Inputs, err)
	}
}

// A context that differs by one file is compared through the store,
// fetching only the nodes on that file's path.
func testInputsContextDiff(t *testing.T, open Opener) {
	s := open(t)
	files := map[string]string{"Dockerfile": "FROM alpine", "README.md": "r"}
	for _, dir := range []string{"src", "docs", "tests"} {
		for _, sub := range []string{"a", "b", "c"} {
			files[dir+"/"+sub+"/f.txt"] = dir + sub
		}
	}
	before := InputsOf(files, nil)
	files["src/b/f.txt"] = "changed"
	after := InputsOf(files, nil)
	id1 := MustIngest(t, s, inputsBuild(before), store.Meta{Project: "p", Started: T0, ContentHash: "diff:1"})
	MustIngest(t, s, inputsBuild(after), store.Meta{Project: "p", Started: T0.Add(time.Hour), ContentHash: "diff:2"})
	checkIntegrity(t, s)

	stored, _, err := s.Build(Ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	var fetched []model.Hash
	load := func(hs []model.Hash) (map[model.Hash]*model.ContextDir, error) {
		fetched = append(fetched, hs...)
		return s.ContextNodes(Ctx, hs)
	}
	var changes []string
	err = model.DiffContexts(stored.Inputs.Context, after.Context, load, nil, func(c model.ContextChange) bool {
		changes = append(changes, string(c.Kind)+" "+c.Path)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changes, []string{"modified src/b/f.txt"}) {
		t.Errorf("changes: %q", changes)
	}
	// The stored root and src, src/b: nothing else is read.
	if len(fetched) != 3 {
		t.Errorf("fetched %d nodes, want 3", len(fetched))
	}
}

func testMissCauses(t *testing.T, open Opener) {
	s := open(t)
	ingest := func(hash, project, branch string, at time.Time, causes ...store.BreakCause) int64 {
		t.Helper()
		id, _, err := s.Ingest(Ctx, inputsBuild(nil), store.Meta{Project: project, Branch: branch, Started: at, ContentHash: hash},
			store.IngestOptions{Causes: causes})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	first := ingest("c:1", "p", "main", T0)
	ingest("c:2", "p", "main", T0.Add(time.Hour),
		store.BreakCause{Seq: 0, Kind: "context_files", Confidence: "exact", Area: "src/", RebuiltSeconds: 30, PreviousBuild: first},
		store.BreakCause{Seq: 1, Kind: "build_arg", Confidence: "exact", Area: "VERSION", RebuiltSeconds: 5, PreviousBuild: first})
	ingest("c:3", "p", "feature", T0.Add(2*time.Hour),
		store.BreakCause{Seq: 0, Kind: "context_files", Confidence: "likely", Area: "src/", RebuiltSeconds: 12.5})
	ingest("c:4", "other", "main", T0.Add(3*time.Hour),
		store.BreakCause{Seq: 0, Kind: "no_cache", Confidence: "exact", RebuiltSeconds: 100})
	ingest("c:5", "p", "main", T0.AddDate(0, 0, -40),
		store.BreakCause{Seq: 0, Kind: "base_image", Confidence: "exact", Area: "alpine:3.20", RebuiltSeconds: 60})
	checkIntegrity(t, s)

	got, err := s.MissCauses(Ctx, store.CauseQuery{Project: "p", Since: T0.AddDate(0, 0, -30)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("causes: %+v", got)
	}
	c := got[0]
	if c.Kind != "context_files" || c.Area != "src/" || c.Builds != 2 || c.Breaks != 2 || !Near(c.RebuiltSeconds, 42.5) ||
		c.Confidence["exact"] != 1 || c.Confidence["likely"] != 1 {
		t.Errorf("first: %+v", c)
	}
	if got[1].Kind != "build_arg" || !Near(got[1].RebuiltSeconds, 5) {
		t.Errorf("second: %+v", got[1])
	}
	if got, _ := s.MissCauses(Ctx, store.CauseQuery{Project: "p", Branch: "feature"}); len(got) != 1 || got[0].Breaks != 1 {
		t.Errorf("branch feature: %+v", got)
	}
	if got, _ := s.MissCauses(Ctx, store.CauseQuery{}); len(got) != 4 || got[0].Kind != "no_cache" {
		t.Errorf("everything: %+v", got)
	}
	if got, err := s.MissCauses(Ctx, store.CauseQuery{Project: "none"}); err != nil || got == nil || len(got) != 0 {
		t.Errorf("no builds: %+v, %v (want an empty list)", got, err)
	}
}

// A prune takes a build's inputs and causes with it, and sweeps the
// context nodes and Dockerfile texts no remaining build has; the nodes a
// remaining build shares stay. The inventory says which builds have
// inputs and how many causes.
func testInputsPrune(t *testing.T, open Opener) {
	s := open(t)
	shared := map[string]string{"lib/a.txt": "a", "lib/b.txt": "b"}
	withFiles := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range shared {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	oldIn := InputsOf(withFiles(map[string]string{"old/only.txt": "o", "src/app.py": "1"}), nil)
	oldIn.Dockerfile = model.NewDockerfileInput("Dockerfile", []byte("FROM old\n"), model.FromFlag)
	newIn := InputsOf(withFiles(map[string]string{"src/app.py": "2"}), nil)
	cause := store.BreakCause{Seq: 1, Kind: "context_files", Confidence: "exact", Area: "src/", RebuiltSeconds: 2}
	ingest := func(hash string, at time.Time, in *model.Inputs) {
		t.Helper()
		if _, _, err := s.Ingest(Ctx, inputsBuild(in), store.Meta{Project: "p", Started: at, ContentHash: hash},
			store.IngestOptions{Causes: []store.BreakCause{cause}}); err != nil {
			t.Fatal(err)
		}
	}
	ingest("prune:old", T0, oldIn)
	ingest("prune:new", T0.Add(24*time.Hour), newIn)
	inv, err := s.Inventory(Ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range inv {
		if !it.Inputs || it.Causes != 1 {
			t.Errorf("inventory of %s: inputs %v, causes %d", it.ContentHash, it.Inputs, it.Causes)
		}
	}
	// Nodes only the old build's tree has: its root, old/ and src/.
	var oldOnly []model.Hash
	for h := range oldIn.Context.Nodes {
		if newIn.Context.Nodes[h] == nil {
			oldOnly = append(oldOnly, h)
		}
	}
	res, err := s.Prune(Ctx, T0.Add(time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Builds != 1 || res.ContextNodes != len(oldOnly) {
		t.Errorf("prune: %d builds, %d context nodes; want 1, %d", res.Builds, res.ContextNodes, len(oldOnly))
	}
	checkIntegrity(t, s)
	if got, err := s.ContextNodes(Ctx, oldOnly); err != nil || len(got) != 0 {
		t.Errorf("nodes only the pruned build had: %d left (%v)", len(got), err)
	}
	var all []model.Hash
	for h := range newIn.Context.Nodes {
		all = append(all, h)
	}
	if got, err := s.ContextNodes(Ctx, all); err != nil || len(got) != len(all) {
		t.Errorf("the remaining build's nodes: %d of %d (%v)", len(got), len(all), err)
	}
	latest, err := s.Resolve(Ctx, "latest", "p")
	if err != nil {
		t.Fatal(err)
	}
	if b, _, err := s.Build(Ctx, latest); err != nil || b.Inputs == nil || b.Inputs.Dockerfile.Content == "" {
		t.Errorf("the remaining build's inputs: %+v, %v", b, err)
	}
	if c, err := s.BuildCauses(Ctx, latest); err != nil || len(c) != 1 || c[0] != cause {
		t.Errorf("the remaining build's causes: %+v, %v", c, err)
	}
	if got, err := s.MissCauses(Ctx, store.CauseQuery{}); err != nil || len(got) != 1 || got[0].Breaks != 1 {
		t.Errorf("causes after the prune: %+v, %v", got, err)
	}
}

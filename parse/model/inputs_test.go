package model

import (
	"crypto/sha256"
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
)

func TestLooksSecret(t *testing.T) {
	for name, want := range map[string]bool{
		"NPM_TOKEN": true, "github_token": true, "DB_PASSWORD": true, "AWS_SECRET_ACCESS_KEY": true,
		"SSH_PRIVATE_KEY": true, "AuthHeader": true, "GIT_CREDENTIALS": true, "API_KEY": true,
		"VERSION": false, "NODE_ENV": false, "GO_VERSION": false, "BASE": false, "TARGETPLATFORM": false,
	} {
		if got := LooksSecret(name); got != want {
			t.Errorf("LooksSecret(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestNewBuildArgsHashesSecrets(t *testing.T) {
	a := NewBuildArgs(map[string]string{"VERSION": "1.2", "NPM_TOKEN": "s3cr3t-value"}, FromFlag)
	data, _ := json.Marshal(a)
	if strings.Contains(string(data), "s3cr3t-value") {
		t.Fatalf("a secret value is kept in clear: %s", data)
	}
	if v, _ := a.Get("VERSION"); v.Value != "1.2" || v.Hashed {
		t.Errorf("VERSION = %+v, want its value", v)
	}
	tok, _ := a.Get("NPM_TOKEN")
	if !tok.Hashed || !strings.HasPrefix(tok.Value, "sha256:") {
		t.Errorf("NPM_TOKEN = %+v, want a hash", tok)
	}
	// The same value hashes the same, another differently: builds compare.
	b := NewBuildArgs(map[string]string{"NPM_TOKEN": "s3cr3t-value"}, FromLive)
	c := NewBuildArgs(map[string]string{"NPM_TOKEN": "other"}, FromLive)
	if x, _ := b.Get("NPM_TOKEN"); x != tok {
		t.Errorf("same value hashed differently: %v vs %v", x, tok)
	}
	if x, _ := c.Get("NPM_TOKEN"); x == tok {
		t.Errorf("different values hashed alike")
	}
	if a.Values[0].Name != "NPM_TOKEN" {
		t.Errorf("values not sorted by name: %+v", a.Values)
	}
}

func TestContextDirEncoding(t *testing.T) {
	d := &ContextDir{Entries: []ContextEntry{
		{Name: "a\nb", Mode: 0o644, Size: 3, Hash: sha256.Sum256([]byte("abc"))},
		{Name: "dir", Mode: fs.ModeDir | 0o755, Hash: sha256.Sum256([]byte("node"))},
		{Name: "link", Mode: fs.ModeSymlink | 0o777, Size: 6, Hash: sha256.Sum256([]byte("../out"))},
	}}
	got, err := DecodeContextDir(d.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 3 || got.Entries[0] != d.Entries[0] || got.Entries[2] != d.Entries[2] {
		t.Fatalf("round trip: %+v", got.Entries)
	}
	if got.Hash() != d.Hash() {
		t.Fatal("hash changed in a round trip")
	}
	for _, bad := range [][]byte{nil, {0}, {2}, {1, 5, 'a'}, append(d.Encode(), 1)} {
		if _, err := DecodeContextDir(bad); err == nil {
			t.Errorf("DecodeContextDir(%q) did not fail", bad)
		}
	}
}

// tree builds a manifest from path -> content ("" ending in / for a dir).
func tree(files map[string]string) *ContextManifest {
	m := &ContextManifest{Nodes: map[Hash]*ContextDir{}}
	var build func(prefix string) Hash
	build = func(prefix string) Hash {
		d := &ContextDir{}
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
				d.Entries = append(d.Entries, ContextEntry{Name: name, Mode: fs.ModeDir | 0o755, Hash: build(prefix + name + "/")})
				continue
			}
			mode := fs.FileMode(0o644)
			if strings.HasPrefix(content, "x:") {
				mode = 0o755
				content = content[2:]
			}
			d.Entries = append(d.Entries, ContextEntry{Name: name, Mode: mode, Size: int64(len(content)), Hash: sha256.Sum256([]byte(content))})
		}
		d.SortEntries()
		h := d.Hash()
		m.Nodes[h] = d
		return h
	}
	m.Root = build("")
	return m
}

func TestDiffContexts(t *testing.T) {
	base := map[string]string{"Dockerfile": "FROM x", "src/app.py": "print(1)", "src/lib/util.py": "u", "docs/a.md": "a", "run.sh": "echo"}
	with := func(changes map[string]string, drop ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range changes {
			out[k] = v
		}
		for _, d := range drop {
			for k := range out {
				if k == d || strings.HasPrefix(k, d+"/") {
					delete(out, k)
				}
			}
		}
		return out
	}
	cases := []struct {
		name  string
		after map[string]string
		want  []string
	}{
		{"same", with(nil), nil},
		{"content", with(map[string]string{"src/app.py": "print(2)"}), []string{"modified src/app.py"}},
		{"deep content", with(map[string]string{"src/lib/util.py": "v"}), []string{"modified src/lib/util.py"}},
		{"mode", with(map[string]string{"run.sh": "x:echo"}), []string{"mode run.sh"}},
		{"added file", with(map[string]string{"src/new.py": "n"}), []string{"added src/new.py"}},
		{"removed file", with(nil, "docs/a.md"), []string{"removed docs"}},
		{"added dir", with(map[string]string{"tests/t.py": "t"}), []string{"added tests/"}},
		{"two", with(map[string]string{"src/app.py": "2", "docs/a.md": "b"}), []string{"modified docs/a.md", "modified src/app.py"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := tree(base), tree(c.after)
			var got []string
			err := DiffContexts(a, b, nil, nil, func(ch ContextChange) bool {
				s := string(ch.Kind) + " " + ch.Path
				if ch.Dir && ch.Kind != ChangeMode {
					s += "/"
				}
				got = append(got, s)
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			// "removed docs" is a whole directory: the only file went.
			for i, g := range got {
				got[i] = strings.TrimSuffix(g, "/")
			}
			for i, w := range c.want {
				c.want[i] = strings.TrimSuffix(w, "/")
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("changes = %q, want %q", got, c.want)
			}
		})
	}
}

func TestDiffContextsWithinAndLoader(t *testing.T) {
	a := tree(map[string]string{"src/app.py": "1", "docs/a.md": "a"})
	b := tree(map[string]string{"src/app.py": "2", "docs/a.md": "b"})
	// The "before" manifest comes from a store: only its root is held.
	stored := a.Nodes
	a.Nodes = map[Hash]*ContextDir{a.Root: stored[a.Root]}
	var loads int
	load := func(hs []Hash) (map[Hash]*ContextDir, error) {
		loads++
		out := map[Hash]*ContextDir{}
		for _, h := range hs {
			if d := stored[h]; d != nil {
				out[h] = d
			}
		}
		return out, nil
	}
	var got []string
	within := func(p string, dir bool) bool { return p == "src" || strings.HasPrefix(p, "src/") }
	if err := DiffContexts(a, b, load, within, func(c ContextChange) bool { got = append(got, c.Path); return true }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "src/app.py" {
		t.Errorf("changes within src = %q", got)
	}
	if loads != 1 {
		t.Errorf("loaded %d times, want once (docs/ is not entered)", loads)
	}
	// A node nobody has is an error, not "no change".
	a.Nodes = map[Hash]*ContextDir{}
	if err := DiffContexts(a, b, nil, nil, func(ContextChange) bool { return true }); err == nil {
		t.Error("a missing node was not reported")
	}
}

func TestInputsMerge(t *testing.T) {
	in := &Inputs{BaseImages: []BaseImage{{Stage: "app", Ref: "alpine:3.20", Source: FromLog}}}
	in.Merge(&Inputs{
		BaseImages: []BaseImage{{Ref: "alpine:3.20", Digest: "sha256:" + strings.Repeat("a", 64), Source: FromLive}, {Ref: "golang:1.26", Source: FromLive}},
		Args:       NewBuildArgs(map[string]string{"V": "1"}, FromFlag),
		NoCache:    &NoCache{All: true, Source: FromFlag},
	})
	if len(in.BaseImages) != 2 || in.BaseImages[0].Digest == "" || in.BaseImages[0].Stage != "app" {
		t.Errorf("base images = %+v", in.BaseImages)
	}
	if in.Args == nil || in.NoCache == nil || !in.NoCache.Applies("any") {
		t.Errorf("merge lost inputs: %+v", in)
	}
	if (&Inputs{}).IsEmpty() != true || in.IsEmpty() {
		t.Error("IsEmpty")
	}
}

package buildcontext

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tonistiigi/fsutil"

	"github.com/buildstats/buildstats/parse/model"
)

// write creates files under dir: name -> content; a name ending in "/" is
// an empty directory.
func write(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func read(t testing.TB, dir string, opts Options) *model.ContextManifest {
	t.Helper()
	m, err := Read(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// paths lists every path of a manifest, directories with a trailing "/".
func paths(t testing.TB, m *model.ContextManifest) []string {
	t.Helper()
	var out []string
	var walk func(prefix string, h model.Hash)
	walk = func(prefix string, h model.Hash) {
		d := m.Nodes[h]
		if d == nil {
			t.Fatalf("node %s of %q missing", h, prefix)
		}
		for _, e := range d.Entries {
			if e.IsDir() {
				out = append(out, prefix+e.Name+"/")
				walk(prefix+e.Name+"/", e.Hash)
				continue
			}
			out = append(out, prefix+e.Name)
		}
	}
	walk("", m.Root)
	return out
}

func TestReadCountsAndStability(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"Dockerfile": "FROM scratch\n", "src/app.py": "print(1)\n", "src/lib/u.py": "u", "empty/": ""})
	a := read(t, dir, Options{})
	if a.Files != 3 || a.Dirs != 3 || a.Bytes != int64(len("FROM scratch\n")+len("print(1)\n")+1) {
		t.Errorf("files %d dirs %d bytes %d", a.Files, a.Dirs, a.Bytes)
	}
	if got := strings.Join(paths(t, a), " "); got != "Dockerfile empty/ src/ src/app.py src/lib/ src/lib/u.py" {
		t.Errorf("paths: %s", got)
	}
	if a.Source != model.FromFlag {
		t.Errorf("source %q", a.Source)
	}
	// A new modification time is not a change: a fresh checkout of the
	// same tree is the same context.
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "src/app.py"), later, later)
	if b := read(t, dir, Options{}); b.Root != a.Root {
		t.Error("touching a file changed the root")
	}
	// Content and mode are.
	write(t, dir, map[string]string{"src/app.py": "print(2)\n"})
	b := read(t, dir, Options{})
	if b.Root == a.Root {
		t.Fatal("a content change kept the root")
	}
	os.Chmod(filepath.Join(dir, "src/lib/u.py"), 0o755)
	c := read(t, dir, Options{})
	if c.Root == b.Root {
		t.Fatal("a mode change kept the root")
	}
	var changes []string
	model.DiffContexts(a, c, nil, nil, func(ch model.ContextChange) bool {
		changes = append(changes, string(ch.Kind)+" "+ch.Path)
		return true
	})
	if strings.Join(changes, ", ") != "modified src/app.py, mode src/lib/u.py" {
		t.Errorf("changes: %q", changes)
	}
}

// The ignore file is applied as BuildKit's file sync applies it: every
// case is checked against fsutil's own walker.
func TestIgnoreLikeFsutil(t *testing.T) {
	files := map[string]string{
		"Dockerfile": "x", "README.md": "x", "src/app.py": "x", "src/app_test.py": "x", "src/gen/out.py": "x",
		"node_modules/a/index.js": "x", "node_modules/keep/index.js": "x", ".git/HEAD": "x", "docs/a.md": "x",
		"docs/sub/b.md": "x", "build/": "", "tmp.log": "x", "deep/x/y/z.log": "x",
	}
	cases := []string{
		"",
		".git\nnode_modules\n",
		"*.md\n",
		"**/*.md\n!README.md\n",
		"node_modules\n!node_modules/keep\n",
		"*\n!src\n",
		"src\n!src/app.py\n",
		"docs/**\n!docs/sub/*.md\n",
		"**/*.log\nbuild\n",
		"/src/gen\n# a comment\n\n",
		"*\n!**/*.py\n",
	}
	for _, patterns := range cases {
		t.Run(strings.ReplaceAll(patterns, "\n", " "), func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, files)
			if patterns != "" {
				write(t, dir, map[string]string{".dockerignore": patterns})
			}
			got := paths(t, read(t, dir, Options{}))

			var want []string
			var excludes []string
			if patterns != "" {
				for _, l := range strings.Split(patterns, "\n") {
					if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
						excludes = append(excludes, strings.TrimPrefix(l, "/"))
					}
				}
			}
			err := fsutil.Walk(context.Background(), dir, &fsutil.FilterOpt{ExcludePatterns: excludes}, func(p string, fi os.FileInfo, err error) error {
				if err != nil {
					return err
				}
				p = filepath.ToSlash(p)
				if fi.IsDir() {
					p += "/"
				}
				want = append(want, p)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			slices.Sort(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("paths\n%s\nfsutil sends\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestDockerfileIgnoreFileWins(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{".dockerignore": "a.txt\n", "app.Dockerfile.dockerignore": "b.txt\n", "a.txt": "a", "b.txt": "b", "app.Dockerfile": "FROM scratch"})
	got := strings.Join(paths(t, read(t, dir, Options{Dockerfile: filepath.Join(dir, "app.Dockerfile")})), " ")
	if strings.Contains(got, "b.txt") || !strings.Contains(got, "a.txt") {
		t.Errorf("with app.Dockerfile: %s", got)
	}
	got = strings.Join(paths(t, read(t, dir, Options{})), " ")
	if strings.Contains(got, "a.txt") || !strings.Contains(got, "b.txt") {
		t.Errorf("with Dockerfile: %s", got)
	}
	// A change to an ignored file is no change.
	m1 := read(t, dir, Options{})
	write(t, dir, map[string]string{"a.txt": "changed"})
	if read(t, dir, Options{}).Root != m1.Root {
		t.Error("an ignored file changed the root")
	}
}

func TestHostileContext(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	write(t, outside, map[string]string{"secret": "do not read me"})
	write(t, dir, map[string]string{"ok.txt": "ok", "line\nbreak\x1b[31m.txt": "x"})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "abs-link")))
	must(os.Symlink("../../../../../../etc/passwd", filepath.Join(dir, "rel-link")))
	must(os.Symlink(outside, filepath.Join(dir, "dir-link")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))

	done := make(chan *model.ContextManifest)
	go func() { done <- read(t, dir, Options{}) }()
	var m *model.ContextManifest
	select {
	case m = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("reading a context with a FIFO hung")
	}
	entries := map[string]model.ContextEntry{}
	for _, e := range m.Nodes[m.Root].Entries {
		entries[e.Name] = e
	}
	if len(entries) != 6 {
		t.Fatalf("entries: %v", entries)
	}
	for _, name := range []string{"abs-link", "rel-link", "dir-link"} {
		e := entries[name]
		if e.Mode&fs.ModeSymlink == 0 || e.Size == int64(len("do not read me")) {
			t.Errorf("%s: %v size %d: a symlink must be recorded as itself", name, e.Mode, e.Size)
		}
	}
	if e := entries["fifo"]; e.Mode&fs.ModeNamedPipe == 0 || !e.Hash.IsZero() {
		t.Errorf("fifo: %+v", e)
	}
	if e := entries["line\nbreak\x1b[31m.txt"]; e.Size != 1 {
		t.Errorf("control characters in a name: %+v", e)
	}
	// Only the two regular files count as bytes: nothing outside was read.
	if m.Bytes != 3 {
		t.Errorf("bytes %d, want 3", m.Bytes)
	}
}

// A large file is hashed as a stream: memory stays flat.
func TestLargeFileStreams(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	const size = 256 << 20
	if err := f.Truncate(size); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := read(t, dir, Options{})
	runtime.ReadMemStats(&after)
	if m.Bytes != size {
		t.Errorf("bytes %d", m.Bytes)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("reading a %d MB file allocated %d MB", size>>20, grew>>20)
	}
}

func TestReadErrors(t *testing.T) {
	if _, err := Read(context.Background(), filepath.Join(t.TempDir(), "missing"), Options{}); err == nil {
		t.Error("a missing directory was read")
	}
	dir := t.TempDir()
	write(t, dir, map[string]string{"f": "x"})
	if _, err := Read(context.Background(), filepath.Join(dir, "f"), Options{}); err == nil {
		t.Error("a file was read as a context")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Read(ctx, dir, Options{}); err == nil {
		t.Error("a cancelled read succeeded")
	}
}

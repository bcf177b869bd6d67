// Package buildcontext reads a build context directory as BuildKit sees it
// and records it as a model.ContextManifest: every file and directory left
// after .dockerignore (or <Dockerfile>.dockerignore next to the
// Dockerfile, which BuildKit prefers), with its mode, size and a SHA-256 of
// its content, and a Merkle hash per directory. Modification times are
// left out, so a fresh checkout of the same tree is the same context.
//
// The ignore file is applied with github.com/moby/patternmatcher the way
// BuildKit's file sync (tonistiigi/fsutil) applies it: an excluded
// directory is not entered unless an exception (!pattern) could match
// inside it, and a directory that is excluded but holds an included file is
// kept.
//
// A context is hostile input. Symlinks are recorded with their target and
// never followed; files are opened through an os.Root, so a path that is
// swapped for a symlink while the context is read cannot lead outside it;
// files are hashed as a stream, whatever their size; names may hold any
// byte (escape them before showing them).
package buildcontext

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/buildstats/buildstats/parse/model"
)

// Options control Read.
type Options struct {
	// Dockerfile is the Dockerfile's path, for <Dockerfile>.dockerignore;
	// empty means <dir>/Dockerfile.
	Dockerfile string
	// Source is recorded as the manifest's source; model.FromFlag when
	// empty.
	Source model.InputSource
	// Workers bounds the files hashed at once; 0 means a few per CPU.
	Workers int
}

// Read walks the context directory dir and returns its manifest, with every
// directory node in Nodes.
func Read(ctx context.Context, dir string, opts Options) (*model.ContextManifest, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}

	patterns, ignoreHash, err := ignorePatterns(dir, opts.Dockerfile)
	if err != nil {
		return nil, err
	}
	w := &walker{nodes: map[model.Hash]*model.ContextDir{}}
	if len(patterns) > 0 {
		if w.pm, err = patternmatcher.New(patterns); err != nil {
			return nil, fmt.Errorf("build context: .dockerignore: %w", err)
		}
		w.prefixExceptions = true
		for _, p := range w.pm.Patterns() {
			if p.Exclusion() && strings.ContainsAny(withoutTrailingGlob(p), `*?[\`) {
				w.prefixExceptions = false
			}
		}
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = 2 * runtime.GOMAXPROCS(0)
	}
	w.jobs = make(chan hashJob, 256)
	for range workers {
		w.wg.Add(1)
		go w.work(ctx)
	}
	top, err := w.walk(ctx, root, "", patternmatcher.MatchInfo{}, false)
	close(w.jobs)
	w.wg.Wait()
	if err == nil {
		err = w.failed
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	src := opts.Source
	if src == "" {
		src = model.FromFlag
	}
	m := &model.ContextManifest{Root: w.finish(top), Files: w.files, Dirs: w.dirs, Bytes: w.bytes,
		Ignore: ignoreHash, Source: src, Nodes: w.nodes}
	return m, nil
}

// ignorePatterns reads the ignore file BuildKit would use: the
// Dockerfile's own <name>.dockerignore next to it, else .dockerignore at
// the context's root.
func ignorePatterns(dir, dockerfile string) ([]string, model.Hash, error) {
	if dockerfile == "" {
		dockerfile = filepath.Join(dir, "Dockerfile")
	}
	for _, p := range []string{dockerfile + ".dockerignore", filepath.Join(dir, ".dockerignore")} {
		data, err := readSmall(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, model.Hash{}, fmt.Errorf("build context: %w", err)
		}
		patterns, err := ignorefile.ReadAll(bytes.NewReader(data))
		if err != nil {
			return nil, model.Hash{}, fmt.Errorf("build context: %s: %w", p, err)
		}
		return patterns, sha256.Sum256(data), nil
	}
	return nil, model.Hash{}, nil
}

// maxIgnoreFile bounds an ignore file (BuildKit refuses large ones too).
const maxIgnoreFile = 4 << 20

func readSmall(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIgnoreFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxIgnoreFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, maxIgnoreFile)
	}
	return data, nil
}

func withoutTrailingGlob(p *patternmatcher.Pattern) string {
	s := filepath.ToSlash(p.String())
	s = strings.TrimSuffix(s, "/**")
	return strings.TrimSuffix(s, "/*")
}

type walker struct {
	pm *patternmatcher.PatternMatcher
	// prefixExceptions: every exception pattern is a plain path prefix,
	// so an excluded directory need only be entered when one names a
	// path inside it (fsutil's onlyPrefixExcludeExceptions).
	prefixExceptions bool

	// Files are hashed by a pool of workers while the walk goes on; node
	// hashes are computed once every file hash is in (finish).
	jobs chan hashJob
	wg   sync.WaitGroup

	mu     sync.Mutex
	nodes  map[model.Hash]*model.ContextDir
	files  int
	dirs   int
	bytes  int64
	failed error
}

// hashJob is a file to hash: its name in the directory held open by dir,
// and the entry to fill in.
type hashJob struct {
	dir   *openDir
	name  string
	rel   string
	entry *model.ContextEntry
}

// openDir is a directory held open, as an os.Root, for as long as files in
// it wait to be hashed: files are opened by their name in it, so nothing
// that is renamed or swapped for a symlink mid-walk can lead outside the
// context.
type openDir struct {
	root *os.Root
	refs atomic.Int32
}

func (d *openDir) release() {
	if d.refs.Add(-1) == 0 {
		d.root.Close()
	}
}

// dirNode is a directory read but not yet hashed.
type dirNode struct {
	d    *model.ContextDir
	subs []subDir
}

type subDir struct {
	i    int // index in d.Entries
	node *dirNode
}

// work hashes files until the jobs run out. Each worker has its own
// buffer.
func (w *walker) work(ctx context.Context) {
	defer w.wg.Done()
	buf := make([]byte, 64<<10)
	for j := range w.jobs {
		if ctx.Err() == nil {
			h, mode, size, err := hashFile(j.dir.root, j.name, j.rel, buf)
			if err != nil {
				w.fail(err)
			} else {
				j.entry.Hash, j.entry.Mode, j.entry.Size = h, mode, size
				w.mu.Lock()
				w.bytes += size
				w.mu.Unlock()
			}
		}
		j.dir.release()
	}
}

// put stores a node and returns its hash.
func (w *walker) put(d *model.ContextDir) model.Hash {
	h := d.Hash()
	w.nodes[h] = d
	return h
}

// finish computes the node hashes bottom-up, once every file is hashed.
func (w *walker) finish(n *dirNode) model.Hash {
	for _, s := range n.subs {
		n.d.Entries[s.i].Hash = w.finish(s.node)
	}
	return w.put(n.d)
}

func (w *walker) fail(err error) {
	w.mu.Lock()
	if w.failed == nil {
		w.failed = err
	}
	w.mu.Unlock()
}

// walk reads the directory rel ("" for the context's root), open as root,
// which it closes once its files are hashed. It returns nil when the
// directory is excluded and nothing in it is included.
func (w *walker) walk(ctx context.Context, root *os.Root, rel string, parentInfo patternmatcher.MatchInfo, excludedDir bool) (*dirNode, error) {
	od := &openDir{root: root}
	od.refs.Store(1)
	defer od.release()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ents, err := readDir(root)
	if err != nil {
		return nil, fmt.Errorf("build context: %s: %w", shown(rel), err)
	}
	// Entries never grow past len(ents), so the workers may keep pointers
	// into the slice.
	n := &dirNode{d: &model.ContextDir{Entries: make([]model.ContextEntry, 0, len(ents))}}
	for _, de := range ents {
		name := de.Name()
		p := name
		if rel != "" {
			p = rel + "/" + name
		}
		excluded := false
		var info patternmatcher.MatchInfo
		if w.pm != nil {
			excluded, info, err = w.pm.MatchesUsingParentResults(filepath.FromSlash(p), parentInfo)
			if err != nil {
				return nil, fmt.Errorf("build context: .dockerignore: %w", err)
			}
		}
		if excluded && (!de.IsDir() || !w.mayInclude(p)) {
			continue
		}
		if de.Type().IsRegular() {
			// The worker's fstat of the open file gives its mode and size:
			// no lstat needed.
			n.d.Entries = append(n.d.Entries, model.ContextEntry{Name: name})
			w.files++
			od.refs.Add(1)
			w.jobs <- hashJob{dir: od, name: name, rel: p, entry: &n.d.Entries[len(n.d.Entries)-1]}
			continue
		}
		fi, err := root.Lstat(name) // a symlink is itself, never its target
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while we read
		}
		if err != nil {
			return nil, fmt.Errorf("build context: %s: %w", shown(p), err)
		}
		e := model.ContextEntry{Name: name, Mode: fi.Mode() & modeBits}
		switch {
		case fi.IsDir():
			subRoot, err := root.OpenRoot(name)
			if err != nil {
				return nil, fmt.Errorf("build context: %s: %w", shown(p), err)
			}
			sub, err := w.walk(ctx, subRoot, p, info, excluded)
			if err != nil {
				return nil, err
			}
			if sub == nil {
				continue
			}
			n.subs = append(n.subs, subDir{len(n.d.Entries), sub})
			n.d.Entries = append(n.d.Entries, e)
			w.dirs++
			continue
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := root.Readlink(name)
			if err != nil {
				return nil, fmt.Errorf("build context: %s: %w", shown(p), err)
			}
			e.Size, e.Hash = int64(len(target)), sha256.Sum256([]byte(target))
		}
		n.d.Entries = append(n.d.Entries, e)
		w.files++
		if fi.Mode().IsRegular() { // the directory entry did not say (DT_UNKNOWN)
			od.refs.Add(1)
			w.jobs <- hashJob{dir: od, name: name, rel: p, entry: &n.d.Entries[len(n.d.Entries)-1]}
		}
	}
	if excludedDir && len(n.d.Entries) == 0 {
		return nil, nil // excluded, and nothing inside was brought back
	}
	return n, nil
}

// readDir lists the directory open as root, sorted by name as nodes must
// be.
func readDir(root *os.Root) ([]fs.DirEntry, error) {
	f, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, nil
}

// shown quotes a context path for an error message: it may hold any byte.
func shown(p string) string {
	if p == "" {
		return "the context directory"
	}
	return strconv.Quote(p)
}

// hashFile streams a regular file's content through SHA-256. It opens the
// file by its name in dir without following a symlink and without blocking
// on a FIFO swapped in after the directory was read.
// It returns the content hash, the mode and the number of bytes read.
func hashFile(dir *os.Root, name, rel string, buf []byte) (model.Hash, fs.FileMode, int64, error) {
	var h model.Hash
	f, err := dir.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return h, 0, 0, fmt.Errorf("build context: %s: %w", shown(rel), err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return h, 0, 0, fmt.Errorf("build context: %s: %w", shown(rel), err)
	}
	if !st.Mode().IsRegular() {
		return h, 0, 0, fmt.Errorf("build context: %s changed into a %v while it was read", shown(rel), st.Mode().Type())
	}
	sum := sha256.New()
	n, err := io.CopyBuffer(sum, onlyReader{f}, buf)
	if err != nil {
		return h, 0, 0, fmt.Errorf("build context: %s: %w", shown(rel), err)
	}
	sum.Sum(h[:0])
	return h, st.Mode() & modeBits, n, nil
}

// onlyReader hides a file's WriteTo, so io.CopyBuffer uses the buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// modeBits are the parts of a mode that BuildKit's cache keys see: the
// type, the permissions and setuid, setgid and sticky.
const modeBits = fs.ModeType | fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// mayInclude reports whether an excluded directory must still be entered:
// an exception pattern could match something inside it.
func (w *walker) mayInclude(dir string) bool {
	if !w.pm.Exclusions() {
		return false
	}
	if !w.prefixExceptions {
		return true
	}
	prefix := dir + "/"
	return slices.ContainsFunc(w.pm.Patterns(), func(p *patternmatcher.Pattern) bool {
		return p.Exclusion() && strings.HasPrefix(withoutTrailingGlob(p)+"/", prefix)
	})
}

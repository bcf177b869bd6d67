package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// Hash is a SHA-256 digest. It prints as "sha256:<hex>"; the zero Hash is
// "no hash".
type Hash [32]byte

// String returns "sha256:<hex>", or "" for the zero hash.
func (h Hash) String() string {
	if h.IsZero() {
		return ""
	}
	return "sha256:" + hex.EncodeToString(h[:])
}

// IsZero reports whether h is the zero hash.
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText encodes h as String does.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads "sha256:<hex>" (or "" for the zero hash).
func (h *Hash) UnmarshalText(b []byte) error {
	p, err := ParseHash(string(b))
	*h = p
	return err
}

// ParseHash reads "sha256:<64 hex>"; "" is the zero hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if s == "" {
		return h, nil
	}
	hx, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hx) != 64 {
		return h, fmt.Errorf("not a sha256 digest: %q", s)
	}
	if _, err := hex.Decode(h[:], []byte(hx)); err != nil {
		return h, fmt.Errorf("not a sha256 digest: %q", s)
	}
	return h, nil
}

// ContextManifest is a build context as BuildKit saw it: every file and
// directory left after .dockerignore, with its mode, size and a hash of its
// content (never its modification time, so a fresh checkout of the same
// tree is the same context). It is a Merkle tree of directory nodes: a
// directory's hash covers its entries, an entry's hash its content (a
// file), its node (a directory) or its target (a symlink). Two contexts
// with the same Root are the same, and comparing two trees reads only the
// directories whose hashes differ.
type ContextManifest struct {
	// Root is the hash of the context's top directory node.
	Root Hash `json:"root"`
	// Files, Dirs and Bytes count the regular files (and other non
	// directories), the directories below the top and the files' bytes.
	Files int   `json:"files"`
	Dirs  int   `json:"dirs"`
	Bytes int64 `json:"bytes"`
	// Ignore is the hash of the ignore file used (.dockerignore or
	// <Dockerfile>.dockerignore); zero when there was none.
	Ignore Hash        `json:"ignore,omitzero"`
	Source InputSource `json:"source"`
	// Nodes holds the directory nodes by hash: all of them for a context
	// that was just read, those loaded so far for one from a store (see
	// NodeLoader).
	Nodes map[Hash]*ContextDir `json:"-"`
}

// ContextDir is one directory's entries, sorted by name.
type ContextDir struct {
	Entries []ContextEntry
}

// ContextEntry is a file, directory, symlink or special file in a
// ContextDir.
type ContextEntry struct {
	// Name is the entry's name in its directory (no slash). It may hold
	// any byte but "/" and NUL: escape it before showing it.
	Name string
	// Mode is the entry's type and permission bits (fs.FileMode).
	Mode fs.FileMode
	// Size is a file's size, a symlink target's length, 0 otherwise.
	Size int64
	// Hash is the SHA-256 of a file's content, of a symlink's target, the
	// node hash of a directory; zero for special files.
	Hash Hash
}

// IsDir reports whether the entry is a directory.
func (e ContextEntry) IsDir() bool { return e.Mode.IsDir() }

// nodeVersion starts every encoded node, so the encoding can change.
const nodeVersion = 1

// Encode returns the node's canonical bytes: what its hash covers and what
// a store keeps. Entries must be sorted by name.
func (d *ContextDir) Encode() []byte {
	n := 1
	for _, e := range d.Entries {
		n += len(e.Name) + 3*binary.MaxVarintLen64 + len(e.Hash)
	}
	out := make([]byte, 0, n)
	out = append(out, nodeVersion)
	for _, e := range d.Entries {
		out = binary.AppendUvarint(out, uint64(len(e.Name)))
		out = append(out, e.Name...)
		out = binary.AppendUvarint(out, uint64(e.Mode))
		out = binary.AppendUvarint(out, uint64(max(e.Size, 0)))
		out = append(out, e.Hash[:]...)
	}
	return out
}

// Hash is the SHA-256 of the node's encoding.
func (d *ContextDir) Hash() Hash { return sha256.Sum256(d.Encode()) }

// ErrBadNode is returned for bytes that are not an encoded ContextDir.
var ErrBadNode = errors.New("not a context directory node")

// DecodeContextDir reads what Encode wrote.
func DecodeContextDir(b []byte) (*ContextDir, error) {
	if len(b) == 0 || b[0] != nodeVersion {
		return nil, ErrBadNode
	}
	b = b[1:]
	d := &ContextDir{}
	for len(b) > 0 {
		var e ContextEntry
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return nil, ErrBadNode
		}
		e.Name, b = string(b[k:k+int(n)]), b[k+int(n):]
		mode, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, ErrBadNode
		}
		e.Mode, b = fs.FileMode(mode), b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || size > 1<<62 {
			return nil, ErrBadNode
		}
		e.Size, b = int64(size), b[k:]
		if len(b) < len(e.Hash) {
			return nil, ErrBadNode
		}
		copy(e.Hash[:], b)
		b = b[len(e.Hash):]
		d.Entries = append(d.Entries, e)
	}
	return d, nil
}

// NodeLoader fetches directory nodes a ContextManifest does not hold, from
// a store: it returns those of hashes it has. A nil NodeLoader has none.
type NodeLoader func(hashes []Hash) (map[Hash]*ContextDir, error)

// ContextChange is one path that differs between two contexts.
type ContextChange struct {
	// Path is relative to the context, with "/" separators.
	Path string
	Kind ChangeKind
	// Dir is set when the path is a directory added or removed as a
	// whole (its files are not listed one by one).
	Dir bool
}

// ChangeKind says how a path changed.
type ChangeKind string

// Kinds of context changes.
const (
	ChangeAdded    ChangeKind = "added"
	ChangeRemoved  ChangeKind = "removed"
	ChangeModified ChangeKind = "modified" // content or type changed
	ChangeMode     ChangeKind = "mode"     // only the mode changed
)

// DiffContexts calls fn with each path that differs between the contexts
// before and after, in path order, reading only directories whose hashes
// differ. Directories added or removed as a whole are reported once (Dir
// set). within, when not nil, says which directories are worth entering
// and which paths are wanted (a COPY's sources): diffing stops there
// otherwise. fn returns false to stop early. Nodes missing from a manifest
// are fetched with load.
func DiffContexts(before, after *ContextManifest, load NodeLoader, within func(path string, dir bool) bool, fn func(ContextChange) bool) error {
	if before == nil || after == nil || before.Root == after.Root {
		return nil
	}
	w := differ{load: load, within: within, fn: fn, before: before, after: after}
	_, err := w.dir("", before.Root, after.Root)
	return err
}

type differ struct {
	before, after *ContextManifest
	load          NodeLoader
	within        func(path string, dir bool) bool
	fn            func(ContextChange) bool
}

// node returns a directory node of m, loading it if m lacks it.
func (w *differ) node(m *ContextManifest, h Hash) (*ContextDir, error) {
	if d := m.Nodes[h]; d != nil {
		return d, nil
	}
	// The other manifest may hold it: a directory that did not change.
	for _, o := range []*ContextManifest{w.before, w.after} {
		if d := o.Nodes[h]; d != nil {
			return d, nil
		}
	}
	if w.load != nil {
		got, err := w.load([]Hash{h})
		if err != nil {
			return nil, err
		}
		if d := got[h]; d != nil {
			if m.Nodes == nil {
				m.Nodes = map[Hash]*ContextDir{}
			}
			m.Nodes[h] = d
			return d, nil
		}
	}
	return nil, fmt.Errorf("context directory node %s is missing", h)
}

func (w *differ) dir(path string, a, b Hash) (bool, error) {
	da, err := w.node(w.before, a)
	if err != nil {
		return false, err
	}
	db, err := w.node(w.after, b)
	if err != nil {
		return false, err
	}
	i, j := 0, 0
	for i < len(da.Entries) || j < len(db.Entries) {
		var ea, eb *ContextEntry
		switch {
		case j >= len(db.Entries) || i < len(da.Entries) && da.Entries[i].Name < db.Entries[j].Name:
			ea = &da.Entries[i]
			i++
		case i >= len(da.Entries) || db.Entries[j].Name < da.Entries[i].Name:
			eb = &db.Entries[j]
			j++
		default:
			ea, eb = &da.Entries[i], &db.Entries[j]
			i++
			j++
		}
		name := ""
		if ea != nil {
			name = ea.Name
		} else {
			name = eb.Name
		}
		p := name
		if path != "" {
			p = path + "/" + name
		}
		var c ContextChange
		switch {
		case ea == nil:
			c = ContextChange{Path: p, Kind: ChangeAdded, Dir: eb.IsDir()}
		case eb == nil:
			c = ContextChange{Path: p, Kind: ChangeRemoved, Dir: ea.IsDir()}
		case *ea == *eb:
			continue
		case ea.IsDir() && eb.IsDir():
			if ea.Hash != eb.Hash {
				if w.within != nil && !w.within(p, true) {
					continue
				}
				if more, err := w.dir(p, ea.Hash, eb.Hash); err != nil || !more {
					return more, err
				}
			}
			if ea.Mode == eb.Mode {
				continue
			}
			c = ContextChange{Path: p, Kind: ChangeMode, Dir: true}
		case ea.Hash == eb.Hash && ea.Size == eb.Size && ea.Mode.Type() == eb.Mode.Type():
			c = ContextChange{Path: p, Kind: ChangeMode}
		default:
			c = ContextChange{Path: p, Kind: ChangeModified}
		}
		if w.within != nil && !w.within(p, c.Dir) {
			continue
		}
		if !w.fn(c) {
			return false, nil
		}
	}
	return true, nil
}

// SortEntries sorts a directory's entries by name, as Encode needs them.
func (d *ContextDir) SortEntries() {
	slices.SortFunc(d.Entries, func(a, b ContextEntry) int { return strings.Compare(a.Name, b.Name) })
}

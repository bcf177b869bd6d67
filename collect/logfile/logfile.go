// Package logfile reads saved build logs: a file or standard input, parsed
// in any format parse reads, and hashed as the bytes were, so a log is
// recognised when it is stored or looked up again.
package logfile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
)

// Stdin is the name that stands for standard input.
const Stdin = "-"

// Log is a parsed build log.
type Log struct {
	// Build is the log's build: the last one when it holds several.
	Build *model.Build
	// Builds are every build the log holds, in order (a CI retry, a script
	// that builds twice); Build is the last of them.
	Builds []*model.Build
	// Name is the file name, or "stdin".
	Name string
	// Hash is HashReader's sum of every byte of the log; empty when read
	// by ReadUnhashed.
	Hash string
	// ModTime is the file's modification time; zero for stdin.
	ModTime time.Time
}

// IsStdin reports whether the log was read from standard input.
func (l *Log) IsStdin() bool { return l.Name == "stdin" }

// ErrUnreadable wraps the errors of a log that cannot be opened: no such
// file, a directory, no permission.
var ErrUnreadable = errors.New("cannot read the build log")

// Open opens the log at path, or stdin for "-".
func Open(path string, stdin io.Reader) (io.ReadCloser, string, error) {
	if path == Stdin {
		return io.NopCloser(stdin), "stdin", nil
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("%w: %s: no such file", ErrUnreadable, path)
		}
		return nil, "", fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, "", fmt.Errorf("%w: %s is a directory, not a build log", ErrUnreadable, path)
	}
	return f, path, nil
}

// Read opens, parses and hashes the log at path ("-" for stdin). format
// forces an input format; "" detects it. Input that is not a build log is
// an error wrapping parse.ErrNotBuildLog.
func Read(path string, stdin io.Reader, format model.Format) (*Log, error) {
	return read(path, stdin, format, true)
}

// ReadUnhashed reads a log like Read without hashing it (Hash is empty),
// for a caller that will not look the log up: SHA-256 costs more CPU than
// parsing some formats.
func ReadUnhashed(path string, stdin io.Reader, format model.Format) (*Log, error) {
	return read(path, stdin, format, false)
}

func read(path string, stdin io.Reader, format model.Format, hash bool) (*Log, error) {
	in, name, err := Open(path, stdin)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	l := &Log{Name: name}
	if f, ok := in.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			l.ModTime = st.ModTime()
		}
	}
	if err := l.parse(in, format, hash); err != nil {
		return nil, err
	}
	return l, nil
}

// ReadFrom parses and hashes a log from r, named name (a log sent to the
// server, say). format forces an input format; "" detects it. Input that
// is not a build log is an error wrapping parse.ErrNotBuildLog; r's own
// errors (a body over its size limit) are returned wrapped.
func ReadFrom(r io.Reader, name string, format model.Format) (*Log, error) {
	l := &Log{Name: name}
	if err := l.parse(r, format, true); err != nil {
		return nil, err
	}
	return l, nil
}

// parse reads every build in r into l, hashing every byte when hash is set.
func (l *Log) parse(in io.Reader, format model.Format, hash bool) error {
	r := in
	var h *HashReader
	if hash {
		h = NewHashReader(in)
		r = h
	}
	builds, err := parse.ParseAll(r, parse.Options{Format: format})
	if err != nil {
		return fmt.Errorf("%s: %w", l.Name, err)
	}
	// The parser may stop before the end; the hash covers every byte.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("%s: %w", l.Name, err)
	}
	l.Builds, l.Build = builds, builds[len(builds)-1]
	if h != nil {
		l.Hash = h.Sum()
	}
	return nil
}

// BuildHash is the content hash of one build of the log, for storing it:
// the log's hash, and for a log of several builds the build's position
// ("sha256:…#2"), so each is stored once and found again.
func (l *Log) BuildHash(b *model.Build) string {
	if b.LogBuilds > 1 {
		return fmt.Sprintf("%s#%d", l.Hash, b.LogIndex)
	}
	return l.Hash
}

// Pick returns build n (1-based) of the log, or the last for n == 0.
func (l *Log) Pick(n int) (*model.Build, error) {
	switch {
	case n == 0:
		return l.Build, nil
	case n < 0 || n > len(l.Builds):
		return nil, fmt.Errorf("%s holds %d build%s: --build %d is not one of them", l.Name, len(l.Builds), plural(len(l.Builds)), n)
	}
	return l.Builds[n-1], nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// HashReader passes a log through while hashing it, so a log is parsed and
// hashed in one read.
type HashReader struct {
	r io.Reader
	h hash.Hash
}

// NewHashReader wraps r.
func NewHashReader(r io.Reader) *HashReader { return &HashReader{r: r, h: sha256.New()} }

func (h *HashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

// Sum returns "sha256:<hex>" of everything read so far. Drain the reader
// first (io.Copy(io.Discard, h)) in case the parser stopped early.
func (h *HashReader) Sum() string { return "sha256:" + hex.EncodeToString(h.h.Sum(nil)) }

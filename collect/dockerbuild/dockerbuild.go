// Package dockerbuild reads .dockerbuild files: the build records `docker
// buildx history export` writes, and docker/build-push-action uploads for
// every CI build. A .dockerbuild file is a gzipped tar of an OCI image
// layout (buildx util/desktop/bundle): index.json lists one manifest per
// build, whose config is the BuildKit history record as JSON
// (application/vnd.buildkit.historyrecord.v0) and whose layers are the
// build's progress stream (application/vnd.buildkit.status.v0, the same
// stream BuildKit's history API replays), its provenance attestation and
// its trace.
//
// Read turns each build into the model with what a live record has: exact
// times, the vertex graph, cache hits, errors and output, and the build's
// inputs (build args, target, --no-cache, the Dockerfile's text from the
// provenance, named contexts and resolved images with their digests), all
// marked model.FromDockerbuild. It needs no BuildKit client.
//
// A .dockerbuild file is hostile input: it is never extracted to disk,
// every blob is bounded and checked against its digest, and damage is an
// error, never a partial build.
package dockerbuild

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/buildstats/buildstats/collect/buildrecord"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
)

// Source is model.Build.Source for builds read from a .dockerbuild file.
const Source = "dockerbuild"

// Limits on what a file may hold.
const (
	// MaxBlob bounds one blob (a progress stream of a very large build is
	// tens of megabytes).
	MaxBlob = 256 << 20
	// MaxTotal bounds all blobs together.
	MaxTotal = 1 << 30
	// maxJSON bounds the index, manifests and records.
	maxJSON = 16 << 20
)

// ErrNotDockerbuild is returned for input that is not a .dockerbuild file
// (not a tar, gzipped or not, of an OCI layout with build records).
var ErrNotDockerbuild = errors.New("not a .dockerbuild file")

// Build is one build of a .dockerbuild file.
type Build struct {
	// Ref is the build's ref in its builder's history.
	Ref   string
	Build *model.Build
	// Record is the history record it was read from.
	Record *buildrecord.Record
}

// Detect reports whether the file at path looks like a .dockerbuild file:
// gzip or tar, which no build log is.
func Detect(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	return looksLike(head[:n])
}

func looksLike(head []byte) bool {
	return len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b ||
		len(head) >= 262 && string(head[257:262]) == "ustar"
}

// ReadFile reads the .dockerbuild file at path.
func ReadFile(path string) ([]Build, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f)
}

// Read reads a .dockerbuild file: every build it holds, in its index's
// order.
func Read(r io.Reader) ([]Build, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(512)
	if !looksLike(head) {
		return nil, fmt.Errorf("%w: neither gzip nor tar", ErrNotDockerbuild)
	}
	var tr *tar.Reader
	if head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotDockerbuild, err)
		}
		defer gz.Close()
		tr = tar.NewReader(gz)
	} else {
		tr = tar.NewReader(br)
	}
	blobs := map[string][]byte{}
	var index []byte
	total := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotDockerbuild, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue // directories; links are never followed
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch {
		case name == "index.json":
			if index, err = readAll(tr, maxJSON); err != nil {
				return nil, err
			}
		case strings.HasPrefix(name, "blobs/sha256/"):
			hexSum := strings.TrimPrefix(name, "blobs/sha256/")
			data, err := readAll(tr, MaxBlob)
			if err != nil {
				return nil, err
			}
			if total += len(data); total > MaxTotal {
				return nil, fmt.Errorf("%w: more than %d bytes of blobs", ErrNotDockerbuild, MaxTotal)
			}
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:]) != hexSum {
				return nil, fmt.Errorf("%w: blob %s does not match its digest", ErrNotDockerbuild, printable(hexSum))
			}
			blobs["sha256:"+hexSum] = data
		}
	}
	if index == nil {
		return nil, fmt.Errorf("%w: no index.json", ErrNotDockerbuild)
	}
	var idx struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(index, &idx); err != nil {
		return nil, fmt.Errorf("%w: index.json: %v", ErrNotDockerbuild, err)
	}
	var out []Build
	for _, md := range idx.Manifests {
		data, ok := blobs[md.Digest]
		if !ok || len(data) > maxJSON {
			continue
		}
		var m struct {
			Config descriptor   `json:"config"`
			Layers []descriptor `json:"layers"`
		}
		if json.Unmarshal(data, &m) != nil || m.Config.MediaType != buildrecord.MediaTypeRecord {
			continue
		}
		b, err := readBuild(blobs, m.Config.Digest)
		if err != nil {
			return nil, err
		}
		out = append(out, *b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no build record in it", ErrNotDockerbuild)
	}
	return out, nil
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

// readBuild turns the record with digest d into a build.
func readBuild(blobs map[string][]byte, d string) (*Build, error) {
	data, ok := blobs[d]
	if !ok {
		return nil, fmt.Errorf("%w: the build record %s is missing", ErrNotDockerbuild, printable(d))
	}
	rec := &buildrecord.Record{}
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, fmt.Errorf("%w: build record: %v", ErrNotDockerbuild, err)
	}
	if rec.Logs == nil {
		return nil, fmt.Errorf("%w: build %s has no progress stream", ErrNotDockerbuild, printable(rec.Ref))
	}
	status, ok := blobs[rec.Logs.Digest]
	if !ok {
		return nil, fmt.Errorf("%w: the progress stream of build %s is missing", ErrNotDockerbuild, printable(rec.Ref))
	}
	r := parse.NewRecorder()
	if err := buildrecord.DecodeStatus(bytes.NewReader(status), r.Add); err != nil {
		return nil, fmt.Errorf("build %s: %w", printable(rec.Ref), err)
	}
	b := r.Build()
	b.Source = Source
	b.Builder = "buildkit"
	buildrecord.Apply(b, rec)

	var prov []byte
	if pd := rec.Provenance(); pd != nil {
		prov = blobs[pd.Digest]
	}
	in := buildrecord.Inputs(rec.FrontendAttrs, prov, model.FromDockerbuild)
	if in == nil {
		in = &model.Inputs{}
	}
	if seen := parse.LogInputs(b); seen != nil {
		for i := range seen.BaseImages {
			seen.BaseImages[i].Source = model.FromDockerbuild
		}
		for i := range seen.CacheSources {
			seen.CacheSources[i].Source = model.FromDockerbuild
		}
		in.Merge(seen)
	}
	if !in.IsEmpty() {
		b.Inputs = in
	}
	return &Build{Ref: rec.Ref, Build: b, Record: rec}, nil
}

func readAll(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotDockerbuild, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: an entry larger than %d bytes", ErrNotDockerbuild, limit)
	}
	return data, nil
}

// printable keeps a name from the file on one line of plain text.
func printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

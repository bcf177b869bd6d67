package docker

import (
	"archive/tar"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// contextTar streams dir as the tar the Engine API's /build expects,
// leaving out what .dockerignore excludes. dockerfile is the Dockerfile
// path; when it lies outside dir it is added under a random name. The
// returned name is the Dockerfile's path inside the tar.
func contextTar(dir, dockerfile string) (io.ReadCloser, string, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", err
	}
	if dockerfile == "" {
		dockerfile = filepath.Join(absDir, "Dockerfile")
	}
	absDF, err := filepath.Abs(dockerfile)
	if err != nil {
		return nil, "", err
	}
	if fi, err := os.Stat(absDF); err != nil {
		return nil, "", fmt.Errorf("Dockerfile: %w", err)
	} else if fi.IsDir() {
		return nil, "", fmt.Errorf("Dockerfile %s is a directory", dockerfile)
	}
	var pm *patternmatcher.PatternMatcher
	if f, err := os.Open(filepath.Join(absDir, ".dockerignore")); err == nil {
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, "", fmt.Errorf(".dockerignore: %w", err)
		}
		if pm, err = patternmatcher.New(patterns); err != nil {
			return nil, "", fmt.Errorf(".dockerignore: %w", err)
		}
	}
	dfName, err := filepath.Rel(absDir, absDF)
	outside := err != nil || dfName == ".." || strings.HasPrefix(dfName, ".."+string(filepath.Separator))
	if outside {
		var rnd [8]byte
		rand.Read(rnd[:])
		dfName = ".dockerfile." + hex.EncodeToString(rnd[:])
	}
	dfName = filepath.ToSlash(dfName)

	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := writeTree(tw, absDir, pm, dfName)
		if err == nil && outside {
			err = addFile(tw, absDF, dfName)
		}
		if cerr := tw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	return pr, dfName, nil
}

// writeTree adds dir's files to tw. The Dockerfile and .dockerignore are
// always sent, as docker build does, even when .dockerignore lists them.
func writeTree(tw *tar.Writer, dir string, pm *patternmatcher.PatternMatcher, dfName string) error {
	return filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		name := filepath.ToSlash(rel)
		if pm != nil && name != dfName && name != ".dockerignore" {
			skip, err := pm.MatchesOrParentMatches(name)
			if err != nil {
				return err
			}
			// An excluded directory may still hold re-included files
			// (!pattern), so only prune when there are no exclusions.
			if skip {
				if de.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		return addFile(tw, p, name)
	})
}

func addFile(tw *tar.Writer, path, name string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	// Owned by root like docker build sends them: the uid of whoever runs
	// the build must not change cache keys.
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}

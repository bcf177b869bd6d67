package parse

import (
	"regexp"
	"strings"

	"github.com/buildstats/buildstats/parse/model"
)

// What the vertex names of a BuildKit build say about its inputs:
//
//	[stage 1/5] FROM docker.io/library/node:20-alpine@sha256:6741…     the FROM step, resolved
//	[internal] load metadata for docker.io/library/node:20-alpine      the reference resolved
//	[context base] load metadata for docker.io/library/base@sha256:…   a named build context (oci-layout://, docker-image://)
//	importing cache manifest from ghcr.io/acme/app:cache               --cache-from, with its error
var (
	loadMetadataRE = regexp.MustCompile(`^\[(internal|context ([^\]]+))\] load metadata for (\S+)$`)
	digestRE       = regexp.MustCompile(`@(sha256:[0-9a-f]{64})$`)
)

// LogInputs returns what b's own log shows of its inputs: the base images
// of its FROM steps and the digests they resolved to, named contexts that
// stood for images, and the caches it imported (with the error when an
// import failed). Every input it finds is marked model.FromLog. It returns
// nil when the log shows none.
//
// It reads the parsed vertices only, so every log format and a live or
// imported record give the same answer.
func LogInputs(b *model.Build) *model.Inputs {
	in := &model.Inputs{}
	var metadataOnly []model.BaseImage
	add := func(bi model.BaseImage) {
		for i, have := range in.BaseImages {
			if have.Key() != bi.Key() {
				continue
			}
			if have.Digest == "" {
				in.BaseImages[i].Digest = bi.Digest
			}
			if have.Stage == "" {
				in.BaseImages[i].Stage = bi.Stage
			}
			return
		}
		in.BaseImages = append(in.BaseImages, bi)
	}
	stages := map[string]bool{} // FROM ... AS name: later FROM name is a stage, not an image
	for _, v := range b.Vertices {
		if v.NameTruncated {
			continue // a tty cut: the reference or digest may be cut too
		}
		switch {
		case v.Instruction == "FROM":
			ref, alias := fromImage(v.Args)
			if alias != "" {
				stages[alias] = true
			}
			if ref == "" || strings.EqualFold(ref, "scratch") || strings.Contains(ref, "$") || stages[strings.ToLower(ref)] {
				continue
			}
			bi := model.BaseImage{Stage: strings.ToLower(v.Stage), Platform: v.Platform, Ref: model.NormaliseImage(ref),
				Digest: v.ImageDigest(), Source: model.FromLog}
			add(bi)
		case v.Activity() == model.ActivityBaseMetadata:
			m := loadMetadataRE.FindStringSubmatch(v.Name)
			if m == nil {
				continue
			}
			bi := model.BaseImage{Context: m[2], Platform: v.Platform, Ref: model.NormaliseImage(m[3]), Source: model.FromLog}
			if d := digestRE.FindStringSubmatch(m[3]); d != nil {
				bi.Digest = d[1]
			}
			if bi.Context == "" && bi.Digest == "" {
				// The FROM step names the same reference with its
				// digest: keep this one only if no FROM does.
				metadataOnly = append(metadataOnly, bi)
				continue
			}
			add(bi)
		case v.Activity() == model.ActivityCacheImport:
			ref := strings.TrimSpace(strings.TrimPrefix(v.Name, "importing cache manifest from"))
			if ref == v.Name || ref == "" {
				continue
			}
			cs := model.CacheSource{Ref: ref, Source: model.FromLog}
			switch {
			case v.Error != "":
				cs.Error = v.Error
			case len(v.Warnings) > 0:
				// A failed import is a warning of the vertex (the build
				// went on without it).
				cs.Error = v.Warnings[0]
			}
			in.CacheSources = append(in.CacheSources, cs)
		}
	}
	for _, bi := range metadataOnly {
		found := false
		for _, have := range in.BaseImages {
			found = found || have.Ref == bi.Ref && have.Context == ""
		}
		if !found {
			in.BaseImages = append(in.BaseImages, bi)
		}
	}
	if in.IsEmpty() {
		return nil
	}
	return in
}

// fromImage returns the image of FROM arguments (the first word that is
// not a flag such as --platform=...) and the stage name after AS,
// lower-cased.
func fromImage(args string) (image, alias string) {
	var words []string
	for _, w := range strings.Fields(args) {
		if !strings.HasPrefix(w, "--") {
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		return "", ""
	}
	if len(words) >= 3 && strings.EqualFold(words[1], "as") {
		alias = strings.ToLower(words[2])
	}
	return words[0], alias
}

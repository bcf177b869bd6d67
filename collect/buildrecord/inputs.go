package buildrecord

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/buildstats/buildstats/parse/model"
)

// MaxProvenance bounds a provenance attestation read for its inputs.
const MaxProvenance = 64 << 20

// provenance is the part of a BuildKit SLSA v1 provenance predicate the
// inputs come from (docs/attestations/slsa-definitions.md).
type provenance struct {
	BuildDefinition struct {
		ExternalParameters struct {
			Request struct {
				Frontend string            `json:"frontend"`
				Args     map[string]string `json:"args"`
			} `json:"request"`
		} `json:"externalParameters"`
		ResolvedDependencies []struct {
			URI    string            `json:"uri"`
			Digest map[string]string `json:"digest"`
		} `json:"resolvedDependencies"`
	} `json:"buildDefinition"`
	RunDetails struct {
		Metadata struct {
			BuildKit struct {
				Source struct {
					Infos []struct {
						Filename string `json:"filename"`
						Language string `json:"language"`
						Data     []byte `json:"data"`
					} `json:"infos"`
				} `json:"source"`
			} `json:"buildkit_metadata"`
		} `json:"metadata"`
	} `json:"runDetails"`
}

// statement is an in-toto statement around the predicate, in case the
// blob is one.
type statement struct {
	Predicate json.RawMessage `json:"predicate"`
}

var namedDigest = regexp.MustCompile(`^(docker-image|oci-layout)://(.*?)@(sha256:[0-9a-f]{64})$`)

// Inputs returns what a record's frontend attributes and its provenance
// attestation (nil when there is none) say of the build's inputs, marked
// src: the build args, target and --no-cache it was given, the commit, the
// named contexts that stood for images and their digests, the images it
// resolved, and the Dockerfile's text (the history's provenance carries it).
func Inputs(attrs map[string]string, prov []byte, src model.InputSource) *model.Inputs {
	in := &model.Inputs{}
	p, attrs := readProvenance(prov, attrs)
	// The record's attributes are the whole request: what is absent was
	// not given (a build with none has no attributes at all).
	args := map[string]string{}
	for k, v := range attrs {
		if name, ok := strings.CutPrefix(k, "build-arg:"); ok && name != "" {
			args[name] = v
		}
	}
	in.Args = model.NewBuildArgs(args, src)
	in.Target = &model.Recorded{Value: attrs["target"], Source: src}
	nc := &model.NoCache{Source: src}
	if v, ok := attrs["no-cache"]; ok {
		if v == "" {
			nc.All = true
		} else {
			for _, s := range strings.Split(v, ",") {
				if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
					nc.Stages = append(nc.Stages, s)
				}
			}
		}
	}
	in.NoCache = nc
	if c := attrs["vcs:revision"]; c != "" {
		in.Commit = &model.Recorded{Value: c, Source: src}
	}
	named := map[string]bool{} // digests a named context stands for
	var keys []string
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name, ok := strings.CutPrefix(k, "context:")
		if !ok || name == "" {
			continue
		}
		m := namedDigest.FindStringSubmatch(attrs[k])
		if m == nil {
			continue
		}
		ref := name
		if m[1] == "docker-image" {
			ref = model.NormaliseImage(m[2])
		}
		in.BaseImages = append(in.BaseImages, model.BaseImage{Context: name, Ref: ref, Digest: m[3], Source: src})
		named[m[3]] = true
	}
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		ref, ok := imageOf(d.URI)
		sum := d.Digest["sha256"]
		if !ok || len(sum) != 64 || named["sha256:"+sum] {
			continue
		}
		in.BaseImages = append(in.BaseImages, model.BaseImage{Ref: ref, Digest: "sha256:" + sum, Source: src})
	}
	filename := attrs["filename"]
	if filename == "" {
		filename = "Dockerfile"
	}
	for _, info := range p.RunDetails.Metadata.BuildKit.Source.Infos {
		if info.Language == "Dockerfile" && (info.Filename == filename || strings.HasSuffix(info.Filename, "/"+filename)) && len(info.Data) > 0 {
			in.Dockerfile = model.NewDockerfileInput(info.Filename, info.Data, src)
			break
		}
	}
	return nilIfEmpty(in)
}

// imageOf reads an image reference from a package URL of a resolved
// dependency: pkg:docker/alpine@3.20?platform=... is alpine:3.20.
func imageOf(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "pkg:docker/")
	if !ok {
		return "", false
	}
	rest, _, _ = strings.Cut(rest, "?")
	name, tag, _ := strings.Cut(rest, "@")
	name, err := url.PathUnescape(name)
	if err != nil || name == "" {
		return "", false
	}
	if tag != "" && !strings.HasPrefix(tag, "sha256:") {
		name += ":" + tag
	}
	return model.NormaliseImage(name), true
}

func nilIfEmpty(in *model.Inputs) *model.Inputs {
	if in.IsEmpty() {
		return nil
	}
	return in
}

// readProvenance decodes a provenance attestation (an in-toto statement or
// its bare predicate; empty, oversized or unreadable gives none) and
// returns it with the request's attributes: attrs, else the ones the
// provenance recorded.
func readProvenance(prov []byte, attrs map[string]string) (provenance, map[string]string) {
	var p provenance
	if len(prov) > 0 && len(prov) <= MaxProvenance {
		var st statement
		if json.Unmarshal(prov, &st) == nil && len(st.Predicate) > 0 {
			prov = st.Predicate
		}
		if json.Unmarshal(prov, &p) != nil {
			p = provenance{}
		}
	}
	if attrs == nil {
		attrs = p.BuildDefinition.ExternalParameters.Request.Args
	}
	return p, attrs
}

package buildrecord

import (
	"slices"
	"strings"

	"github.com/buildstats/buildstats/store"
)

// Facts reads what a build's frontend attributes (its history record's, or
// the ones a live build sends) and its provenance attestation (nil when
// none) say of the request, as `docker buildx history inspect` shows it.
// Cache, secret, SSH and output settings are not frontend attributes: the
// caller adds them where it knows them.
func Facts(frontend string, attrs map[string]string, prov []byte) *store.BuildFacts {
	p, attrs := readProvenance(prov, attrs)
	f := &store.BuildFacts{Frontend: frontend}
	if f.Frontend == "" {
		f.Frontend = p.BuildDefinition.ExternalParameters.Request.Frontend
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	put := func(m *map[string]string, k, v string) {
		if *m == nil {
			*m = map[string]string{}
		}
		(*m)[k] = v
	}
	for _, k := range keys {
		v := attrs[k]
		switch {
		case k == "filename":
			f.Dockerfile = v
		case k == "target":
			f.Target = v
		case k == "platform":
			for _, pl := range strings.Split(v, ",") {
				if pl = strings.TrimSpace(pl); pl != "" {
					f.Platforms = append(f.Platforms, pl)
				}
			}
		case k == "no-cache":
			f.NoCache = true
		case k == "image-resolve-mode":
			f.Pull = v == "pull"
		case k == "force-network-mode":
			f.Network = v
		case k == "vcs:revision":
			f.VCSRevision = v
		case k == "vcs:source":
			f.VCSSource = v
		case strings.HasPrefix(k, "build-arg:"):
			put(&f.BuildArgs, k[len("build-arg:"):], v)
		case strings.HasPrefix(k, "label:"):
			put(&f.Labels, k[len("label:"):], v)
		case strings.HasPrefix(k, "context:"):
			put(&f.Contexts, k[len("context:"):], v)
		case strings.HasPrefix(k, "attest:"):
			a := k[len("attest:"):]
			if strings.Contains(v, "disabled=true") {
				continue
			}
			if v != "" {
				a += ":" + v
			}
			f.Attests = append(f.Attests, a)
		}
	}
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		if d.URI == "" {
			continue
		}
		f.Materials = append(f.Materials, store.Material{URI: d.URI, Digest: d.Digest})
	}
	return f
}

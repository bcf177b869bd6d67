package buildkit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"
)

var digestSuffix = regexp.MustCompile(`@(sha256:[0-9a-f]{64})$`)

// addBuildContexts adds named build contexts (docker buildx build
// --build-context NAME=VALUE) to a dockerfile.v0 solve:
//
//	oci-layout:///path/to/layout[:tag|@sha256:…]  an image from a local OCI layout
//	docker-image://alpine:3.20                      an image reference
//	/path/to/dir or ./dir                           a local directory
//
// An OCI layout is offered to the daemon as a content store of the
// session, the way buildx and buildctl --oci-layout offer it, so a base
// image can come from a layout on disk with no registry.
func addBuildContexts(so *client.SolveOpt, contexts map[string]string) error {
	names := make([]string, 0, len(contexts))
	for name := range contexts {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		v := contexts[name]
		if name == "" || strings.ContainsAny(name, "=,") {
			return fmt.Errorf("--build-context %q: want NAME=VALUE", name+"="+v)
		}
		key := "context:" + name
		switch {
		case strings.HasPrefix(v, "oci-layout://"):
			dir, dgst, err := ociLayout(strings.TrimPrefix(v, "oci-layout://"))
			if err != nil {
				return fmt.Errorf("--build-context %s: %w", name, err)
			}
			store, err := local.NewStore(dir)
			if err != nil {
				return fmt.Errorf("--build-context %s: %w", name, err)
			}
			if so.OCIStores == nil {
				so.OCIStores = map[string]content.Store{}
			}
			id := fmt.Sprintf("buildstats-context-%d", i)
			so.OCIStores[id] = store
			so.FrontendAttrs[key] = "oci-layout://" + id + "@" + dgst
		case strings.HasPrefix(v, "docker-image://"):
			so.FrontendAttrs[key] = v
		case strings.Contains(v, "://"):
			return fmt.Errorf("--build-context %s: %q: want oci-layout://, docker-image:// or a directory", name, v)
		default:
			fs, err := fsutil.NewFS(v)
			if err != nil {
				return fmt.Errorf("--build-context %s: %w", name, err)
			}
			id := "buildstats-context-" + name
			so.LocalMounts[id] = fs
			so.FrontendAttrs[key] = "local:" + id
		}
	}
	return nil
}

// ociLayout splits "path[:tag|@digest]" and finds the manifest digest in
// the layout's index.json when no digest is given: the manifest tagged
// tag ("latest" by default), or the only one.
func ociLayout(ref string) (dir, dgst string, err error) {
	if m := digestSuffix.FindStringSubmatch(ref); m != nil {
		return strings.TrimSuffix(ref, "@"+m[1]), m[1], nil
	}
	dir, tag := ref, ""
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		dir, tag = ref[:i], ref[i+1:]
	}
	f, err := os.Open(filepath.Join(dir, "index.json"))
	if err != nil {
		return "", "", fmt.Errorf("not an OCI layout: %w", err)
	}
	defer f.Close()
	var idx struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.NewDecoder(io.LimitReader(f, 16<<20)).Decode(&idx); err != nil {
		return "", "", fmt.Errorf("%s/index.json: %w", dir, err)
	}
	want := tag
	if want == "" {
		want = "latest"
	}
	for _, m := range idx.Manifests {
		if m.Annotations["org.opencontainers.image.ref.name"] == want {
			return dir, m.Digest, nil
		}
	}
	if tag == "" && len(idx.Manifests) == 1 {
		return dir, idx.Manifests[0].Digest, nil
	}
	return "", "", fmt.Errorf("%s has no image tagged %q", dir, want)
}

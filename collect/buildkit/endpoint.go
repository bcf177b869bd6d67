package buildkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/appdefaults"

	// BuildKit's own connection helpers, registered by scheme, so that
	// client.New dials docker-container://, kube-pod://, ssh://,
	// podman-container:// and nerdctl-container:// as buildctl does.
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
	_ "github.com/moby/buildkit/client/connhelper/kubepod"
	_ "github.com/moby/buildkit/client/connhelper/nerdctlcontainer"
	_ "github.com/moby/buildkit/client/connhelper/podmancontainer"
	_ "github.com/moby/buildkit/client/connhelper/ssh"
)

// Endpoint says which BuildKit daemon to talk to, as buildctl and docker
// buildx take it: an address, or a buildx builder by name.
type Endpoint struct {
	// Addr is a BuildKit address: unix://PATH, tcp://HOST:PORT,
	// docker-container://NAME[?context=CTX], kube-pod://POD[?namespace=NS],
	// ssh://USER@HOST[/PATH], podman-container://NAME,
	// nerdctl-container://NAME.
	Addr string
	// Builder is a buildx builder name, read from the buildx configuration
	// ($BUILDX_CONFIG, else $DOCKER_CONFIG/buildx, else ~/.docker/buildx).
	// It and Addr exclude each other.
	Builder string
	// TLS is for tcp:// addresses, with buildctl's meaning.
	TLS TLSOptions
	// Getenv reads BUILDKIT_HOST, BUILDX_BUILDER, BUILDX_CONFIG,
	// DOCKER_CONFIG and HOME; nil means os.Getenv.
	Getenv func(string) string
}

// TLSOptions are buildctl's --tlscacert, --tlscert, --tlskey and
// --tlsservername.
type TLSOptions struct {
	CACert, Cert, Key, ServerName string
}

func (t TLSOptions) set() bool {
	return t.CACert != "" || t.Cert != "" || t.Key != "" || t.ServerName != ""
}

// Resolved is an Endpoint made concrete.
type Resolved struct {
	// Addr is the address handed to the BuildKit client; empty when Engine
	// is set.
	Addr string
	// Name says where the daemon is for messages and for the stored
	// builder: the address, or `buildx builder NAME (ADDR)`.
	Name string
	// Engine is set when the builder is the Docker Engine's own BuildKit
	// (buildx's docker driver): reach it through the Engine API at
	// DockerHost (empty: $DOCKER_HOST).
	Engine     bool
	DockerHost string

	opts []client.ClientOpt
}

// Resolve finds the address: Addr, else Builder, else $BUILDKIT_HOST, else
// $BUILDX_BUILDER, else BuildKit's default socket.
func (e Endpoint) Resolve() (Resolved, error) {
	getenv := e.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if e.Addr != "" && e.Builder != "" {
		return Resolved{}, errors.New("--addr and --builder name the daemon twice: give one")
	}
	var r Resolved
	tls := e.TLS
	switch {
	case e.Addr != "":
		r.Addr, r.Name = e.Addr, e.Addr
	case e.Builder != "":
		var err error
		if r, tls, err = builderEndpoint(e.Builder, getenv, tls); err != nil {
			return Resolved{}, err
		}
	case getenv("BUILDKIT_HOST") != "":
		r.Addr = getenv("BUILDKIT_HOST")
		r.Name = r.Addr
	case getenv("BUILDX_BUILDER") != "":
		var err error
		if r, tls, err = builderEndpoint(getenv("BUILDX_BUILDER"), getenv, tls); err != nil {
			return Resolved{}, err
		}
	default:
		r.Addr, r.Name = appdefaults.Address, appdefaults.Address
	}
	if r.Engine {
		if tls.set() {
			return Resolved{}, errors.New("the TLS flags are for tcp:// BuildKit addresses, not the Docker Engine")
		}
		return r, nil
	}
	u, err := url.Parse(r.Addr)
	if err != nil || u.Scheme == "" || !strings.Contains(r.Addr, "://") {
		return Resolved{}, fmt.Errorf("BuildKit address %q: want SCHEME://..., such as unix:///run/buildkit/buildkitd.sock or docker-container://NAME", r.Addr)
	}
	if tls.set() {
		if u.Scheme != "tcp" {
			return Resolved{}, fmt.Errorf("the TLS flags are for tcp:// addresses, not %s://", u.Scheme)
		}
		// As buildctl: the server name defaults to the address's host.
		name := tls.ServerName
		if name == "" {
			name = u.Hostname()
		}
		if tls.CACert != "" {
			r.opts = append(r.opts, client.WithServerConfig(name, tls.CACert))
		} else {
			r.opts = append(r.opts, client.WithServerConfigSystem(name))
		}
		if tls.Cert != "" || tls.Key != "" {
			if tls.Cert == "" || tls.Key == "" {
				return Resolved{}, errors.New("--tlscert and --tlskey go together")
			}
			r.opts = append(r.opts, client.WithCredentials(tls.Cert, tls.Key))
		}
	}
	return r, nil
}

// buildxNode and buildxBuilder are the parts of buildx's instance files
// (store.NodeGroup) read here.
type buildxNode struct {
	Name       string
	Endpoint   string
	DriverOpts map[string]string
}

type buildxBuilder struct {
	Name   string
	Driver string
	Nodes  []buildxNode
}

var builderName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9\.\-_]*$`)

// BuildxConfigDir is where buildx keeps its builders: $BUILDX_CONFIG, else
// $DOCKER_CONFIG/buildx, else ~/.docker/buildx.
func BuildxConfigDir(getenv func(string) string) string {
	if d := getenv("BUILDX_CONFIG"); d != "" {
		return d
	}
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "buildx")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".docker", "buildx")
}

// builderEndpoint reads buildx builder name's first node and says how to
// reach its BuildKit, as buildx's drivers do.
func builderEndpoint(name string, getenv func(string) string, tls TLSOptions) (Resolved, TLSOptions, error) {
	if !builderName.MatchString(name) {
		return Resolved{}, tls, fmt.Errorf("--builder %q is not a buildx builder name", name)
	}
	dir := BuildxConfigDir(getenv)
	dt, err := os.ReadFile(filepath.Join(dir, "instances", strings.ToLower(name)))
	if errors.Is(err, os.ErrNotExist) {
		if name == "default" {
			// buildx's default builder is the Docker Engine's own.
			return Resolved{Engine: true, Name: "buildx builder default (Docker Engine)"}, tls, nil
		}
		return Resolved{}, tls, fmt.Errorf("no buildx builder %q in %s (docker buildx ls lists them)", name, dir)
	}
	if err != nil {
		return Resolved{}, tls, fmt.Errorf("buildx builder %q: %w", name, err)
	}
	var b buildxBuilder
	if err := json.Unmarshal(dt, &b); err != nil {
		return Resolved{}, tls, fmt.Errorf("buildx builder %q: %s is not a buildx builder file: %v", name, filepath.Join(dir, "instances", strings.ToLower(name)), err)
	}
	if len(b.Nodes) == 0 {
		return Resolved{}, tls, fmt.Errorf("buildx builder %q has no nodes", name)
	}
	// A builder with several nodes builds each platform on its own node;
	// buildstats records one daemon, the first, as buildx lists it.
	n := b.Nodes[0]
	var r Resolved
	switch b.Driver {
	case "remote":
		r.Addr = n.Endpoint
		// The remote driver keeps its TLS files in its driver options;
		// flags given as well win.
		fill := func(dst *string, key string) {
			if *dst == "" {
				*dst = n.DriverOpts[key]
			}
		}
		fill(&tls.CACert, "cacert")
		fill(&tls.Cert, "cert")
		fill(&tls.Key, "key")
		fill(&tls.ServerName, "servername")
	case "docker-container":
		// buildx names the container buildx_buildkit_NODE; buildctl
		// dial-stdio inside it reaches the daemon.
		r.Addr = "docker-container://buildx_buildkit_" + n.Name
		switch {
		case n.Endpoint == "" || n.Endpoint == "default":
		case strings.Contains(n.Endpoint, "://"):
			// A Docker host rather than a context: the docker CLI the
			// helper runs reads it from the environment.
			if os.Getenv("DOCKER_HOST") == "" {
				os.Setenv("DOCKER_HOST", n.Endpoint)
			}
		default:
			r.Addr += "?context=" + url.QueryEscape(n.Endpoint)
		}
	case "docker":
		r.Engine = true
		if strings.Contains(n.Endpoint, "://") {
			r.DockerHost = n.Endpoint
		}
	case "kubernetes":
		return Resolved{}, tls, fmt.Errorf("buildx builder %q uses the kubernetes driver, whose pods get generated names: give --addr kube-pod://POD?namespace=NS (kubectl get pods lists them)", name)
	default:
		return Resolved{}, tls, fmt.Errorf("buildx builder %q uses the %q driver, which buildstats cannot reach", name, b.Driver)
	}
	if r.Engine {
		r.Name = fmt.Sprintf("buildx builder %s (Docker Engine)", b.Name)
	} else {
		r.Name = fmt.Sprintf("buildx builder %s (%s)", b.Name, r.Addr)
	}
	return r, tls, nil
}

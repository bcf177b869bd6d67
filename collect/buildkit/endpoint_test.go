package buildkit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/collect"
	"github.com/buildstats/buildstats/collect/daemontest"
	"github.com/buildstats/buildstats/parse/model"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// writeBuilder writes a buildx instance file as buildx's store saves it.
func writeBuilder(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "instances"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "instances", name), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestResolveEndpoint(t *testing.T) {
	dir := t.TempDir()
	writeBuilder(t, dir, "remote1", `{"Name":"remote1","Driver":"remote","Nodes":[{"Name":"remote10","Endpoint":"tcp://bk:1234","Platforms":null,"DriverOpts":{"cacert":"/ca.pem","cert":"/c.pem","key":"/k.pem","servername":"bk.example"},"Flags":null,"Files":null}],"Dynamic":false}`)
	writeBuilder(t, dir, "ctr", `{"Name":"ctr","Driver":"docker-container","Nodes":[{"Name":"ctr0","Endpoint":"desktop-linux","DriverOpts":{},"Flags":["--allow-insecure-entitlement=network.host"]}]}`)
	writeBuilder(t, dir, "eng", `{"Name":"eng","Driver":"docker","Nodes":[{"Name":"eng0","Endpoint":"unix:///var/run/docker.sock"}]}`)
	writeBuilder(t, dir, "k8s", `{"Name":"k8s","Driver":"kubernetes","Nodes":[{"Name":"k8s0","Endpoint":"kubernetes:///k8s?deployment=&kubeconfig="}]}`)
	writeBuilder(t, dir, "broken", `{"Name":`)
	env := map[string]string{"BUILDX_CONFIG": dir}

	for _, tc := range []struct {
		name     string
		e        Endpoint
		addr     string
		engine   bool
		resolved string // part of Name
		err      string
	}{
		{name: "flag", e: Endpoint{Addr: "unix:///x.sock"}, addr: "unix:///x.sock"},
		{name: "env", e: Endpoint{Getenv: envOf(map[string]string{"BUILDKIT_HOST": "tcp://h:1"})}, addr: "tcp://h:1"},
		{name: "default", e: Endpoint{Getenv: envOf(nil)}, addr: "unix:///run/buildkit/buildkitd.sock"},
		{name: "docker-container", e: Endpoint{Addr: "docker-container://bk"}, addr: "docker-container://bk"},
		{name: "kube-pod", e: Endpoint{Addr: "kube-pod://bk?namespace=ci"}, addr: "kube-pod://bk?namespace=ci"},
		{name: "ssh", e: Endpoint{Addr: "ssh://me@host"}, addr: "ssh://me@host"},
		{name: "remote builder", e: Endpoint{Builder: "remote1"}, addr: "tcp://bk:1234", resolved: "buildx builder remote1 (tcp://bk:1234)"},
		{name: "builder name case", e: Endpoint{Builder: "Remote1"}, addr: "tcp://bk:1234"},
		{name: "container builder", e: Endpoint{Builder: "ctr"}, addr: "docker-container://buildx_buildkit_ctr0?context=desktop-linux"},
		{name: "BUILDX_BUILDER", e: Endpoint{Getenv: envOf(map[string]string{"BUILDX_CONFIG": dir, "BUILDX_BUILDER": "ctr"})}, addr: "docker-container://buildx_buildkit_ctr0?context=desktop-linux"},
		{name: "engine builder", e: Endpoint{Builder: "eng"}, engine: true, resolved: "Docker Engine"},
		{name: "default builder", e: Endpoint{Builder: "default"}, engine: true},
		{name: "kubernetes", e: Endpoint{Builder: "k8s"}, err: "kube-pod://POD"},
		{name: "missing", e: Endpoint{Builder: "nope"}, err: `no buildx builder "nope" in ` + dir},
		{name: "broken", e: Endpoint{Builder: "broken"}, err: "not a buildx builder file"},
		{name: "bad name", e: Endpoint{Builder: "../x"}, err: "not a buildx builder name"},
		{name: "both", e: Endpoint{Addr: "unix:///x", Builder: "ctr"}, err: "give one"},
		{name: "tls on unix", e: Endpoint{Addr: "unix:///x", TLS: TLSOptions{CACert: "/ca"}}, err: "tcp://"},
		{name: "half a key pair", e: Endpoint{Addr: "tcp://h:1", TLS: TLSOptions{Cert: "/c"}}, err: "go together"},
		{name: "no scheme", e: Endpoint{Addr: "buildkitd:1234"}, err: "SCHEME://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.e.Getenv == nil {
				tc.e.Getenv = envOf(env)
			}
			r, err := tc.e.Resolve()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Addr != tc.addr || r.Engine != tc.engine || !strings.Contains(r.Name, tc.resolved) {
				t.Fatalf("resolved %+v, want addr %q engine %v name with %q", r, tc.addr, tc.engine, tc.resolved)
			}
		})
	}
	// The remote driver's TLS files become client options.
	r, err := Endpoint{Builder: "remote1", Getenv: envOf(env)}.Resolve()
	if err != nil || len(r.opts) != 2 {
		t.Fatalf("remote builder with TLS: %d client options, err %v", len(r.opts), err)
	}
}

// TestTLSDaemon reaches a tcp:// daemon that requires client certificates:
// with the right files it builds, without them or with another CA it is
// refused as unreachable.
func TestTLSDaemon(t *testing.T) {
	d := daemontest.StartBuildKitTLS(t)
	dir := daemontest.Context(t, daemontest.Simple, nil)
	tls := TLSOptions{CACert: d.TLS.CACert, Cert: d.TLS.ClientCert, Key: d.TLS.ClientKey}
	res, err := Build(t.Context(), BuildOptions{Addr: d.Addr, TLS: tls, ContextDir: dir, Progress: "quiet"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Build.Status != model.StatusSucceeded || res.Build.Builder != "buildkit "+d.Addr {
		t.Fatalf("status %s, builder %q", res.Build.Status, res.Build.Builder)
	}
	// The server name defaults to the address's host; another one that
	// the certificate names works too.
	named := tls
	named.ServerName = "buildkitd.test"
	if c, _, err := ConnectEndpoint(t.Context(), Endpoint{Addr: d.Addr, TLS: named}); err != nil {
		t.Fatalf("--tlsservername buildkitd.test: %v", err)
	} else {
		c.Close()
	}
	for name, bad := range map[string]TLSOptions{
		"no TLS":       {},
		"no client":    {CACert: d.TLS.CACert},
		"other CA":     {CACert: d.TLS.OtherCA, Cert: d.TLS.ClientCert, Key: d.TLS.ClientKey},
		"wrong server": {CACert: d.TLS.CACert, Cert: d.TLS.ClientCert, Key: d.TLS.ClientKey, ServerName: "elsewhere.test"},
	} {
		_, _, err := ConnectEndpoint(t.Context(), Endpoint{Addr: d.Addr, TLS: bad})
		if !errors.Is(err, collect.ErrDaemonUnavailable) || !strings.Contains(err.Error(), d.Addr) {
			t.Errorf("%s: err = %v, want unavailable naming %s", name, err, d.Addr)
		}
	}
}

// TestDockerContainerBuilder runs our test buildkitd in a container of a
// private dockerd, as buildx's docker-container driver does, and reaches
// it through BuildKit's docker-container helper: by address, and by a
// buildx builder name whose instance file buildx itself wrote.
func TestDockerContainerBuilder(t *testing.T) {
	dk := daemontest.StartDocker(t)
	bkc := daemontest.StartBuildKitContainer(t, dk, "buildx_buildkit_bstc0")
	dir := daemontest.Context(t, daemontest.CopyOnly, nil)

	res, err := Build(t.Context(), BuildOptions{Addr: bkc.Addr, ContextDir: dir, Progress: "quiet"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Build.Status != model.StatusSucceeded || res.Build.Builder != "buildkit "+bkc.Addr || len(res.Build.Vertices) == 0 {
		t.Fatalf("status %s, builder %q, %d vertices", res.Build.Status, res.Build.Builder, len(res.Build.Vertices))
	}

	// The same daemon's history, through the same helper.
	c, _, err := ConnectEndpoint(t.Context(), Endpoint{Addr: bkc.Addr})
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	if err := Import(t.Context(), c, ImportOptions{}, func(im Imported) error { refs = append(refs, im.Ref); return nil }); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(refs) != 1 || refs[0] != res.Ref {
		t.Fatalf("imported %v, want [%s]", refs, res.Ref)
	}

	// buildx's own instance file for a docker-container builder named
	// bstc (node bstc0, container buildx_buildkit_bstc0).
	bx := daemontest.NewBuildx(t)
	if out, err := bx.Run(t.Context(), "create", "--name", "bstc", "--driver", "docker-container", "--driver-opt", "network=host"); err != nil {
		t.Fatalf("buildx create: %v\n%s", err, out)
	}
	res, err = Build(t.Context(), BuildOptions{Builder: "bstc", Getenv: envOf(map[string]string{"DOCKER_CONFIG": bx.Config}), ContextDir: dir, Progress: "quiet"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Build.Status != model.StatusSucceeded || !strings.HasPrefix(res.Build.Builder, "buildkit buildx builder bstc (docker-container://buildx_buildkit_bstc0") {
		t.Fatalf("by builder name: status %s, builder %q", res.Build.Status, res.Build.Builder)
	}

	// A container that is not there: one line naming it.
	_, _, err = ConnectEndpoint(t.Context(), Endpoint{Addr: "docker-container://no_such_builder"})
	if !errors.Is(err, collect.ErrDaemonUnavailable) || !strings.Contains(err.Error(), "no_such_builder") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("missing container: %v", err)
	}
}

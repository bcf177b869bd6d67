package buildkit

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestBuildxFlagSyntax(t *testing.T) {
	cache, err := ParseCache("cache-from", []string{"type=local,src=/c", "reg.example/app:cache"})
	if err != nil || len(cache) != 2 || cache[0].Type != "local" || cache[0].Attrs["src"] != "/c" ||
		cache[1].Type != "registry" || cache[1].Attrs["ref"] != "reg.example/app:cache" {
		t.Fatalf("cache: %+v, %v", cache, err)
	}
	if _, err := ParseCache("cache-to", []string{"mode=max"}); err == nil || !strings.Contains(err.Error(), "type=") {
		t.Errorf("a cache without a type: %v", err)
	}
	attrs, err := attestAttrs([]string{"type=sbom,generator=img"}, "mode=max", "")
	if err != nil || !reflect.DeepEqual(attrs, map[string]string{"attest:sbom": "generator=img", "attest:provenance": "mode=max"}) {
		t.Fatalf("attest: %v, %v", attrs, err)
	}
	if attrs, _ := attestAttrs(nil, "false", "true"); attrs["attest:provenance"] != "disabled=true" || attrs["attest:sbom"] != "" {
		t.Errorf("--provenance false --sbom true: %v", attrs)
	}
	if _, _, err := networkMode("bridge"); err == nil {
		t.Error("--network bridge accepted")
	}
	if n, ent, _ := networkMode("host"); n != "host" || len(ent) != 1 {
		t.Errorf("host: %q %v", n, ent)
	}

	file := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(file, []byte("value-1\n"), 0o600)
	env := map[string]string{"TOKEN": "value-2"}
	vals, err := SecretValues([]string{"id=a,src=" + file, "id=TOKEN", "type=env,id=b,env=TOKEN"}, envOf(env))
	if err != nil || !reflect.DeepEqual(vals, []string{"value-1", "value-2", "value-2"}) {
		t.Fatalf("secrets: %v, %v", vals, err)
	}
	for _, bad := range []string{"src=" + file, "id=x,src=/no/such/file", "id=x,env=UNSET", "id=x,colour=red"} {
		if _, err := SecretValues([]string{bad}, envOf(env)); err == nil {
			t.Errorf("--secret %s accepted", bad)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, ids, err := sshProvider([]string{"default=" + sock, "deploy=" + sock}); err != nil || !reflect.DeepEqual(ids, []string{"default", "deploy"}) {
		t.Errorf("ssh: %v, %v", ids, err)
	}
	if _, _, err := sshProvider([]string{"deploy=/no/such/key"}); err == nil {
		t.Error("--ssh with a missing key accepted")
	}
}

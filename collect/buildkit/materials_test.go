package buildkit

import (
	"strings"
	"testing"

	"github.com/buildstats/buildstats/collect/daemontest"
)

// TestLiveMaterials: a live build's facts carry the materials of the
// provenance BuildKit recorded in its history, here the base image of a
// local OCI layout with its digest.
func TestLiveMaterials(t *testing.T) {
	d := daemontest.StartBuildKit(t)
	layout, dg := daemontest.OCILayout(t, map[string]string{"marker": "one\n"})
	dir := daemontest.Context(t, "FROM base\nCOPY Dockerfile /x\n", nil)
	res, err := Build(t.Context(), BuildOptions{Addr: d.Addr, ContextDir: dir, Progress: "quiet",
		BuildContexts: map[string]string{"base": "oci-layout://" + layout + "@" + dg}})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Facts
	if f == nil || len(f.Materials) != 1 || !strings.HasPrefix(f.Materials[0].URI, "pkg:oci/base") ||
		"sha256:"+f.Materials[0].Digest["sha256"] != dg || f.Contexts["base"] == "" {
		t.Fatalf("facts %+v", f)
	}
}

package daemontest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// buildxVersion is the buildx collect/install-test-deps.sh installs and
// fixtures/dockerbuild was made with.
const buildxVersion = "v0.38.2"

// BuildxBinDir is where collect/install-test-deps.sh puts buildx:
// $BUILDSTATS_BUILDX_DIR/bin, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/buildstats/buildx-<version>/bin.
func BuildxBinDir() string {
	if d := os.Getenv("BUILDSTATS_BUILDX_DIR"); d != "" {
		return filepath.Join(d, "bin")
	}
	return filepath.Join(cacheDir(), "buildx-"+buildxVersion, "bin")
}

// Buildx is buildx, run standalone, driving a BuildKitd through buildx's
// remote driver, with a Docker config directory of its own: no Docker
// daemon and nothing of the user's configuration takes part.
type Buildx struct {
	// Bin is the buildx binary, Config its DOCKER_CONFIG, Builder the
	// name of the remote builder.
	Bin, Config, Builder string
	// DockerHost is the Docker daemon buildx sees; empty means none.
	DockerHost string
}

// NewBuildx returns buildx with a configuration directory of its own and
// no builder, seeing the Docker daemon at DOCKER_HOST (as
// StartBuildKitContainer sets it). It skips t (or fails it, with
// BUILDSTATS_REQUIRE_DAEMONS=1) when buildx is not installed.
func NewBuildx(t testing.TB) *Buildx {
	t.Helper()
	bin := filepath.Join(BuildxBinDir(), "buildx")
	if _, err := os.Stat(bin); err != nil {
		unavailable(t, "buildx %s not found at %s; %s", buildxVersion, bin, InstallHint)
	}
	return &Buildx{Bin: bin, Config: t.TempDir(), DockerHost: os.Getenv("DOCKER_HOST")}
}

// Buildx returns buildx set up against d. It skips t (or fails it, with
// BUILDSTATS_REQUIRE_DAEMONS=1) when buildx is not installed.
func (d *BuildKitd) Buildx(t testing.TB) *Buildx {
	t.Helper()
	bin := filepath.Join(BuildxBinDir(), "buildx")
	if _, err := os.Stat(bin); err != nil {
		unavailable(t, "buildx %s not found at %s; %s", buildxVersion, bin, InstallHint)
	}
	b := &Buildx{Bin: bin, Config: t.TempDir(), Builder: "buildstats-test"}
	if out, err := b.Run(context.Background(), "create", "--name", b.Builder, "--driver", "remote", d.Addr); err != nil {
		t.Fatalf("buildx create: %v\n%s", err, out)
	}
	return b
}

// Run runs buildx with args and returns its combined output.
func (b *Buildx) Run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, b.Bin, args...)
	host := b.DockerHost
	if host == "" {
		host = "unix:///nonexistent"
	}
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+b.Config, "BUILDX_BUILDER="+b.Builder, "DOCKER_HOST="+host)
	return cmd.CombinedOutput()
}

// Export writes the builds with the given history refs to a .dockerbuild
// file at dest (docker buildx history export).
func (b *Buildx) Export(t testing.TB, dest string, refs ...string) {
	t.Helper()
	args := append([]string{"history", "export", "--builder", b.Builder, "-o", dest}, refs...)
	if out, err := b.Run(context.Background(), args...); err != nil {
		t.Fatalf("buildx history export: %v\n%s", err, out)
	}
}

package daemontest

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
	"time"
)

// ContainerImage is the image StartBuildKitContainer builds: the test
// buildkitd, buildctl and runc with their shared libraries, FROM scratch.
const ContainerImage = "buildstats-buildkitd:test"

// CopyOnly is a Dockerfile whose build runs no process: BuildKit in a
// container of the test dockerd cannot create the cgroups RUN needs (its
// /sys/fs/cgroup is read-only without --privileged, which this kernel's
// capability set refuses).
const CopyOnly = `FROM scratch
COPY busybox /bin/busybox
COPY Dockerfile /Dockerfile
`

// BuildKitContainer is the test buildkitd running in a container of a
// private dockerd, as buildx's docker-container driver runs it.
type BuildKitContainer struct {
	// Name is the container's name; Addr is docker-container://Name.
	Name, Addr string
	Docker     *Dockerd
}

// StartBuildKitContainer builds ContainerImage in d (no registry: an
// image imported from a root filesystem of the cached binaries), runs it
// as container name and waits until buildctl inside it answers. It sets
// DOCKER_HOST for t, since BuildKit's docker-container connection helper
// runs the docker CLI, which reads it. The container is removed when t
// ends, before d stops.
func StartBuildKitContainer(t testing.TB, d *Dockerd, name string) *BuildKitContainer {
	t.Helper()
	docker, err := exec.LookPath("docker")
	if err != nil {
		unavailable(t, "the docker CLI is not in PATH (BuildKit's docker-container helper runs it); %s", InstallHint)
	}
	t.Setenv("DOCKER_HOST", d.Host)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := func(stdin io.Reader, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, docker, args...)
		cmd.Stdin = stdin
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v\n%s\ndockerd log:\n%s", args, err, out, d.Log())
		}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeBuildKitRootFS(pw)) }()
	run(pr, "import", "--change", `ENTRYPOINT ["/usr/bin/buildkitd"]`, "--change", "ENV PATH=/usr/bin", "-", ContainerImage)

	// Not --privileged: it asks for every capability, and runc cannot
	// grant one this machine's bounding set lacks. Mounting snapshots
	// needs SYS_ADMIN, unconfined.
	run(nil, "run", "-d", "--name", name, "--network=host",
		"--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
		ContainerImage, "--oci-worker-snapshotter=native", "--containerd-worker=false")
	t.Cleanup(func() {
		_ = exec.Command(docker, "rm", "-f", name).Run()
	})
	c := &BuildKitContainer{Name: name, Addr: "docker-container://" + name, Docker: d}
	for {
		if exec.CommandContext(ctx, docker, "exec", name, "buildctl", "debug", "workers").Run() == nil {
			return c
		}
		select {
		case <-ctx.Done():
			logs, _ := exec.Command(docker, "logs", name).CombinedOutput()
			t.Fatalf("buildkitd in container %s did not answer:\n%s", name, logs)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var lddPath = regexp.MustCompile(`(?m)(/\S+)\s+\(0x`)

// writeBuildKitRootFS writes a tar of a root filesystem holding buildkitd,
// buildctl and runc in /usr/bin and the shared libraries ldd names.
func writeBuildKitRootFS(w io.Writer) error {
	bins := []string{filepath.Join(BuildKitBinDir(), "buildkitd"), filepath.Join(BuildKitBinDir(), "buildctl")}
	if runc, err := exec.LookPath("runc"); err == nil {
		bins = append(bins, runc)
	}
	files := map[string]string{} // path in the image -> path here
	for _, b := range bins {
		files["usr/bin/"+filepath.Base(b)] = b
		out, err := exec.Command("ldd", b).Output()
		if err != nil {
			continue // static
		}
		for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
			files[m[1][1:]] = m[1]
		}
	}
	tw := tar.NewWriter(w)
	for _, dir := range []string{"etc", "tmp", "run", "proc", "sys", "dev", "var", "var/lib", "var/lib/buildkit"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755}); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	made := map[string]bool{}
	for _, n := range names {
		for d := filepath.Dir(n); d != "." && !made[d]; d = filepath.Dir(d) {
			made[d] = true
		}
	}
	dirs := make([]string, 0, len(made))
	for d := range made {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs) // parents first
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
			return err
		}
	}
	for _, n := range names {
		if err := addFile(tw, n, files[n]); err != nil {
			return err
		}
	}
	return tw.Close()
}

func addFile(tw *tar.Writer, name, src string) error {
	f, err := os.Open(src) // follows symlinks: the image gets the file itself
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: fi.Size()}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

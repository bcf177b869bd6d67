package daemontest

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Busybox is the static busybox the test images are made of: no registry is
// reachable from the tests, so every Dockerfile is FROM scratch plus this.
const Busybox = "/bin/busybox"

// Context writes a build context for t: the Dockerfile, busybox as
// ./busybox, and the given extra files (name -> content). It returns the
// directory, removed when t ends.
func Context(t testing.TB, dockerfile string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := copyFile(Busybox, filepath.Join(dir, "busybox")); err != nil {
		t.Skipf("copy %s into the build context: %v", Busybox, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Dockerfiles used across the collector tests.
const (
	// Simple copies busybox and runs one short command.
	Simple = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox","sh","-c","/bin/busybox echo hello from run"]
`
	// MultiStage has two independent stages the frontend solves in
	// parallel, joined in the final one.
	MultiStage = `FROM scratch AS base
COPY busybox /bin/busybox

FROM base AS left
RUN ["/bin/busybox","sh","-c","/bin/busybox sleep 2; /bin/busybox echo left > /left.txt"]

FROM base AS right
RUN ["/bin/busybox","sh","-c","/bin/busybox sleep 2; /bin/busybox echo right > /right.txt"]

FROM scratch
COPY --from=left /left.txt /left.txt
COPY --from=right /right.txt /right.txt
`
	// Failing exits 3 after printing a few lines.
	Failing = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox","sh","-c","for i in 1 2 3 4 5; do /bin/busybox echo line $i; done; /bin/busybox echo oops >&2; exit 3"]
`
	// Slow runs long enough to be cancelled or have its daemon killed.
	Slow = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox","sh","-c","/bin/busybox echo started; /bin/busybox sleep 60"]
`
)

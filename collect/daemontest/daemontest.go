// Package daemontest starts private BuildKit and Docker daemons for tests:
// each on sockets in its own temp directory, waited for until it answers,
// and stopped by PID when the test ends, with its mounts, runc containers
// and children cleaned up so no daemon, mount or network link is left
// behind. It also holds the helpers the BuildKit and Docker collector tests
// share to check what those builds record.
//
// When a daemon cannot run here (not root, a binary missing) the test is
// skipped with the reason and the install command, so a plain `go test ./...`
// passes on a bare machine. Set BUILDSTATS_REQUIRE_DAEMONS=1 (CI, after
// collect/install-test-deps.sh) to make that a failure instead.
//
// It is for tests only. It is not internal so that the tests of
// cmd/buildstats, outside collect/, can use it too; no non-test code may
// import it.
package daemontest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
	dockerclient "github.com/moby/moby/client"
)

// InstallHint is how to get every daemon dependency.
const InstallHint = "run collect/install-test-deps.sh as root (apt-get install runc busybox-static docker.io; builds buildkitd and buildx into the cache)"

// buildkitVersion is used when the test binary carries no module
// information; it must match go.mod.
const buildkitVersion = "v0.34.2"

// BuildKitVersion is the github.com/moby/buildkit version the tests are
// built against, which the daemon must match.
func BuildKitVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/moby/buildkit" {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return buildkitVersion
}

// BuildKitBinDir is where collect/install-test-deps.sh puts buildkitd and
// buildctl: $BUILDSTATS_BUILDKIT_DIR/bin, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/buildstats/buildkit-<version>/bin.
func BuildKitBinDir() string {
	if d := os.Getenv("BUILDSTATS_BUILDKIT_DIR"); d != "" {
		return filepath.Join(d, "bin")
	}
	return filepath.Join(cacheDir(), "buildkit-"+BuildKitVersion(), "bin")
}

// cacheDir is where collect/install-test-deps.sh keeps what it builds.
func cacheDir() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "/root" // as the install script assumes without $HOME
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "buildstats")
}

// uncached reads BUILDSTATS_TEST_RUN, which .ci/run sets anew on every
// run: the Go test cache keys a package's result on the environment its
// tests read, so a test against a live daemon is never replayed from the
// cache in CI, where the daemon's behaviour is what is being tested.
func uncached() { _ = os.Getenv("BUILDSTATS_TEST_RUN") }

// unavailable skips the test, or fails it when daemons are required.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("BUILDSTATS_REQUIRE_DAEMONS") == "1" {
		t.Fatalf("%s (BUILDSTATS_REQUIRE_DAEMONS=1)", msg)
	}
	t.Skip(msg)
}

// requireCommon checks what both daemons need to run builds with RUN steps.
func requireCommon(t testing.TB) {
	t.Helper()
	uncached()
	if os.Geteuid() != 0 {
		unavailable(t, "needs root to run a private daemon (uid %d)", os.Geteuid())
	}
	if _, err := exec.LookPath("runc"); err != nil {
		unavailable(t, "runc not found in PATH; %s", InstallHint)
	}
	if _, err := os.Stat(Busybox); err != nil {
		unavailable(t, "%s not found (Debian busybox-static); %s", Busybox, InstallHint)
	}
}

// BuildKitd is a running private buildkitd.
type BuildKitd struct {
	// Addr is the daemon address, "unix:///tmp/bstNNN/buildkitd.sock".
	Addr string
	// Buildctl is the path of the matching buildctl binary.
	Buildctl string
	// Dir is the daemon's private directory (socket, state root, log).
	Dir string
	// TLS is set for a daemon started by StartBuildKitTLS.
	TLS *TLSFiles

	daemon
}

// StartBuildKit starts a private buildkitd for t and stops it when t ends.
// It skips t when buildkitd cannot run here.
func StartBuildKit(t testing.TB) *BuildKitd {
	t.Helper()
	return startBuildKit(t, false)
}

// StartBuildKitTLS starts a private buildkitd listening on tcp://127.0.0.1
// with TLS and client certificates required, as a remote builder is
// usually run; d.TLS has a CA, server and client certificates made for it.
func StartBuildKitTLS(t testing.TB) *BuildKitd {
	t.Helper()
	return startBuildKit(t, true)
}

func startBuildKit(t testing.TB, tls bool) *BuildKitd {
	t.Helper()
	requireCommon(t)
	bin := BuildKitBinDir()
	buildkitd := filepath.Join(bin, "buildkitd")
	if _, err := os.Stat(buildkitd); err != nil {
		unavailable(t, "buildkitd %s not found at %s; %s", BuildKitVersion(), buildkitd, InstallHint)
	}
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "bsk")
	if err != nil {
		t.Fatal(err)
	}
	d := &BuildKitd{
		Addr:     "unix://" + filepath.Join(dir, "buildkitd.sock"),
		Buildctl: filepath.Join(bin, "buildctl"),
		Dir:      dir,
		daemon:   newDaemon(t, "buildkitd", dir),
	}
	args := []string{"--addr", d.Addr}
	if tls {
		d.Addr, d.TLS = "tcp://127.0.0.1:"+freePort(t), makeTLSFiles(t, dir)
		args = []string{"--addr", d.Addr, "--tlscacert", d.TLS.CACert, "--tlscert", d.TLS.ServerCert, "--tlskey", d.TLS.ServerKey}
	}
	d.start(buildkitd, d.answers, append(args,
		"--root", filepath.Join(dir, "root"),
		"--containerd-worker=false",
		"--oci-worker=true",
	)...)
	return d
}

func (d *BuildKitd) answers(ctx context.Context) bool {
	var opts []bkclient.ClientOpt
	if d.TLS != nil {
		opts = append(opts, bkclient.WithServerConfig("127.0.0.1", d.TLS.CACert), bkclient.WithCredentials(d.TLS.ClientCert, d.TLS.ClientKey))
	}
	c, err := bkclient.New(ctx, d.Addr, opts...)
	if err != nil {
		return false
	}
	defer c.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	w, err := c.ListWorkers(pctx)
	return err == nil && len(w) > 0
}

// RunBuildctl runs the matching buildctl against the daemon and returns its
// combined output.
func (d *BuildKitd) RunBuildctl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, d.Buildctl, append([]string{"--addr", d.Addr}, args...)...)
	return cmd.CombinedOutput()
}

// Dockerd is a running private dockerd (Debian docker.io) with its own data
// root, exec root and socket, no bridge and no iptables rules. RUN steps need
// network mode "none" on it.
type Dockerd struct {
	// Host is the DOCKER_HOST value for it, "unix:///tmp/bsdNNN/docker.sock".
	Host string
	// Dir is the daemon's private directory.
	Dir string

	daemon
}

// StartDocker starts a private dockerd for t and stops it when t ends. It
// skips t when dockerd cannot run here.
func StartDocker(t testing.TB) *Dockerd {
	t.Helper()
	requireCommon(t)
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		unavailable(t, "dockerd not found in PATH (Debian docker.io); %s", InstallHint)
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		unavailable(t, "containerd not found in PATH (Debian docker.io); %s", InstallHint)
	}
	dir, err := os.MkdirTemp("", "bsd")
	if err != nil {
		t.Fatal(err)
	}
	d := &Dockerd{Host: "unix://" + filepath.Join(dir, "docker.sock"), Dir: dir, daemon: newDaemon(t, "dockerd", dir)}
	// --bridge=none: no docker0 link on the host; vfs: works on any
	// filesystem, and these images are small.
	d.start(dockerd, d.answers,
		"--host", d.Host,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--iptables=false", "--ip6tables=false", "--bridge=none",
		"--storage-driver=vfs",
	)
	return d
}

func (d *Dockerd) answers(ctx context.Context) bool {
	c, err := dockerclient.New(dockerclient.WithHost(d.Host))
	if err != nil {
		return false
	}
	defer c.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = c.Ping(pctx, dockerclient.PingOptions{})
	return err == nil
}

// daemon is what BuildKitd and Dockerd share: a daemon process with its
// own directory, logging to <name>.log there.
type daemon struct {
	name string // the binary's name, "buildkitd" or "dockerd"
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	t    testing.TB
}

func newDaemon(t testing.TB, name, dir string) daemon {
	return daemon{name: name, dir: dir, done: make(chan struct{}), t: t}
}

// start runs bin with args as the daemon, stops it when t ends, and waits
// up to 60 s for answers to report it up; it fails t if the daemon exits or
// does not answer by then.
func (d *daemon) start(bin string, answers func(context.Context) bool, args ...string) {
	t := d.t
	t.Helper()
	logf, err := os.Create(filepath.Join(d.dir, d.name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = daemonAttrs()
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(d.dir)
		t.Fatalf("start %s: %v", d.name, err)
	}
	go func() { d.cmd.Wait(); logf.Close(); close(d.done) }()
	t.Cleanup(d.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		if answers(ctx) {
			return
		}
		select {
		case <-d.done:
			t.Fatalf("%s exited at start:\n%s", d.name, d.Log())
		case <-ctx.Done():
			t.Fatalf("%s did not answer within 60s:\n%s", d.name, d.Log())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PID is the daemon's process id.
func (d *daemon) PID() int { return d.cmd.Process.Pid }

// Log returns the daemon's log so far.
func (d *daemon) Log() string { return readTail(filepath.Join(d.dir, d.name+".log"), 8<<10) }

// Kill kills the daemon at once (SIGKILL), as a crash would. Stop still
// cleans up after it, including any processes it started (dockerd's
// containerd).
func (d *daemon) Kill() {
	if d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-d.done
}

// Stop stops the daemon by PID (SIGTERM, then SIGKILL after 20 s) and
// removes everything it left: runc containers, mounts, child processes and
// its directory. It runs at test cleanup; calling it twice is harmless.
func (d *daemon) Stop() {
	stopProcess(d.t, d.name, d.cmd, d.done)
	cleanupDir(d.t, d.dir)
}

// daemonAttrs puts a daemon in its own process group, so a ^C to the test
// reaches the test's cleanup first, and has the kernel kill it if the test
// process dies without cleaning up.
func daemonAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func stopProcess(t testing.TB, name string, cmd *exec.Cmd, done chan struct{}) {
	if cmd.Process == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Logf("%s (pid %d) ignored SIGTERM for 20s; killing it", name, cmd.Process.Pid)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// cleanupDir removes what a stopped daemon may have left under dir: runc
// containers (after a SIGKILL their processes live on), processes started
// from dir (dockerd's containerd and shims), then mounts, then dir itself.
func cleanupDir(t testing.TB, dir string) {
	if dir == "" {
		return
	}
	if _, err := os.Stat(dir); err != nil {
		return
	}
	killRuncContainers(t, dir)
	killProcessesUnder(t, dir)
	unmountUnder(t, dir)
	if err := os.RemoveAll(dir); err != nil {
		t.Logf("daemontest: remove %s: %v", dir, err)
	}
}

// runcRoot is runc's default state root, which both buildkitd's OCI worker
// and dockerd's embedded BuildKit use.
const runcRoot = "/run/runc"

// killRuncContainers force-deletes the runc containers a daemon in dir
// left behind: after a SIGKILL (or a stop while a step starts) their init
// processes live on, waiting for a start that never comes. A container is
// the daemon's when its rootfs lies under dir; runc state lives in
// /run/runc or under dir.
func killRuncContainers(t testing.TB, dir string) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		return
	}
	roots := map[string]bool{runcRoot: true}
	var ids []string // container ids: BuildKit names executor dirs by them
	filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if de.IsDir() && (de.Name() == "rootfs" || de.Name() == "vfs" || de.Name() == "snapshots") {
			return filepath.SkipDir // image and container files, not state
		}
		if de.IsDir() && filepath.Base(filepath.Dir(p)) == "executor" {
			ids = append(ids, de.Name())
		}
		if de.Name() == "state.json" {
			roots[filepath.Dir(filepath.Dir(p))] = true
		}
		return nil
	})
	for root := range roots {
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			data, err := os.ReadFile(filepath.Join(root, e.Name(), "state.json"))
			if err != nil {
				continue
			}
			var st struct {
				Config struct {
					Rootfs string `json:"rootfs"`
				} `json:"config"`
			}
			if json.Unmarshal(data, &st) != nil || !strings.HasPrefix(st.Config.Rootfs, dir+"/") {
				continue
			}
			if out, err := exec.Command(runc, "--root", root, "delete", "--force", e.Name()).CombinedOutput(); err != nil {
				t.Logf("daemontest: runc delete %s: %v: %s", e.Name(), err, bytes.TrimSpace(out))
			}
		}
	}
	// A runc killed while creating a container leaves a state directory
	// holding only its exec.fifo, which runc delete does not know.
	for _, id := range ids {
		sd := filepath.Join(runcRoot, id)
		if ents, err := os.ReadDir(sd); err == nil && len(ents) <= 1 && (len(ents) == 0 || ents[0].Name() == "exec.fifo") {
			os.RemoveAll(sd)
		}
	}
}

// killProcessesUnder kills, by PID, processes whose command line names dir:
// nothing else can mention a fresh temp directory.
func killProcessesUnder(t testing.TB, dir string) {
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(dir)) {
			continue
		}
		if p, err := os.FindProcess(pid); err == nil {
			t.Logf("daemontest: killing leftover pid %d: %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
			_ = p.Signal(syscall.SIGKILL)
		}
	}
	// Give the kernel a moment to reap them before unmounting.
	time.Sleep(100 * time.Millisecond)
}

// unmountUnder lazily unmounts every mount point below dir, deepest first.
func unmountUnder(t testing.TB, dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			p := unescapeMount(fields[4])
			if p == dir || strings.HasPrefix(p, dir+"/") {
				points = append(points, p)
			}
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		if err := syscall.Unmount(points[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			t.Logf("daemontest: unmount %s: %v", points[i], err)
		}
	}
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func readTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

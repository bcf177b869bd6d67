package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/collect/daemontest"
	"github.com/buildstats/buildstats/store/sqlite"
)

// These tests run `buildstats build`, `import` and `layers` against private
// daemons started by collect/daemontest. They skip when the daemons cannot
// run here (see that package), except the ones that need no daemon.

// liveCLI runs buildstats with a private history database given by --db,
// and a HOME of its own so nothing falls back to the real one.
type liveCLI struct {
	t   *testing.T
	db  string
	env map[string]string
}

func newLiveCLI(t *testing.T) *liveCLI {
	dir := t.TempDir()
	return &liveCLI{t: t, db: filepath.Join(dir, "history.db"), env: map[string]string{"HOME": dir}}
}

func (c *liveCLI) run(args ...string) result {
	c.t.Helper()
	return run(c.t, nil, c.env, false, args...)
}

// want runs buildstats and fails the test unless it exits with code.
func (c *liveCLI) want(code int, args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != code {
		c.t.Fatalf("buildstats %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, code, r.out, r.err)
	}
	return r
}

// liveRow is what these tests read of a `history --format json` row.
type liveRow struct {
	ID          int64    `json:"id"`
	Project     string   `json:"project"`
	Status      string   `json:"status"`
	StepsTotal  int      `json:"steps_total"`
	StepsCached int      `json:"steps_cached"`
	StepsRan    int      `json:"steps_run"`
	StepsFailed int      `json:"steps_failed"`
	Dockerfile  string   `json:"dockerfile"`
	Tags        []string `json:"tags"`
	ContentHash string   `json:"content_hash"`
}

// history lists project's stored builds, newest first.
func (c *liveCLI) history(project string) []liveRow {
	c.t.Helper()
	r := c.want(0, "history", "--db", c.db, "--project", project, "--format", "json", "--limit", "0")
	var list struct {
		SchemaVersion int       `json:"schema_version"`
		Builds        []liveRow `json:"builds"`
	}
	if err := json.Unmarshal([]byte(r.out), &list); err != nil || list.SchemaVersion != 2 {
		c.t.Fatalf("history output is not the JSON contract: %v\n%s", err, r.out)
	}
	return list.Builds
}

func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

// wantOneErrorLine checks that a failed command said why in exactly one
// "buildstats: ..." line, as Execute promises.
func wantOneErrorLine(t *testing.T, r result, subs ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.err, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "buildstats: ") {
		t.Errorf("stderr is not one buildstats: line:\n%s", r.err)
	}
	wantContains(t, "stderr", r.err, subs...)
}

func TestBuildBuildKitLive(t *testing.T) {
	d := daemontest.StartBuildKit(t)
	c := newLiveCLI(t)
	dir := daemontest.Context(t, daemontest.Simple, nil)
	args := []string{"build", "--addr", d.Addr, "--progress", "plain", "--db", c.db, "--project", "live", dir}

	cold := c.want(0, args...)
	wantContains(t, "explanation", cold.out, "Build succeeded", "2 ran, 0 cached", "[2/2] RUN", "Critical path")
	// The daemon's progress goes to stderr, the explanation to stdout.
	wantContains(t, "progress", cold.err, "#5 0.", "hello from run")
	if strings.Contains(cold.out, "#5 DONE") || strings.Contains(cold.err, "buildstats:") {
		t.Errorf("streams mixed up or an error printed:\nstdout:\n%s\nstderr:\n%s", cold.out, cold.err)
	}

	warm := c.want(0, args...)
	wantContains(t, "warm explanation", warm.out, "0 ran, 2 cached", "every step came from the cache")
	wantContains(t, "warm progress", warm.err, "CACHED")

	rows := c.history("live")
	if len(rows) != 2 {
		t.Fatalf("%d builds stored, want 2: %+v", len(rows), rows)
	}
	for i, want := range []struct{ ran, cached int }{{0, 2}, {2, 0}} { // newest first
		r := rows[i]
		if r.Status != "succeeded" || r.StepsTotal != 2 || r.StepsRan != want.ran || r.StepsCached != want.cached {
			t.Errorf("build %d: %+v, want succeeded with %d ran, %d cached", r.ID, r, want.ran, want.cached)
		}
		// A live BuildKit build is stored under its daemon history ref,
		// which is how import knows it already has it.
		if !strings.HasPrefix(r.ContentHash, "buildkit-sha256:") || r.Dockerfile != filepath.Join(dir, "Dockerfile") {
			t.Errorf("build %d: content hash %q, Dockerfile %q", r.ID, r.ContentHash, r.Dockerfile)
		}
	}
	if rows[0].ContentHash == rows[1].ContentHash {
		t.Error("two builds share one content hash")
	}
}

func TestBuildBuildKitFailing(t *testing.T) {
	d := daemontest.StartBuildKit(t)
	c := newLiveCLI(t)
	dir := daemontest.Context(t, daemontest.Failing, nil)
	r := c.want(1, "build", "--addr", d.Addr, "--progress", "plain", "--db", c.db, "--project", "live", dir)
	wantContains(t, "explanation", r.out, "Build failed", "Exit code: 3", "Dockerfile:3", "oops")
	// The progress display, then the one error line last.
	lines := strings.Split(strings.TrimRight(r.err, "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "buildstats: ") || !strings.Contains(last, "exit code: 3") {
		t.Errorf("last stderr line %q", last)
	}
	rows := c.history("live")
	if len(rows) != 1 || rows[0].Status != "failed" || rows[0].StepsFailed != 1 {
		t.Fatalf("stored builds: %+v, want one failed with one failed step", rows)
	}
}

// TestLiveCommandsDaemonMissing needs no daemon: nothing answers on the
// socket, so each command must fail as the user's problem (exit 2), say
// so in one line, and not create the history database.
func TestLiveCommandsDaemonMissing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const sock = "unix:///nonexistent.sock"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"build", []string{"build", "--addr", sock, dir}},
		{"build --docker", []string{"build", "--docker", "--addr", sock, dir}},
		{"import", []string{"import", "--addr", sock}},
		{"import --follow", []string{"import", "--follow", "--addr", sock}},
		{"layers", []string{"layers", "--addr", sock, "app:dev"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newLiveCLI(t)
			args := tc.args
			if args[0] != "layers" { // the one without a history
				args = append(args, "--db", c.db)
			}
			start := time.Now()
			r := c.want(2, args...)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v to notice the missing daemon", took)
			}
			if r.out != "" {
				t.Errorf("stdout: %q", r.out)
			}
			// The hint names the flag these commands have.
			wantOneErrorLine(t, r, "not reachable", "/nonexistent.sock", "set --addr")
			if _, err := os.Stat(c.db); !os.IsNotExist(err) {
				t.Errorf("history database created: %v", err)
			}
		})
	}
}

// TestBuildBadInput needs no daemon: a missing context or Dockerfile and
// a bad flag value are usage errors found before any daemon is asked.
func TestBuildBadInput(t *testing.T) {
	dir := t.TempDir()
	noDF := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no context", []string{filepath.Join(dir, "missing")}, "build context"},
		{"context is a file", []string{filepath.Join(dir, "Dockerfile")}, "not a directory"},
		{"no Dockerfile", []string{noDF}, "Dockerfile"},
		{"no -f file", []string{"-f", filepath.Join(dir, "other.Dockerfile"), dir}, "other.Dockerfile"},
		{"bad progress", []string{"--progress", "fancy", dir}, "--progress"},
		{"bad progress docker", []string{"--docker", "--progress", "fancy", dir}, "--progress"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newLiveCLI(t)
			// A daemon address that would fail differently, so the check
			// must come before connecting.
			args := append([]string{"build", "--addr", "unix:///nonexistent.sock", "--db", c.db}, tc.args...)
			r := c.want(2, args...)
			wantOneErrorLine(t, r, tc.want)
			if strings.Contains(r.err, "not reachable") {
				t.Errorf("the daemon was asked first: %s", r.err)
			}
		})
	}
}

func TestImportBuildKit(t *testing.T) {
	d := daemontest.StartBuildKit(t)
	c := newLiveCLI(t)
	ok := daemontest.Context(t, daemontest.Simple, nil)
	failing := daemontest.Context(t, daemontest.Failing, nil)
	buildctl := func(dir string) error {
		_, err := d.RunBuildctl(t.Context(), "build", "--frontend", "dockerfile.v0", "--local", "context="+dir, "--local", "dockerfile="+dir)
		return err
	}

	// One build stored live, then two run by buildctl behind buildstats'
	// back: one succeeds, one fails.
	c.want(0, "build", "--addr", d.Addr, "--progress", "quiet", "--db", c.db, "--project", "live", ok)
	if err := buildctl(ok); err != nil {
		t.Fatalf("buildctl build: %v", err)
	}
	if err := buildctl(failing); err == nil {
		t.Fatal("buildctl build of the failing Dockerfile succeeded")
	}

	imp := []string{"import", "--addr", d.Addr, "--db", c.db, "--project", "live"}
	first := c.want(0, imp...)
	// The live build is skipped: it is stored under its history ref.
	wantContains(t, "first import", first.out, "2 new builds imported (1 failed or cancelled)")
	if n := strings.Count(first.err, "imported "); n != 2 {
		t.Errorf("first import reported %d builds:\n%s", n, first.err)
	}
	wantContains(t, "first import", first.err, ": succeeded, ", ": failed, ", "failed to solve")

	second := c.want(0, imp...)
	wantContains(t, "second import", second.out, "0 new builds imported")
	if second.err != "" {
		t.Errorf("second import reported: %s", second.err)
	}

	rows := c.history("live")
	status := map[string]int{}
	hashes := map[string]bool{}
	for _, r := range rows {
		status[r.Status]++
		hashes[r.ContentHash] = true
	}
	if len(rows) != 3 || status["succeeded"] != 2 || status["failed"] != 1 || len(hashes) != 3 {
		t.Fatalf("stored builds: %+v", rows)
	}

	// --follow imports a build as it completes and stops, exit 0, when
	// cancelled (^C).
	var out, errOut syncBuffer
	wd, _ := os.Getwd()
	app := &cli.Factory{IO: cli.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, Getenv: func(k string) string { return c.env[k] }, Now: time.Now, WorkDir: wd}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	code := make(chan int, 1)
	go func() { code <- Execute(ctx, app, append(imp, "--follow")) }()
	if err := buildctl(ok); err != nil {
		t.Fatalf("buildctl build: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errOut.String(), "imported ") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case got := <-code:
		if got != 0 {
			t.Errorf("import --follow: exit %d\n%s", got, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("import --follow did not stop when cancelled")
	}
	wantContains(t, "import --follow", out.String(), "1 new builds imported (0 failed or cancelled)")
	if n := len(c.history("live")); n != 4 {
		t.Errorf("%d builds stored after --follow, want 4", n)
	}
}

// syncBuffer is a bytes.Buffer a command writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBuildDockerAndLayers(t *testing.T) {
	d := daemontest.StartDocker(t)
	c := newLiveCLI(t)
	dir := daemontest.Context(t, daemontest.Simple, nil)
	const image = "bs-cli:test"
	// --network none: the test daemon has no bridge.
	r := c.want(0, "build", "--docker", "--addr", d.Host, "--network", "none", "-t", image,
		"--progress", "plain", "--db", c.db, "--project", "live", dir)
	wantContains(t, "explanation", r.out, "Build succeeded", "2 ran, 0 cached", "SIZE", "STEP", "CREATED BY")
	wantContains(t, "progress", r.err, "hello from run", "naming to docker.io/library/"+image)
	// The layer table pairs each layer with the step that made it.
	var copyRow string
	for _, l := range strings.Split(r.out, "\n") {
		if strings.Contains(l, "[1/2] COPY busybox") && strings.Contains(l, "# buildkit") {
			copyRow = l
		}
	}
	if !strings.Contains(copyRow, " MB ") {
		t.Errorf("no busybox layer row of some MB in the layer table:\n%s", r.out)
	}
	rows := c.history("live")
	if len(rows) != 1 || rows[0].Status != "succeeded" || rows[0].StepsTotal != 2 || len(rows[0].Tags) != 1 || rows[0].Tags[0] != image {
		t.Fatalf("stored builds: %+v", rows)
	}

	l := c.want(0, "layers", "--addr", d.Host, image)
	wantContains(t, "layers", l.out, "COPY busybox /bin/busybox", "RUN /bin/busybox sh -c", "total of 2 entries")

	lj := c.want(0, "layers", "--addr", d.Host, "--format", "json", image)
	var list struct {
		SchemaVersion int    `json:"schema_version"`
		Image         string `json:"image"`
		Layers        []struct {
			CreatedBy string `json:"created_by"`
			Size      int64  `json:"bytes"`
		} `json:"layers"`
	}
	if err := json.Unmarshal([]byte(lj.out), &list); err != nil || list.SchemaVersion != 1 || list.Image != image {
		t.Fatalf("layers --format json: %v\n%s", err, lj.out)
	}
	layers := list.Layers
	busybox, _ := os.Stat(daemontest.Busybox)
	if len(layers) != 2 || !strings.HasPrefix(layers[0].CreatedBy, "COPY busybox") || layers[0].Size < busybox.Size() {
		t.Errorf("layers oldest first, busybox layer at least %d bytes: %+v", busybox.Size(), layers)
	}

	missing := c.want(2, "layers", "--addr", d.Host, "no-such-image")
	wantOneErrorLine(t, missing, "no-such-image", "No such image")
}

// TestBuildersByFlag reaches a TLS daemon by flags and as a buildx remote
// builder whose instance file (with its TLS driver options) buildx wrote,
// and refuses what cannot work in one line.
func TestBuildersByFlag(t *testing.T) {
	d := daemontest.StartBuildKitTLS(t)
	c := newLiveCLI(t)
	dir := daemontest.Context(t, daemontest.Simple, nil)
	c.want(0, "build", "--addr", d.Addr, "--tlscacert", d.TLS.CACert, "--tlscert", d.TLS.ClientCert, "--tlskey", d.TLS.ClientKey,
		"--progress", "quiet", "--db", c.db, "--project", "tls", dir)

	bx := daemontest.NewBuildx(t)
	if out, err := bx.Run(t.Context(), "create", "--name", "tlsremote", "--driver", "remote",
		"--driver-opt", "cacert="+d.TLS.CACert+",cert="+d.TLS.ClientCert+",key="+d.TLS.ClientKey, d.Addr); err != nil {
		t.Fatalf("buildx create: %v\n%s", err, out)
	}
	c.env["DOCKER_CONFIG"] = bx.Config
	c.want(0, "build", "--builder", "tlsremote", "--progress", "quiet", "--db", c.db, "--project", "tls", dir)
	r := c.want(0, "import", "--builder", "tlsremote", "--db", c.db, "--project", "tls")
	wantContains(t, "import", r.out, "0 new builds imported")
	if rows := c.history("tls"); len(rows) != 2 {
		t.Fatalf("%d builds stored, want 2", len(rows))
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "--builder", "nope", dir}, `no buildx builder "nope"`},
		{[]string{"build", "--builder", "tlsremote", "--addr", d.Addr, dir}, "give one"},
		{[]string{"build", "--addr", "unix:///x.sock", "--tlscacert", d.TLS.CACert, dir}, "tcp://"},
		{[]string{"import", "--addr", d.Addr}, "does not answer"}, // TLS required
		{[]string{"build", "--docker", "--builder", "tlsremote", dir}, "--builder"},
	} {
		r := c.want(2, append(tc.args, "--db", c.db)...)
		wantOneErrorLine(t, r, tc.want)
	}
}

// TestImportDockerEngineWithoutHistory: the Docker Engine 20.10 the tests
// run embeds a BuildKit without the history API; import --docker says so,
// naming the engine's version.
func TestImportDockerEngineWithoutHistory(t *testing.T) {
	d := daemontest.StartDocker(t)
	c := newLiveCLI(t)
	r := c.want(2, "import", "--docker", "--addr", d.Host, "--db", c.db)
	wantOneErrorLine(t, r, "Docker Engine 20.10", "history API")
}

// TestBuildAndFollowAgree runs `import --follow` while four `build`s
// record on the same daemon: each build is stored once, by `build`, with
// its metadata (project, Dockerfile), and the import leaves them; a
// `build --no-store` claims nothing, so the import stores that one.
func TestBuildAndFollowAgree(t *testing.T) {
	d := daemontest.StartBuildKit(t)
	c := newLiveCLI(t)
	dir := daemontest.Context(t, daemontest.Simple, nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var follow result
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		follow = runContext(ctx, t, c.env, "import", "--follow", "--addr", d.Addr, "--db", c.db, "--project", "imported")
	}()
	// The import creates the history, then listens.
	for i := 0; ; i++ {
		if _, err := os.Stat(c.db); err == nil {
			break
		}
		if i > 100 {
			t.Fatal("import --follow did not create the history")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)

	var wg sync.WaitGroup
	results := make([]result, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.run("build", "--addr", d.Addr, "--no-cache", "--progress", "quiet", "--db", c.db, "--project", "built", dir)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("build %d: exit %d\n%s", i, r.code, r.err)
		}
	}
	c.want(0, "build", "--addr", d.Addr, "--progress", "quiet", "--no-store", dir)
	// The import stores the unclaimed build soon after it completes.
	deadline := time.Now().Add(20 * time.Second)
	for len(c.history("imported")) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-followed

	built := c.history("built")
	if len(built) != 4 {
		t.Fatalf("%d builds stored by build, want 4: %+v\nimport said:\n%s%s", len(built), built, follow.out, follow.err)
	}
	for _, r := range built {
		if r.Dockerfile != filepath.Join(dir, "Dockerfile") || r.Status != "succeeded" {
			t.Errorf("build %d lacks build's metadata: %+v", r.ID, r)
		}
	}
	imported := c.history("imported")
	if len(imported) != 1 {
		t.Fatalf("%d builds stored by the import, want the --no-store one only: %+v", len(imported), imported)
	}
	wantContains(t, "import --follow", follow.out, "1 new builds imported")
	// The imported build carries what the daemon's record says of it.
	r := c.want(0, "show", "--db", c.db, "--project", "imported")
	wantContains(t, "show of the imported build", r.out, "builder buildkit "+d.Addr, "BuildKit ref ", "Request: dockerfile Dockerfile")
}

// TestBuildFlagsLikeBuildx runs a build with the buildx flags people use
// and checks the daemon got them (the secret reached RUN, the cache was
// exported, RUN had no network) and the history recorded the request
// (facts), the ref and the whole log, without the secret's value.
func TestBuildFlagsLikeBuildx(t *testing.T) {
	d := daemontest.StartBuildKit(t)
	c := newLiveCLI(t)
	const secret = "s3cr3t-value-4711"
	dir := daemontest.Context(t, `FROM scratch
COPY busybox /bin/busybox
RUN --mount=type=secret,id=tok,required=true ["/bin/busybox","sh","-c","/bin/busybox test -s /run/secrets/tok && /bin/busybox cat /run/secrets/tok && /bin/busybox echo && ! /bin/busybox wget -q -T 1 http://127.0.0.1:1/ && /bin/busybox echo secret-ok"]
`, map[string]string{"tok.txt": secret})
	cache := filepath.Join(t.TempDir(), "cache")
	oci := filepath.Join(t.TempDir(), "image.tar")
	c.want(0, "build", "--addr", d.Addr, "--progress", "quiet", "--db", c.db, "--project", "flags",
		"--secret", "id=tok,src="+filepath.Join(dir, "tok.txt"), "--label", "org.example.team=builds",
		"--cache-to", "type=local,dest="+cache+",mode=max", "--network", "none", "--build-arg", "V=1",
		"--platform", "linux/amd64", "--pull", "--provenance", "mode=max", "-o", "type=oci,dest="+oci,
		"--keep-logs", dir)
	if _, err := os.Stat(filepath.Join(cache, "index.json")); err != nil {
		t.Errorf("--cache-to wrote no cache: %v", err)
	}

	s, err := sqlite.OpenReadOnly(c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.Resolve(context.Background(), "latest", "flags")
	if err != nil {
		t.Fatal(err)
	}
	_, m, err := s.Build(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	f := m.Facts
	if f == nil || m.BuildKitRef == "" || !m.LogKept {
		t.Fatalf("facts %+v, ref %q, log kept %v", f, m.BuildKitRef, m.LogKept)
	}
	if f.BuildArgs["V"] != "1" || f.Labels["org.example.team"] != "builds" || f.Network != "none" || !f.Pull ||
		strings.Join(f.Platforms, ",") != "linux/amd64" || strings.Join(f.Secrets, ",") != "tok" ||
		len(f.CacheTo) != 1 || !strings.Contains(f.CacheTo[0], "type=local") || strings.Join(f.Attests, ",") != "provenance:mode=max" ||
		strings.Join(f.Outputs, ",") != "oci" || f.Frontend != "dockerfile.v0" {
		t.Errorf("facts: %+v", f)
	}
	if id2, err := s.Resolve(context.Background(), m.BuildKitRef, ""); err != nil || id2 != id {
		t.Errorf("the BuildKit ref resolves to %d, %v; want %d", id2, err, id)
	}
	l, err := s.Log(context.Background(), id)
	if err != nil || l == nil {
		t.Fatalf("log: %v", err)
	}
	text, err := l.Text()
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "kept log", string(text), "secret-ok", "2/2] RUN", "DONE")
	if strings.Contains(string(text), secret) {
		t.Errorf("the kept log holds the secret's value:\n%s", text)
	}

	// What buildx history users look for: logs and show by BuildKit ref,
	// history's builder and source.
	r := c.want(0, "logs", "--db", c.db, m.BuildKitRef)
	wantContains(t, "logs", r.out, "secret-ok", "2/2] RUN")
	if strings.Contains(r.out, secret) {
		t.Errorf("logs prints the secret")
	}
	r = c.want(0, "show", "--db", c.db, m.BuildKitRef[:10])
	wantContains(t, "show", r.out, "builder buildkit "+d.Addr, "BuildKit ref "+m.BuildKitRef,
		"build args V=1", "network none", "secrets tok", "attestations provenance:mode=max", "platforms linux/amd64")
	if strings.Contains(r.out, "was not kept") {
		t.Errorf("show says the output was not kept:\n%s", r.out)
	}
	r = c.want(0, "history", "--db", c.db, "--project", "flags", "--format", "json")
	wantContains(t, "history", r.out, `"builder": "buildkit `+d.Addr+`"`, `"source": "buildkit:`+m.BuildKitRef+`"`, `"buildkit_ref": "`+m.BuildKitRef+`"`)
	r = c.want(0, "history", "--db", c.db, "--project", "flags")
	wantContains(t, "history table", r.out, "BUILDER", "SOURCE", "buildkit "+m.BuildKitRef)

	// A build stored without --keep-logs: show says so, logs refuses.
	c.want(0, "build", "--addr", d.Addr, "--progress", "quiet", "--db", c.db, "--project", "flags", daemontest.Context(t, daemontest.Simple, nil))
	r = c.want(0, "show", "--db", c.db, "--project", "flags")
	wantContains(t, "show", r.out, "Output was not kept")
	r = c.want(2, "logs", "--db", c.db, "--project", "flags")
	wantOneErrorLine(t, r, "log was not kept", "--keep-logs")
}

// TestBuildCancelledAndUnusableDB: an interrupted build exits 130 and is
// stored as canceled; a --db that cannot be created is refused before
// anything is built.
func TestBuildCancelledAndUnusableDB(t *testing.T) {
	d := daemontest.StartBuildKit(t)
	c := newLiveCLI(t)
	dir, marker := daemontest.SlowContext(t)
	c.want(0, "build", "--addr", d.Addr, "--progress", "quiet", "--db", c.db, "--project", "cancel", daemontest.Context(t, daemontest.Simple, nil))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(3 * time.Second); cancel() }()
	r := runContext(ctx, t, c.env, "build", "--addr", d.Addr, "--progress", "plain", "--db", c.db, "--project", "cancel", dir)
	if r.code != 130 {
		t.Fatalf("exit %d, want 130\n%s", r.code, r.err)
	}
	daemontest.WaitNoProcesses(t, marker, 20*time.Second)
	rows := c.history("cancel")
	if len(rows) != 2 || rows[0].Status != "canceled" || rows[0].StepsRan != 0 {
		t.Fatalf("stored %+v, want the cancelled build first, canceled with no step run", rows)
	}

	// Under a file, where no directory can be made for it.
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	r = c.want(2, "build", "--addr", d.Addr, "--db", filepath.Join(file, "sub", "h.db"), dir)
	wantOneErrorLine(t, r, "cannot be created", "a-file is not a directory")
	if time.Since(t0) > 5*time.Second {
		t.Error("the build ran before the --db was refused")
	}
}

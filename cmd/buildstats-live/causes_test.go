package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/collect/daemontest"
)

// The causes of cache breaks, named from real builds: pairs of buildkitd
// builds where exactly one thing changes between the first and the second.
// Each pair is checked four ways, which must agree on the cause:
//
//	log      plain logs of buildctl builds, in the CI flow: ingest --context
//	         --dockerfile after the first, explain --context --dockerfile on
//	         the second
//	import   the same two builds imported from the daemon's history
//	file     the same two builds exported by buildx as .dockerbuild files
//	         and ingested
//	live     the pair built again by buildstats build, from a pruned cache
//
// The paths know different things (a log shows no build args, a record no
// context), so the confidence may differ; the kind may not.
const (
	pathLog    = "log"
	pathImport = "import"
	pathFile   = "file"
	pathLive   = "live"
)

var causePaths = []string{pathLog, pathImport, pathFile, pathLive}

// causeBuild is how one build of a pair is run.
type causeBuild struct {
	args    map[string]string
	noCache bool
	base    int // the base image layout named "base" (1 or 2); 0: none
}

type causeScenario struct {
	name          string
	dockerfile    string
	files         map[string]string
	first, second causeBuild
	// change edits the context (or its Dockerfile) between the builds.
	change func(t *testing.T, dir string)
	// prune empties the build cache between the builds.
	prune bool
	// want is the cause of the first cache break of the second build; ""
	// when it must have none.
	want string
	// conf is the confidence each path must give.
	conf map[string]string
}

// busyboxRun is a RUN in exec form, so no shell is needed in the image.
func busyboxRun(script string) string {
	return `RUN ["/bin/busybox","sh","-c","` + script + `"]`
}

// rewrite writes a file with a new size and a later modification time:
// BuildKit's context sync skips a file whose size and time did not change.
func rewrite(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
}

func exact(paths ...string) map[string]string {
	m := map[string]string{}
	for _, p := range causePaths {
		m[p] = "exact"
	}
	for i := 0; i+1 < len(paths); i += 2 {
		m[paths[i]] = paths[i+1]
	}
	return m
}

var causeScenarios = []causeScenario{
	{
		name: "file under a COPY",
		dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\nCOPY src/ /src/\n" +
			busyboxRun("/bin/busybox cat /src/app.txt") + "\n",
		files:  map[string]string{"src/app.txt": "one\n", "src/other.txt": "x\n", "docs/readme.txt": "r\n"},
		change: func(t *testing.T, dir string) { rewrite(t, dir, "src/app.txt", "two, longer\n") },
		want:   "context_files",
		// Build records do not hold the context: only the log (with
		// --context) and the live build name the file.
		conf: exact(pathImport, "likely", pathFile, "likely"),
	},
	{
		// The first step breaks: nothing comes from the cache and little
		// is sent, as with --no-cache, yet a file changed.
		name:       "file under the first step's COPY",
		dockerfile: "FROM scratch\nCOPY . /\nRUN [\"/busybox\",\"cat\",\"/app.txt\"]\n",
		files:      map[string]string{"app.txt": "one\n"},
		change:     func(t *testing.T, dir string) { rewrite(t, dir, "app.txt", "two, longer\n") },
		want:       "context_files",
		conf:       exact(pathImport, "likely", pathFile, "likely"),
	},
	{
		name:       "file mode",
		dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\nCOPY run.sh /\n" + busyboxRun("/bin/busybox ls -l /run.sh") + "\n",
		files:      map[string]string{"run.sh": "echo hi\n"},
		change: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "run.sh")
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
			later := time.Now().Add(time.Minute)
			os.Chtimes(p, later, later)
		},
		want: "context_files",
		conf: exact(pathImport, "likely", pathFile, "likely"),
	},
	{
		name: "file a RUN bind-mounts",
		dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\nRUN --mount=type=bind,source=data,target=/data " +
			"[\"/bin/busybox\",\"cat\",\"/data/d.txt\"]\n",
		files:  map[string]string{"data/d.txt": "one\n"},
		change: func(t *testing.T, dir string) { rewrite(t, dir, "data/d.txt", "two, longer\n") },
		want:   "context_files",
		conf:   exact(pathImport, "likely", pathFile, "likely"),
	},
	{
		name:       "file excluded by .dockerignore",
		dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\nCOPY . /app/\n" + busyboxRun("/bin/busybox ls /app") + "\n",
		files:      map[string]string{".dockerignore": "notes/\n", "notes/todo.txt": "one\n", "app.txt": "a\n"},
		change:     func(t *testing.T, dir string) { rewrite(t, dir, "notes/todo.txt", "two, longer\n") },
		want:       "",
	},
	{
		name:       "build arg",
		dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\nARG VERSION=1\n" + busyboxRun("/bin/busybox echo version=$VERSION") + "\n",
		first:      causeBuild{args: map[string]string{"VERSION": "1"}},
		second:     causeBuild{args: map[string]string{"VERSION": "2"}},
		want:       "build_arg",
		// A log shows no build args: the step's text, expanded by
		// BuildKit, changed while its Dockerfile line did not.
		conf: exact(pathLog, "likely"),
	},
	{
		name: "build arg the step's text does not show",
		dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\nARG NPM_TOKEN\n" +
			busyboxRun("/bin/busybox test -n \\\"$NPM_TOKEN\\\" && /bin/busybox echo token set") + "\n",
		first:  causeBuild{args: map[string]string{"NPM_TOKEN": "secret-one"}},
		second: causeBuild{args: map[string]string{"NPM_TOKEN": "secret-two"}},
		want:   "build_arg",
		conf:   exact(pathLog, "likely"),
	},
	{
		name:       "base image",
		dockerfile: "FROM base\n" + busyboxRun("/bin/busybox cat /marker") + "\n",
		first:      causeBuild{base: 1},
		second:     causeBuild{base: 2},
		want:       "base_image",
		conf:       exact(),
	},
	{
		name:       "edited instruction",
		dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\n" + busyboxRun("/bin/busybox echo one") + "\n",
		change: func(t *testing.T, dir string) {
			df := filepath.Join(dir, "Dockerfile")
			data, _ := os.ReadFile(df)
			rewrite(t, dir, "Dockerfile", strings.Replace(string(data), "echo one", "echo two", 1))
		},
		want: "instruction",
		conf: exact(),
	},
	{
		name: "ENV before the step",
		dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\nENV MODE=fast\n" +
			busyboxRun("/bin/busybox env") + "\n",
		change: func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, "Dockerfile"))
			rewrite(t, dir, "Dockerfile", strings.Replace(string(data), "MODE=fast", "MODE=slow", 1))
		},
		want: "build_arg",
		conf: exact(),
	},
	{
		name:       "new step",
		dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\n" + busyboxRun("/bin/busybox echo one") + "\n",
		change: func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, "Dockerfile"))
			rewrite(t, dir, "Dockerfile", string(data)+busyboxRun("/bin/busybox echo added")+"\n")
		},
		want: "instruction",
		conf: exact(),
	},
	{
		name:       "pruned cache",
		dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\n" + busyboxRun("/bin/busybox echo hi") + "\n",
		prune:      true,
		want:       "cache_unavailable",
		// Without the context recorded, "the inputs are the same" rests
		// on the log's evidence: no step came from the cache.
		conf: exact(pathImport, "likely", pathFile, "likely"),
	},
	{
		name:       "--no-cache",
		dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\n" + busyboxRun("/bin/busybox echo hi") + "\n",
		second:     causeBuild{noCache: true},
		want:       "no_cache",
		// A log does not say so: every step ran while the context went
		// over incrementally, so the builder still had the cache.
		conf: exact(pathLog, "likely"),
	},
}

// causeRun is one scenario's daemon, layouts and CLI.
type causeRun struct {
	t       *testing.T
	d       *daemontest.BuildKitd
	c       *liveCLI
	layouts [3]struct{ dir, digest string }
}

// buildctl runs one build of the scenario in dir and returns its plain log
// and history ref.
func (r *causeRun) buildctl(dir string, b causeBuild) (log []byte, ref string) {
	t := r.t
	t.Helper()
	refFile := filepath.Join(t.TempDir(), "ref")
	args := []string{"build", "--frontend", "dockerfile.v0", "--local", "context=" + dir, "--local", "dockerfile=" + dir,
		"--progress", "plain", "--ref-file", refFile}
	for k, v := range b.args {
		args = append(args, "--opt", "build-arg:"+k+"="+v)
	}
	if b.noCache {
		args = append(args, "--no-cache")
	}
	if b.base > 0 {
		l := r.layouts[b.base]
		args = append(args, "--oci-layout", "base="+l.dir, "--opt", "context:base=oci-layout://base@"+l.digest)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := r.d.RunBuildctl(ctx, args...)
	if err != nil {
		t.Fatalf("buildctl build: %v\n%s", err, out)
	}
	data, err := os.ReadFile(refFile)
	if err != nil {
		t.Fatal(err)
	}
	return out, strings.TrimSpace(string(data))
}

// live runs one build of the scenario with buildstats build and returns
// its explanation.
func (r *causeRun) live(db, dir string, b causeBuild) []byte {
	args := []string{"build", "--addr", r.d.Addr, "--progress", "quiet", "--db", db, "--project", "p", "--format", "json"}
	for k, v := range b.args {
		args = append(args, "--build-arg", k+"="+v)
	}
	if b.noCache {
		args = append(args, "--no-cache")
	}
	if b.base > 0 {
		args = append(args, "--build-context", "base=oci-layout://"+r.layouts[b.base].dir)
	}
	return []byte(r.c.want(0, append(args, dir)...).out)
}

func (r *causeRun) prune() {
	r.t.Helper()
	if out, err := r.d.RunBuildctl(context.Background(), "prune", "--all"); err != nil {
		r.t.Fatalf("buildctl prune: %v\n%s", err, out)
	}
}

// gotCause is the cause of an explanation's first cache break.
type gotCause struct {
	Kind       string   `json:"kind"`
	Confidence string   `json:"confidence"`
	Message    string   `json:"message"`
	Files      []string `json:"files"`
	Args       []string `json:"args"`
	Previous   *int64   `json:"previous_build"`
}

func firstCause(t *testing.T, path string, explanation []byte) *gotCause {
	t.Helper()
	var e struct {
		SchemaVersion int `json:"schema_version"`
		CacheBreaks   []struct {
			Name  string    `json:"name"`
			Cause *gotCause `json:"cause"`
		} `json:"cache_breaks"`
	}
	if err := json.Unmarshal(explanation, &e); err != nil {
		t.Fatalf("%s: not explain's JSON: %v\n%s", path, err, explanation)
	}
	if len(e.CacheBreaks) == 0 {
		return nil
	}
	if e.CacheBreaks[0].Cause == nil {
		t.Fatalf("%s: a cache break without a cause", path)
	}
	return e.CacheBreaks[0].Cause
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fixtureDir is where BUILDSTATS_UPDATE_FIXTURES=1 keeps the scenarios'
// logs and .dockerbuild files (see fixtures/dockerbuild/README.md).
const fixtureDir = "../../fixtures/dockerbuild"

func fixtureName(scenario string) string {
	return strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(scenario)), "-")
}

func TestCausesFromRealBuilds(t *testing.T) {
	for _, sc := range causeScenarios {
		t.Run(sc.name, func(t *testing.T) {
			d := daemontest.StartBuildKit(t)
			bx := d.Buildx(t)
			r := &causeRun{t: t, d: d, c: newLiveCLI(t)}
			r.layouts[1].dir, r.layouts[1].digest = daemontest.OCILayout(t, map[string]string{"marker": "one\n"})
			r.layouts[2].dir, r.layouts[2].digest = daemontest.OCILayout(t, map[string]string{"marker": "two\n"})
			got := map[string]*gotCause{}
			dbs := map[string]string{}
			for _, p := range causePaths {
				dbs[p] = filepath.Join(t.TempDir(), p+".db")
			}

			// log: the CI flow on buildctl's plain logs.
			dir := daemontest.Context(t, sc.dockerfile, sc.files)
			df := filepath.Join(dir, "Dockerfile")
			log1, ref1 := r.buildctl(dir, sc.first)
			log1File := writeTemp(t, "first.log", log1)
			r.c.want(0, "ingest", "--db", dbs[pathLog], "--project", "p", "--dockerfile", df, "--context", dir, log1File)
			if sc.change != nil {
				sc.change(t, dir)
			}
			if sc.prune {
				r.prune()
			}
			time.Sleep(10 * time.Millisecond) // the second log's file time is later
			log2, ref2 := r.buildctl(dir, sc.second)
			log2File := writeTemp(t, "second.log", log2)
			got[pathLog] = firstCause(t, pathLog, []byte(r.c.want(0, "explain", "--db", dbs[pathLog], "--project", "p",
				"--dockerfile", df, "--context", dir, "--format", "json", log2File).out))

			// The CI annotations name it too.
			if sc.want != "" && got[pathLog] != nil {
				a := r.c.want(0, "annotate", "--ci", "github", "--db", dbs[pathLog], "--project", "p",
					"--dockerfile", df, "--context", dir, log2File)
				if !strings.Contains(a.out, "::notice") || !strings.Contains(a.out, "missed the cache") {
					t.Errorf("annotate does not name the cause:\n%s", a.out)
				}
			}

			// import: the same two builds from the daemon's history.
			r.c.want(0, "import", "--addr", d.Addr, "--db", dbs[pathImport], "--project", "p")
			got[pathImport] = firstCause(t, pathImport, []byte(r.c.want(0, "show", "--db", dbs[pathImport], "--project", "p",
				"--format", "json", "latest").out))

			// file: the same two builds as .dockerbuild files.
			files := [2]string{filepath.Join(t.TempDir(), "first.dockerbuild"), filepath.Join(t.TempDir(), "second.dockerbuild")}
			bx.Export(t, files[0], ref1)
			bx.Export(t, files[1], ref2)
			r.c.want(0, "ingest", "--db", dbs[pathFile], "--project", "p", files[0])
			r.c.want(0, "ingest", "--db", dbs[pathFile], "--project", "p", files[1])
			got[pathFile] = firstCause(t, pathFile, []byte(r.c.want(0, "show", "--db", dbs[pathFile], "--project", "p",
				"--format", "json", "latest").out))

			// live: the pair again, recorded by buildstats build.
			r.prune()
			liveDir := daemontest.Context(t, sc.dockerfile, sc.files)
			r.live(dbs[pathLive], liveDir, sc.first)
			if sc.change != nil {
				sc.change(t, liveDir)
			}
			if sc.prune {
				r.prune()
			}
			got[pathLive] = firstCause(t, pathLive, r.live(dbs[pathLive], liveDir, sc.second))

			for _, p := range causePaths {
				g := got[p]
				if sc.want == "" {
					if g != nil {
						t.Errorf("%s: a cache break with cause %+v; want none", p, g)
					}
					continue
				}
				if g == nil {
					t.Errorf("%s: no cache break; want one caused by %s", p, sc.want)
					continue
				}
				if g.Kind != sc.want || g.Confidence != sc.conf[p] {
					t.Errorf("%s: cause %s (%s): %s; want %s (%s)", p, g.Kind, g.Confidence, g.Message, sc.want, sc.conf[p])
				}
				if g.Previous == nil {
					t.Errorf("%s: no previous_build", p)
				}
				if strings.Contains(g.Message, "secret-") {
					t.Errorf("%s: the message shows a secret value: %s", p, g.Message)
				}
				switch sc.want {
				case "context_files":
					if sc.conf[p] == "exact" && (len(g.Files) != 1 || !strings.HasSuffix(g.Files[0], ".txt") && !strings.HasSuffix(g.Files[0], ".sh")) {
						t.Errorf("%s: files %q, want the one changed file", p, g.Files)
					}
				case "build_arg":
					if len(g.Args) != 1 || (g.Args[0] != "VERSION" && g.Args[0] != "NPM_TOKEN" && g.Args[0] != "MODE") {
						t.Errorf("%s: args %q", p, g.Args)
					}
				}
			}

			if os.Getenv("BUILDSTATS_UPDATE_FIXTURES") == "1" {
				name := fixtureName(sc.name)
				for i, data := range [][]byte{log1, log2} {
					if err := os.WriteFile(filepath.Join(fixtureDir, fmt.Sprintf("%s-%d.log", name, i+1)), data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				for i, f := range files {
					data, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(fixtureDir, fmt.Sprintf("%s-%d.dockerbuild", name, i+1)), data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

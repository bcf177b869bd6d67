package annotate

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/report/gate"
	"github.com/buildstats/buildstats/report/internal/golden"
)

const fixtures = "../../fixtures"

// loadLog parses a build log.
func loadLog(t *testing.T, path string) *model.Build {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := parse.Parse(f, parse.Options{})
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return b
}

// loadDockerfile parses a Dockerfile under the name "Dockerfile", so
// golden files do not depend on fixture paths.
func loadDockerfile(t *testing.T, path string) *dockerfile.File {
	t.Helper()
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	df, err := dockerfile.Parse(f, "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	return df
}

// newReport runs Explain and New with the default rules.
func newReport(t *testing.T, logPath, dockerfilePath string) (*model.Build, *Report) {
	t.Helper()
	b := loadLog(t, logPath)
	df := loadDockerfile(t, dockerfilePath)
	e := report.Explain(b, report.Options{Dockerfile: df})
	return b, New(e, Options{Rules: DefaultRules(), Dockerfile: df})
}

type goldenCase struct {
	name       string
	log        string
	dockerfile string
	// gates, when set, adds gate results to the report.
	gates func(t *testing.T, b *model.Build, r *Report) []gate.Result
}

var goldenCases = []goldenCase{
	{name: "multistage", log: fixtures + "/buildkit-probe/multistage-plain-cold.log", dockerfile: fixtures + "/buildkit-probe/dockerfiles/ctx-multi.Dockerfile"},
	{name: "run-fail", log: fixtures + "/buildkit-probe/run-fail-plain.log", dockerfile: fixtures + "/buildkit-probe/dockerfiles/ctx-fail.Dockerfile"},
	{name: "seed", log: fixtures + "/seed/tty-seed-python-docker-demo.log", dockerfile: fixtures + "/seed/Dockerfile.python-docker-demo"},
	{name: "n8n-no-dockerfile", log: fixtures + "/real/plain-n8n-07.log"},
	{name: "hostile", log: "testdata/hostile.log", dockerfile: "testdata/hostile.Dockerfile"},
	{name: "gates", log: fixtures + "/buildkit-probe/multistage-plain-cold.log", dockerfile: fixtures + "/buildkit-probe/dockerfiles/ctx-multi.Dockerfile", gates: regressedGates},
}

// regressedGates evaluates gates against a baseline in which the RUN of
// stage base took 1.0s, so this build's 2.2s is a regression.
func regressedGates(t *testing.T, b *model.Build, r *Report) []gate.Result {
	keys := b.Identities()
	base := &gate.Baseline{Project: "shop", Branch: "main", Builds: 4, Steps: map[model.Identity]gate.StepBaseline{}}
	for i, v := range b.Vertices {
		if v.Instruction == "RUN" && v.Stage == "base" {
			base.Steps[keys[i]] = gate.StepBaseline{Seconds: 1.0, Runs: 4}
		}
		if v.Instruction == "RUN" && v.Stage == "second" {
			base.Steps[keys[i]] = gate.StepBaseline{Seconds: 0.3, Runs: 4}
		}
	}
	if len(base.Steps) != 2 {
		t.Fatalf("baseline has %d steps, want 2", len(base.Steps))
	}
	return gate.Check(b, r.Explanation, base, gate.Config{
		Gates:       gate.Names,
		MaxDuration: 2 * time.Second, MaxRegression: 0.25, RegressionFloor: time.Second,
		MinCacheHit: 0.5,
	})
}

// testLineURL makes links deterministic in golden files.
func testLineURL(file string, line int) string {
	return "https://git.example/acme/shop/blob/0123abc/" + file + "#L" + strconv.Itoa(line)
}

func TestGolden(t *testing.T) {
	outputs := []struct {
		ext   string
		write func(*bytes.Buffer, *Report) error
	}{
		{"github.txt", func(w *bytes.Buffer, r *Report) error { _, err := WriteGitHub(w, r); return err }},
		{"codequality.json", func(w *bytes.Buffer, r *Report) error { return WriteCodeQuality(w, r) }},
		{"summary.md", func(w *bytes.Buffer, r *Report) error {
			return WriteMarkdown(w, r, MarkdownOptions{LineURL: testLineURL})
		}},
		{"junit.xml", func(w *bytes.Buffer, r *Report) error { return WriteJUnit(w, r) }},
		{"text.txt", func(w *bytes.Buffer, r *Report) error { return WriteText(w, r) }},
	}
	for _, c := range goldenCases {
		b, r := newReport(t, c.log, c.dockerfile)
		if c.gates != nil {
			r.AddGates(c.gates(t, b, r))
		}
		for _, o := range outputs {
			name := c.name + "." + o.ext + ".golden"
			t.Run(name, func(t *testing.T) {
				var buf bytes.Buffer
				if err := o.write(&buf, r); err != nil {
					t.Fatal(err)
				}
				checkGolden(t, name, buf.String())
			})
		}
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, "./report/annotate", filepath.Join("testdata", name), got)
}

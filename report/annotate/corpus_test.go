package annotate

import (
	"bytes"
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/parse/redact"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/report/gate"
	"github.com/buildstats/buildstats/report/safe/safetest"
)

// parseFile parses a corpus log.
func parseFile(t *testing.T, path string) *model.Build {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := parse.Parse(bytes.NewReader(data), parse.Options{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// dockerfileOf writes the Dockerfile a log's steps came from, as the
// repository would hold it: unmasked.
func dockerfileOf(t *testing.T, b *model.Build) *dockerfile.File {
	t.Helper()
	steps := slices.Clone(b.Steps())
	slices.SortStableFunc(steps, func(x, y *model.Vertex) int { return cmp.Compare(x.Index, y.Index) })
	var text strings.Builder
	for _, v := range steps {
		if v.Instruction == "" {
			continue
		}
		text.WriteString(v.Instruction + " " + strings.ReplaceAll(v.Args, "\n", " ") + "\n")
	}
	df, err := dockerfile.Parse(strings.NewReader(text.String()), "Dockerfile")
	if err != nil {
		t.Logf("no Dockerfile for this log: %v", err)
		return nil
	}
	return df
}

// corpusReport runs a corpus log through annotate the way the CLI does:
// the build is masked first (so that its ::add-mask:: values are known),
// then explained against its Dockerfile, then annotated, with a failed
// regression gate that quotes the last step's unmasked name.
func corpusReport(t *testing.T, path string) *Report {
	raw := parseFile(t, path)
	df := dockerfileOf(t, raw)
	b := parseFile(t, path)
	mask := redact.New(redact.Options{})
	mask.Build(b)
	e := report.Explain(b, report.Options{Dockerfile: df})
	r := New(e, Options{Rules: DefaultRules(), Dockerfile: df, Mask: mask})
	last := raw.Vertices[len(raw.Vertices)-1].Name
	r.AddGates([]gate.Result{
		{Gate: gate.Regression, Status: gate.StatusFail, Message: "1 step regressed: " + last,
			Regressions: []gate.StepRegression{{Step: last, Index: len(e.Steps) - 1, Seconds: 2, BaselineSeconds: 1, Change: 1, Message: last + " took 2.0s against 1.0s"}}},
		{Gate: gate.Duration, Status: gate.StatusSkip, Message: "no duration in " + last},
	})
	return r
}

// TestHostileCorpus runs every corpus log through every output: no line a
// CI acts on, no raw control or bidi character, no secret, and the exact
// neutral form in reviewed golden files.
func TestHostileCorpus(t *testing.T) {
	c := safetest.LoadCorpus(t, filepath.Join(fixtures, "hostile"))
	for _, path := range c.Logs {
		name := filepath.Base(path)
		r := corpusReport(t, path)
		for out, text := range allOutputs(t, r) {
			t.Run(name+"/"+out, func(t *testing.T) {
				opts := safetest.Options{Secrets: c.Secrets}
				if out == "github" {
					opts.GitHubCommands = []string{SeverityError, SeverityWarning, SeverityNotice}
				}
				safetest.Check(t, out, []byte(text), opts)
				checkGolden(t, filepath.Join("corpus", name+"."+out+".golden"), text)
			})
		}
	}
}

// The neutral form of a marker of each CI, as the text output shows the
// failing step's last lines and the slow steps' names.
func TestHostileCorpusNeutralForms(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteText(&buf, corpusReport(t, filepath.Join(fixtures, "hostile", "plain-ci-commands.log"))); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  |   \\::error file=Dockerfile,line=1,title=forged::injected error\n",
		"  |     \\::warning::after spaces\n",
		"  |   \u200b\\::error::after a zero-width space\n",
		"  |   %0A::error::percent-encoded newline\n",
		"  |   #\\#[add-mask]***\n", // the value is masked too: the line masks it
		"  |   done #\\#vso[task.complete result=Succeeded;]in-line Azure command\n",
		"  |   log #\\#teamcity[setParameter name='env.X' value='y']\n",
		"  |   #\u00ad\\#vso[task.complete result=Succeeded]soft hyphen inside\n",
		"  |   \\--- :rocket: fake Buildkite group\n",
		"  |   \\^^^ +++\n",
		"  | #\\#teamcity[buildStatus status='SUCCESS' text='a vertex name'] took 33.0s",
		"  | \\--- fake Buildkite group as a vertex name took 32.0s",
		"  | \\::warning file=Dockerfile,line=1::a vertex named like a workflow command took 31.0s",
		`echo "#\#[group]azure" && echo "#\#vso[task.setvariable variable=X]…`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, buf.String())
		}
	}
}

package annotate

import (
	"bytes"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/redact"
	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/report/gate"
)

// A fake GitHub token (ghp_ and 36 base62 characters).
const fakeToken = "ghp_Zx4Qm8Rt2Lp9Vn3Kc7Hb1Wd6Fy0Sj5Ge2Ta4"

// tokenLog fails in a step whose name has the token after 89 characters,
// so that a message quoting the name shortened to 100 would cut it.
var tokenLog = `#1 [1/2] FROM docker.io/library/alpine
#1 DONE 0.1s

#2 [2/2] RUN ` + strings.Repeat("x", 70) + ` && echo ` + fakeToken + ` && exit 7
#2 0.101 token is ` + fakeToken + `
#2 0.102 Authorization: Bearer abcdef0123456789
#2 ERROR: process "/bin/sh -c echo ` + fakeToken + `" did not complete successfully: exit code: 7
------
 > [2/2] RUN echo ` + fakeToken + `:
0.101 token is ` + fakeToken + `
------
ERROR: failed to solve: process "/bin/sh -c echo ` + fakeToken + `" did not complete successfully: exit code: 7
`

// allOutputs writes r in every format.
func allOutputs(t *testing.T, r *Report) map[string]string {
	t.Helper()
	out := map[string]string{}
	var b bytes.Buffer
	if _, err := WriteGitHub(&b, r); err != nil {
		t.Fatal(err)
	}
	out["github"] = b.String()
	for name, w := range map[string]func(*bytes.Buffer) error{
		"codequality": func(b *bytes.Buffer) error { return WriteCodeQuality(b, r) },
		"markdown":    func(b *bytes.Buffer) error { return WriteMarkdown(b, r, MarkdownOptions{}) },
		"junit":       func(b *bytes.Buffer) error { return WriteJUnit(b, r) },
		"text":        func(b *bytes.Buffer) error { return WriteText(b, r) },
	} {
		b.Reset()
		if err := w(&b); err != nil {
			t.Fatal(err)
		}
		out[name] = b.String()
	}
	return out
}

func TestMasking(t *testing.T) {
	b, err := parse.Parse(strings.NewReader(tokenLog), parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	df, err := dockerfile.Parse(strings.NewReader("FROM docker.io/library/alpine\nRUN "+strings.Repeat("x", 70)+" && echo "+fakeToken+" && exit 7\n"), "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	e := report.Explain(b, report.Options{Dockerfile: df})
	before := *e.Error.Step
	gates := []gate.Result{{Gate: gate.Regression, Status: gate.StatusFail, Message: "slower: " + fakeToken,
		Regressions: []gate.StepRegression{{Step: *e.Error.Step, Index: 1, Message: "step " + fakeToken + " regressed"}}}}

	r := New(e, Options{Rules: DefaultRules(), Dockerfile: df})
	r.AddGates(gates)
	if r.Findings[0].Line != 2 {
		t.Fatalf("the failure is not located: %+v", r.Findings[0])
	}
	for name, out := range allOutputs(t, r) {
		// Not even the part of the token before a cut.
		if strings.Contains(out, "ghp_") || strings.Contains(out, "abcdef0123456789") {
			t.Errorf("%s output holds the secret:\n%s", name, out)
		}
		if !strings.Contains(out, "***") {
			t.Errorf("%s output shows no mask:\n%s", name, out)
		}
	}
	if *e.Error.Step != before || !strings.Contains(gates[0].Message, fakeToken) || !strings.Contains(gates[0].Regressions[0].Step, fakeToken) {
		t.Error("New or AddGates changed its argument")
	}

	// --no-mask: the token is shown.
	r = New(e, Options{Rules: DefaultRules(), Mask: redact.None()})
	if out := allOutputs(t, r)["text"]; !strings.Contains(out, fakeToken) {
		t.Errorf("redact.None() masked:\n%s", out)
	}
	// Values the caller knows are masked too.
	r = New(e, Options{Rules: DefaultRules(), Mask: redact.New(redact.Options{ExtraValues: []string{"token is"}})})
	if out := allOutputs(t, r)["text"]; strings.Contains(out, "token is") {
		t.Errorf("an extra value was not masked:\n%s", out)
	}
}

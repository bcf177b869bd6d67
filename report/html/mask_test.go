package html

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/parse/redact"
)

// A fake GitLab personal access token (glpat- and 20 characters).
const fakeToken = "glpat-Zx4Qm8Rt2Lp9Vn3Kc7Hb"

func TestMasking(t *testing.T) {
	b := smallBuild(true, true)
	run := b.Vertices[10]
	run.Name += " --header 'PRIVATE-TOKEN: " + fakeToken + "'"
	run.Args += " --header 'PRIVATE-TOKEN: " + fakeToken + "'"
	run.AddOutput("using " + fakeToken)
	run.AddOutput("::add-mask::my-own-s3cret")
	b.Vertices[2].AddOutput("early my-own-s3cret")
	b.Error += " " + fakeToken
	b.Warnings = append(b.Warnings, model.Warning{Text: "token " + fakeToken})
	before, _ := json.Marshal(b)

	page := buildPageString(t, b, Options{Title: "build " + fakeToken, Facts: []Fact{{Label: "branch", Value: fakeToken}}})
	for _, leak := range []string{fakeToken, "glpat-", "my-own-s3cret"} {
		if strings.Contains(page, leak) {
			t.Errorf("the page shows %q", leak)
		}
	}
	for _, want := range []string{"PRIVATE-TOKEN: ***", "using ***", "::add-mask::***"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if after, _ := json.Marshal(b); string(after) != string(before) {
		t.Error("WriteBuild changed the build")
	}
	if page := buildPageString(t, b, Options{Mask: redact.None()}); !strings.Contains(page, fakeToken) {
		t.Error("redact.None() masked the page")
	}

	tr := synthTrends("week", 3)
	tr.Title, tr.TopSteps[0].Label = fakeToken, "RUN curl -u bob:"+fakeToken
	tr.Facts = []Fact{{Label: "x", Value: fakeToken}}
	if page := trendsPageString(t, tr); strings.Contains(page, "glpat-") {
		t.Error("the trends page shows the token")
	}
}

package html

import (
	"html"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/report/safe/safetest"
)

var outputRE = regexp.MustCompile(`(?s)<pre class="output">(.*?)</pre>`)

// TestHostileCorpus renders every corpus log as a build page, and its
// step names as trend labels: no line a CI acts on, no raw control or
// bidi character, no secret, and the failing step's output in its exact
// neutral form.
func TestHostileCorpus(t *testing.T) {
	c := safetest.LoadCorpus(t, filepath.Join(fixtures, "hostile"))
	want := map[string]string{
		"plain-ci-commands.log": `\::error file=Dockerfile,line=1,title=forged::injected error
  \::warning::after spaces
` + "\u200b" + `\::error::after a zero-width space
%0A::error::percent-encoded newline
#\#[add-mask]***
done #\#vso[task.complete result=Succeeded;]in-line Azure command
log #\#teamcity[setParameter name='env.X' value='y']
#` + "\u00ad" + `\#vso[task.complete result=Succeeded]soft hyphen inside
\--- :rocket: fake Buildkite group
\^^^ +++`,
		"tty-controls.log": `\::error::from the error box
red and ` + "\uFFFD" + `32mgreen
line with ` + "\uFFFD" + ` line separator and ` + "\uFFFD" + ` next line
\--- fake Buildkite group
` + "\uFFFD" + `ecneuqes lortnoc idib`,
		"rawjson-breakers.jsonl": `npm notice Publishing to https://registry.npmjs.org/ with token ***
]]><!-- --><?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>&e;
` + "\uFFFD\uFFFD bidi \uFFFD \uFFFD" + `31m C1 ␛[31m ESC
\::error::from rawjson logs
Authorization: Bearer ***
OIDC token ***`,
		"plain-secrets.log": "***\n***\n***\n***\n***\n***\n***\n-----END OPENSSH PRIVATE KEY-----\ndeploy failed",
	}
	for _, path := range c.Logs {
		name := filepath.Base(path)
		b := load(t, filepath.Join("hostile", name))
		page := buildPageString(t, b, Options{Title: name})
		safetest.Check(t, name, []byte(page), safetest.Options{Secrets: c.Secrets})
		if w, ok := want[name]; ok {
			m := outputRE.FindStringSubmatch(page)
			if m == nil {
				t.Errorf("%s: no output on the page", name)
			} else if got := html.UnescapeString(m[1]); got != w {
				t.Errorf("%s: output shown as\n%s\nwant\n%s", name, got, w)
			}
		}

		tr := synthTrends("week", 3)
		tr.Title = name
		for i, v := range b.Vertices[max(0, len(b.Vertices)-len(tr.TopSteps)):] {
			tr.TopSteps[i].Label = v.Name
		}
		safetest.Check(t, name+" trends", []byte(trendsPageString(t, tr)), safetest.Options{Secrets: c.Secrets})
	}
	if !strings.Contains(strings.Join(c.Logs, " "), "plain-ci-commands.log") {
		t.Error("the corpus lacks plain-ci-commands.log")
	}
}

package annotate

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/buildstats/buildstats/report"
	"github.com/buildstats/buildstats/report/gate"
	"github.com/buildstats/buildstats/report/safe"
)

// JUnit XML in the shape every CI test report reader accepts (the Ant /
// Jenkins schema): <testsuites> holding <testsuite>s holding <testcase>s
// with name, classname and time, and a <failure> or <skipped> child.
// testcase also carries file and line where known, which GitLab and
// others show and the rest ignore.

// JUnitTestSuites is the root element.
type JUnitTestSuites struct {
	XMLName  xml.Name         `xml:"testsuites"`
	Name     string           `xml:"name,attr"`
	Tests    int              `xml:"tests,attr"`
	Failures int              `xml:"failures,attr"`
	Errors   int              `xml:"errors,attr"`
	Skipped  int              `xml:"skipped,attr"`
	Time     string           `xml:"time,attr,omitempty"`
	Suites   []JUnitTestSuite `xml:"testsuite"`
}

// JUnitTestSuite is one <testsuite>.
type JUnitTestSuite struct {
	Name     string          `xml:"name,attr"`
	Tests    int             `xml:"tests,attr"`
	Failures int             `xml:"failures,attr"`
	Errors   int             `xml:"errors,attr"`
	Skipped  int             `xml:"skipped,attr"`
	Time     string          `xml:"time,attr,omitempty"`
	Cases    []JUnitTestCase `xml:"testcase"`
}

// JUnitTestCase is one <testcase>: a build step, or a gate.
type JUnitTestCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr,omitempty"`
	File      string        `xml:"file,attr,omitempty"`
	Line      string        `xml:"line,attr,omitempty"`
	Failure   *JUnitFailure `xml:"failure"`
	Skipped   *JUnitSkipped `xml:"skipped"`
	SystemOut string        `xml:"system-out,omitempty"`
}

// JUnitFailure marks a failed test case.
type JUnitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnitSkipped marks a test case that did not run.
type JUnitSkipped struct {
	Message string `xml:"message,attr"`
}

// junitNameLen caps test names: RUN lines can be kilobytes long.
const junitNameLen = 200

// JUnit builds the JUnit document: one test case per vertex of the build,
// with its time where the log tells it (a time the log does not tell is
// left out, never written as 0); the failing step fails, canceled and
// unfinished steps are skipped, cached steps pass. When gates ran, a
// second suite has one test case per gate.
//
// Test names are the step text without its [n/m] position ("RUN npm ci",
// "[linux/arm64] RUN make") and class names the stage, so a CI's test
// history follows a step across builds even as lines are added.
func JUnit(r *Report) *JUnitTestSuites {
	e := r.Explanation
	suite := JUnitTestSuite{Name: "docker build"}
	if r.File != "" {
		suite.Name += " " + safe.Line(r.File)
	}
	var total float64
	untimed := false // a step that ran for a time the log does not tell
	seen := map[string]int{}
	for _, s := range e.Steps {
		tc := JUnitTestCase{Classname: junitClass(s)}
		name := stepText(s.Name)
		if s.Platform != nil {
			name = "[" + *s.Platform + "] " + name
		}
		name = shorten(safe.Line(oneLine(name)), junitNameLen)
		key := tc.Classname + "\x00" + name
		if n := seen[key]; n > 0 {
			name += " (#" + strconv.Itoa(n+1) + ")"
		}
		seen[key]++
		tc.Name = name
		switch {
		case s.DurationSeconds != nil:
			// A cached step keeps the time it spent importing its layers.
			tc.Time = junitSeconds(*s.DurationSeconds)
			if !s.Cached {
				total += *s.DurationSeconds
			}
		case !s.Cached:
			untimed = true
		}
		if s.Line != nil && r.File != "" {
			tc.File, tc.Line = safe.Inline(r.File), strconv.Itoa(*s.Line)
		}
		switch s.Status {
		case "error":
			tc.Failure = r.junitFailure(s)
			suite.Failures++
		case "canceled":
			tc.Skipped = &JUnitSkipped{Message: "canceled"}
			suite.Skipped++
		case "incomplete":
			tc.Skipped = &JUnitSkipped{Message: "the log ends before this step does"}
			suite.Skipped++
		case "cached":
			tc.SystemOut = "CACHED"
		}
		suite.Cases = append(suite.Cases, tc)
	}
	suite.Tests = len(suite.Cases)
	switch {
	case e.DurationSeconds != nil:
		suite.Time = junitSeconds(*e.DurationSeconds)
	case !untimed:
		suite.Time = junitSeconds(total)
	}
	doc := &JUnitTestSuites{Name: "buildstats", Suites: []JUnitTestSuite{suite}}
	if len(r.Gates) > 0 {
		gs := JUnitTestSuite{Name: "buildstats gates", Time: junitSeconds(0)}
		for _, g := range r.Gates {
			// A gate is checked in no measurable time.
			tc := JUnitTestCase{Name: safe.Line(g.Gate), Classname: "buildstats.gates", Time: junitSeconds(0), SystemOut: safe.Block(g.Message)}
			switch g.Status {
			case gate.StatusFail, gate.StatusError:
				tc.Failure = &JUnitFailure{Message: shorten(safe.Line(oneLine(g.Message)), 1000), Type: "gate", Text: safe.Block(g.Message)}
				gs.Failures++
			case gate.StatusSkip:
				tc.Skipped = &JUnitSkipped{Message: safe.Line(oneLine(g.Message))}
				gs.Skipped++
			}
			gs.Cases = append(gs.Cases, tc)
		}
		gs.Tests = len(gs.Cases)
		doc.Suites = append(doc.Suites, gs)
	}
	for _, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}
	doc.Time = suite.Time
	return doc
}

// WriteJUnit writes the JUnit XML document (see JUnit). Log text has been
// through safe.Line (attributes) or safe.Block (element text), so each
// line of the file is CI-inert and free of controls; encoding/xml then
// escapes markup.
func WriteJUnit(w io.Writer, r *Report) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(JUnit(r)); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitFailure describes the failing step: the error, exit code and the
// last output lines.
func (r *Report) junitFailure(s report.Step) *JUnitFailure {
	f := &JUnitFailure{Type: "error", Message: "failed"}
	if s.ExitCode != nil {
		f.Message = "exit code " + strconv.Itoa(*s.ExitCode)
	}
	var body strings.Builder
	if s.Error != nil {
		body.WriteString(*s.Error)
	}
	for _, fd := range r.Findings {
		if fd.Kind == KindFailed && fd.Step == s.Name && len(fd.Output) > 0 {
			fmt.Fprintf(&body, "\n\nLast %d line%s of output:\n%s", len(fd.Output), plural(len(fd.Output)), strings.Join(fd.Output, "\n"))
		}
	}
	if s.Error != nil {
		f.Message += ": " + shorten(safe.Line(oneLine(*s.Error)), 1000)
	}
	f.Text = safe.Block(body.String())
	return f
}

// junitClass groups steps by stage, and BuildKit's own vertices by kind.
func junitClass(s report.Step) string {
	if s.Kind != "step" {
		return "docker.build." + s.Kind
	}
	if s.Stage != nil {
		return "docker.build.stage." + safe.Line(*s.Stage)
	}
	return "docker.build.stage"
}

// junitSeconds formats seconds as the time attribute wants them: a plain
// decimal number.
func junitSeconds(s float64) string {
	return strconv.FormatFloat(s, 'f', 3, 64)
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

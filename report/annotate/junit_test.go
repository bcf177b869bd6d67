package annotate

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
	"testing"
)

// xmlNode is a parsed element, kept generic so the shape check sees
// exactly what a JUnit reader sees.
type xmlNode struct {
	name     string
	attrs    map[string]string
	children []*xmlNode
	text     string
}

func parseXML(t *testing.T, data []byte) *xmlNode {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []*xmlNode
	var root *xmlNode
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &xmlNode{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else if root != nil {
				t.Fatal("more than one root element")
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tok)
			}
		}
	}
	if root == nil {
		t.Fatal("no root element")
	}
	return root
}

// elementShape is one element of the JUnit schema (the Ant/Jenkins
// junit-10 XSD that Jenkins, GitLab, Buildkite Test Analytics, Azure and
// the GitHub test-report actions read), as far as we emit it. One
// departure: time is left out where the log does not tell it, rather than
// written as 0 as the XSD would have it; those readers parse a missing
// time without complaint.
type elementShape struct {
	required, optional []string
	children           []string
	// numeric attributes must parse as non-negative numbers.
	ints, decimals []string
}

var junitSchema = map[string]elementShape{
	"testsuites": {
		optional: []string{"name", "tests", "failures", "errors", "skipped", "time", "disabled"},
		children: []string{"testsuite"},
		ints:     []string{"tests", "failures", "errors", "skipped"}, decimals: []string{"time"},
	},
	"testsuite": {
		required: []string{"name", "tests", "failures", "errors"},
		optional: []string{"time", "skipped", "timestamp", "hostname", "id", "package", "disabled"},
		children: []string{"properties", "testcase", "system-out", "system-err"},
		ints:     []string{"tests", "failures", "errors", "skipped"}, decimals: []string{"time"},
	},
	"testcase": {
		// file and line are outside the XSD but read by GitLab and
		// pytest-style consumers; strict XSD users ignore them.
		required: []string{"name", "classname"},
		optional: []string{"time", "assertions", "status", "file", "line"},
		children: []string{"skipped", "error", "failure", "system-out", "system-err"},
		ints:     []string{"line"}, decimals: []string{"time"},
	},
	"failure":    {optional: []string{"message", "type"}},
	"skipped":    {optional: []string{"message"}},
	"system-out": {},
}

func checkShape(t *testing.T, n *xmlNode, path string) {
	t.Helper()
	path += "/" + n.name
	shape, ok := junitSchema[n.name]
	if !ok {
		t.Errorf("%s: element not in the JUnit schema", path)
		return
	}
	for _, a := range shape.required {
		if _, ok := n.attrs[a]; !ok {
			t.Errorf("%s: missing required attribute %s", path, a)
		}
	}
	for a := range n.attrs {
		if !contains(shape.required, a) && !contains(shape.optional, a) {
			t.Errorf("%s: attribute %s not in the schema", path, a)
		}
	}
	for _, a := range shape.ints {
		if v, ok := n.attrs[a]; ok {
			if i, err := strconv.Atoi(v); err != nil || i < 0 {
				t.Errorf("%s: %s=%q is not a non-negative integer", path, a, v)
			}
		}
	}
	for _, a := range shape.decimals {
		if v, ok := n.attrs[a]; ok {
			if f, err := strconv.ParseFloat(v, 64); err != nil || f < 0 || strings.ContainsAny(v, "eE") {
				t.Errorf("%s: %s=%q is not a plain non-negative decimal", path, a, v)
			}
		}
	}
	outcomes := 0
	for _, c := range n.children {
		if !contains(shape.children, c.name) {
			t.Errorf("%s: child <%s> not allowed", path, c.name)
		}
		if c.name == "failure" || c.name == "error" || c.name == "skipped" {
			outcomes++
		}
		checkShape(t, c, path)
	}
	if outcomes > 1 {
		t.Errorf("%s: %d outcomes (failure/error/skipped), at most one allowed", path, outcomes)
	}
	if n.name == "testsuite" || n.name == "testsuites" {
		checkCounts(t, n, path)
	}
}

// checkCounts checks that a suite's counters agree with its cases.
func checkCounts(t *testing.T, n *xmlNode, path string) {
	t.Helper()
	var tests, failures, skipped int
	var walk func(*xmlNode)
	walk = func(m *xmlNode) {
		for _, c := range m.children {
			switch c.name {
			case "testsuite":
				walk(c)
			case "testcase":
				tests++
				for _, o := range c.children {
					switch o.name {
					case "failure":
						failures++
					case "skipped":
						skipped++
					}
				}
			}
		}
	}
	walk(n)
	for attr, want := range map[string]int{"tests": tests, "failures": failures, "skipped": skipped, "errors": 0} {
		if v, ok := n.attrs[attr]; ok && v != strconv.Itoa(want) {
			t.Errorf("%s: %s=%s, but it holds %d", path, attr, v, want)
		}
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func TestJUnitShape(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			b, r := newReport(t, c.log, c.dockerfile)
			if c.gates != nil {
				r.AddGates(c.gates(t, b, r))
			}
			var buf bytes.Buffer
			if err := WriteJUnit(&buf, r); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(buf.String(), `<?xml version="1.0" encoding="UTF-8"?>`) {
				t.Error("no XML declaration")
			}
			root := parseXML(t, buf.Bytes())
			if root.name != "testsuites" {
				t.Fatalf("root is <%s>", root.name)
			}
			checkShape(t, root, "")
			// One test case per vertex, with its time where the log
			// tells it.
			steps := root.children[0].children
			if len(steps) != len(r.Explanation.Steps) {
				t.Errorf("%d test cases for %d steps", len(steps), len(r.Explanation.Steps))
			}
			for i, s := range r.Explanation.Steps {
				if i >= len(steps) {
					break
				}
				want := ""
				if s.DurationSeconds != nil {
					want = strconv.FormatFloat(*s.DurationSeconds, 'f', 3, 64)
				}
				if steps[i].attrs["time"] != want {
					t.Errorf("%s: time %s, want %s", s.Name, steps[i].attrs["time"], want)
				}
			}
		})
	}
}

// The failing step is the failing test case, with its exit code and
// output; the gates get a suite of their own.
func TestJUnitFailureAndGates(t *testing.T) {
	_, r := newReport(t, fixtures+"/buildkit-probe/run-fail-plain.log", fixtures+"/buildkit-probe/dockerfiles/ctx-fail.Dockerfile")
	doc := JUnit(r)
	var failed []JUnitTestCase
	for _, tc := range doc.Suites[0].Cases {
		if tc.Failure != nil {
			failed = append(failed, tc)
		}
	}
	if len(failed) != 1 {
		t.Fatalf("%d failing cases, want 1", len(failed))
	}
	f := failed[0]
	if f.Line != "3" || f.File != "Dockerfile" || f.Classname != "docker.build.stage" ||
		!strings.HasPrefix(f.Failure.Message, "exit code 3: process") || !strings.HasSuffix(f.Failure.Text, "about to fail\noops") {
		t.Errorf("failing case = %+v", f)
	}
	if doc.Failures != 1 || doc.Suites[0].Failures != 1 {
		t.Errorf("failures = %d/%d", doc.Failures, doc.Suites[0].Failures)
	}

	b, r := newReport(t, fixtures+"/buildkit-probe/multistage-plain-cold.log", fixtures+"/buildkit-probe/dockerfiles/ctx-multi.Dockerfile")
	r.AddGates(regressedGates(t, b, r))
	doc = JUnit(r)
	if len(doc.Suites) != 2 || doc.Suites[1].Name != "buildstats gates" || len(doc.Suites[1].Cases) != 3 || doc.Suites[1].Failures != 3 {
		t.Fatalf("gate suite = %+v", doc.Suites)
	}
	if doc.Failures != 3 || doc.Tests != len(r.Explanation.Steps)+3 {
		t.Errorf("totals: %d tests, %d failures", doc.Tests, doc.Failures)
	}
}

package annotate

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/report/safe"
	"github.com/buildstats/buildstats/report/safe/safetest"
)

func TestEscapeGitHub(t *testing.T) {
	tests := []struct {
		in, data, prop string
	}{
		{"plain text", "plain text", "plain text"},
		{"100%", "100%25", "100%25"},
		{"a\nb\r\nc", "a%0Ab%0D%0Ac", "a%0Ab%0D%0Ac"},
		{"%0A stays text", "%250A stays text", "%250A stays text"},
		{"::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"},
		{"file=a,line=1", "file=a,line=1", "file=a%2Cline=1"},
		{"%25", "%2525", "%2525"},
		{"\n::warning::forged", "%0A::warning::forged", "%0A%3A%3Awarning%3A%3Aforged"},
	}
	for _, tt := range tests {
		if got := EscapeGitHubData(tt.in); got != tt.data {
			t.Errorf("EscapeGitHubData(%q) = %q, want %q", tt.in, got, tt.data)
		}
		if got := EscapeGitHubProperty(tt.in); got != tt.prop {
			t.Errorf("EscapeGitHubProperty(%q) = %q, want %q", tt.in, got, tt.prop)
		}
	}
}

// ghCommand is a workflow command as the Actions runner reads it.
type ghCommand struct {
	name  string
	props map[string]string
	data  string
}

// parseGitHubCommand mirrors the runner's ActionCommand.TryParseV2: the
// line (leading space trimmed) starts with "::", the command and its
// properties run to the next "::", properties split at "," and "=", and
// values and data are unescaped with sequential replacements in the
// runner's order.
func parseGitHubCommand(line string) (ghCommand, bool) {
	line = strings.TrimLeft(line, " \t")
	rest, ok := strings.CutPrefix(line, "::")
	if !ok {
		return ghCommand{}, false
	}
	head, data, ok := strings.Cut(rest, "::")
	if !ok {
		return ghCommand{}, false
	}
	c := ghCommand{props: map[string]string{}}
	name, props, _ := strings.Cut(head, " ")
	c.name = name
	if props != "" {
		for _, p := range strings.Split(props, ",") {
			k, v, ok := strings.Cut(p, "=")
			if !ok {
				continue
			}
			for _, r := range [][2]string{{"%0D", "\r"}, {"%0A", "\n"}, {"%3A", ":"}, {"%2C", ","}, {"%25", "%"}} {
				v = strings.ReplaceAll(v, r[0], r[1])
			}
			c.props[k] = v
		}
	}
	for _, r := range [][2]string{{"%0D", "\r"}, {"%0A", "\n"}, {"%25", "%"}} {
		data = strings.ReplaceAll(data, r[0], r[1])
	}
	c.data = data
	return c, true
}

// Escaping round-trips through the runner's unescaping for any text.
func TestGitHubEscapingRoundTrips(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := []string{"%", "0", "A", "D", "2", "5", "C", "3", ":", ",", "=", "\n", "\r", " ", "x", "::", "%0A", "%25"}
	for i := 0; i < 2000; i++ {
		var b strings.Builder
		for j := rng.Intn(12); j > 0; j-- {
			b.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		s := b.String()
		line := "::warning file=" + EscapeGitHubProperty(s) + ",title=" + EscapeGitHubProperty(s) + "::" + EscapeGitHubData(s)
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("%q: escaped command spans lines", s)
		}
		c, ok := parseGitHubCommand(line)
		if !ok || c.name != "warning" || c.props["file"] != s || c.props["title"] != s || c.data != s || len(c.props) != 2 {
			t.Fatalf("%q: runner reads %+v", s, c)
		}
	}
}

// Every line WriteGitHub prints is one of our commands, and reads back as
// exactly the finding it came from, whatever the log held.
func TestGitHubHostileLogIsInert(t *testing.T) {
	_, r := newReport(t, "testdata/hostile.log", "testdata/hostile.Dockerfile")
	var buf bytes.Buffer
	if _, err := WriteGitHub(&buf, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(r.Findings) {
		t.Fatalf("%d lines for %d findings:\n%s", len(lines), len(r.Findings), buf.String())
	}
	for i, line := range lines {
		f := r.Findings[i]
		c, ok := parseGitHubCommand(line)
		if !ok || c.name != f.Severity {
			t.Fatalf("line %d is not a %s command: %q", i, f.Severity, line)
		}
		wantProps := map[string]string{"title": f.Title}
		if f.Line > 0 {
			wantProps["file"], wantProps["line"] = f.File, strconv.Itoa(f.Line)
		}
		if len(c.props) != len(wantProps) {
			t.Errorf("line %d: properties %v, want %v", i, c.props, wantProps)
		}
		for k, v := range wantProps {
			if c.props[k] != v {
				t.Errorf("line %d: %s=%q, want %q", i, k, c.props[k], v)
			}
		}
		if !strings.HasPrefix(c.data, f.Message) {
			t.Errorf("line %d: message %q does not read back as %q", i, c.data, f.Message)
		}
	}
	// The log's own commands arrive as escaped text inside our messages:
	// the runner shows each line of a message in the log.
	failure := r.Findings[0]
	if failure.Kind != KindFailed || failure.Line != 4 || failure.File != "Dockerfile" {
		t.Fatalf("first finding = %+v", failure)
	}
	c, _ := parseGitHubCommand(lines[0])
	for _, want := range []string{"\n\\::error::pwned\n", "\n%0A::notice::x\n", "\n\\::error file=Dockerfile,line=1,title=forged::injected %25 100%\n", "<script>alert(1)</script>"} {
		if !strings.Contains(c.data, want) {
			t.Errorf("failure message lacks %q as text:\n%q", want, c.data)
		}
	}
	if c.props["title"] != "Build failed: exit code 7" || len(c.props) != 3 {
		t.Errorf("the log's text changed the command's properties: %v", c.props)
	}
}

// Markdown: nothing outside code blocks can be HTML or markup, and code
// blocks cannot be closed by the log.
func TestMarkdownHostileLogIsInert(t *testing.T) {
	_, r := newReport(t, "testdata/hostile.log", "testdata/hostile.Dockerfile")
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, r, MarkdownOptions{LineURL: func(string, int) string { return "javascript:alert(1)" }}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	prose, code := splitFences(t, out)
	for _, bad := range []string{"<script", "<b>", "</pre>", "<!--", "**bold**", "[link](", "javascript:"} {
		if strings.Contains(prose, bad) {
			t.Errorf("markdown outside code blocks contains %q", bad)
		}
	}
	for _, want := range []string{"</pre><script>alert(1)</script>", "| a | b | [link](javascript:alert(1)) **bold**", "```"} {
		if !strings.Contains(code, want) {
			t.Errorf("code blocks lack the log line %q", want)
		}
	}
	if strings.Contains(prose, "](javascript") {
		t.Error("an unsafe link target was used")
	}
}

// splitFences separates fenced code blocks from the rest, following the
// CommonMark rule that only a fence at least as long as the opening one
// closes a block.
func splitFences(t *testing.T, md string) (prose, code string) {
	t.Helper()
	var p, c strings.Builder
	fence := ""
	for _, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case fence == "" && strings.HasPrefix(trimmed, "```"):
			fence = trimmed[:len(trimmed)-len(strings.TrimLeft(trimmed, "`"))]
		case fence != "" && strings.TrimRight(trimmed, "`") == "" && len(trimmed) >= len(fence):
			fence = ""
		case fence != "":
			c.WriteString(line + "\n")
		default:
			p.WriteString(line + "\n")
		}
	}
	if fence != "" {
		t.Fatalf("unclosed code block in:\n%s", md)
	}
	return p.String(), c.String()
}

func TestJUnitHostileLogIsInert(t *testing.T) {
	_, r := newReport(t, "testdata/hostile.log", "testdata/hostile.Dockerfile")
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, r); err != nil {
		t.Fatal(err)
	}
	// No element but the JUnit ones, whatever the log held.
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "testsuites", "testsuite", "testcase", "failure", "skipped", "system-out":
			default:
				t.Errorf("unexpected element <%s>", se.Name.Local)
			}
		}
	}
	var doc JUnitTestSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	var failed *JUnitTestCase
	for i, tc := range doc.Suites[0].Cases {
		if tc.Failure != nil {
			failed = &doc.Suites[0].Cases[i]
		}
	}
	if failed == nil {
		t.Fatal("no failed test case")
	}
	if want := `RUN echo "::error::pwned" && printf '%0A::notice::x' # <script>alert(1)</script>, "quotes"`; failed.Name != want {
		t.Errorf("name = %q, want %q", failed.Name, want)
	}
	if !strings.Contains(failed.Failure.Text, "</pre><script>alert(1)</script> ]]> <!-- & 'apostrophes' \"quotes\"") {
		t.Errorf("failure text lost the output line: %q", failed.Failure.Text)
	}
}

func TestCodeQualityHostileLog(t *testing.T) {
	_, r := newReport(t, "testdata/hostile.log", "testdata/hostile.Dockerfile")
	var buf bytes.Buffer
	if err := WriteCodeQuality(&buf, r); err != nil {
		t.Fatal(err)
	}
	var issues []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &issues); err != nil {
		t.Fatal(err)
	}
	located := 0
	for _, f := range r.Findings {
		if f.Line > 0 {
			located++
		}
	}
	// The slow metadata load has no line: it is in the summary only.
	if len(issues) != located || located == len(r.Findings) {
		t.Fatalf("%d issues for %d located of %d findings", len(issues), located, len(r.Findings))
	}
	seen := map[string]bool{}
	for _, is := range issues {
		for _, k := range []string{"description", "check_name", "fingerprint", "severity", "location"} {
			if _, ok := is[k]; !ok {
				t.Errorf("issue lacks %q: %v", k, is)
			}
		}
		fp := is["fingerprint"].(string)
		if seen[fp] {
			t.Errorf("duplicate fingerprint %s", fp)
		}
		seen[fp] = true
		loc := is["location"].(map[string]any)
		lines := loc["lines"].(map[string]any)
		if loc["path"] != "Dockerfile" || lines["begin"].(float64) < 1 {
			t.Errorf("location = %v", loc)
		}
		switch is["severity"] {
		case "info", "minor", "major", "critical", "blocker":
		default:
			t.Errorf("severity %v", is["severity"])
		}
		if strings.ContainsAny(is["description"].(string), "\n\r") {
			t.Errorf("description spans lines: %q", is["description"])
		}
	}
	if !strings.Contains(issues[0]["description"].(string), `RUN echo "::error::pwned" && printf '%0A::notice::x' # <script>alert(1)</script>, "quotes"`) {
		t.Errorf("description = %q", issues[0]["description"])
	}
	if bytes.Contains(buf.Bytes(), []byte("<script>")) {
		t.Error("raw <script> in the JSON (it should be \\u003c-escaped)")
	}
}

// Text output: every line starts with something buildstats wrote, so no
// log line can pass for a workflow command or a log group marker.
func TestTextHostileLogIsInert(t *testing.T) {
	_, r := newReport(t, "testdata/hostile.log", "testdata/hostile.Dockerfile")
	var buf bytes.Buffer
	if err := WriteText(&buf, r); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		ok := false
		for _, p := range []string{"error: ", "warning: ", "notice: ", "  | ", "gate "} {
			ok = ok || strings.HasPrefix(line, p)
		}
		if !ok {
			t.Errorf("line starts with log text: %q", line)
		}
		if strings.HasPrefix(strings.TrimSpace(line), "::") {
			t.Errorf("line reads as a workflow command: %q", line)
		}
	}
}

// FuzzGitHubEscaping: any title, file and message read back through the
// runner's parser as exactly their neutral forms, in one command on one
// line, and no line of the message does anything in the log.
func FuzzGitHubEscaping(f *testing.F) {
	f.Add("Slow step: 45s", "Dockerfile", "RUN npm ci took 45s, 60% of the build.")
	f.Add("::error::x", "a,b:c", "%0A::warning::y\r\n%25")
	f.Fuzz(func(t *testing.T, title, file, msg string) {
		if file == "" {
			file = "Dockerfile" // findings have a file and line, or neither
		}
		r := &Report{Findings: []Finding{{Kind: KindSlow, Severity: SeverityWarning, Title: title, File: file, Line: 7, Message: msg}}}
		var buf bytes.Buffer
		if _, err := WriteGitHub(&buf, r); err != nil {
			t.Fatal(err)
		}
		out := strings.TrimSuffix(buf.String(), "\n")
		if strings.ContainsAny(out, "\r\n") {
			t.Fatalf("command spans lines: %q", out)
		}
		c, ok := parseGitHubCommand(out)
		if !ok || c.name != "warning" || c.props["title"] != safe.Line(title) || c.props["file"] != safe.Inline(file) || c.props["line"] != "7" || c.data != safe.Block(msg) || len(c.props) != 3 {
			t.Fatalf("reads back as %+v", c)
		}
		safetest.Check(t, "github", buf.Bytes(), safetest.Options{GitHubCommands: []string{"warning"}})
	})
}

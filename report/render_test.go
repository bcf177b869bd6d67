package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/report/internal/golden"
)

// namedDockerfile parses a fixture Dockerfile under the name "Dockerfile",
// so golden files do not depend on fixture paths.
func namedDockerfile(t *testing.T, path string) *dockerfile.File {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtures, path))
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

func renderString(t *testing.T, format string, opts RenderOptions, e *Explanation) string {
	t.Helper()
	r, err := NewRenderer(format, opts)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.Render(&buf, e); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestGolden(t *testing.T) {
	cases := []struct {
		name       string
		build      func(t *testing.T) *model.Build
		dockerfile string
	}{
		{"seed", func(t *testing.T) *model.Build { return load(t, "seed/tty-seed-python-docker-demo.log") }, "seed/Dockerfile.python-docker-demo"},
		{"multistage", func(t *testing.T) *model.Build { return load(t, "buildkit-probe/multistage-plain-cold.log") }, "buildkit-probe/dockerfiles/ctx-multi.Dockerfile"},
		{"run-fail", func(t *testing.T) *model.Build { return load(t, "buildkit-probe/run-fail-plain.log") }, "buildkit-probe/dockerfiles/ctx-fail.Dockerfile"},
		{"flask", func(*testing.T) *model.Build { return flaskBuild() }, "seed/Dockerfile.flask-app"},
		{"n8n", func(t *testing.T) *model.Build { return load(t, "real/plain-n8n-07.log") }, ""},
		{"docker-live", dockerLiveBuild, "buildkit-probe/dockerfiles/ctx-features.Dockerfile"},
	}
	exts := map[string]string{FormatTable: "txt", FormatJSON: "json", FormatMarkdown: "md"}
	for _, c := range cases {
		var opts Options
		if c.dockerfile != "" {
			opts.Dockerfile = namedDockerfile(t, c.dockerfile)
		}
		e := Explain(c.build(t), opts)
		for _, format := range Formats {
			name := c.name + "." + exts[format] + ".golden"
			t.Run(name, func(t *testing.T) {
				got := renderString(t, format, RenderOptions{}, e)
				golden.Check(t, "./report", filepath.Join("testdata", name), got)
			})
		}
	}
}

// dockerLiveBuild is the features fixture as `buildstats build --docker`
// records it: the Engine's BuildKit trace (rawjson) with the source named
// and each step's layer size from the image history
// (docker-history-features.jsonl): the cache-mount RUN and WORKDIR made
// empty layers, the internal vertices none.
func dockerLiveBuild(t *testing.T) *model.Build {
	b := load(t, "buildkit-probe/features-rawjson-nocache.jsonl")
	b.Source = "docker"
	sizes := map[string]int64{"COPY busybox": 1_983_456, "COPY data.txt": 5, "RUN --mount": 0, "RUN [": 4_194_304, "WORKDIR": 0}
	n := 0
	for _, v := range b.Vertices {
		for prefix, size := range sizes {
			if v.IsStep() && strings.HasPrefix(v.Instruction+" "+v.Args, prefix) {
				v.LayerBytes, v.HasLayerBytes = size, true
				n++
			}
		}
	}
	if n != len(sizes) {
		t.Fatalf("%d of %d layer sizes matched a step", n, len(sizes))
	}
	return b
}

// Live builds say where they came from instead of naming a log format,
// and show layer sizes in step lists only when some step has one.
func TestSourceAndLayers(t *testing.T) {
	for source, want := range map[string]string{
		"":                 "rawjson log",
		"buildkit":         "recorded live from BuildKit",
		"docker":           "recorded live from the Docker Engine",
		"buildkit-history": "imported from BuildKit history",
		"podman":           "from podman",
	} {
		if got := SourceText(source, "rawjson"); got != want {
			t.Errorf("SourceText(%q) = %q, want %q", source, got, want)
		}
	}

	live := Explain(dockerLiveBuild(t), Options{})
	if live.Source == nil || *live.Source != "docker" || live.ImageLayerBytes == nil || *live.ImageLayerBytes != 1_983_456+5+4_194_304 {
		t.Errorf("source %v, image layer bytes %v", live.Source, live.ImageLayerBytes)
	}
	var known, zero int
	for _, s := range live.Steps {
		if s.LayerBytes != nil {
			known++
			if *s.LayerBytes == 0 {
				zero++
			}
		}
		if s.Kind != "step" && s.LayerBytes != nil {
			t.Errorf("%s has a layer size", s.Name)
		}
	}
	if known != 5 || zero != 2 {
		t.Errorf("%d steps with a layer size, %d of them empty; want 5 and 2", known, zero)
	}
	table := renderString(t, FormatTable, RenderOptions{}, live)
	md := renderString(t, FormatMarkdown, RenderOptions{}, live)
	for _, want := range []string{"· recorded live from the Docker Engine", "image layers produced 6.2 MB", "│  LAYER │ NOTE", "│ 4.2 MB │", "│    0 B │"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	for _, want := range []string{"**Source:** recorded live from the Docker Engine", "- Image layers produced: 6.2 MB", "| Time | Layer | Note |", "| 4.2 MB |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(table, "rawjson log") || strings.Contains(md, "Log format") {
		t.Error("a live build is described as a log")
	}

	// Recorded live from BuildKit: a source, but no layer sizes.
	b := load(t, "buildkit-probe/features-rawjson-nocache.jsonl")
	b.Source = "buildkit"
	bk := Explain(b, Options{})
	if bk.ImageLayerBytes != nil {
		t.Errorf("image layer bytes %v without any step's", *bk.ImageLayerBytes)
	}
	table = renderString(t, FormatTable, RenderOptions{}, bk)
	md = renderString(t, FormatMarkdown, RenderOptions{}, bk)
	if !strings.Contains(table, "· recorded live from BuildKit") || !strings.Contains(md, "**Source:** recorded live from BuildKit") {
		t.Errorf("BuildKit source not named:\n%s\n%s", table, md)
	}
	for _, out := range []string{table, md} {
		if strings.Contains(strings.ToLower(out), "layer") && !strings.Contains(out, "base image layers") {
			t.Errorf("layer sizes shown for a build without any:\n%s", out)
		}
	}
}

func TestJSONRendererRoundTrips(t *testing.T) {
	e := Explain(load(t, "buildkit-probe/run-fail-rawjson.jsonl"), Options{})
	out := renderString(t, FormatJSON, RenderOptions{}, e)
	var back Explanation
	if err := json.Unmarshal([]byte(out), &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(&back)
	orig, _ := json.Marshal(e)
	if !bytes.Equal(again, orig) {
		t.Error("JSON output does not decode back to the same Explanation")
	}
	if !strings.HasPrefix(out, "{\n  \"schema_version\": 3,") {
		t.Errorf("not indented JSON: %.40q", out)
	}
}

// hostileBuild carries text a log can hold and a renderer must not let
// through: table separators, HTML, backticks, code fences, newlines and
// terminal escapes.
func hostileBuild() *model.Build {
	name := "[1/2] RUN echo 'a|b' <script>alert(1)</script> `whoami` [x](http://evil) **bold**\n# heading"
	return &model.Build{
		Format: model.FormatPlain, Status: model.StatusFailed,
		Error: "failed | <img src=x onerror=alert(1)> `x`",
		Vertices: []*model.Vertex{
			{ID: "1", Name: "[internal] load \x1b]0;pwned\x07 build definition", Stage: "internal", Completed: true},
			{ID: "2", Name: name, Index: 1, Total: 2, Instruction: "RUN", Args: name[10:], Completed: true, HasDuration: true, Duration: time.Second,
				Error: "exit | code", ExitCode: 3, OutputLines: 3,
				Output: []string{"```", "</pre><script>x</script>", "````not closed"}},
		},
		Warnings: []model.Warning{{Text: "warn | <b>bold</b>"}},
	}
}

func TestMarkdownEscapesHostileText(t *testing.T) {
	e := Explain(hostileBuild(), Options{})
	out := renderString(t, FormatMarkdown, RenderOptions{}, e)

	// Inside fenced code blocks text is inert; check outside them.
	text := outsideFences(out)
	for _, bad := range []string{"<script>", "<img", "<b>", "**bold**", "\x1b", "\x07"} {
		if strings.Contains(text, bad) {
			t.Errorf("markdown lets %q through:\n%s", bad, out)
		}
	}
	if regexp.MustCompile(`(^|[^\\])\]\(`).MatchString(text) {
		t.Errorf("markdown lets a link through:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "# heading") {
			t.Errorf("a newline in a name started a heading:\n%s", out)
		}
	}
	// Each table row has exactly its columns: escaped pipes do not count.
	unescapedPipe := regexp.MustCompile(`(^|[^\\])\|`)
	inTable, cols := false, 0
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		n := len(unescapedPipe.FindAllString(line, -1))
		if !inTable {
			inTable, cols = true, n
			continue
		}
		if n != cols {
			t.Errorf("row has %d cell boundaries, header %d: %s", n, cols, line)
		}
	}
	// The output block holds ``` and ````: its fence must be longer.
	if !strings.Contains(out, "\n`````text\n```\n") {
		t.Errorf("code fence not longer than the backtick runs in the output:\n%s", out)
	}
}

// outsideFences drops fenced code blocks from markdown.
func outsideFences(md string) string {
	var b strings.Builder
	fence := ""
	for _, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimRight(line, "abcdefghijklmnopqrstuvwxyz")
		switch {
		case fence == "" && strings.HasPrefix(line, "```"):
			fence = trimmed
		case fence != "" && line == fence:
			fence = ""
		case fence == "":
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func TestMdText(t *testing.T) {
	for in, want := range map[string]string{
		"a|b":         `a\|b`,
		"<x>&":        "&lt;x&gt;&amp;",
		"`code`":      "\\`code\\`",
		"l1\nl2":      "l1<br>l2",
		"- item":      `\- item`,
		"12. ordered": `12\. ordered`,
		"a - b 1. c":  "a - b 1. c",
		`back\slash`:  `back\\slash`,
	} {
		if got := mdText(in); got != want {
			t.Errorf("mdText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTableRendererSanitisesAndColours(t *testing.T) {
	e := Explain(hostileBuild(), Options{})
	plain := renderString(t, FormatTable, RenderOptions{}, e)
	if strings.ContainsAny(plain, "\x1b\x07") {
		t.Errorf("table output carries control characters: %q", plain)
	}
	for _, want := range []string{"Build failed", "error (exit 3)", "Exit code: 3", "</pre><script>x</script>"} {
		if !strings.Contains(plain, want) {
			t.Errorf("table output lacks %q:\n%s", want, plain)
		}
	}
	coloured := renderString(t, FormatTable, RenderOptions{Color: true}, e)
	if !strings.Contains(coloured, ansiRed+"Build failed"+ansiReset) {
		t.Errorf("colour requested but status not coloured:\n%s", coloured)
	}
	if strings.Contains(coloured, "\x07") {
		t.Error("log escape sequence passed through with colour on")
	}
}

func TestNewRendererRejectsUnknownFormat(t *testing.T) {
	if _, err := NewRenderer("yaml", RenderOptions{}); err == nil || !strings.Contains(err.Error(), "table, json, markdown") {
		t.Errorf("err = %v", err)
	}
}

func parseDockerfile(src []byte) (*dockerfile.File, error) {
	return dockerfile.Parse(bytes.NewReader(src), "Dockerfile")
}

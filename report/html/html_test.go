package html

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report/internal/golden"
	"github.com/buildstats/buildstats/report/safe/safetest"
)

const fixtures = "../../fixtures"

func load(t testing.TB, name string) *model.Build {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := parse.Parse(f, parse.Options{})
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return b
}

func buildPageString(t testing.TB, b *model.Build, opts Options) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteBuild(&buf, b, opts); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func trendsPageString(t testing.TB, tr *Trends) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTrends(&buf, tr); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

var waterfallRE = regexp.MustCompile(`(?s)<svg class="waterfall".*?</svg>`)

// smallBuild is a three-stage Go build: base image metadata, a deps stage
// served from the cache, a build stage that copies from it, and a
// distroless final stage. With measured set it has rawjson's start and end
// times and vertex graph; otherwise only plain's durations. With failed
// set the go build fails and the final stage is canceled.
func smallBuild(measured, failed bool) *model.Build {
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded}
	if measured {
		b.Format = model.FormatRawJSON
	}
	type spec struct {
		name, stage  string
		index, total int
		instr, args  string
		start, end   float64 // seconds from t0
		cached       bool
		inputs       []int
		bytes        int64
	}
	specs := []spec{
		{name: "[internal] load build definition from Dockerfile", start: 0, end: 0.05},
		{name: "[internal] load .dockerignore", start: 0.06, end: 0.08},
		{name: "[internal] load metadata for docker.io/library/golang:1.26", start: 0.1, end: 1.3},
		{name: "[internal] load metadata for gcr.io/distroless/static:nonroot", start: 0.1, end: 0.9},
		{name: "[internal] load build context", start: 1.31, end: 1.61, bytes: 12_400_000},
		{"", "deps", 1, 3, "FROM", "docker.io/library/golang:1.26@sha256:0f1e", 1.31, 5.8, false, nil, 210_000_000},
		{"", "deps", 2, 3, "COPY", "go.mod go.sum ./", 5.8, 5.8, true, []int{5, 4}, 0},
		{"", "deps", 3, 3, "RUN", "go mod download", 5.8, 5.8, true, []int{6}, 0},
		{"", "build", 1, 3, "COPY", "--from=deps /go/pkg/mod /go/pkg/mod", 5.81, 6.6, false, []int{7}, 0},
		{"", "build", 2, 3, "COPY", ". .", 6.61, 7.0, false, []int{8, 4}, 0},
		{"", "build", 3, 3, "RUN", "go build -o /app ./cmd/app", 7.01, 13.0, false, []int{9}, 0},
		{"", "final", 1, 2, "FROM", "gcr.io/distroless/static:nonroot@sha256:9a8b", 1.31, 2.2, false, nil, 1_900_000},
		{"", "final", 2, 2, "COPY", "--from=build /app /app", 13.01, 13.2, false, []int{10, 11}, 0},
		{name: "exporting to image", start: 13.21, end: 13.9},
	}
	for i, sp := range specs {
		v := &model.Vertex{ID: fmt.Sprint(i + 1), Name: sp.name, Stage: sp.stage, Index: sp.index, Total: sp.total,
			Instruction: sp.instr, Args: sp.args, Cached: sp.cached, Completed: true}
		if sp.instr != "" {
			v.Name = fmt.Sprintf("[%s %d/%d] %s %s", sp.stage, sp.index, sp.total, sp.instr, sp.args)
		} else if strings.HasPrefix(sp.name, "[internal]") {
			v.Stage = "internal"
		}
		d := time.Duration(math.Round((sp.end-sp.start)*1000)) * time.Millisecond
		if !sp.cached {
			v.Duration, v.HasDuration = d, true
		}
		switch {
		case sp.instr == "FROM" && sp.bytes > 0:
			v.Transfers = []model.Transfer{{Name: "sha256:" + strings.Repeat("ab", 32), Bytes: sp.bytes, Total: sp.bytes, Done: true}}
		case sp.bytes > 0:
			v.Transfers = []model.Transfer{{Name: "transferring context", Bytes: sp.bytes, Done: true}}
		}
		if measured {
			v.Digest = fmt.Sprintf("sha256:%064x", i+1)
			for _, in := range sp.inputs {
				v.Inputs = append(v.Inputs, fmt.Sprintf("sha256:%064x", in+1))
			}
			at := func(s float64) time.Time { return t0.Add(time.Duration(math.Round(s*1000)) * time.Millisecond) }
			v.Started, v.Ended = at(sp.start), at(sp.end)
		}
		b.Vertices = append(b.Vertices, v)
	}
	if measured {
		b.Started, b.Completed = t0, t0.Add(13900*time.Millisecond)
		b.Duration, b.HasDuration = 13900*time.Millisecond, true
	}
	if failed {
		b.Status = model.StatusFailed
		run := b.Vertices[10]
		run.Error, run.ExitCode = `process "/bin/sh -c go build -o /app ./cmd/app" did not complete successfully: exit code: 2`, 2
		for _, l := range []string{"# example.com/app/cmd/app", "cmd/app/main.go:12:2: undefined: serve"} {
			run.AddOutput(l)
		}
		b.Error = "failed to solve: " + run.Error
		b.ErrorFile, b.ErrorLine = "Dockerfile", 14
		b.ErrorContext = []string{"  13 |     COPY . .", "  14 | >>> RUN go build -o /app ./cmd/app", "  15 |"}
		b.Vertices = b.Vertices[:12] // the final COPY and the export never ran
		b.Vertices[11].Canceled, b.Vertices[11].Error = true, "context canceled"
	}
	return b
}

// TestWaterfallGolden pins the timeline geometry of a small build with
// measured times and a graph (rawjson), the same build reconstructed
// from durations (plain), and a failed one.
func TestWaterfallGolden(t *testing.T) {
	for _, c := range []struct {
		name             string
		measured, failed bool
	}{
		{"measured", true, false},
		{"reconstructed", false, false},
		{"failed", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := smallBuild(c.measured, c.failed)
			page := buildPageString(t, b, Options{Title: c.name})
			got := waterfallRE.FindString(page)
			if got == "" {
				t.Fatal("no waterfall SVG in the page")
			}
			if n := len(barRE.FindAllString(got, -1)); n != len(b.Vertices) {
				t.Errorf("%d bars for %d vertices", n, len(b.Vertices))
			}
			got += "\n"
			golden.Check(t, "./report/html", filepath.Join("testdata", c.name+".svg.golden"), got)
		})
	}
}

var barRE = regexp.MustCompile(`<rect class="bar [^"]*" data-vertex="(\d+)"`)

// TestOneBarPerVertex checks every fixture: one bar per vertex, each
// vertex once, and bars inside the chart.
func TestOneBarPerVertex(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(fixtures, "*", "*.log"))
	jsonl, _ := filepath.Glob(filepath.Join(fixtures, "*", "*.jsonl"))
	logs = append(logs, jsonl...)
	n := 0
	for _, path := range logs {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := parse.Parse(f, parse.Options{})
		f.Close()
		if err != nil {
			continue // not every fixture is a build log
		}
		n++
		page := buildPageString(t, b, Options{Title: filepath.Base(path)})
		bars := barRE.FindAllStringSubmatch(page, -1)
		if len(bars) != len(b.Vertices) {
			t.Errorf("%s: %d bars for %d vertices", path, len(bars), len(b.Vertices))
			continue
		}
		seen := map[string]bool{}
		for _, m := range bars {
			if seen[m[1]] {
				t.Errorf("%s: vertex %s drawn twice", path, m[1])
			}
			seen[m[1]] = true
		}
		for _, m := range regexp.MustCompile(`<rect class="bar[^>]* x="([-\d.]+)"[^>]* width="([-\d.]+)"`).FindAllStringSubmatch(page, -1) {
			var x, w float64
			fmt.Sscan(m[1], &x)
			fmt.Sscan(m[2], &w)
			if x < wfChartX0-0.05 || w < wfMinBarW-0.05 || x+w > wfChartX1+wfMinBarW+0.05 {
				t.Errorf("%s: bar at x=%v width %v outside the chart", path, x, w)
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d fixtures parsed", n)
	}
}

func TestTimeNote(t *testing.T) {
	plain := buildPageString(t, load(t, "generated/bk-multistage-plain-nocache.log"), Options{})
	if !strings.Contains(plain, "The timeline is reconstructed") {
		t.Error("plain log page does not say its timeline is reconstructed")
	}
	raw := buildPageString(t, load(t, "generated/bk-multistage-rawjson-nocache.jsonl"), Options{})
	if strings.Contains(raw, "reconstructed") || !strings.Contains(raw, "Start and end times are the rawjson log&#39;s own.") {
		t.Error("rawjson page does not say its times are measured")
	}
	if !strings.Contains(raw, "From the build&#39;s own step graph.") {
		t.Error("rawjson page does not say the critical path comes from the graph")
	}
}

func TestSections(t *testing.T) {
	page := buildPageString(t, load(t, "generated/bk-run-fail-plain.log"), Options{Title: "fail"})
	for _, want := range []string{`<section id="error" class="error">`, "Exit code: 3", `id="critical-path"`, `id="slow-steps"`, `id="cache-breaks"`, `id="sizes"`, "build context"} {
		if !strings.Contains(page, want) {
			t.Errorf("failed build page lacks %q", want)
		}
	}
	seed := load(t, "seed/tty-seed-python-docker-demo.log")
	for _, v := range seed.Vertices {
		if v.Name == "[3/3] COPY . ." {
			v.LayerBytes, v.HasLayerBytes = 12345, true
		}
	}
	ok := buildPageString(t, seed, Options{
		Title: "seed",
		Facts: []Fact{{Label: "CI run", Value: "#12", URL: "https://ci.example/run/12"}, {Label: "bad", Value: "x", URL: "javascript:alert(1)"}},
	})
	if strings.Contains(ok, `id="error"`) {
		t.Error("succeeded build has an error section")
	}
	for _, want := range []string{"base image download", "49.5 MB", "produced layer", "12.3 kB", `<a href="https://ci.example/run/12">#12</a>`, "id=\"advice\""} {
		if !strings.Contains(ok, want) {
			t.Errorf("seed page lacks %q", want)
		}
	}
	if strings.Contains(ok, "javascript:") {
		t.Error("a javascript: URL was linked")
	}
}

// layerRowRE matches a produced-layer row of the sizes table: the step,
// the size and the bar's width.
var layerRowRE = regexp.MustCompile(`<tr><td>produced layer</td><td class="name">([^<]*)</td><td class="n">([^<]*)</td><td class="barcell"><span class="meter" style="width:([0-9.]+)%"></span></td></tr>`)

// A build recorded live from the Docker Engine shows the layers its steps
// produced as bars, the largest full width, empty layers left out; a log,
// which has no layer sizes, shows none.
func TestProducedLayers(t *testing.T) {
	b := smallBuild(true, false)
	b.Source = "docker"
	sizes := map[string]int64{"[build 3/3] RUN go build -o /app ./cmd/app": 80_000_000, "[final 2/2] COPY --from=build /app /app": 20_000_000, "[build 2/3] COPY . .": 0}
	for _, v := range b.Vertices {
		if n, ok := sizes[v.Name]; ok {
			v.LayerBytes, v.HasLayerBytes = n, true
		}
	}
	page := buildPageString(t, b, Options{})
	rows := layerRowRE.FindAllStringSubmatch(page, -1)
	if len(rows) != 2 {
		t.Fatalf("%d produced-layer rows, want 2 (the empty layer left out):\n%s", len(rows), page)
	}
	// Sizes are sorted largest first, and the largest row of the table
	// (the 210 MB base image) sets the full width.
	if rows[0][1] != "[build 3/3] RUN go build -o /app ./cmd/app" || rows[0][2] != "80.0 MB" || rows[0][3] != "38.1" ||
		rows[1][1] != "[final 2/2] COPY --from=build /app /app" || rows[1][2] != "20.0 MB" || rows[1][3] != "9.5" {
		t.Errorf("produced layers: %q", rows)
	}
	for _, want := range []string{"recorded live from the Docker Engine", "image layers produced 100.0 MB", "Start and end times are the builder&#39;s own, recorded live from the Docker Engine."} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "rawjson log") {
		t.Error("a live build is described as a rawjson log")
	}

	for _, b := range []*model.Build{smallBuild(true, false), load(t, "seed/tty-seed-python-docker-demo.log")} {
		page := buildPageString(t, b, Options{})
		if n := len(layerRowRE.FindAllString(page, -1)); n != 0 || strings.Contains(page, "produced") {
			t.Errorf("%s log page shows %d produced layers", b.Format, n)
		}
		if !strings.Contains(page, string(b.Format)+" log") {
			t.Errorf("%s log page does not name its format", b.Format)
		}
	}
}

// hostile is text a log could carry to break out of the page.
const hostile = "<script>alert(1)</script></svg></title></text><img src=x onerror=alert(2)>\"' onmouseover=\"alert(3)\" & \x1b[31mred\x1b[0m \x00\x07\x08\x0b\x0c\r\x7f\u0085\u009b \xff\xfe" +
	" user\u202egnp.exe\u2066 ##vso[task.complete result=Succeeded] ##[group]x\n  ::add-mask::pwned\n--- fake group end"

func hostileBuild() *model.Build {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := func(name string, start, end float64) *model.Vertex {
		return &model.Vertex{Name: name, Started: t0.Add(time.Duration(start * float64(time.Second))), Ended: t0.Add(time.Duration(end * float64(time.Second))),
			Duration: time.Duration((end - start) * float64(time.Second)), HasDuration: true, Completed: true}
	}
	a := v("[internal] load build context "+hostile, 0, 1)
	a.Transfers = []model.Transfer{{Name: "transferring context " + hostile, Bytes: 100}}
	b := v("["+hostile+" 1/2] FROM "+hostile, 1, 2)
	b.Stage, b.Platform, b.Index, b.Total, b.Instruction, b.Args = hostile, hostile, 1, 2, "FROM", hostile
	b.Transfers = []model.Transfer{{Name: "sha256:" + hostile, Bytes: 5e6, Total: 5e6}}
	c := v("["+hostile+" 2/2] RUN "+hostile, 2, 5)
	c.Stage, c.Platform, c.Index, c.Total, c.Instruction, c.Args = hostile, hostile, 2, 2, "RUN", hostile
	c.Error, c.ExitCode = hostile, 1
	c.Warnings = []string{hostile}
	for range 5 {
		c.AddOutput(hostile)
	}
	return &model.Build{
		Format: model.FormatRawJSON, Status: model.StatusFailed, Builder: hostile,
		Started: t0, Completed: t0.Add(5 * time.Second), Duration: 5 * time.Second, HasDuration: true,
		Vertices: []*model.Vertex{a, b, c}, Error: hostile, ErrorContext: []string{hostile, hostile},
		ErrorFile: hostile, ErrorLine: 3, ImageNames: []string{hostile},
		Warnings: []model.Warning{{Text: hostile}},
	}
}

// checkEscaped fails if page holds any of hostile's dangerous parts
// unescaped.
func checkEscaped(t *testing.T, page string) {
	t.Helper()
	if strings.Count(page, "alert(") == 0 {
		t.Fatal("the hostile text is not in the page at all: the test tests nothing")
	}
	for _, bad := range []string{"<script", "<img", `onmouseover="`, "</title></text>", "javascript:"} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("page contains %q unescaped", bad)
		}
	}
	if o, c := strings.Count(page, "<svg"), strings.Count(page, "</svg>"); o != c {
		t.Errorf("%d <svg> opened, %d closed: log text closed one", o, c)
	}
	if o, c := strings.Count(page, "<title>"), strings.Count(page, "</title>"); o != c {
		t.Errorf("%d <title> opened, %d closed", o, c)
	}
	for i, r := range page {
		if r == '\n' || r == '\t' {
			continue
		}
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0xfffd && page[i] != 0xef {
			t.Errorf("control character %U at byte %d: …%q…", r, i, page[max(0, i-20):min(len(page), i+20)])
			break
		}
	}
	// No CI marker, raw bidi or C1 control on any line of the page.
	safetest.Check(t, "page", []byte(page), safetest.Options{})
	if !strings.Contains(page, "␛[31mred␛[0m") {
		t.Error("ESC is not shown as ␛")
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;&lt;/svg&gt;") {
		t.Error("the hostile text is not shown escaped")
	}
}

func TestEscaping(t *testing.T) {
	b := hostileBuild()
	b.Vertices[2].LayerBytes, b.Vertices[2].HasLayerBytes = 1, true // a produced layer named by hostile text
	page := buildPageString(t, b, Options{Title: hostile, Facts: []Fact{{Label: hostile, Value: hostile, URL: "javascript:" + hostile}}})
	checkEscaped(t, page)
	// Every section with log text was rendered.
	for _, want := range []string{`id="error"`, `id="warnings"`, `id="sizes"`, `class="waterfall"`, `id="critical-path"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if n := len(barRE.FindAllString(page, -1)); n != 3 {
		t.Errorf("%d bars, want 3", n)
	}

	tr := synthTrends("week", 3)
	tr.Title = hostile
	tr.Facts = []Fact{{Label: hostile, Value: hostile}}
	tr.TopSteps[0].Label = hostile
	checkEscaped(t, trendsPageString(t, tr))
}

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            "plain",
		"a\x1b[0mb":        "a␛[0mb",
		"nul\x00":          "nul␀",
		"tab\tnl\n":        "tab\tnl\n",
		"del\x7f":          "del␡",
		"c1\u0085":         "c1\uFFFD",
		"bad\xffutf8":      "bad\uFFFDutf8",
		"cr\r\nlf":         "cr\nlf", // a line ending
		"lone\rcr":         "lone␍cr",
		"bidi\u202e\u2066": "bidi\uFFFD\uFFFD",
		"csi\u009b31m":     "csi\uFFFD31m",
		"<kept as is>&":    "<kept as is>&", // html/template escapes these
		// CI markers, on any line: a page can end up in a CI log.
		"::error::x":                 `\::error::x`,
		"ok\n  ::add-mask::y\n--- z": "ok\n  \\::add-mask::y\n\\--- z",
		"x ##vso[a.b] ##[group]":     `x #\#vso[a.b] #\#[group]`,
	} {
		if got := text(in); got != want {
			t.Errorf("text(%q) = %q, want %q", in, got, want)
		}
	}
	if got := short("a\nb\tc d e f", 6); got != "a b c…" {
		t.Errorf("short = %q", got)
	}
	if got := line("::error::a\n::error::b"); got != `\::error::a ::error::b` {
		t.Errorf("line = %q", got)
	}
}

func TestTicks(t *testing.T) {
	for _, c := range []struct {
		end   time.Duration
		first string
		last  string
		count int
	}{
		{3 * time.Second, "0s", "3s", 7}, // every 0.5s
		{53600 * time.Millisecond, "0s", "50s", 6},
		{90 * time.Minute, "0s", "1h30m", 10},
		{0, "0s", "0s", 1},
	} {
		ticks := timeTicks(c.end)
		if len(ticks) != c.count || formatTick(ticks[0]) != c.first || formatTick(ticks[len(ticks)-1]) != c.last {
			var labels []string
			for _, tk := range ticks {
				labels = append(labels, formatTick(tk))
			}
			t.Errorf("ticks for %v: %q, want %d from %s to %s", c.end, labels, c.count, c.first, c.last)
		}
	}
	if got := formatTick(90 * time.Second); got != "1m30s" {
		t.Errorf("formatTick(90s) = %q", got)
	}
}

// bigBuild is a 200-step, 10-stage build with realistic long RUN
// commands, outputs and layer downloads, with measured times and a vertex
// graph when measured is set (rawjson), durations only otherwise (plain).
func bigBuild(measured bool) *model.Build {
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	b := &model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded}
	if measured {
		b.Format, b.Started = model.FormatRawJSON, t0
	}
	clock := time.Duration(0)
	const stages, per = 10, 20
	for s := range stages {
		stage := fmt.Sprintf("stage%d", s)
		prev := ""
		start := clock
		if s > 0 && s%3 != 0 {
			start = clock / 2 // some stages run in parallel
		}
		at := start
		for i := 1; i <= per; i++ {
			v := &model.Vertex{ID: fmt.Sprintf("%d", s*per+i), Stage: stage, Index: i, Total: per, Completed: true}
			d := time.Duration(100+((s*per+i)*7919)%9000) * time.Millisecond
			switch i {
			case 1:
				v.Instruction, v.Args = "FROM", fmt.Sprintf("docker.io/library/golang:1.26-bookworm@sha256:%064d", s)
				for l := range 5 {
					v.Transfers = append(v.Transfers, model.Transfer{Name: fmt.Sprintf("sha256:%063d%d", s, l), Bytes: int64(l+1) * 12_345_678, Total: int64(l+1) * 12_345_678, Done: true})
				}
			default:
				v.Instruction = "RUN"
				v.Args = fmt.Sprintf("--mount=type=cache,target=/root/.cache/go-build apt-get update && apt-get install -y --no-install-recommends build-essential ca-certificates curl git libssl-dev pkg-config && go build -trimpath -ldflags='-s -w -X main.version=%d' -o /out/app%d ./cmd/app%d && rm -rf /var/lib/apt/lists/*", i, s, i)
				v.Cached = (s+i)%4 == 0
			}
			v.Name = fmt.Sprintf("[%s %d/%d] %s %s", stage, i, per, v.Instruction, v.Args)
			if v.Cached {
				d = 0
			}
			v.Duration, v.HasDuration = d, !v.Cached
			for l := range 30 {
				v.AddOutput(fmt.Sprintf("#%d %.3f Get:%d http://deb.debian.org/debian bookworm/main amd64 libfoo%d amd64 1.2.%d [%d kB]", s*per+i, float64(l)/10, l, l, l, l*37))
			}
			if measured {
				v.Digest = "sha256:" + fmt.Sprintf("%064x", s*per+i)
				if prev != "" {
					v.Inputs = []string{prev}
				}
				prev = v.Digest
				v.Started, v.Ended = t0.Add(at), t0.Add(at+d)
			}
			at += d
			b.Vertices = append(b.Vertices, v)
		}
		clock = max(clock, at)
	}
	if measured {
		b.Completed, b.Duration, b.HasDuration = t0.Add(clock), clock, true
	}
	return b
}

// TestPageSize: a 200-step build stays well under 500 KB.
func TestPageSize(t *testing.T) {
	for _, measured := range []bool{true, false} {
		b := bigBuild(measured)
		if len(b.Vertices) != 200 {
			t.Fatalf("%d vertices", len(b.Vertices))
		}
		page := buildPageString(t, b, Options{Title: "big"})
		t.Logf("200-step %s page: %d bytes", b.Format, len(page))
		if len(page) >= 500_000 {
			t.Errorf("200-step %s page is %d bytes, want < 500 KB", b.Format, len(page))
		}
		if n := len(barRE.FindAllString(page, -1)); n != 200 {
			t.Errorf("%d bars, want 200", n)
		}
	}
}

func synthTrends(period string, n int) *Trends {
	t := &Trends{Title: "Build trends", Period: period}
	start := time.Date(2024, 11, 25, 0, 0, 0, 0, time.UTC)
	step := 7 * 24 * time.Hour
	if period == "day" {
		step = 24 * time.Hour
	}
	for i := range n {
		b := 5 + i%7
		if i%11 == 10 {
			b = 0 // a period without builds: a gap in the lines
		}
		p := TrendPeriod{Start: start.Add(time.Duration(i) * step), Builds: b, Timed: b, Failed: i % 3 % max(b, 1),
			P50: math.Round(600+200*math.Sin(float64(i)/5)) / 10, P95: math.Round(1200+300*math.Sin(float64(i)/3)) / 10,
			StepsTotal: b * 10, StepsCached: b * (i % 10)}
		if p.StepsTotal > 0 {
			p.CacheHitRate = float64(p.StepsCached) / float64(p.StepsTotal)
		}
		t.Periods = append(t.Periods, p)
	}
	for j := range 6 {
		s := StepSeries{Label: fmt.Sprintf("[builder] RUN step %c", 'A'+j)}
		for i := range n {
			v := math.Round(float64(100*(6-j))+50*math.Cos(float64(i+j))) / 10
			s.Seconds = append(s.Seconds, v)
			s.Runs = append(s.Runs, 3)
			s.TotalSeconds += v
			timed := 3
			if i%5 == 4 {
				timed = 0 // ran for no known time: a gap in its run time
			}
			s.Hits = append(s.Hits, 1)
			s.Timed = append(s.Timed, timed)
			s.P50 = append(s.P50, v/3)
			s.P95 = append(s.P95, v/2)
		}
		t.TopSteps = append(t.TopSteps, s)
	}
	for j, name := range []string{"main", "", "feature/<b>", "dev"} {
		b := BranchSeries{Name: name, Builds: make([]int, n), Other: j == 3}
		if b.Other {
			b.Name = ""
		}
		for i := range n {
			b.Builds[i] = (i + j) % 4
			b.Total += b.Builds[i]
		}
		t.Branches = append(t.Branches, b)
	}
	for i := range t.Periods {
		p := &t.Periods[i]
		p.LostRuns, p.LostTimed, p.LostSeconds = i%4, i%4, float64(i%4)*30
		if i%9 == 8 {
			p.LostTimed = 0 // no lost run timed: unknown, a gap
			p.LostSeconds = 0
		}
		if i%9 == 7 && p.LostRuns > 1 {
			p.LostTimed = 1
		}
	}
	return t
}

var (
	chartRE = regexp.MustCompile(`<svg class="chart"`)
	pathRE  = regexp.MustCompile(`<path class="line ([a-z0-9]+)" d="([^"]*)"`)
	rowRE   = regexp.MustCompile(`(?s)<details[^>]*><summary>Table</summary>.*?</details>`)
)

// TestTrendsPage: one week and two years of daily data both give the
// eleven charts (build time, cache hit rate, failure rate, step cost,
// each top step's run time, builds per branch, time lost to misses)
// with their lines and a table row per period.
func TestTrendsPage(t *testing.T) {
	for _, c := range []struct {
		period string
		n      int
	}{{"week", 1}, {"day", 7}, {"week", 104}, {"day", 730}} {
		t.Run(fmt.Sprintf("%s-%d", c.period, c.n), func(t *testing.T) {
			page := trendsPageString(t, synthTrends(c.period, c.n))
			if got := len(chartRE.FindAllString(page, -1)); got != 11 {
				t.Errorf("%d charts, want 11", got)
			}
			lines := pathRE.FindAllStringSubmatch(page, -1)
			classes := map[string]bool{}
			for _, l := range lines {
				classes[l[1]] = true
				if !strings.HasPrefix(l[2], "M") {
					t.Errorf("line %s has no points: %q", l[1], l[2])
				}
			}
			for _, want := range []string{"p50", "p95", "rate", "fail", "s0", "s1", "s2", "s3", "s4", "other", "lost"} {
				if !classes[want] {
					t.Errorf("no %s line", want)
				}
			}
			if classes["s5"] {
				t.Error("a sixth step is charted")
			}
			tables := rowRE.FindAllString(page, -1)
			if len(tables) != 11 {
				t.Fatalf("%d tables, want 11", len(tables))
			}
			for _, tb := range tables {
				if rows := strings.Count(tb, "<tr>") - 1; rows != c.n {
					t.Errorf("table has %d rows, want %d", rows, c.n)
				}
			}
			if c.n == 1 && !strings.Contains(page, "<circle") {
				t.Error("a single period is not drawn as a dot")
			}
			t.Logf("%d periods: %d bytes", c.n, len(page))
			if len(page) > 1_000_000 {
				t.Errorf("page is %d bytes", len(page))
			}
		})
	}
	empty := trendsPageString(t, &Trends{Period: "week"})
	if !strings.Contains(empty, "No builds in the history") || strings.Contains(empty, "<svg") {
		t.Error("empty history page")
	}
}

// TestLineGaps: a period without builds breaks the build-time line
// rather than drawing it to zero.
func TestLineGaps(t *testing.T) {
	tr := synthTrends("week", 12) // period 10 has no builds
	page := trendsPageString(t, tr)
	// segments counts the pieces of each line of class in the section id.
	segments := func(id, class string) []int {
		i := strings.Index(page, `<section id="`+id+`"`)
		if i < 0 {
			t.Fatalf("no section %s", id)
		}
		sec := page[i:]
		sec = sec[:strings.Index(sec, "</section>")]
		var out []int
		for _, l := range pathRE.FindAllStringSubmatch(sec, -1) {
			if l[1] == class {
				out = append(out, strings.Count(l[2], "M"))
			}
		}
		return out
	}
	for _, c := range []struct {
		id, class string
		want      []int
	}{
		{"build-time", "p50", []int{2}},     // no builds in period 10
		{"costliest-steps", "s0", []int{1}}, // a period without runs cost nothing
		// Periods 4 and 9: runs of no known time; 10: no runs.
		{"step-1", "p50", []int{3}},
		{"step-5", "p95", []int{3}},
		{"builds-per-branch", "s0", []int{1}}, // no builds is a count of 0
		{"builds-per-branch", "other", []int{1}},
		{"cache-misses", "lost", []int{2}},
	} {
		if got := segments(c.id, c.class); !slices.Equal(got, c.want) {
			t.Errorf("%s: %s lines in %v pieces, want %v", c.id, c.class, got, c.want)
		}
	}
}

// The new charts' legends, notes and tables: step names link their own
// chart, branches are escaped and "other" adds up the rest, a lost time
// of unknown runs is "?" and of partly timed ones "≥".
func TestTrendsChartsText(t *testing.T) {
	tr := synthTrends("week", 12)
	tr.Followed = &StepSeries{Label: "[x] RUN <followed>", TotalSeconds: 5, Runs: []int{1}, Hits: []int{0}, Timed: []int{1},
		P50: []float64{5}, P95: []float64{5}, Seconds: []float64{5}}
	page := trendsPageString(t, tr)
	for _, want := range []string{
		`<a href="#step-1"><code>[builder] RUN step A</code></a>`,
		`<section id="step" class="steptime">`, "RUN &lt;followed&gt;",
		"<code>feature/&lt;b&gt;</code>", "<code>(no branch)</code>", "<code>other branches</code>",
		"came from the cache", "<td>?</td>", "<td>≥ 1m30s</td>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Index(page, `id="step"`) > strings.Index(page, `id="build-time"`) {
		t.Error("the followed step is not charted first")
	}
	tr.Followed, tr.FollowMissing = nil, true
	if page := trendsPageString(t, tr); !strings.Contains(page, "not built in this window") {
		t.Error("a followed step without builds is not said to be")
	}
}

// A legacy log without times: no BuildKit heading and no empty time axis;
// each vertex gets a slot of its own, left to right in the order drawn.
func TestLegacyWithoutTimes(t *testing.T) {
	b := load(t, "buildkit-probe/docker-legacy-builder-busybox.log")
	page := buildPageString(t, b, Options{})
	if strings.Contains(page, "BuildKit: build definition") || !strings.Contains(page, "Docker daemon: build context") {
		t.Error("a legacy build's context is headed as BuildKit work")
	}
	if strings.Contains(page, `class="tick"`) {
		t.Error("a timeline without times has a time axis")
	}
	bars := regexp.MustCompile(`<rect class="bar[^>]* x="([-\d.]+)"[^>]* width="([-\d.]+)"`).FindAllStringSubmatch(page, -1)
	if len(bars) != len(b.Vertices) || len(bars) < 3 {
		t.Fatalf("%d bars for %d vertices", len(bars), len(b.Vertices))
	}
	last := -1.0
	for _, m := range bars {
		var x, w float64
		fmt.Sscan(m[1], &x)
		fmt.Sscan(m[2], &w)
		if x <= last || w < 10 {
			t.Errorf("bar at x=%v width %v after one at %v: want slots left to right", x, w, last)
		}
		last = x
	}
}

package parse

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sameStatus compares two decoded statuses as Recorder.Add sees them: a
// nil list and an empty one are the same, times must be identical (the
// same instant, location and representation).
func sameStatus(a, b *SolveStatus) string {
	if len(a.Vertexes) != len(b.Vertexes) || len(a.Statuses) != len(b.Statuses) || len(a.Logs) != len(b.Logs) || len(a.Warnings) != len(b.Warnings) {
		return fmt.Sprintf("list lengths %d/%d/%d/%d vs %d/%d/%d/%d", len(a.Vertexes), len(a.Statuses), len(a.Logs), len(a.Warnings), len(b.Vertexes), len(b.Statuses), len(b.Logs), len(b.Warnings))
	}
	for i := range a.Vertexes {
		x, y := a.Vertexes[i], b.Vertexes[i]
		if (x == nil) != (y == nil) {
			return fmt.Sprintf("vertex %d: nil %v vs %v", i, x == nil, y == nil)
		}
		if x == nil {
			continue
		}
		if x.Digest != y.Digest || x.Name != y.Name || x.Cached != y.Cached || x.Error != y.Error || !sameStrings(x.Inputs, y.Inputs) ||
			!sameTimePtr(x.Started, y.Started) || !sameTimePtr(x.Completed, y.Completed) || !reflect.DeepEqual(x.ProgressGroup, y.ProgressGroup) {
			return fmt.Sprintf("vertex %d: %#v vs %#v", i, x, y)
		}
	}
	for i := range a.Statuses {
		x, y := a.Statuses[i], b.Statuses[i]
		if (x == nil) != (y == nil) {
			return fmt.Sprintf("status %d: nil %v vs %v", i, x == nil, y == nil)
		}
		if x == nil {
			continue
		}
		if x.ID != y.ID || x.Vertex != y.Vertex || x.Name != y.Name || x.Total != y.Total || x.Current != y.Current ||
			!reflect.DeepEqual(x.Timestamp, y.Timestamp) || !sameTimePtr(x.Started, y.Started) || !sameTimePtr(x.Completed, y.Completed) {
			return fmt.Sprintf("status %d: %#v vs %#v", i, x, y)
		}
	}
	for i := range a.Logs {
		x, y := a.Logs[i], b.Logs[i]
		if (x == nil) != (y == nil) {
			return fmt.Sprintf("log %d: nil %v vs %v", i, x == nil, y == nil)
		}
		if x == nil {
			continue
		}
		if x.Vertex != y.Vertex || x.Stream != y.Stream || !bytes.Equal(x.Data, y.Data) || !reflect.DeepEqual(x.Timestamp, y.Timestamp) {
			return fmt.Sprintf("log %d: %#v vs %#v", i, x, y)
		}
	}
	for i := range a.Warnings {
		x, y := a.Warnings[i], b.Warnings[i]
		if (x == nil) != (y == nil) {
			return fmt.Sprintf("warning %d: nil %v vs %v", i, x == nil, y == nil)
		}
		if x == nil {
			continue
		}
		same := x.Vertex == y.Vertex && x.Level == y.Level && bytes.Equal(x.Short, y.Short) && x.URL == y.URL && len(x.Detail) == len(y.Detail)
		for k := 0; same && k < len(x.Detail); k++ {
			same = bytes.Equal(x.Detail[k], y.Detail[k])
		}
		if !same {
			return fmt.Sprintf("warning %d: %#v vs %#v", i, x, y)
		}
	}
	return ""
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sameTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return reflect.DeepEqual(*a, *b)
}

// checkStatusLine decodes one line with d and with encoding/json and fails
// when they disagree. It reports whether the fast path decoded the line.
func checkStatusLine(t *testing.T, d *statusDecoder, line []byte) bool {
	t.Helper()
	want, wantOK := decodeStatusReference(line)
	got, fastOK := d.fast(line)
	if fastOK {
		if !wantOK {
			t.Fatalf("fast path decoded a line encoding/json rejects: %q", line)
		}
		if diff := sameStatus(got, want); diff != "" {
			t.Fatalf("fast path and encoding/json differ on %q: %s", line, diff)
		}
	}
	got, ok := d.decodeStatus(line)
	if ok != wantOK {
		t.Fatalf("decodeStatus ok=%v, encoding/json ok=%v on %q", ok, wantOK, line)
	}
	if ok {
		if diff := sameStatus(got, want); diff != "" {
			t.Fatalf("decodeStatus and encoding/json differ on %q: %s", line, diff)
		}
	}
	return fastOK
}

// statusCases are lines the fast path must decode as encoding/json does;
// fast says whether it should decode them itself rather than hand them on.
var statusCases = []struct {
	line string
	fast bool
}{
	{`{"vertexes":[{"digest":"sha256:a","name":"[1/2] RUN x","started":"2026-11-23T14:21:40.312580152Z","completed":"2026-11-23T14:21:41Z"}]}`, true},
	{`{"vertexes":[{"digest":"sha256:b","inputs":["sha256:a",null],"name":"[2/2] RUN [\"/bin/sh\",\"-c\",\"a \u003e b \u0026\u0026 c\"]","cached":true,"error":"exit code: 3","progressGroup":{"id":"g","name":"G","weak":true,"other":[1,2]}}]}`, true},
	{`{"statuses":[{"id":"transferring context:","vertex":"sha256:a","name":"transferring","total":-5,"current":9223372036854775,"timestamp":"2026-11-23T14:21:40.32394724Z","started":"2026-11-23T14:21:40.321343671Z","completed":null}]}`, true},
	{`{"logs":[{"vertex":"sha256:a","stream":2,"data":"aGVsbG8Kd29ybGQ=","timestamp":"2026-11-23T14:21:40.5Z"},null,{"data":"","stream":null,"timestamp":null}]}`, true},
	{`{"warnings":[{"vertex":"sha256:a","level":1,"short":"c2hvcnQ=","detail":["ZA==",null],"url":"https://x","sourceInfo":{"filename":"Dockerfile","data":"RlJPTQ==","definition":{"def":["WgA="]}},"range":[{"start":{"line":1},"end":{"line":1}}]}]}`, true},
	{` { "vertexes" : [ ] , "logs" : null } `, true},
	{`{}`, true},
	{`{"vertexes":null,"statuses":null,"logs":null,"warnings":null}`, true},
	{`{"unknown":{"a":[true,false,null,-0.5e+10,"\u00e9\ud83d\ude00"]},"vertexes":[{"digest":"d"}]}`, true},
	{`{"vertexes":[{"digest":"caf\u00e9 \ud800 \udc00 \\ \/ \b\f\n\r\t","name":"` + "\xff\xfe\xed\xa0\x80" + ` bad utf-8 é"}]}`, true},
	{`{"logs":[{"data":"aGVsbG8K\u0041A=="}]}`, true},                  // an escape in base64: unescaped first
	{`{"logs":[{"data":"aGVs\nbG8K"}]}`, true},                         // an escaped line break, which base64 skips
	{`{"logs":[{"data":"YR=="}]}`, true},                               // trailing bits set: StdEncoding accepts them
	{`{"statuses":[{"timestamp":"2026-11-23T14:21:40+02:00"}]}`, true}, // an offset: time reads it
	{`{"statuses":[{"timestamp":"2024-02-29T23:59:59.123456789Z"}]}`, true},
	// The log line as buildx writes it, and near misses of its shape.
	{`{"logs":[{"vertex":"sha256:a","stream":1,"data":"aGk=","timestamp":"2026-11-23T14:21:40.563657869Z"}]}`, true},
	{`{"logs":[{"vertex":"sha256:a","stream":1,"data":"aGk=","timestamp":"2026-11-23T14:21:40.563657869Z"}]}  `, true},
	{`{"logs":[{"vertex":"","stream":0,"data":"","timestamp":"2026-11-23T14:21:40Z"}]}`, true},
	{`{"logs":[{"vertex":"sha256:a","data":"aGk=","timestamp":"2026-11-23T14:21:40Z"}]}`, true},             // no stream
	{`{"logs":[{"vertex":"sha256:a","stream":-1,"data":"aGk=","timestamp":"2026-11-23T14:21:40Z"}]}`, true}, // negative
	{`{"logs":[{"vertex":"sha2","stream":1,"data":"aGk=","timestamp":"2026-11-23T14:21:40Z"}]}`, true},
	{`{"logs":[{"vertex":"sha256:a","stream":1,"data":"aGk=","timestamp":"2026-11-23T14:21:40Z"}]}`, true},
	{`{"logs":[{"vertex":"sha256:a","stream":1,"data":"aGk=","timestamp":"2026-11-23T14:21:40+01:00"}]}`, true},
	{`{"logs":[{"vertex":"sha256:a","stream":1,"data":"aGk=","timestamp":"2026-11-23T14:21:40Z","x":1}]}`, true},
	{`{"logs":[{"vertex":"sha256:a","stream":1,"data":"aGk=","timestamp":"2026-11-23T14:21:40Z"},{"vertex":"b"}]}`, true},
	{`{"logs":[{"vertex":"sha256:a","stream":01,"data":"aGk=","timestamp":"2026-11-23T14:21:40Z"}]}`, false},
	{`{"logs":[{"vertex":"sha256:a","stream":1.5,"data":"aGk=","timestamp":"2026-11-23T14:21:40Z"}]}`, false},
	{`{"logs":[{"vertex":"sha256:a","stream":1,"data":"aGk","timestamp":"2026-11-23T14:21:40Z"}]}`, false},
	{`{"logs":[{"vertex":"sha256:a","stream":1,"data":"aGk=","timestamp":"2026-11-23T14:21:40Z"}]}}`, false},
	{`{"logs":[{"vertex":"sha256:a","stream":1,"data":"aGk=","timestamp":"2026-13-23T14:21:40Z"}]}`, false},
	// Left to encoding/json: every one of these is unusual.
	{`{"Vertexes":[{"digest":"a"}]}`, false},                           // json folds case
	{`{"vertexes":[{"DIGEST":"a"}]}`, false},                           //
	{`{"vertexes":[{"digest":"a","digest":"b"}]}`, false},              // json takes the last
	{`{"vertexes":[{"digest":"a"}],"vertexes":[{"name":"b"}]}`, false}, // json merges
	{`{"vertex\u0065s":[{"digest":"a"}]}`, false},                      // an escaped key
	{`{"ſtatuses":[]}`, false},                                         // non-ASCII key: json folds ſ to s
	{`{"statuses":[{"total":1.0}]}`, false},                            // a fraction in an int: json rejects
	{`{"statuses":[{"total":1e3}]}`, false},                            //
	{`{"statuses":[{"total":99999999999999999999}]}`, false},           // overflow
	{`{"logs":[{"data":[104,105]}]}`, false},                           // bytes as an array
	{`{"logs":[{"data":"!!!"}]}`, false},                               // not base64
	{`{"logs":[{"stream":"1"}]}`, false},                               // a string in an int
	{`{"vertexes":[{"cached":"true"}]}`, false},                        // a string in a bool
	{`{"vertexes":[{"started":"yesterday"}]}`, false},                  // not a time
	{`{"vertexes":[{"started":"2026-02-30T00:00:00Z"}]}`, false},       // no such day
	{`{"vertexes":[{"started":"2026-11-23T24:00:00Z"}]}`, false},       //
	{`{"vertexes":[{"started":"2026-11-23T14:21:40.1234567890Z"}]}`, true},
	{`{"vertexes":[{"started":"2026\u002d11-23T14:21:40Z"}]}`, false},              // time reads the literal, escapes and all
	{`{"vertexes":[{"digest":"a"}]} x`, false},                                     // trailing data
	{`{"vertexes":[{"digest":"a"}]`, false},                                        // cut
	{`{"vertexes":[{"digest":"a",}]}`, false},                                      // trailing comma
	{`{"vertexes":[{"digest":"a\x01"}]}`, false},                                   // a control byte
	{`{"vertexes":[{"digest":"\'"}]}`, false},                                      // not a JSON escape
	{`{"x":01}`, false},                                                            // a leading zero
	{`{"x":[` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `]}`, false}, // deep
}

func TestStatusDecoderMatchesEncodingJSON(t *testing.T) {
	var d statusDecoder
	for _, tc := range statusCases {
		fast := checkStatusLine(t, &d, []byte(tc.line))
		if tc.fast && !fast {
			t.Errorf("fast path handed on a line it should decode: %s", tc.line)
		}
		if !tc.fast && fast {
			t.Errorf("fast path decoded a line it should hand on: %s", tc.line)
		}
	}
}

// TestStatusDecoderFastOnRealLines checks that every line BuildKit wrote in
// the fixtures takes the fast path, and decodes as encoding/json decodes it.
func TestStatusDecoderFastOnRealLines(t *testing.T) {
	files, _ := filepath.Glob("../fixtures/*/*rawjson*.jsonl")
	if len(files) < 5 {
		t.Fatalf("found %d rawjson fixtures", len(files))
	}
	var d statusDecoder
	lines := 0
	for _, f := range files {
		for _, line := range bytes.Split(readFile(t, f), []byte("\n")) {
			if len(line) == 0 || line[0] != '{' {
				continue
			}
			if !checkStatusLine(t, &d, line) {
				t.Errorf("%s: fast path handed on a real line: %.200s", f, line)
			}
			lines++
		}
	}
	t.Logf("%d lines of %d files", lines, len(files))
}

// TestLogLineEdges runs log lines through one decoder in a row, so that
// logLine's memory of the last vertex meets a vertex that extends it, is
// cut from it or escapes a character of it, and the line's end is read
// backwards past quotes, padding and whitespace: each must decode as
// encoding/json decodes it.
func TestLogLineEdges(t *testing.T) {
	const ts = `","timestamp":"2026-11-23T14:00:01.001112648Z"}]}`
	line := func(vertex, stream, data, end string) []byte {
		return []byte(`{"logs":[{"vertex":"` + vertex + `","stream":` + stream + `,"data":"` + data + end)
	}
	lines := [][]byte{
		line("sha256:ab", "1", "aGkK", ts),
		line("sha256:ab", "1", "aGkK", ts),
		line("sha256:abc", "2", "aGkK", ts),
		line("sha256:a", "1", "aGk=", ts),
		line("sha256:a", "10", "aGk=", ts),
		line("sha256:a", "01", "aGk=", ts),
		line(`sha256:\u0061`, "1", "aGkK", ts),
		line("sha256:a", "1", "aGkK", ts+" \r\t"),
		line("sha256:a", "1", "aGkK", ts+"x"),
		line("sha256:a", "1", `aGkK","timestamp":"x`, ts),
		line("sha256:a", "1", `aGkK"`, ts),
		line("sha256:a", "1", "", ts),
		line("sha256:a", "1", "aGkK", `","timestamp":"2026-11-23T14:00:01Z"}]}`),
		line("sha256:a", "1", "aGkK", `","timestamp":"2026-11-23T14:00:01\"Z"}]}`),
		line("sha256:a", "1", "aGkK", `","timestamp":"2026-11-23T14:00:01+01:00"}]}`),
		line("sha256:a", "1", "aGkK", `"}]}`),
		line("sha256:a", "1", "aGkK", `timestamp":"2026-11-23T14:00:01Z"}]}`),
		[]byte(`{"logs":[{"vertex":"sha256:a","stream":1,"data":"`),
		[]byte(`{"logs":[{"vertex":"sha256:a","stream":1,"data":"","timestamp":""}]}`),
		[]byte(`{"logs":[{"vertex":"sha256:a`),
		[]byte(`{"logs":[{"vertex":"`),
	}
	var d statusDecoder
	fast := 0
	for _, l := range lines {
		if checkStatusLine(t, &d, l) {
			fast++
		}
	}
	if fast < 8 {
		t.Fatalf("the fast path took %d of the lines, want at least 8", fast)
	}
}

// TestStatusDecoderGenerated checks the benchmark's generated lines too.
func TestStatusDecoderGenerated(t *testing.T) {
	var d statusDecoder
	data := readAllGen(rawjsonLogGen(2<<20, 20), 2<<20)
	logLines := 0
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) > 0 && !checkStatusLine(t, &d, line) {
			t.Fatalf("fast path handed on a generated line: %.200s", line)
		}
		if _, ok := d.logLine(line); ok {
			logLines++
		}
	}
	if logLines == 0 {
		t.Fatal("no generated log line took logLine")
	}
}

// FuzzStatusDecoder compares the fast decoder with encoding/json on every
// line of the input, with one decoder for all lines, so state it reuses
// between lines is checked too.
func FuzzStatusDecoder(f *testing.F) {
	for _, tc := range statusCases {
		f.Add([]byte(tc.line))
	}
	// Real lines, one by one and a few in a row: whole files are too
	// large for the fuzzer to minimise what it finds in them.
	files, _ := filepath.Glob("../fixtures/*/*rawjson*.jsonl")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		lines := bytes.Split(data, []byte("\n"))
		for i, line := range lines {
			f.Add(line)
			if i%10 == 0 && i+3 <= len(lines) {
				f.Add(bytes.Join(lines[i:i+3], []byte("\n")))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d statusDecoder
		for _, line := range bytes.Split(data, []byte("\n")) {
			checkStatusLine(t, &d, line)
		}
	})
}

// FuzzRawJSONSameBuild parses a rawjson log with the fast decoder and with
// encoding/json, and fails unless the builds are the same: what the fast
// path hands the Recorder, and what the Recorder keeps of it, must not
// depend on the decoder.
func FuzzRawJSONSameBuild(f *testing.F) {
	addSeeds(f, "../fixtures/*/*rawjson*.jsonl")
	for _, tc := range statusCases {
		f.Add([]byte(tc.line))
	}
	// Lines are offered to logLine before they are cleaned only once the
	// prefix learner has decided, after learnMarkers marker lines: with
	// that many first, the fuzzer's lines go that way too.
	var preamble []byte
	for i := range learnMarkers {
		preamble = fmt.Appendf(preamble, `{"vertexes":[{"digest":"sha256:p%d","name":"[internal] p%d"}]}`+"\n", i, i)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, append(bytes.Clone(preamble), data...)} {
			fast, errFast := parseRawJSONAll(bytes.NewReader(in))
			ref, errRef := parseRawJSONWith(bytes.NewReader(in), decodeStatusReference, nil)
			if (errFast == nil) != (errRef == nil) {
				t.Fatalf("errors differ: %v / %v", errFast, errRef)
			}
			a, _ := json.Marshal(fast)
			b, _ := json.Marshal(ref)
			if !bytes.Equal(a, b) {
				t.Fatalf("builds differ:\n%s\n%s", a, b)
			}
		}
	})
}

// TestRawJSONLinesBeforeCleaning streams log lines that escapes, the
// "␛" glyph, CRs, timer lines and cut lines change, after the prefix
// learner has decided, so that each is offered to logLine before it is
// cleaned: the build must be the one encoding/json makes of the cleaned
// lines.
func TestRawJSONLinesBeforeCleaning(t *testing.T) {
	var in []byte
	for i := range learnMarkers {
		in = fmt.Appendf(in, `{"vertexes":[{"digest":"sha256:p%d","name":"[internal] p%d","started":"2026-11-23T14:00:01Z"}]}`+"\n", i, i)
	}
	log := func(data string) string {
		return `{"logs":[{"vertex":"sha256:p1","stream":1,"data":"` + base64.StdEncoding.EncodeToString([]byte(data)) + `","timestamp":"2026-11-23T14:00:02Z"}]}`
	}
	for _, l := range []string{
		log("plain\n"),
		"\x1b[0m" + log("after an escape\n"),
		log("before an escape\n") + "\x1b[0m",
		log("CRLF\n") + "\r",
		log("CRs\n") + "\r\r \r",
		"\u241b[0m" + log("after a glyph\n"),
		log("before a glyph\n") + "\u241b[0m",
		"12:00:01",
		log("after a timer line\n"),
		"\r" + log("overwritten\n"),
		log(strings.Repeat("long line ", 1000) + "\n"),
		"ERROR: failed to solve: process did not complete successfully",
		log("after the error\n"),
	} {
		in = append(in, l...)
		in = append(in, '\n')
	}
	fast, err := parseRawJSONAll(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := parseRawJSONWith(bytes.NewReader(in), decodeStatusReference, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fast)
	b, _ := json.Marshal(ref)
	if !bytes.Equal(a, b) {
		t.Fatalf("builds differ:\n%s\n%s", a, b)
	}
	if !bytes.Contains(a, []byte("after a timer line")) {
		t.Fatalf("the log lines are not in the build: %s", a)
	}
}

// TestPlainRun checks the eight-bytes-at-a-time scan against the table,
// for every byte value at every position of a word.
func TestPlainRun(t *testing.T) {
	slow := func(b []byte) int {
		i := 0
		for i < len(b) && plainASCII[b[i]] {
			i++
		}
		return i
	}
	buf := []byte(strings.Repeat("sha256:abcdefgh", 3))
	for pos := range 24 {
		for c := range 256 {
			b := bytes.Clone(buf)
			b[pos] = byte(c)
			if got, want := plainRun(b), slow(b); got != want {
				t.Fatalf("byte %#x at %d: plainRun %d, want %d", c, pos, got, want)
			}
		}
	}
}

// TestDecode64 checks the table decoder against base64.StdEncoding on
// every length and on corrupted input: it must decode as StdEncoding does
// or hand the input on.
func TestDecode64(t *testing.T) {
	for _, vector := range []bool{false, true} {
		if vector && !useAVX2 {
			continue
		}
		t.Run(fmt.Sprintf("vector=%v", vector), func(t *testing.T) {
			defer func(was bool) { useAVX2 = was }(useAVX2)
			useAVX2 = vector
			testDecode64(t)
		})
	}
}

func testDecode64(t *testing.T) {
	var d statusDecoder
	src := []byte("gcc -O2 -c src/module_1/file_3.c -o build/module_1/file_3.o -Wall\n\x00\xff")
	for n := 0; n <= len(src); n++ {
		enc := []byte(base64.StdEncoding.EncodeToString(src[:n]))
		got, ok := d.decode64(enc)
		if !ok || !bytes.Equal(got, src[:n]) {
			t.Fatalf("length %d: got %q (ok %v), want %q", n, got, ok, src[:n])
		}
		for i := range enc {
			for _, c := range []byte{'=', '\n', '\\', '-', '_', 0, 0x80, 'A'} {
				bad := bytes.Clone(enc)
				bad[i] = c
				want := make([]byte, base64.StdEncoding.DecodedLen(len(bad)))
				m, err := base64.StdEncoding.Decode(want, bad)
				got, ok := d.decode64(bad)
				if ok && (err != nil || !bytes.Equal(got, want[:m])) {
					t.Fatalf("%q: decode64 %q, StdEncoding %q %v", bad, got, want[:m], err)
				}
			}
		}
	}
}

// FuzzDecode64 checks decode64, with its vector blocks where the machine
// has them, against base64.StdEncoding and against its own table loop
// alone: on input StdEncoding rejects it must hand the input on; on input
// StdEncoding decodes and that has no line breaks (which StdEncoding
// skips), it must give the same bytes, and so must the table loop.
func FuzzDecode64(f *testing.F) {
	f.Add([]byte("gcc -O2 -c src/module_1/file_3.c -o build/module_1/file_3.o -Wall\n"), 0, byte('A'))
	f.Add(bytes.Repeat([]byte{0xff, 0, '\n'}, 40), 33, byte('='))
	f.Fuzz(func(t *testing.T, raw []byte, at int, c byte) {
		enc := []byte(base64.StdEncoding.EncodeToString(raw))
		if len(enc) > 0 && at >= 0 {
			enc[at%len(enc)] = c // one byte changed, often not base64
		}
		want := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
		m, err := base64.StdEncoding.Decode(want, enc)
		var d statusDecoder
		got, ok := d.decode64(enc)
		if ok && (err != nil || !bytes.Equal(got, want[:m])) {
			t.Fatalf("%q: decode64 %q, StdEncoding %q %v", enc, got, want[:m], err)
		}
		if err == nil && !ok && bytes.IndexAny(enc, "\r\n") < 0 {
			t.Fatalf("%q: decode64 refused what StdEncoding decodes", enc)
		}
		was := useAVX2
		useAVX2 = false
		table, tok := d.decode64(enc)
		useAVX2 = was
		if tok != ok || !bytes.Equal(table, got) {
			t.Fatalf("%q: with vectors %q %v, table loop %q %v", enc, got, ok, table, tok)
		}
	})
}

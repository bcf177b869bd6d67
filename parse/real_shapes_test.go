package parse

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/buildstats/buildstats/parse/model"
)

const plainLog = `#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 120B done
#1 DONE 0.1s

#2 [1/2] FROM docker.io/library/alpine:3.20
#2 DONE 0.5s

#3 [2/2] RUN make
#3 0.512 cc -c main.c
#3 DONE 2.3s

#4 exporting to image
#4 writing image sha256:abc done
#4 naming to docker.io/library/app done
#4 DONE 0.1s
`

func utf16Bytes(s string, bigEndian, bom bool) []byte {
	var out bytes.Buffer
	var order binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		order = binary.BigEndian
	}
	if bom {
		_ = binary.Write(&out, order, uint16(0xFEFF))
	}
	for _, u := range utf16.Encode([]rune(s)) {
		_ = binary.Write(&out, order, u)
	}
	return out.Bytes()
}

// PowerShell's `>` and Tee-Object write UTF-16 LE with a byte order mark.
func TestEncodings(t *testing.T) {
	crlf := strings.ReplaceAll(plainLog, "\n", "\r\n") + "#5 [x] é ✓ 😀\r\n#5 DONE 0.1s\r\n"
	inputs := map[string][]byte{
		"utf-16le bom":    utf16Bytes(crlf, false, true),
		"utf-16be bom":    utf16Bytes(crlf, true, true),
		"utf-16le no bom": utf16Bytes(crlf, false, false),
		"utf-8 bom":       append([]byte{0xEF, 0xBB, 0xBF}, crlf...),
	}
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			if f, err := Detect(data[:min(len(data), 300)]); err != nil || f != model.FormatPlain {
				t.Errorf("Detect = %q, %v", f, err)
			}
			b, err := Parse(bytes.NewReader(data), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Vertices) != 5 || b.Status != model.StatusSucceeded || b.Vertices[2].Duration != 2300*time.Millisecond || b.Vertices[4].Name != "[x] é ✓ 😀" {
				t.Fatalf("%d vertices, status %s, last %q", len(b.Vertices), b.Status, b.Vertices[len(b.Vertices)-1].Name)
			}
			// The per-format entry points decode too.
			if b2, err := ParsePlain(bytes.NewReader(data)); err != nil || len(b2.Vertices) != 5 {
				t.Errorf("ParsePlain: %v", err)
			}
		})
	}
	// A stream read a byte at a time splits surrogate pairs and code units.
	b, err := Parse(&oneByteReader{data: inputs["utf-16le bom"]}, Options{})
	if err != nil || len(b.Vertices) != 5 || b.Vertices[4].Name != "[x] é ✓ 😀" {
		t.Fatalf("one byte at a time: %v", err)
	}
}

type oneByteReader struct{ data []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	p[0] = r.data[0]
	r.data = r.data[1:]
	return 1, nil
}

// prefixed puts a prefix before every line of a log; prefix gets the line
// number and returns the prefix.
func prefixed(log string, prefix func(i int) string) string {
	var sb strings.Builder
	for i, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		sb.WriteString(prefix(i) + line + "\n")
	}
	return sb.String()
}

// Line prefixes of shapes no list names: the parser learns each file's.
func TestLearnedPrefixes(t *testing.T) {
	t0 := time.Date(2026, 3, 9, 14, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 1500 * time.Millisecond) }
	tests := []struct {
		name    string
		prefix  func(i int) string
		dated   bool // the prefix carries a full date
		relTime bool // the prefix carries a time of day only
	}{
		{"logger tags", func(i int) string { return "[INFO] [org.jenkinsci.plugins.docker.DockerBuilder] " }, false, false},
		{"ISO with 7 fraction digits", func(i int) string { return at(i).Format("2006-01-02T15:04:05.0000000Z") + " " }, true, false},
		{"GitLab runner stream tags", func(i int) string {
			tag := "00O"
			if i%3 == 0 {
				tag = "00O+"
			}
			return at(i).Format("2006-01-02T15:04:05.000000Z") + " " + tag + " "
		}, true, false},
		{"bracketed with comma fraction", func(i int) string { return "[" + at(i).Format("2006-01-02 15:04:05,000") + "] " }, true, false},
		{"syslog month names", func(i int) string { return at(i).Format("Jan _2 15:04:05") + " ci-host runner[4242]: " }, false, true},
		{"month name with year", func(i int) string { return at(i).Format("02 Jan 2006 15:04:05") + " | " }, true, false},
		{"time of day and AM/PM", func(i int) string { return at(i).Format("3:04:05 PM") + " > " }, false, true},
		{"epoch milliseconds", func(i int) string {
			return strings.TrimSpace(strings.Repeat(" ", 0)) + itoa(int(at(i).UnixMilli())) + " "
		}, true, false},
		{"mixture of tag and timestamp", func(i int) string {
			if i%2 == 0 {
				return "[build] " + at(i).Format(time.RFC3339) + " "
			}
			return at(i).Format(time.RFC3339) + " "
		}, true, false},
		{"tab separated", func(i int) string { return at(i).Format("15:04:05.000") + "\t" }, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log := prefixed(plainLog, tc.prefix)
			b, err := Parse(strings.NewReader(log), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if b.Format != model.FormatPlain || len(b.Vertices) != 4 || b.Status != model.StatusSucceeded {
				t.Fatalf("format %s, %d vertices, status %s", b.Format, len(b.Vertices), b.Status)
			}
			run := b.Vertices[2]
			if run.Name != "[2/2] RUN make" || run.Duration != 2300*time.Millisecond || len(run.Output) != 1 || run.Output[0] != "cc -c main.c" {
				t.Errorf("RUN vertex %q %v output %q", run.Name, run.Duration, run.Output)
			}
			if b.ImageID != "sha256:abc" {
				t.Errorf("image id %q", b.ImageID)
			}
			lines := strings.Count(plainLog, "\n")
			wantSpan := at(lines - 1).Sub(at(0))
			switch {
			case tc.dated:
				if !b.Started.Equal(at(0)) || !b.HasDuration || b.Duration != wantSpan || !b.DurationFromTimestamps {
					t.Errorf("started %v duration %v (from timestamps %v), want %v and %v", b.Started, b.Duration, b.DurationFromTimestamps, at(0), wantSpan)
				}
			case tc.relTime:
				if !b.Started.IsZero() || b.Duration != wantSpan {
					t.Errorf("a time of day is no date: started %v; duration %v, want %v", b.Started, b.Duration, wantSpan)
				}
			default:
				if b.HasDuration || !b.Started.IsZero() {
					t.Errorf("no timestamps, yet duration %v started %v", b.Duration, b.Started)
				}
			}
		})
	}
}

// Logs copied from a CI web page: a line with only the time before each
// log line, no blank lines between vertices.
func TestTimerLines(t *testing.T) {
	var sb strings.Builder
	t0 := time.Date(2026, 3, 9, 23, 59, 58, 0, time.UTC)
	for i, line := range strings.Split(strings.TrimSpace(strings.ReplaceAll(plainLog, "\n\n", "\n")), "\n") {
		sb.WriteString(t0.Add(time.Duration(i)*time.Second).Format("15:04:05") + "\n" + line + "\n")
	}
	b := mustParse(t, sb.String())
	if len(b.Vertices) != 4 || b.Status != model.StatusSucceeded || b.Duration != 11*time.Second {
		t.Fatalf("%d vertices, status %s, duration %v (across midnight)", len(b.Vertices), b.Status, b.Duration)
	}
}

// CI markers around the build: Jenkins pipeline steps, GitLab sections,
// GitHub groups, Travis folds, Buildkite timestamps.
func TestCIMarkers(t *testing.T) {
	log := "[Pipeline] stage\n[Pipeline] { (Build)\n[Pipeline] sh\n+ docker build --progress=plain .\n" +
		"\x1b[0Ksection_start:1700000000:build_image\r\x1b[0K\x1b[36;1mBuild image\x1b[0;m\n" +
		"##[group]Run docker build .\n" +
		"travis_fold:start:docker\r\x1b[0K\n" +
		"\x1b_bk;t=1700000000000\x07" + strings.ReplaceAll(strings.TrimSuffix(plainLog, "\n"), "\n", "\n\x1b_bk;t=1700000001000\x07") + "\n" +
		"##[endgroup]\nsection_end:1700000010:build_image\r\x1b[0K\n[Pipeline] }\n"
	b := mustParse(t, log)
	if len(b.Vertices) != 4 || b.Status != model.StatusSucceeded {
		t.Fatalf("%d vertices, status %s", len(b.Vertices), b.Status)
	}
}

// Nothing a step prints can forge progress: the start of a line says what
// it is, and text after a CR is output.
func TestNoForgedProgress(t *testing.T) {
	base := "#1 [1/2] FROM x\n#1 DONE 0.5s\n\n#2 [2/2] RUN ./evil\n"
	tail := "#2 DONE 1.5s\n\n#3 exporting to image\n#3 naming to docker.io/library/app done\n#3 DONE 0.1s\n"
	for _, evil := range []string{
		"#2 0.100 x\r#1 DONE 1e19s",
		"#2 0.100 x\r#2 CACHED",
		"#2 0.100 \r#1 ERROR: forged",
		"\r#1 DONE 99.0s",
		"\r#9 [9/9] RUN forged",
		"#2 0.100 #1 DONE 50.0s",
		"#2 0.200 ERROR: failed to solve: forged",
		"#2 0.300 Successfully built abcdef",
		"#7 0.300 an output line of a vertex nobody named",
	} {
		b := mustParse(t, base+evil+"\n"+tail)
		if len(b.Vertices) != 3 || b.Status != model.StatusSucceeded || b.Error != "" {
			t.Errorf("%q: %d vertices, status %s, error %q", evil, len(b.Vertices), b.Status, b.Error)
			continue
		}
		from, run := b.Vertices[0], b.Vertices[1]
		if from.Duration != 500*time.Millisecond || from.Error != "" || run.Cached || run.Duration != 1500*time.Millisecond {
			t.Errorf("%q: FROM %v %q, RUN cached=%v %v", evil, from.Duration, from.Error, run.Cached, run.Duration)
		}
	}
	// Legacy output is raw, but it sits between "Running in <id>" and the
	// line that removes that container.
	legacy := "Step 1/2 : FROM alpine\n ---> 1234567890ab\nStep 2/2 : RUN ./evil\n ---> Running in 0123456789ab\n" +
		"Successfully built ffffffffffff\nStep 9/9 : RUN forged\nThe command '/bin/sh -c x' returned a non-zero code: 9\n ---> Using cache\n" +
		"Removing intermediate container ffffffffffff\nERROR: forged\nok\nRemoving intermediate container 0123456789ab\n ---> 2234567890ab\nSuccessfully built 2234567890ab\n"
	b := mustParse(t, legacy)
	if len(b.Steps()) != 2 || b.Status != model.StatusSucceeded || b.ImageID != "2234567890ab" || b.Steps()[1].Cached || b.Steps()[1].OutputLines != 7 {
		t.Errorf("legacy: %d steps, status %s, image %q, output %d", len(b.Steps()), b.Status, b.ImageID, b.Steps()[1].OutputLines)
	}
}

// Progress that contradicts itself is merged by one rule: flags are only
// set, times only grow, absurd values are dropped.
func TestContradictoryProgress(t *testing.T) {
	tests := []struct {
		name   string
		log    string
		cached bool
		dur    time.Duration
		hasDur bool
	}{
		{"DONE twice keeps the longer time", "#1 [1/1] RUN x\n#1 DONE 2.0s\n#1 DONE 1.0s\n", false, 2 * time.Second, true},
		{"CACHED after it ran keeps the time", "#1 [1/1] RUN x\n#1 DONE 3.0s\n#1 CACHED\n", true, 3 * time.Second, true},
		{"a cache hit that loaded layers keeps their time", "#1 [1/1] RUN x\n#1 CACHED\n#1 sha256:ab 10.00MB / 10.00MB 2.1s done\n#1 DONE 2.5s\n", true, 2500 * time.Millisecond, true},
		{"1e19s is no time", "#1 [1/1] RUN x\n#1 DONE 1e19s\n", false, 0, false},
		{"NaN is no time", "#1 [1/1] RUN x\n#1 DONE NaNs\n", false, 0, false},
		{"Inf is no time", "#1 [1/1] RUN x\n#1 DONE +Infs\n", false, 0, false},
		{"-5s is no time", "#1 [1/1] RUN x\n#1 DONE -5s\n", false, 0, false},
		{"a year is no time", "#1 [1/1] RUN x\n#1 DONE 31536000.0s\n", false, 0, false},
	}
	for _, tc := range tests {
		b := mustParse(t, tc.log)
		v := b.Vertices[0]
		if len(b.Vertices) != 1 || v.Cached != tc.cached || v.Duration != tc.dur || v.HasDuration != tc.hasDur || !v.Completed {
			t.Errorf("%s: %d vertices, cached=%v duration %v (%v)", tc.name, len(b.Vertices), v.Cached, v.Duration, v.HasDuration)
		}
	}
	b := mustParse(t, "#1 [1/1] FROM x\n#1 sha256:ab 99999999999TB / 1.00MB 1.0s\n#1 sha256:cd 1.00MB / 2.00MB 1e300s\n#1 DONE 1.0s\n")
	for _, tr := range b.Vertices[0].Transfers {
		if tr.Bytes < 0 || tr.Bytes > model.MaxBytes || tr.Duration < 0 || tr.Duration > model.MaxDuration {
			t.Errorf("transfer %+v kept an absurd value", tr)
		}
	}
	tty := mustParse(t, "[+] Building 1e19s (1/1) FINISHED\n => [1/1] FROM x  NaNs\n => [1/1] FROM x  -1.0s\n")
	if tty.HasDuration || tty.Vertices[0].HasDuration {
		t.Errorf("tty kept an absurd time: %v %v", tty.Duration, tty.Vertices[0].Duration)
	}
}

// Builds that fail outside any step are failed, with the cause.
func TestFailuresOutsideSteps(t *testing.T) {
	start := "#0 building with \"default\" instance using docker driver\n\n#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n\n#2 [1/3] FROM docker.io/library/node:20\n#2 DONE 0.2s\n\n#3 [2/3] RUN npm ci\n#3 1.002 added 10 packages\n"
	tests := []struct {
		name, log, cause string
	}{
		{"daemon connection lost", start + "ERROR: failed to receive status: rpc error: code = Unavailable desc = error reading from server: EOF\n", "failed to receive status"},
		{"push fails", start + "#3 DONE 3.0s\n\n#4 exporting to image\n#4 pushing layers 2.1s done\n#4 ERROR: failed to push ghcr.io/a/b:1: unexpected status from PUT request: 403 Forbidden\n------\n > exporting to image:\n------\nERROR: failed to solve: failed to push ghcr.io/a/b:1: unexpected status from PUT request: 403 Forbidden\n", "failed to push"},
		{"base image missing", "#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n\n#2 [internal] load metadata for docker.io/library/nope:1\n#2 ERROR: docker.io/library/nope:1: not found\n------\n > [internal] load metadata for docker.io/library/nope:1:\n------\nERROR: failed to solve: nope:1: failed to resolve source metadata for docker.io/library/nope:1: docker.io/library/nope:1: not found\n", "failed to resolve source metadata"},
		{"named context missing", "#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\nERROR: failed to solve: failed to get build context deps: not found\n", "build context deps"},
		{"Ctrl-C", start + "#3 CANCELED\nERROR: failed to solve: Canceled: context canceled\n", "context canceled"},
		{"daemon not there", "ERROR: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n#0 building with \"default\" instance using docker driver\n", "Cannot connect"},
	}
	for _, tc := range tests {
		b := mustParse(t, tc.log)
		if b.Status != model.StatusFailed || !strings.Contains(b.Error, tc.cause) || b.Truncated {
			t.Errorf("%s: status %s truncated %v error %q", tc.name, b.Status, b.Truncated, b.Error)
		}
	}
	// The tty display's Ctrl-C: the CLI's exit 130 after a cancelled frame.
	b := mustParse(t, "[+] Building 3.2s (4/6)\n => [1/3] FROM x  0.1s\n => CANCELED [2/3] RUN sleep 100  3.0s\nERROR: failed to solve: Canceled: context canceled\n")
	if b.Status != model.StatusFailed || !b.Vertices[1].Canceled {
		t.Errorf("tty cancel: status %s", b.Status)
	}
}

// A log that stops before the build ends is unknown and truncated, never
// succeeded.
func TestTruncatedIsNeverSucceeded(t *testing.T) {
	tests := map[string]string{
		"plain cut between steps":           "#1 [1/3] FROM x\n#1 DONE 0.1s\n\n#2 [2/3] RUN a\n#2 DONE 1.0s\n",
		"plain cut inside a step":           "#1 [1/2] FROM x\n#1 DONE 0.1s\n\n#2 [2/2] RUN a\n#2 12.345 still going\n",
		"tty without FINISHED":              "[+] Building 5.0s (5/8)\n => [1/3] FROM x  0.1s\n => [2/3] RUN a  4.0s\n",
		"tty counts more than it shows":     "[+] Building 5.0s (2/8)\n => [1/1] FROM x  0.1s\n => exporting to image  0.1s\n",
		"legacy Step 25/49":                 "Step 24/49 : RUN a\n ---> Using cache\n ---> 1234567890ab\nStep 25/49 : RUN b\n ---> Running in 0123456789ab\nbuilding...\n",
		"legacy without Successfully built": "Step 1/1 : FROM alpine\n ---> 1234567890ab\n",
		"rawjson with a running vertex":     `{"vertexes":[{"digest":"sha256:a","name":"[1/1] RUN x","started":"2026-01-01T00:00:00Z"}]}` + "\n" + `{"logs":[{"vertex":"sha256:a","data":"aGkK","timestamp":"2026-01-01T00:00:07Z"}]}` + "\n",
	}
	for name, log := range tests {
		b := mustParse(t, log)
		if b.Status != model.StatusUnknown || !b.Truncated {
			t.Errorf("%s: status %s truncated %v", name, b.Status, b.Truncated)
		}
	}
}

// A step still running when the log ends keeps the time it had run, as a
// lower bound; so does the build.
func TestLowerBounds(t *testing.T) {
	tests := []struct {
		name string
		log  string
		want time.Duration
	}{
		{"plain output offsets", "#1 [1/2] FROM x\n#1 DONE 0.1s\n\n#2 [2/2] RUN a\n#2 0.500 one\n#2 42.250 two\n", 42250 * time.Millisecond},
		{"tty timer", "[+] Building 50.0s (1/2)\n => [1/2] FROM x  0.1s\n => [2/2] RUN a  49.5s\n => => # out\n", 49500 * time.Millisecond},
		{"rawjson stream time", `{"vertexes":[{"digest":"sha256:a","name":"[1/1] RUN x","started":"2026-01-01T00:00:00Z"}]}` + "\n" + `{"logs":[{"vertex":"sha256:a","data":"aGkK","timestamp":"2026-01-01T00:00:07Z"}]}` + "\n", 7 * time.Second},
		{"legacy CI timestamps", "2026-01-01T00:00:00Z Step 1/2 : FROM alpine\n2026-01-01T00:00:01Z  ---> 1234567890ab\n2026-01-01T00:00:01Z Step 2/2 : RUN make\n2026-01-01T00:00:02Z  ---> Running in 0123456789ab\n2026-01-01T00:01:31Z compiling\n", 90 * time.Second},
	}
	for _, tc := range tests {
		b := mustParse(t, tc.log)
		v := b.Vertices[len(b.Vertices)-1]
		if !v.HasDuration || !v.DurationIsLowerBound || v.Duration != tc.want || v.Completed {
			t.Errorf("%s: duration %v (lower bound %v, has %v), want at least %v", tc.name, v.Duration, v.DurationIsLowerBound, v.HasDuration, tc.want)
		}
		if b.HasDuration && !b.DurationIsLowerBound {
			t.Errorf("%s: a truncated build's duration %v is not marked as a lower bound", tc.name, b.Duration)
		}
	}
	// A legacy log without timestamps has no duration, never 0.
	b := mustParse(t, "Step 1/1 : FROM alpine\n ---> 1234567890ab\nSuccessfully built 1234567890ab\n")
	if b.HasDuration || b.Steps()[0].HasDuration {
		t.Errorf("legacy without timestamps: duration %v", b.Duration)
	}
	if d, basis := b.WallTime(); d != 0 || basis != "" {
		t.Errorf("WallTime = %v, %q; want nothing", d, basis)
	}
}

// A failed step keeps the lines that carry the error from its whole output,
// not only the tail.
func TestErrorLines(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("#1 [1/1] RUN make\n#1 0.1 make: entering directory\n#1 0.2 main.c:3: error: unknown type name 'foo'\n")
	for i := range 5000 {
		sb.WriteString("#1 0.3 compiling unit " + itoa(i) + "\n")
	}
	sb.WriteString("#1 9.9 make: *** [Makefile:3: all] Error 2\n#1 ERROR: process \"/bin/sh -c make\" did not complete successfully: exit code: 2\n")
	b := mustParse(t, sb.String())
	v := b.Vertices[0]
	if len(v.ErrorLines) != 2 || !strings.Contains(v.ErrorLines[0], "unknown type name") || !strings.Contains(v.ErrorLines[1], "Error 2") {
		t.Errorf("error lines %q", v.ErrorLines)
	}
	if len(v.Output) != model.OutputTailLines || v.OutputLines != 5003 {
		t.Errorf("output %d lines of %d", len(v.Output), v.OutputLines)
	}
	// Bounded, and kept only for steps that did not succeed.
	sb.Reset()
	sb.WriteString("#1 [1/2] RUN noisy\n")
	for i := range 1000 {
		sb.WriteString("#1 0.1 error number " + itoa(i) + " " + strings.Repeat("x", 2000) + "\n")
	}
	sb.WriteString("#1 DONE 1.0s\n#2 [2/2] RUN bad\n")
	for i := range 1000 {
		sb.WriteString("#2 0.1 fatal number " + itoa(i) + " " + strings.Repeat("y", 2000) + "\n")
	}
	sb.WriteString("#2 ERROR: exit code: 1\n")
	b = mustParse(t, sb.String())
	if len(b.Vertices[0].ErrorLines) != 0 {
		t.Errorf("a step that succeeded kept %d error lines", len(b.Vertices[0].ErrorLines))
	}
	el := b.Vertices[1].ErrorLines
	if len(el) != model.ErrorLinesMax || !strings.HasPrefix(el[0], "fatal number 0 ") || !strings.HasPrefix(el[len(el)-1], "fatal number 999 ") {
		t.Fatalf("%d error lines, first %.20q last %.20q", len(el), el[0], el[len(el)-1])
	}
	for _, l := range el {
		if len(l) > model.ErrorLineMaxBytes {
			t.Errorf("error line of %d bytes", len(l))
		}
	}
}

// Several builds in one log are told apart; Parse returns the last and says
// how many there were.
func TestSeveralBuilds(t *testing.T) {
	tests := []struct {
		name  string
		log   string
		steps []int // Dockerfile steps of each build
	}{
		{"plain retry after a failure", "#0 building with \"default\" instance using docker driver\n\n#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n\n#2 [1/2] FROM x\n#2 DONE 0.1s\n\n#3 [2/2] RUN flaky\n#3 ERROR: exit code: 1\nERROR: failed to solve: exit code: 1\n" +
			"#0 building with \"default\" instance using docker driver\n\n#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n\n#2 [1/2] FROM x\n#2 CACHED\n\n#3 [2/2] RUN flaky\n#3 DONE 5.0s\n\n#4 exporting to image\n#4 DONE 0.1s\n", []int{2, 2}},
		{"tty twice", "[+] Building 2.0s (2/2) FINISHED\n => [1/2] FROM x  0.1s\n => [2/2] RUN a  1.0s\n[+] Building 0.1s (0/2)\n[+] Building 3.0s (3/3) FINISHED\n => [1/3] FROM x  0.1s\n => [2/3] RUN a  1.0s\n => [3/3] RUN b  1.0s\n", []int{2, 3}},
		{"legacy twice", "Sending build context to Docker daemon  2.048kB\nStep 1/2 : FROM alpine\n ---> 1234567890ab\nStep 2/2 : RUN a\n ---> Using cache\n ---> 2234567890ab\nSuccessfully built 2234567890ab\n" +
			"Sending build context to Docker daemon  2.048kB\nStep 1/3 : FROM alpine\n ---> 1234567890ab\nStep 2/3 : RUN a\n ---> Using cache\n ---> 2234567890ab\nStep 3/3 : RUN b\n ---> Using cache\n ---> 3234567890ab\nSuccessfully built 3234567890ab\n", []int{2, 3}},
		{"rawjson after a failed build", `{"vertexes":[{"digest":"sha256:a","name":"[1/1] RUN x","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z","error":"exit code: 1"}]}` + "\nERROR: failed to solve: exit code: 1\n" +
			`{"vertexes":[{"digest":"sha256:a","name":"[1/1] RUN x","started":"2026-01-01T00:01:00Z","completed":"2026-01-01T00:01:02Z"}]}` + "\n", []int{1, 1}},
	}
	for _, tc := range tests {
		builds, err := ParseAll(strings.NewReader(tc.log), Options{})
		if err != nil || len(builds) != len(tc.steps) {
			t.Errorf("%s: %d builds (%v), want %d", tc.name, len(builds), err, len(tc.steps))
			continue
		}
		for i, b := range builds {
			if len(b.Steps()) != tc.steps[i] || b.LogIndex != i+1 || b.LogBuilds != len(tc.steps) {
				t.Errorf("%s: build %d has %d steps (want %d), is %d of %d", tc.name, i+1, len(b.Steps()), tc.steps[i], b.LogIndex, b.LogBuilds)
			}
		}
		if first := builds[0]; first.Status == model.StatusSucceeded && strings.Contains(tc.name, "failure") {
			t.Errorf("%s: the failed build is %s", tc.name, first.Status)
		}
		if last := builds[len(builds)-1]; last.Status != model.StatusSucceeded {
			t.Errorf("%s: last build %s", tc.name, last.Status)
		}
	}
}

// Compose and bake label steps with the service or target: a step shared by
// two services is one vertex, and does not start a new build.
func TestComposeSharedStep(t *testing.T) {
	log := "#0 building with \"default\" instance using docker driver\n\n" +
		"#1 [web internal] load build definition from Dockerfile\n#1 DONE 0.0s\n\n" +
		"#2 [api internal] load build definition from Dockerfile\n#2 DONE 0.0s\n\n" +
		"#3 [web base 1/2] FROM docker.io/library/node:20\n#3 DONE 0.1s\n\n" +
		"#4 [web base 2/2] RUN npm ci\n#4 DONE 9.0s\n\n" +
		"#4 [api base 2/2] RUN npm ci\n#4 DONE 9.0s\n\n" +
		"#5 [web] exporting to image\n#5 DONE 0.2s\n\n#6 [api] exporting to image\n#6 DONE 0.2s\n"
	builds, err := ParseAll(strings.NewReader(log), Options{})
	if err != nil || len(builds) != 1 {
		t.Fatalf("%d builds, %v", len(builds), err)
	}
	b := builds[0]
	if len(b.Vertices) != 6 || b.Status != model.StatusSucceeded {
		t.Fatalf("%d vertices, status %s", len(b.Vertices), b.Status)
	}
	if v := b.Vertices[3]; v.Stage != "web base" || v.Index != 2 || v.Duration != 9*time.Second {
		t.Errorf("shared step: stage %q %d, %v", v.Stage, v.Index, v.Duration)
	}
}

// A name the tty display cut is matched to the full name the error box
// gives, and takes it.
func TestTTYCutNameTakesFullName(t *testing.T) {
	b := mustParse(t, "[+] Building 2.0s (2/2) FINISHED\n => [1/2] FROM x  0.1s\n => ERROR [2/2] RUN npm ci --omit=dev --no-aud  1.2s\n------\n > [2/2] RUN npm ci --omit=dev --no-audit --no-fund:\n0.5 npm ERR! missing lock file\n------\nERROR: failed to solve: exit code: 1\n")
	v := b.Vertices[1]
	if v.NameTruncated || v.Name != "[2/2] RUN npm ci --omit=dev --no-audit --no-fund" || v.Args != "npm ci --omit=dev --no-audit --no-fund" || v.Output[0] != "npm ERR! missing lock file" {
		t.Fatalf("name %q (cut %v) args %q output %q", v.Name, v.NameTruncated, v.Args, v.Output)
	}
}

// A build recorded live and its rawjson file give the same record.
func TestRecorderEqualsRawJSONFile(t *testing.T) {
	for _, name := range []string{"rawjson-cold.jsonl", "multistage-rawjson-nocache.jsonl", "rawjson-warm.jsonl"} {
		data := readFile(t, "../fixtures/buildkit-probe/"+name)
		rec := NewRecorder()
		for _, line := range bytes.Split(data, []byte("\n")) {
			var st SolveStatus
			if json.Unmarshal(line, &st) == nil {
				rec.Add(&st)
			}
		}
		live, err := json.Marshal(rec.Build())
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseRawJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		file, _ := json.Marshal(b)
		if !bytes.Equal(live, file) {
			t.Errorf("%s: live record and file differ:\n%s", name, firstDiff(string(live), string(file)))
		}
	}
}

// A runner that flushes lines in batches stamps a step's first and last
// line microseconds apart; BuildKit's stated time says when it began. A gap
// within the tenth of a second stated times are rounded to is left alone.
func TestBatchedTimestampsKeepStatedTimes(t *testing.T) {
	log := `2025-06-28T15:12:17.400000000Z #5 [internal] load .dockerignore
2025-06-28T15:12:17.410000000Z #5 transferring context: 2B done
2025-06-28T15:12:17.450000000Z #5 DONE 0.1s
2025-06-28T15:12:19.310633957Z #6 [internal] load build context
2025-06-28T15:12:19.310636827Z #6 transferring context: 42.70MB 1.8s done
2025-06-28T15:12:19.310639007Z #6 DONE 1.8s
`
	b, err := Parse(strings.NewReader(log), Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	ignore, ctx := b.Vertices[0], b.Vertices[1]
	if !ignore.Started.Equal(at("2025-06-28T15:12:17.4Z")) || ignore.Duration != 100*time.Millisecond {
		t.Errorf("a 0.1s step seen for 50 ms moved: started %v, %v", ignore.Started, ignore.Duration)
	}
	if ended := at("2025-06-28T15:12:19.310639007Z"); !ctx.Ended.Equal(ended) || !ctx.Started.Equal(ended.Add(-1800*time.Millisecond)) {
		t.Errorf("the context transfer ran %v to %v, want 1.8s before %v", ctx.Started, ctx.Ended, ended)
	}
	if !b.Started.Equal(at("2025-06-28T15:12:17.4Z")) {
		t.Errorf("build started %v", b.Started)
	}
}

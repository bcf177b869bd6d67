package parse

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// ParsePlain reads BuildKit `--progress=plain` output:
//
//	#5 [2/3] RUN make
//	#5 0.512 output line
//	#5 DONE 12.3s
//
// and returns the build. Lines it does not recognise are counted, not errors.
func ParsePlain(r io.Reader) (*model.Build, error) {
	d := &plainDecoder{t: newTracker(model.FormatPlain)}
	err := eachLine(r, d.line)
	return d.t.finish(), err
}

type plainDecoder struct {
	t *tracker
	// The last vertex looked up: output lines of one vertex come in runs,
	// so this skips the key formatting and map lookup on the hot path.
	lastNum   int
	lastState *vstate
	// gen counts builds in one log: when "#1" names a new vertex after the
	// first build completed, vertex numbers restart.
	gen int
}

func (d *plainDecoder) vertex(num int) (*vstate, bool) {
	if d.lastState != nil && d.lastNum == num {
		return d.lastState, true
	}
	key := strconv.Itoa(num)
	if d.gen > 0 {
		key = strconv.Itoa(d.gen) + "." + key
	}
	s, seen := d.t.get(key)
	if !seen {
		s = d.t.add(key)
	}
	d.lastNum, d.lastState = num, s
	return s, seen
}

func (d *plainDecoder) line(line []byte, ts time.Time) {
	t := d.t
	num, rest, ok := cutVertexNumber(line)
	if !ok {
		if t.commonLine(string(line)) {
			t.stamp(ts)
		}
		return
	}
	t.stamp(ts)
	if num == 0 && bytes.HasPrefix(rest, []byte("building with ")) {
		t.b.Builder = string(bytes.TrimPrefix(rest, []byte("building with ")))
		return
	}
	s, seen := d.vertex(num)
	v := s.v
	if !ts.IsZero() && v.Started.IsZero() {
		v.Started = ts
	}
	// Output lines ("0.512 text") are the hot path: no string conversion.
	if off, ok := logOffset(rest); ok {
		s.addOutput(rest[off:])
		return
	}
	switch {
	case len(rest) == 0 || bytes.Equal(rest, []byte("...")):
		return
	case bytes.HasPrefix(rest, []byte("DONE")):
		v.Completed = true
		if d, ok := parseSeconds(bytes.TrimSpace(rest[4:])); ok {
			v.Duration, v.HasDuration = d, true
		}
		if !ts.IsZero() {
			v.Ended = ts
		}
		return
	case bytes.Equal(rest, []byte("CACHED")):
		v.Cached, v.Completed = true, true
		return
	case bytes.Equal(rest, []byte("CANCELED")):
		v.Canceled, v.Completed = true, true
		return
	case bytes.HasPrefix(rest, []byte("ERROR: ")), bytes.HasPrefix(rest, []byte("ERROR ")):
		t.setError(s, strings.TrimSpace(string(rest[6:])))
		if !ts.IsZero() {
			v.Ended = ts
		}
		return
	case bytes.HasPrefix(rest, []byte("WARN: ")):
		t.warning(s, string(rest[6:]))
		return
	}
	text := string(rest)
	if v.Name == "" && !seen {
		if looksLikeStatus(text) {
			// The log starts mid-vertex: its name line was cut off.
			t.b.Truncated = true
			plainStatus(t, s, text)
			return
		}
		ApplyName(v, text)
		return
	}
	if num == 1 && v.Completed && len(t.order) > 1 && strings.HasPrefix(text, "[internal] load build definition") {
		// A second build in the same log: its vertices are new.
		d.gen++
		d.lastState = nil
		s, _ = d.vertex(num)
		ApplyName(s.v, text)
		return
	}
	if text == v.Name {
		return // the name is repeated when a vertex resumes after "#N ..."
	}
	if v.Digest == "" && len(v.Transfers) == 0 && isBareDigest(text) {
		v.Digest = text // the 20.10 CLI prints "#N sha256:<vertex digest>"
		return
	}
	if v.Name == "" && !looksLikeStatus(text) {
		ApplyName(v, text)
		return
	}
	plainStatus(t, s, text)
}

// plainStatus records a status line: a transfer with sizes, image export
// facts, or a plain event.
func plainStatus(t *tracker, s *vstate, text string) {
	st := parseStatusText(text)
	switch {
	case strings.HasPrefix(st.name, "writing image "):
		t.b.ImageID = strings.TrimPrefix(st.name, "writing image ")
	case strings.HasPrefix(st.name, "naming to "):
		addImageName(t.b, strings.TrimPrefix(st.name, "naming to "))
	}
	if st.hasBytes {
		s.v.SetTransfer(model.Transfer{Name: st.name, Bytes: st.current, Total: st.total, Duration: st.duration, Done: st.done})
	}
}

func addImageName(b *model.Build, name string) {
	name = strings.TrimSpace(name)
	for _, n := range b.ImageNames {
		if n == name {
			return
		}
	}
	b.ImageNames = append(b.ImageNames, name)
}

// cutVertexNumber splits "#12 rest" into 12 and "rest".
func cutVertexNumber(line []byte) (int, []byte, bool) {
	if len(line) < 2 || line[0] != '#' || !isDigit(line[1]) {
		return 0, nil, false
	}
	n, i := 0, 1
	for i < len(line) && isDigit(line[i]) {
		if n > 1<<24 {
			return 0, nil, false
		}
		n = n*10 + int(line[i]-'0')
		i++
	}
	if i == len(line) {
		return n, nil, true
	}
	if line[i] != ' ' {
		return 0, nil, false
	}
	return n, line[i+1:], true
}

// logOffset reports whether rest starts with a "0.512 " output time offset
// and where the output text begins.
func logOffset(rest []byte) (int, bool) {
	i := 0
	for i < len(rest) && isDigit(rest[i]) {
		i++
	}
	if i == 0 || i >= len(rest) || rest[i] != '.' {
		return 0, false
	}
	j := i + 1
	for j < len(rest) && isDigit(rest[j]) {
		j++
	}
	if j == i+1 {
		return 0, false
	}
	if j == len(rest) {
		return j, true
	}
	if rest[j] != ' ' {
		return 0, false
	}
	return j + 1, true
}

// parseSeconds parses "12.3s".
func parseSeconds(b []byte) (time.Duration, bool) {
	if len(b) < 2 || b[len(b)-1] != 's' {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b[:len(b)-1]), 64)
	if err != nil || f < 0 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

func isBareDigest(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// statusPrefixes start the progress items BuildKit prints under a vertex.
var statusPrefixes = []string{
	"transferring ", "resolve ", "extracting ", "sha256:", "exporting ", "writing image",
	"naming to", "unpacking to", "loading layer", "sending tarball", "preparing layers",
	"copying ", "inferred cache manifest", "pushing ", "importing to docker",
}

// looksLikeStatus reports whether a first-seen vertex line is a status item
// rather than the vertex name (for logs that begin mid-vertex).
func looksLikeStatus(s string) bool {
	if strings.HasPrefix(s, "[") {
		return false
	}
	for _, p := range statusPrefixes {
		if strings.HasPrefix(s, p) {
			// "exporting to image" is a vertex name, "exporting layers" a status.
			return !strings.HasPrefix(s, "exporting to ") && !strings.HasPrefix(s, "exporting cache")
		}
	}
	return strings.HasSuffix(s, " done")
}

// statusText is a parsed progress item: "sha256:ab 29.13MB / 29.13MB 4.4s done".
type statusText struct {
	name     string
	current  int64
	total    int64
	hasBytes bool
	duration time.Duration
	done     bool
}

func parseStatusText(s string) statusText {
	var st statusText
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutSuffix(s, " done"); ok {
		st.done, s = true, rest
	} else if s == "done" {
		return st
	}
	fields := strings.Fields(s)
	if n := len(fields); n > 1 {
		if d, ok := parseSeconds([]byte(fields[n-1])); ok && strings.Contains(fields[n-1], ".") {
			st.duration = d
			fields = fields[:n-1]
		}
	}
	n := len(fields)
	switch {
	case n >= 4 && fields[n-2] == "/":
		a, ok1 := parseSize(fields[n-3])
		b, ok2 := parseSize(fields[n-1])
		if ok1 && ok2 {
			st.current, st.total, st.hasBytes = a, b, true
			fields = fields[:n-3]
		}
	case n >= 2:
		if a, ok := parseSize(fields[n-1]); ok {
			st.current, st.hasBytes = a, true
			fields = fields[:n-1]
		}
	}
	st.name = strings.TrimSuffix(strings.Join(fields, " "), ":")
	return st
}

var sizeUnits = map[string]float64{
	"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

// parseSize parses Docker's human sizes ("392B", "1.98MB", "29.13 MB" is not
// produced). Decimal units are SI, as docker/go-units HumanSize prints them.
func parseSize(s string) (int64, bool) {
	i := 0
	for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
		i++
	}
	if i == 0 || i == len(s) {
		return 0, false
	}
	mult, ok := sizeUnits[s[i:]]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, false
	}
	return int64(f*mult + 0.5), true
}

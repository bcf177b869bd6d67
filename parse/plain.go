package parse

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/buildstats/buildstats/parse/model"
)

// ParsePlain reads BuildKit `--progress=plain` output:
//
//	#5 [2/3] RUN make
//	#5 0.512 output line
//	#5 DONE 12.3s
//
// and returns the build (the last one, when the log holds several; see
// ParseAll). Lines it does not recognise are counted, not errors.
func ParsePlain(r io.Reader) (*model.Build, error) {
	return last(parsePlainAll(r))
}

func parsePlainAll(r io.Reader) ([]*model.Build, error) {
	d := &plainDecoder{t: newTracker(model.FormatPlain)}
	err := eachLine(r, d.line)
	d.out = append(d.out, d.finish())
	return numberBuilds(d.out), err
}

type plainDecoder struct {
	t   *tracker
	out []*model.Build
	// The last vertex looked up: output lines of one vertex come in runs,
	// so this skips the key formatting and map lookup on the hot path.
	lastNum   int
	lastState *vstate
	maxNum    int
}

func (d *plainDecoder) finish() *model.Build {
	t := d.t
	if !t.ended && t.allCompleted() && (t.exportDone() || t.lastStepEnds()) {
		t.ended = true
	}
	return t.finish()
}

// newBuild starts the next build of the log.
func (d *plainDecoder) newBuild() {
	d.out = append(d.out, d.finish())
	d.t = newTracker(model.FormatPlain)
	d.lastState, d.maxNum = nil, 0
}

func (d *plainDecoder) vertex(num int) (*vstate, bool) {
	if d.lastState != nil && d.lastNum == num {
		return d.lastState, true
	}
	s, seen := d.t.get(strconv.Itoa(num))
	if seen {
		d.lastNum, d.lastState = num, s
	}
	return s, seen
}

func (d *plainDecoder) create(num int) *vstate {
	s := d.t.add(strconv.Itoa(num))
	d.lastNum, d.lastState = num, s
	d.maxNum = max(d.maxNum, num)
	return s
}

func (d *plainDecoder) line(l *srcLine) {
	if l.overwritten {
		return // a terminal overwrite: output, never progress
	}
	t := d.t
	line, ts := l.text, l.ts
	num, rest, ok := cutVertexNumber(line)
	if !ok {
		if t.commonLine(string(line)) {
			t.stamp(ts)
		}
		return
	}
	t.stamp(ts)
	if num == 0 && bytes.HasPrefix(rest, []byte("building with ")) {
		if len(t.order) > 0 || t.b.Error != "" {
			d.newBuild()
		}
		d.t.b.Builder = string(bytes.TrimPrefix(rest, []byte("building with ")))
		return
	}
	s, seen := d.vertex(num)
	// Output lines ("0.512 text") are the hot path: no string conversion.
	// They only ever add output to a vertex the log named: the text after
	// the time offset is what the step printed, whatever it looks like.
	if off, ran, ok := logOffsetDuration(rest); ok {
		if !seen {
			if !d.unnamedOnly() {
				return // output never makes a vertex once the log named one
			}
			// The log begins inside this vertex: its name line is missing.
			t.b.BeganMidBuild = true
			s = d.create(num)
		}
		s.stamp(ts)
		s.addText(rest[off:], l.noCR)
		s.sawRunning(ran)
		return
	}
	if !seen {
		if len(t.order) == 0 && num > 2 {
			t.b.BeganMidBuild = true // a build's first vertex is #1
		}
		s = d.create(num)
	}
	v := s.v
	s.stamp(ts)
	if !ts.IsZero() && v.Started.IsZero() {
		v.Started = ts
	}
	switch {
	case len(rest) == 0 || bytes.Equal(rest, []byte("...")):
		return
	case bytes.HasPrefix(rest, []byte("DONE")):
		dur, ok := parseSeconds(bytes.TrimSpace(rest[4:]))
		t.done(s, dur, ok)
		if !ts.IsZero() {
			v.Ended = ts
		}
		if strings.HasPrefix(v.Name, "exporting ") {
			t.ended = true
		}
		return
	case bytes.Equal(rest, []byte("CACHED")):
		t.cached(s)
		return
	case bytes.Equal(rest, []byte("CANCELED")):
		t.cancel(s)
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
			t.b.BeganMidBuild = true
			plainStatus(t, s, text)
			return
		}
		t.named(s, text)
		return
	}
	if seen && v.Completed && d.restarts(num, v, text) {
		// Vertex numbers restart: a second build in the same log.
		d.newBuild()
		s = d.create(num)
		d.t.stamp(ts)
		if !ts.IsZero() {
			s.v.Started = ts
		}
		d.t.named(s, text)
		return
	}
	if text == v.Name || sameStep(text, v.Name) {
		return // the name is repeated when a vertex resumes after "#N ..."
	}
	if v.Digest == "" && len(v.Transfers) == 0 && isBareDigest(text) {
		v.Digest = text // the 20.10 CLI prints "#N sha256:<vertex digest>"
		return
	}
	if v.Name == "" && !looksLikeStatus(text) {
		t.named(s, text)
		return
	}
	plainStatus(t, s, text)
}

// unnamedOnly reports whether no vertex of the build has a name yet: the
// log began inside a vertex.
func (d *plainDecoder) unnamedOnly() bool {
	return d.t.namedCount == 0
}

// restarts reports whether a name line for a finished vertex number starts
// a new build: vertex #1 named again after the build ended or failed (a
// retry), or a finished vertex given a different name (numbering restarted).
func (d *plainDecoder) restarts(num int, v *model.Vertex, text string) bool {
	if looksLikeStatus(text) || isBareDigest(text) || !strings.HasPrefix(text, "[") && !strings.HasPrefix(text, "exporting") && !strings.HasPrefix(text, "resolve") {
		return false
	}
	if text == v.Name {
		return num == 1 && d.t.seemsEnded()
	}
	return !sameStep(text, v.Name) && num < d.maxNum && v.Name != ""
}

// sameStep reports whether two names are one vertex shown for two compose
// services or bake targets: "[web base 2/5] RUN x" and "[api base 2/5] RUN
// x" differ only in the first word of the label.
func sameStep(a, b string) bool {
	if !strings.HasPrefix(a, "[") || !strings.HasPrefix(b, "[") {
		return false
	}
	ia, ib := strings.IndexByte(a, ']'), strings.IndexByte(b, ']')
	if ia < 0 || ib < 0 || a[ia:] != b[ib:] {
		return false
	}
	fa, fb := strings.Fields(a[1:ia]), strings.Fields(b[1:ib])
	if len(fa) != len(fb) || len(fa) < 2 {
		return false
	}
	return strings.Join(fa[1:], " ") == strings.Join(fb[1:], " ")
}

// plainStatus records a status line: a transfer with sizes, image export
// facts, or a plain event.
func plainStatus(t *tracker, s *vstate, text string) {
	st := parseStatusText(text)
	t.exportFact(st.name)
	if st.hasBytes {
		s.setTransfer(model.Transfer{Name: st.name, Bytes: st.current, Total: st.total, Duration: st.duration, Done: st.done})
	}
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
	off, _, ok := logOffsetDuration(rest)
	return off, ok
}

// logOffsetDuration is logOffset that also reads the offset, as
// offsetDuration does, in the same pass: the hot path of plain logs.
func logOffsetDuration(rest []byte) (int, time.Duration, bool) {
	const maxSecs = int64(model.MaxDuration / time.Second)
	var secs int64
	tooLong := false // offsetDuration's -1: not a time
	i := 0
	for i < len(rest) && isDigit(rest[i]) {
		if secs > maxSecs {
			tooLong = true
		} else {
			secs = secs*10 + int64(rest[i]-'0')
		}
		i++
	}
	if i == 0 || i >= len(rest) || rest[i] != '.' {
		return 0, 0, false
	}
	j := i + 1
	var frac int64
	k := 0 // fraction digits read; offsetDuration reads nine
	for j < len(rest) && isDigit(rest[j]) {
		if k < 9 {
			frac = frac*10 + int64(rest[j]-'0')
			k++
		}
		j++
	}
	if j == i+1 {
		return 0, 0, false
	}
	if j < len(rest) && rest[j] != ' ' {
		return 0, 0, false
	}
	d := time.Duration(-1)
	if !tooLong {
		d = time.Duration(secs)*time.Second + time.Duration(frac*nanoScale[k])
	}
	if j == len(rest) {
		return j, d, true
	}
	return j + 1, d, true
}

// nanoScale[k] turns k fraction digits into nanoseconds.
var nanoScale = [10]int64{1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 1e2, 1e1, 1}

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
	st := parseStatus([]byte(s), nil)
	return statusText{name: string(st.name), current: st.current, total: st.total, hasBytes: st.hasBytes, duration: st.duration, done: st.done}
}

// statusBytes is statusText with the name still in the line's bytes (or
// in the scratch buffer parseStatus was given).
type statusBytes struct {
	name     []byte
	current  int64
	total    int64
	hasBytes bool
	duration time.Duration
	done     bool
}

// parseStatus parses a progress item: the name is the fields before the
// sizes and time, joined by single spaces, without a final colon. Joining
// needs scratch only when the fields were not already one space apart.
func parseStatus(s []byte, scratch *[]byte) statusBytes {
	var st statusBytes
	s = bytes.TrimSpace(s)
	if rest, ok := bytes.CutSuffix(s, []byte(" done")); ok {
		st.done, s = true, rest
	} else if string(s) == "done" {
		return st
	}
	var buf [16][]byte
	fields := appendFields(buf[:0], s)
	if n := len(fields); n > 1 {
		if d, ok := parseSeconds(fields[n-1]); ok && bytes.IndexByte(fields[n-1], '.') >= 0 {
			st.duration = d
			fields = fields[:n-1]
		}
	}
	n := len(fields)
	switch {
	case n >= 4 && string(fields[n-2]) == "/":
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
	st.name = joinFields(s, fields, scratch)
	st.name = bytes.TrimSuffix(st.name, []byte(":"))
	return st
}

// appendFields appends the fields of s as strings.Fields splits them.
func appendFields(dst [][]byte, s []byte) [][]byte {
	n := len(dst)
	for i := 0; i < len(s); {
		for i < len(s) && asciiSpace[s[i]] {
			i++
		}
		j := i
		for j < len(s) && !asciiSpace[s[j]] {
			if s[j] >= utf8.RuneSelf {
				return appendFieldsUnicode(dst[:n], s) // Unicode has more spaces
			}
			j++
		}
		if j > i {
			dst = append(dst, s[i:j]) // full capacity: joinFields finds offsets by it
		}
		i = j
	}
	return dst
}

// appendFieldsUnicode splits at unicode.IsSpace runs, as bytes.Fields does
// for text that is not ASCII.
func appendFieldsUnicode(dst [][]byte, s []byte) [][]byte {
	space := func(i int) (bool, int) {
		r, size := utf8.DecodeRune(s[i:])
		return unicode.IsSpace(r), size
	}
	for i := 0; i < len(s); {
		for i < len(s) {
			sp, size := space(i)
			if !sp {
				break
			}
			i += size
		}
		j := i
		for j < len(s) {
			sp, size := space(j)
			if sp {
				break
			}
			j += size
		}
		if j > i {
			dst = append(dst, s[i:j])
		}
		i = j
	}
	return dst
}

// asciiSpace marks the ASCII bytes unicode.IsSpace reports.
var asciiSpace = [256]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// joinFields joins fields of s with single spaces, as strings.Join does:
// a slice of s when they stand one space apart there, else in scratch.
func joinFields(s []byte, fields [][]byte, scratch *[]byte) []byte {
	if len(fields) == 0 {
		return nil
	}
	start := cap(s) - cap(fields[0])
	end := start
	contiguous := true
	for i, f := range fields {
		off := cap(s) - cap(f)
		if i > 0 && (off != end+1 || s[end] != ' ') {
			contiguous = false
			break
		}
		end = off + len(f)
	}
	if contiguous && start >= 0 && end <= len(s) {
		return s[start:end]
	}
	var out []byte
	if scratch != nil {
		out = (*scratch)[:0]
	}
	for i, f := range fields {
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, f...)
	}
	if scratch != nil {
		*scratch = out
	}
	return out
}

var sizeUnits = map[string]float64{
	"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

// parseSize parses Docker's human sizes ("392B", "1.98MB", "29.13 MB" is not
// produced). Decimal units are SI, as docker/go-units HumanSize prints them.
func parseSize(s []byte) (int64, bool) {
	i := 0
	for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
		i++
	}
	if i == 0 || i == len(s) {
		return 0, false
	}
	mult, ok := sizeUnits[string(s[i:])]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(s[:i]), 64)
	if err != nil || f < 0 || f*mult > float64(model.MaxBytes) {
		return 0, false
	}
	return int64(f*mult + 0.5), true
}

// offsetDuration reads the "12.345" time offset before a plain output line.
func offsetDuration(b []byte) time.Duration {
	var secs, frac, scale int64 = 0, 0, int64(time.Second)
	i := 0
	for ; i < len(b) && isDigit(b[i]); i++ {
		if secs > int64(model.MaxDuration/time.Second) {
			return -1
		}
		secs = secs*10 + int64(b[i]-'0')
	}
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && isDigit(b[i]) && scale > 1; i++ {
			scale /= 10
			frac += int64(b[i]-'0') * scale
		}
	}
	return time.Duration(secs)*time.Second + time.Duration(frac)
}

package parse

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// A rawjson log is one SolveStatus JSON object per line, and decoding
// them was most of the cost of reading one: encoding/json checks each
// line, then walks it again by reflection, allocating every string, slice,
// time pointer and base64 buffer. statusDecoder reads the lines BuildKit
// writes in one pass, into values it reuses, and leaves every other line
// to encoding/json.
//
// It never decides that a line is not a status: it either decodes a line
// to exactly what json.Unmarshal into a SolveStatus gives, or says it is
// unsure, and the line goes to json.Unmarshal. It is unsure about anything
// but plain JSON of the expected types: a key that is not one of the
// field names exactly (json matches keys case-insensitively), a key twice
// in one object (json merges them), an escaped key, a number with a
// fraction or exponent in an integer field, a byte field given as an
// array, nesting deeper than maxSkipDepth, and any syntax error. FuzzStatusDecoder checks it
// against json.Unmarshal.

// statusDecoder decodes SolveStatus lines. The SolveStatus it returns, and
// everything it points to, is valid until the next call: Recorder.Add
// copies what it keeps.
type statusDecoder struct {
	b []byte // the line
	i int    // read position in b

	st       SolveStatus
	vertexes pool[StatusVertex]
	statuses pool[VertexStatus]
	logs     pool[VertexLog]
	warnings pool[VertexWarning]
	groups   pool[ProgressGroup]
	times    pool[time.Time]
	// arena holds the line's decoded byte fields (log data, warnings).
	arena []byte
	// scratch holds a string being unescaped.
	scratch []byte

	// strs interns the strings the lines repeat (digests, names, status
	// IDs), so a line costs no allocation once its vertex was seen.
	strs      map[string]string
	strsBytes int
	recent    [8]string
	// lastLogVertex is the vertex the last log line named (logLine).
	lastLogVertex string

	// day caches the start of the last date a timestamp named, so most
	// timestamps are read without calendar arithmetic.
	day     [10]byte
	dayUnix int64
	dayOK   bool
}

// Bounds on what statusDecoder keeps between lines.
const (
	internMaxLen   = 256     // longer strings are not interned
	internMaxBytes = 1 << 20 // the intern table is cleared past this
	arenaKeep      = 1 << 20 // a larger arena is dropped after its line
	maxSkipDepth   = 256     // deeper unknown values go to encoding/json
)

// pool hands out zeroed values of T from chunks it reuses line after line.
// A chunk is never grown in place, so pointers handed out stay valid until
// reset.
type pool[T any] struct {
	buf []T
	n   int
}

func (p *pool[T]) get() *T {
	if p.n == len(p.buf) {
		p.buf = make([]T, 2*len(p.buf)+4)
		p.n = 0
	}
	x := &p.buf[p.n]
	p.n++
	var zero T
	*x = zero
	return x
}

func (p *pool[T]) reset() { p.n = 0 }

// decodeStatus decodes one line as json.Unmarshal into a SolveStatus would,
// reporting false where json.Unmarshal returns an error.
func (d *statusDecoder) decodeStatus(line []byte) (*SolveStatus, bool) {
	if st, ok := d.fast(line); ok {
		return st, true
	}
	return decodeStatusReference(line)
}

// decodeStatusReference is encoding/json's answer, the reference the fast
// path must agree with.
func decodeStatusReference(line []byte) (*SolveStatus, bool) {
	var st SolveStatus
	if json.Unmarshal(line, &st) != nil {
		return nil, false
	}
	return &st, true
}

// fast decodes the line, or reports false when unsure.
func (d *statusDecoder) fast(line []byte) (*SolveStatus, bool) {
	if st, ok := d.logLine(line); ok {
		return st, true
	}
	return d.general(line)
}

// logLine decodes the line rawjson has most of, byte for byte as buildx
// encodes it, or reports false for any other:
//
//	{"logs":[{"vertex":"sha256:…","stream":1,"data":"…","timestamp":"…"}]}
//
// With the keys fixed, each once and in this order, and no escapes, the
// line means what general would make of it; it only skips the key
// matching. The data and the timestamp are found from the line's end:
// decode64 and utcTime accept no quote and no backslash, so the first
// quote after the data, which a reading from the start would stop at, is
// the one before the timestamp's key.
func (d *statusDecoder) logLine(line []byte) (*SolveStatus, bool) {
	const head, toStream, toData, toTime, tail = `{"logs":[{"vertex":"`, `","stream":`, `,"data":"`, `","timestamp":"`, `"}]}`
	b := line
	if len(b) < len(head) || string(b[:len(head)]) != head {
		return nil, false
	}
	d.reset(line)
	// The vertex: most lines name the one the line before named, whose
	// characters are known to be plain; else plain characters up to the
	// quote.
	start := len(head)
	j := start
	vertex := d.lastLogVertex
	if n := len(vertex); n > 0 && len(b)-start > n && b[start+n] == '"' && string(b[start:start+n]) == vertex {
		j += n
	} else {
		j += plainRun(b[start:])
		vertex = ""
	}
	if len(b)-j < len(toStream) || string(b[j:j+len(toStream)]) != toStream {
		return nil, false
	}
	if vertex == "" {
		vertex = d.intern(b[start:j])
		d.lastLogVertex = vertex
	}
	v := d.logs.get()
	v.Vertex = vertex
	d.i = j + len(toStream)
	// The stream: one digit, as BuildKit's 1 and 2, or any integer.
	if d.i+1 < len(b) && b[d.i] >= '0' && b[d.i] <= '9' && b[d.i+1] == ',' {
		v.Stream = int(b[d.i] - '0')
		d.i++
	} else {
		var stream int64
		if d.i >= len(b) || b[d.i] < '0' || b[d.i] > '9' || !d.int64Field(&stream, math.MinInt, math.MaxInt) {
			return nil, false
		}
		v.Stream = int(stream)
	}
	if len(b)-d.i < len(toData) || string(b[d.i:d.i+len(toData)]) != toData {
		return nil, false
	}
	dataStart := d.i + len(toData)
	// From the end: whitespace, the tail, the timestamp after its key.
	e := len(b)
	for e > 0 && (b[e-1] == ' ' || b[e-1] == '\t' || b[e-1] == '\n' || b[e-1] == '\r') {
		e--
	}
	if e-dataStart < len(toTime)+len(tail) || string(b[e-len(tail):e]) != tail {
		return nil, false
	}
	tsEnd := e - len(tail)
	// utcTime takes 20 to 30 bytes, BuildKit's times mostly 30 (nine
	// digits of fraction): the quote before the timestamp is looked for
	// there first, then back from the shortest. A quote found that is not
	// the last before tsEnd leaves a quote in the timestamp, which
	// utcTime refuses.
	q := tsEnd - 31
	if q < dataStart || b[q] != '"' {
		q = dataStart - 1
		for k := tsEnd - 21; k >= max(tsEnd-31, dataStart); k-- {
			if b[k] == '"' {
				q = k
				break
			}
		}
	}
	tsStart := q + 1
	dataEnd := tsStart - len(toTime)
	if dataEnd < dataStart || string(b[dataEnd:tsStart]) != toTime {
		return nil, false
	}
	t, ok := d.utcTime(b[tsStart:tsEnd])
	if !ok {
		return nil, false
	}
	v.Timestamp = t
	data, ok := d.decode64(b[dataStart:dataEnd])
	if !ok {
		return nil, false
	}
	v.Data = data
	d.i = len(b)
	d.st.Logs = append(d.st.Logs, v)
	return &d.st, true
}

// reset readies the decoder for a line.
func (d *statusDecoder) reset(line []byte) {
	d.b, d.i = line, 0
	d.vertexes.reset()
	d.statuses.reset()
	d.logs.reset()
	d.warnings.reset()
	d.groups.reset()
	d.times.reset()
	if cap(d.arena) > arenaKeep {
		d.arena = nil
	}
	d.arena = d.arena[:0]
	st := &d.st
	*st = SolveStatus{Vertexes: st.Vertexes[:0], Statuses: st.Statuses[:0], Logs: st.Logs[:0], Warnings: st.Warnings[:0]}
}

// general decodes any line of plain JSON, or reports false when unsure.
func (d *statusDecoder) general(line []byte) (*SolveStatus, bool) {
	d.reset(line)
	st := &d.st
	ok := d.object(func(key []byte) (uint32, bool) {
		switch string(key) {
		case "vertexes":
			return 1, decodeList(d, &st.Vertexes, &d.vertexes, d.vertex)
		case "statuses":
			return 2, decodeList(d, &st.Statuses, &d.statuses, d.status)
		case "logs":
			return 4, decodeList(d, &st.Logs, &d.logs, d.log)
		case "warnings":
			return 8, decodeList(d, &st.Warnings, &d.warnings, d.warning)
		}
		return 0, d.unknown(key, "vertexes", "statuses", "logs", "warnings")
	})
	if !ok {
		return nil, false
	}
	d.ws()
	return st, d.i == len(d.b)
}

// nilIf empties a list JSON gave as null: json.Unmarshal sets it to nil.
// decodeList decodes a JSON array of objects into list, each element taken
// from p and filled by one; a null element stays nil, a null array leaves
// list nil.
func decodeList[T any](d *statusDecoder, list *[]*T, p *pool[T], one func(*T) bool) bool {
	return d.array(func(null bool) bool {
		if null {
			*list = append(*list, nil)
			return true
		}
		v := p.get()
		*list = append(*list, v)
		return one(v)
	}, func(null bool) { *list = nilIf(*list, null) })
}

func nilIf[T any](s []T, null bool) []T {
	if null {
		return s[:0]
	}
	return s
}

func (d *statusDecoder) vertex(v *StatusVertex) bool {
	return d.object(func(key []byte) (uint32, bool) {
		switch string(key) {
		case "digest":
			return 1, d.stringField(&v.Digest)
		case "inputs":
			return 2, d.array(func(null bool) bool {
				if null {
					v.Inputs = append(v.Inputs, "")
					return true
				}
				s, ok := d.str()
				v.Inputs = append(v.Inputs, s)
				return ok
			}, func(null bool) {
				if null {
					v.Inputs = nil
				}
			})
		case "name":
			return 4, d.stringField(&v.Name)
		case "started":
			return 8, d.timePtr(&v.Started)
		case "completed":
			return 16, d.timePtr(&v.Completed)
		case "cached":
			return 32, d.boolField(&v.Cached)
		case "error":
			return 64, d.stringField(&v.Error)
		case "progressGroup":
			if d.null() {
				v.ProgressGroup = nil
				return 128, true
			}
			g := d.groups.get()
			v.ProgressGroup = g
			return 128, d.object(func(key []byte) (uint32, bool) {
				switch string(key) {
				case "id":
					return 1, d.stringField(&g.ID)
				case "name":
					return 2, d.stringField(&g.Name)
				case "weak":
					return 4, d.boolField(&g.Weak)
				}
				return 0, d.unknown(key, "id", "name", "weak")
			})
		}
		return 0, d.unknown(key, "digest", "inputs", "name", "started", "completed", "cached", "error", "progressGroup")
	})
}

func (d *statusDecoder) status(v *VertexStatus) bool {
	return d.object(func(key []byte) (uint32, bool) {
		switch string(key) {
		case "id":
			return 1, d.stringField(&v.ID)
		case "vertex":
			return 2, d.stringField(&v.Vertex)
		case "name":
			return 4, d.stringField(&v.Name)
		case "total":
			return 8, d.int64Field(&v.Total, math.MinInt64, math.MaxInt64)
		case "current":
			return 16, d.int64Field(&v.Current, math.MinInt64, math.MaxInt64)
		case "timestamp":
			return 32, d.timeField(&v.Timestamp)
		case "started":
			return 64, d.timePtr(&v.Started)
		case "completed":
			return 128, d.timePtr(&v.Completed)
		}
		return 0, d.unknown(key, "id", "vertex", "name", "total", "current", "timestamp", "started", "completed")
	})
}

func (d *statusDecoder) log(v *VertexLog) bool {
	return d.object(func(key []byte) (uint32, bool) {
		switch string(key) {
		case "vertex":
			return 1, d.stringField(&v.Vertex)
		case "stream":
			return 2, d.intField(&v.Stream)
		case "data":
			return 4, d.bytesField(&v.Data)
		case "timestamp":
			return 8, d.timeField(&v.Timestamp)
		}
		return 0, d.unknown(key, "vertex", "stream", "data", "timestamp")
	})
}

func (d *statusDecoder) warning(v *VertexWarning) bool {
	return d.object(func(key []byte) (uint32, bool) {
		switch string(key) {
		case "vertex":
			return 1, d.stringField(&v.Vertex)
		case "level":
			return 2, d.intField(&v.Level)
		case "short":
			return 4, d.bytesField(&v.Short)
		case "detail":
			return 8, d.array(func(null bool) bool {
				if null {
					v.Detail = append(v.Detail, nil)
					return true
				}
				var b []byte
				ok := d.bytesField(&b)
				v.Detail = append(v.Detail, b)
				return ok
			}, func(null bool) {
				if null {
					v.Detail = nil
				}
			})
		case "url":
			return 16, d.stringField(&v.URL)
		}
		return 0, d.unknown(key, "vertex", "level", "short", "detail", "url")
	})
}

// unknown skips the value of a key that is not one of the level's field
// names, unless it matches one case-insensitively, as json.Unmarshal
// would take it.
func (d *statusDecoder) unknown(key []byte, names ...string) bool {
	for _, n := range names {
		if asciiEqualFold(key, n) {
			return false
		}
	}
	return d.skip(0)
}

func asciiEqualFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Syntax.

func (d *statusDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// object reads an object, calling field with each key, positioned at its
// value. field returns the bit that stands for the key's field, or 0 for
// an unknown key: a field named twice is left to json.Unmarshal, which
// merges the two values.
func (d *statusDecoder) object(field func(key []byte) (uint32, bool)) bool {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return false
	}
	d.i++
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return true
	}
	var seen uint32
	for {
		key, ok := d.key()
		if !ok {
			return false
		}
		bit, ok := field(key)
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		d.ws()
		if d.i >= len(d.b) {
			return false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.ws()
		case '}':
			d.i++
			return true
		default:
			return false
		}
	}
}

// key reads an object key and its colon. Keys with escapes or non-ASCII
// bytes are left to json.Unmarshal: it matches them by Unicode folding.
func (d *statusDecoder) key() ([]byte, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	j := start
	for j < len(d.b) && plainASCII[d.b[j]] { // keys are short: no word at a time
		j++
	}
	if j >= len(d.b) || d.b[j] != '"' {
		return nil, false
	}
	key := d.b[start:j]
	d.i = j + 1
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != ':' {
		return nil, false
	}
	d.i++
	d.ws()
	return key, true
}

// array reads null or an array, calling elem for each element (with null
// set for a JSON null element), and done at the end (with null set when
// the whole value was null).
func (d *statusDecoder) array(elem func(null bool) bool, done func(null bool)) bool {
	if d.null() {
		done(true)
		return true
	}
	if d.i >= len(d.b) || d.b[d.i] != '[' {
		return false
	}
	d.i++
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		done(false)
		return true
	}
	for {
		d.ws()
		if !elem(d.null()) {
			return false
		}
		d.ws()
		if d.i >= len(d.b) {
			return false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			done(false)
			return true
		default:
			return false
		}
	}
}

// null consumes a null literal if one is next.
func (d *statusDecoder) null() bool {
	if len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// plainASCII marks the bytes a JSON string can hold as they are and that
// need no further thought: printable ASCII but the quote and backslash.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainRun returns how many bytes at the start of b plainASCII marks,
// eight at a time: strings are most of a line.
func plainRun(b []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// A byte at or over 0x80 sets its high bit in x; with none, a
		// byte under 0x20 sets it in x-0x20 (it borrows), a quote or a
		// backslash in q-1 or bs-1 (they are 0 there).
		q, bs := x^(ones*'"'), x^(ones*'\\')
		if (x|(x-ones*0x20)|(q-ones)|(bs-ones))&highs != 0 {
			break
		}
	}
	for i < len(b) && plainASCII[b[i]] {
		i++
	}
	return i
}

// rawString reads a JSON string and returns its unescaped bytes, as
// encoding/json unescapes them (invalid UTF-8 becomes U+FFFD). The bytes
// may alias the line or d.scratch.
func (d *statusDecoder) rawString() ([]byte, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	j := start
	j += plainRun(d.b[j:])
	if j < len(d.b) && d.b[j] == '"' {
		d.i = j + 1
		return d.b[start:j], true
	}
	return d.slowString(start, j)
}

// slowString unescapes a string that has escapes or non-ASCII bytes from
// j on; start is its first byte.
func (d *statusDecoder) slowString(start, j int) ([]byte, bool) {
	out := append(d.scratch[:0], d.b[start:j]...)
	b := d.b
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			d.i = j + 1
			d.scratch = out
			return out, true
		case c < 0x20:
			return nil, false // a control byte: invalid JSON
		case c == '\\':
			if j+1 >= len(b) {
				return nil, false
			}
			switch b[j+1] {
			case '"', '\\', '/':
				out = append(out, b[j+1])
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := hex4(b[j+2:])
				if r < 0 {
					return nil, false
				}
				j += 6
				if utf16.IsSurrogate(r) {
					if r2 := hex4u(b[j:]); r2 >= 0 {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							out = utf8.AppendRune(out, dec)
							j += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				return nil, false
			}
			j += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			j++
		default:
			r, size := utf8.DecodeRune(b[j:])
			out = utf8.AppendRune(out, r) // invalid UTF-8 becomes U+FFFD, as json does
			j += size
		}
	}
	return nil, false
}

// hex4 reads the four hex digits of a \u escape, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// hex4u reads a following "\uXXXX" escape (the low half of a surrogate
// pair), or returns -1.
func hex4u(b []byte) rune {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	return hex4(b[2:])
}

// str reads a string value as an interned string.
func (d *statusDecoder) str() (string, bool) {
	b, ok := d.rawString()
	if !ok {
		return "", false
	}
	return d.intern(b), true
}

func (d *statusDecoder) intern(b []byte) string {
	if len(b) == 0 || len(b) > internMaxLen {
		return string(b)
	}
	// The same few strings come line after line: a small table of
	// recent ones saves hashing them for the map.
	k := (len(b) + int(b[len(b)-1])) & (len(d.recent) - 1)
	if s := d.recent[k]; s == string(b) {
		return s
	}
	if s, ok := d.strs[string(b)]; ok {
		d.recent[k] = s
		return s
	}
	if d.strs == nil || d.strsBytes > internMaxBytes {
		d.strs, d.strsBytes = make(map[string]string, 64), 0
	}
	s := string(b)
	d.strs[s] = s
	d.strsBytes += len(s)
	d.recent[k] = s
	return s
}

// stringField reads a string or null (which leaves the field as it is).
func (d *statusDecoder) stringField(f *string) bool {
	if d.null() {
		return true
	}
	s, ok := d.str()
	if ok {
		*f = s
	}
	return ok
}

func (d *statusDecoder) boolField(f *bool) bool {
	switch {
	case d.null():
		return true
	case len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "true":
		*f = true
		d.i += 4
		return true
	case len(d.b)-d.i >= 5 && string(d.b[d.i:d.i+5]) == "false":
		*f = false
		d.i += 5
		return true
	}
	return false
}

// intField reads an int as int64Field does.
func (d *statusDecoder) intField(f *int) bool {
	n := int64(*f)
	if !d.int64Field(&n, math.MinInt, math.MaxInt) {
		return false
	}
	*f = int(n)
	return true
}

// int64Field reads an integer in [lo, hi] or null (which leaves the field).
// Fractions and exponents are left to json.Unmarshal, which rejects them.
func (d *statusDecoder) int64Field(f *int64, lo, hi int64) bool {
	if d.null() {
		return true
	}
	b := d.b
	j := d.i
	neg := j < len(b) && b[j] == '-'
	if neg {
		j++
	}
	start := j
	var u uint64
	for j < len(b) && '0' <= b[j] && b[j] <= '9' {
		if j-start >= 19 {
			return false // may overflow: leave it to strconv via json
		}
		u = u*10 + uint64(b[j]-'0')
		j++
	}
	if j == start || (b[start] == '0' && j-start > 1) {
		return false
	}
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		return false
	}
	// Nineteen digits can exceed int64: json.Unmarshal rejects what
	// does, and a conversion would wrap it to another number.
	if u > math.MaxInt64 && !(neg && u == math.MaxInt64+1) {
		return false
	}
	n := int64(u)
	if neg {
		n = -n
	}
	if n < lo || n > hi {
		return false
	}
	*f = n
	d.i = j
	return true
}

// bytesField reads base64 or null, as json.Unmarshal reads a []byte.
func (d *statusDecoder) bytesField(f *[]byte) bool {
	if d.null() {
		*f = nil
		return true
	}
	b := d.b
	if d.i >= len(b) || b[d.i] != '"' {
		return false
	}
	// Base64 needs no escapes: find the closing quote and decode what is
	// before it; a byte that is not base64 (a backslash, a control byte)
	// sends the string the slow way.
	start := d.i + 1
	end := bytes.IndexByte(b[start:], '"')
	if end >= 0 {
		seg := b[start : start+end]
		if out, ok := d.decode64(seg); ok {
			*f = out
			d.i = start + end + 1
			return true
		}
	}
	s, ok := d.rawString()
	if !ok {
		return false
	}
	n := base64.StdEncoding.DecodedLen(len(s))
	out := d.alloc(n)
	n, err := base64.StdEncoding.Decode(out, s)
	if err != nil {
		return false
	}
	*f = out[:n:n]
	return true
}

// alloc returns n bytes of the line's arena.
func (d *statusDecoder) alloc(n int) []byte {
	if cap(d.arena)-len(d.arena) < n {
		// Earlier fields keep the old arena: never grow it in place.
		d.arena = make([]byte, 0, max(2*cap(d.arena), n, 4096))
	}
	l := len(d.arena)
	d.arena = d.arena[:l+n]
	return d.arena[l : l+n : l+n]
}

// b64 decodes one base64 byte, shifted into its place in a 24-bit group;
// bit 24 marks a byte that is not base64.
var b64 = func() (t [4][256]uint32) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for k := range t {
		for c := range t[k] {
			t[k][c] = 1 << 24
		}
	}
	for v := 0; v < 64; v++ {
		c := alphabet[v]
		t[0][c] = uint32(v) << 18
		t[1][c] = uint32(v) << 12
		t[2][c] = uint32(v) << 6
		t[3][c] = uint32(v)
	}
	return t
}()

// pairBad marks a pair of bytes that is not two base64 characters.
const pairBad = 0x8000

// b64Pairs returns the table that decodes two base64 characters at once,
// indexed by them as a little-endian uint16, to their 12 bits. It is
// 128 KiB, built on first use: only rawjson logs need it.
var b64Pairs = sync.OnceValue(func() *[1 << 16]uint16 {
	var t [1 << 16]uint16
	for i := range t {
		hi, lo := b64[3][i&0xff], b64[3][i>>8]
		if (hi|lo)>>24 != 0 {
			t[i] = pairBad
			continue
		}
		t[i] = uint16(hi<<6 | lo)
	}
	return &t
})

// decode64 decodes padded standard base64 that holds only the alphabet and
// final padding, as base64.StdEncoding decodes it; anything else (line
// breaks, which StdEncoding skips, or errors) it leaves to StdEncoding.
func (d *statusDecoder) decode64(s []byte) ([]byte, bool) {
	if len(s)%4 != 0 {
		return nil, false
	}
	pad := 0
	if len(s) > 0 && s[len(s)-1] == '=' {
		pad = 1
		if s[len(s)-2] == '=' {
			pad = 2
		}
	}
	full := len(s)
	if pad > 0 {
		full -= 4 // the last group is decoded on its own
	}
	// Eight bytes to spare: a vector block writes 32 bytes for its 24.
	n := len(s)/4*3 - pad
	wide := d.alloc(n + 8)
	out := wide[:n:n]
	t0, t1, t2, t3 := &b64[0], &b64[1], &b64[2], &b64[3]
	src, dst := s[:full], out
	if k := decode64Blocks(wide, src); k > 0 {
		src, dst = src[k:], dst[k/4*3:]
	}
	pairs := b64Pairs()
	for len(src) >= 8 && len(dst) >= 8 {
		// Two characters per look-up: four look-ups decode six bytes.
		x := binary.LittleEndian.Uint64(src)
		a, b, c, e := pairs[uint16(x)], pairs[uint16(x>>16)], pairs[uint16(x>>32)], pairs[uint16(x>>48)]
		if (a|b|c|e)&pairBad != 0 {
			return nil, false
		}
		// Six bytes decoded; the two after them are written over next.
		binary.BigEndian.PutUint64(dst, uint64(a)<<52|uint64(b)<<40|uint64(c)<<28|uint64(e)<<16)
		src, dst = src[8:], dst[6:]
	}
	for len(src) >= 4 && len(dst) >= 3 {
		a := t0[src[0]] | t1[src[1]] | t2[src[2]] | t3[src[3]]
		if a>>24 != 0 {
			return nil, false
		}
		dst[0], dst[1], dst[2] = byte(a>>16), byte(a>>8), byte(a)
		src, dst = src[4:], dst[3:]
	}
	w := len(out) - len(dst)
	if pad > 0 {
		g := s[len(s)-4:]
		var a uint32
		if pad == 2 {
			a = t0[g[0]] | t1[g[1]]
			out[w] = byte(a >> 16)
		} else {
			a = t0[g[0]] | t1[g[1]] | t2[g[2]]
			out[w], out[w+1] = byte(a>>16), byte(a>>8)
		}
		if a>>24 != 0 {
			return nil, false
		}
	}
	return out, true
}

// timeField reads a time as time.Time.UnmarshalJSON does; null leaves it.
func (d *statusDecoder) timeField(f *time.Time) bool {
	if d.null() {
		return true
	}
	t, ok := d.time()
	if ok {
		*f = t
	}
	return ok
}

// timePtr reads a time into a pointer field; null sets it to nil.
func (d *statusDecoder) timePtr(f **time.Time) bool {
	if d.null() {
		*f = nil
		return true
	}
	t, ok := d.time()
	if !ok {
		return false
	}
	p := d.times.get()
	*p = t
	*f = p
	return true
}

// time reads a JSON string holding an RFC 3339 time. time.Time reads the
// literal as it stands (escapes are not undone), so the common UTC form is
// read here and every other one by time.Time.UnmarshalJSON itself.
func (d *statusDecoder) time() (time.Time, bool) {
	b := d.b
	if d.i >= len(b) || b[d.i] != '"' {
		return time.Time{}, false
	}
	start := d.i
	j := start + 1
	j += plainRun(b[j:])
	if j >= len(b) || b[j] != '"' {
		// Escapes or other bytes: validate the string, then let time
		// judge the literal.
		if _, ok := d.rawString(); !ok {
			return time.Time{}, false
		}
		var t time.Time
		if t.UnmarshalJSON(b[start:d.i]) != nil {
			return time.Time{}, false
		}
		return t, true
	}
	d.i = j + 1
	if t, ok := d.utcTime(b[start+1 : j]); ok {
		return t, true
	}
	var t time.Time
	if t.UnmarshalJSON(b[start:j+1]) != nil {
		return time.Time{}, false
	}
	return t, true
}

// utcTime reads "2006-01-02T15:04:05[.999999999]Z" once its date was seen
// before; it reports false for anything else, which time then reads.
func (d *statusDecoder) utcTime(s []byte) (time.Time, bool) {
	n := len(s)
	if n < 20 || s[n-1] != 'Z' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	if !d.dayOK || string(s[:10]) != string(d.day[:]) {
		if !d.learnDay(s) {
			return time.Time{}, false
		}
	}
	hh, ok1 := two(s[11:13], 23)
	mm, ok2 := two(s[14:16], 59)
	ss, ok3 := two(s[17:19], 59)
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	nanos := 0
	if frac := s[19 : n-1]; len(frac) > 0 {
		// ".", then 1 to 9 digits; more are left to time, which drops them.
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		for _, c := range frac[1:] {
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			nanos = nanos*10 + int(c-'0')
		}
		for k := len(frac) - 1; k < 9; k++ {
			nanos *= 10
		}
	}
	sec := d.dayUnix + int64(hh*3600+mm*60+ss)
	return time.Unix(sec, int64(nanos)).UTC(), true
}

// learnDay checks a date with time itself and remembers where it begins.
func (d *statusDecoder) learnDay(s []byte) bool {
	for k, c := range s[:10] {
		if k == 4 || k == 7 {
			if c != '-' {
				return false
			}
		} else if c < '0' || c > '9' {
			return false
		}
	}
	t, err := time.Parse(time.DateOnly, string(s[:10]))
	if err != nil {
		return false
	}
	copy(d.day[:], s[:10])
	d.dayUnix, d.dayOK = t.Unix(), true
	return true
}

// two reads two digits no larger than hi.
func two(b []byte, hi int) (int, bool) {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return 0, false
	}
	n := int(b[0]-'0')*10 + int(b[1]-'0')
	return n, n <= hi
}

// skip validates and skips any JSON value, as encoding/json's scanner
// would accept it, up to maxSkipDepth levels deep.
func (d *statusDecoder) skip(depth int) bool {
	if depth > maxSkipDepth {
		return false
	}
	b := d.b
	if d.i >= len(b) {
		return false
	}
	switch c := b[d.i]; {
	case c == '"':
		_, ok := d.rawString()
		return ok
	case c == '{':
		return d.object(func([]byte) (uint32, bool) { return 0, d.skip(depth + 1) })
	case c == '[':
		d.i++
		d.ws()
		if d.i < len(b) && b[d.i] == ']' {
			d.i++
			return true
		}
		for {
			d.ws()
			if !d.skip(depth + 1) {
				return false
			}
			d.ws()
			if d.i >= len(b) {
				return false
			}
			switch b[d.i] {
			case ',':
				d.i++
			case ']':
				d.i++
				return true
			default:
				return false
			}
		}
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	}
	return false
}

func (d *statusDecoder) literal(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// number skips a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *statusDecoder) number() bool {
	b, j := d.b, d.i
	digits := func() bool {
		k := j
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
		return j > k
	}
	if j < len(b) && b[j] == '-' {
		j++
	}
	if j < len(b) && b[j] == '0' {
		j++
	} else if !digits() {
		return false
	}
	if j < len(b) && b[j] == '.' {
		j++
		if !digits() {
			return false
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if !digits() {
			return false
		}
	}
	d.i = j
	return true
}

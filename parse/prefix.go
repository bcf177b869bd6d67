package parse

import (
	"bytes"
	"encoding/binary"
	"sort"
	"time"
)

// Line prefixes.
//
// CI systems, loggers and log viewers put something before every line of a
// build's output: a timestamp in one of many layouts, a "[INFO]" level, a
// plugin's class name, a runner's stream tag, or several of these. Instead
// of a list of known CIs, the parser learns the prefix of each file: it finds
// where the build markers ("#5 ", " => ", "[+] Building", "Step 2/5 :",
// rawjson's "{") begin on the lines that have one, reduces what stands
// before them to a shape (digit runs, letter runs, bracketed groups,
// punctuation), and lets the lines vote. Shapes that enough marker lines
// share are then stripped from every line that begins with one, marker line
// or not, and any timestamp in the stripped text dates the line.

// Shape tokens. A shape is a string of these and literal punctuation bytes.
const (
	tokDigits = 0x01 // a run of ASCII digits
	tokLetter = 0x02 // a run of letters (and non-ASCII bytes)
	tokMixed  = 0x03 // a run of letters and digits together: "01T10", "00O"
	tokSpace  = 0x04 // a run of spaces and tabs
	tokGroup  = 0x05 // a bracketed group: "[INFO]", "[12:00:01]"
)

// maxPrefix bounds a learned prefix; longer text before a marker is not a
// prefix but the line's own content.
const maxPrefix = 160

// learnWindow is how much of the input the learner reads before it decides;
// learnMarkers ends learning early once that many marker lines voted.
const (
	learnWindow  = 1 << 20
	learnMarkers = 400
)

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// alnumRun returns the length of the letter/digit run at s and its token.
func alnumRun(s []byte) (int, byte) {
	digits, letters := false, false
	i := 0
	for i < len(s) && isAlnum(s[i]) {
		if isDigit(s[i]) {
			digits = true
		} else {
			letters = true
		}
		i++
	}
	switch {
	case digits && letters:
		return i, tokMixed
	case digits:
		return i, tokDigits
	}
	return i, tokLetter
}

// groupEnd returns the index after the bracket that closes the group that
// opens at s[0], or -1.
func groupEnd(s []byte) int {
	if len(s) < 2 || s[0] != '[' {
		return -1
	}
	lim := min(len(s), 100)
	for i := 1; i < lim; i++ {
		switch s[i] {
		case ']':
			return i + 1
		case '[':
			return -1
		}
	}
	return -1
}

// shapeOf reduces a prefix to its shape, or reports false if it is too long
// or holds control bytes.
func shapeOf(p []byte) (string, bool) {
	if len(p) > maxPrefix {
		return "", false
	}
	var out []byte
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case isAlnum(c):
			n, tok := alnumRun(p[i:])
			out = append(out, tok)
			i += n
		case c == ' ' || c == '\t':
			for i < len(p) && (p[i] == ' ' || p[i] == '\t') {
				i++
			}
			out = append(out, tokSpace)
		case c == '[':
			if end := groupEnd(p[i:]); end > 0 {
				out = append(out, tokGroup)
				i += end
				continue
			}
			out = append(out, c)
			i++
		case c < 0x20 || c == 0x7f:
			return "", false
		default:
			out = append(out, c)
			i++
		}
		if len(out) > 40 {
			return "", false
		}
	}
	return string(out), true
}

// matchShape reports how many bytes at the start of line the shape covers.
func matchShape(line []byte, shape string) (int, bool) {
	i := 0
	for k := 0; k < len(shape); k++ {
		tok := shape[k]
		if i >= len(line) {
			return 0, false
		}
		switch tok {
		case tokDigits, tokLetter, tokMixed:
			if !isAlnum(line[i]) {
				return 0, false
			}
			n, got := alnumRun(line[i:])
			if got != tok {
				return 0, false
			}
			i += n
		case tokSpace:
			if line[i] != ' ' && line[i] != '\t' {
				return 0, false
			}
			i++
			if k == len(shape)-1 {
				break // the separator after a prefix is one space: indentation is the line's
			}
			for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
				i++
			}
		case tokGroup:
			end := groupEnd(line[i:])
			if end < 0 {
				return 0, false
			}
			i += end
		default:
			if line[i] != tok {
				return 0, false
			}
			i++
		}
	}
	return i, true
}

// markerAt finds where the first build marker on the line begins, or -1.
// Markers are what only build output prints at the start of its lines.
func markerAt(line []byte) int {
	lim := min(len(line), maxPrefix+1)
	i := 0
	for {
		// Most lines hold no byte a marker begins with: eight bytes at a
		// time are ruled out together (the learner asks this of every
		// line of a log that shows few markers).
		for i+8 <= lim && !mayBeginMarker(binary.LittleEndian.Uint64(line[i:])) {
			i += 8
		}
		if i >= lim {
			return -1
		}
		end := min(i+8, lim)
		for ; i < end; i++ {
			// Most bytes cannot begin a marker: one table look-up rules
			// them out before anything else is compared.
			if !markerFirst[line[i]] {
				continue
			}
			// A marker starts the line's content: after a space, or
			// right after a closing bracket, bar or colon.
			if i > 0 && !markerAfter[line[i-1]] {
				continue
			}
			if isMarker(line[i:]) {
				return i
			}
		}
	}
}

// mayBeginMarker reports whether one of the eight bytes of x may be one
// that markerFirst marks: '#', '=', '[', 'S' or '{'. It may err towards
// yes, never towards no.
func mayBeginMarker(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	has := func(c uint64) uint64 {
		t := x ^ ones*c
		return (t - ones) &^ t & highs
	}
	return has('#')|has('=')|has('[')|has('S')|has('{') != 0
}

// markerFirst marks the bytes isMarker's markers begin with; markerAfter
// the bytes a marker may follow.
var markerFirst, markerAfter = func() (first, after [256]bool) {
	for _, c := range []byte("#=[S{") {
		first[c] = true
	}
	for _, c := range []byte(" \t]|:)") {
		after[c] = true
	}
	return first, after
}()

// isMarker reports whether s begins with a build marker.
func isMarker(s []byte) bool {
	if len(s) < 2 {
		return false
	}
	switch s[0] {
	case '#':
		if !isDigit(s[1]) {
			return false
		}
		i := 1
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return i < len(s) && s[i] == ' ' && i < 9
	case '=':
		return bytes.HasPrefix(s, []byte("=> "))
	case '[':
		return bytes.HasPrefix(s, []byte("[+] Building "))
	case 'S':
		if bytes.HasPrefix(s, []byte("Step ")) {
			return isLegacyStep(s)
		}
		return bytes.HasPrefix(s, []byte("Sending build context to Docker daemon")) || bytes.HasPrefix(s, []byte("Successfully built "))
	case '{':
		return bytes.HasPrefix(s, []byte(`{"vertexes"`)) || bytes.HasPrefix(s, []byte(`{"statuses"`)) || bytes.HasPrefix(s, []byte(`{"logs"`))
	}
	return false
}

// prefixLearner collects votes and holds the learned shapes.
type prefixLearner struct {
	votes   map[string]int
	markers int
	shapes  []string // learned, most specific first
	done    bool
}

func (p *prefixLearner) vote(line []byte) {
	at := markerAt(line)
	if at < 0 {
		return
	}
	p.markers++
	if at == 0 {
		p.votes[""]++
		return
	}
	if sh, ok := shapeOf(line[:at]); ok {
		p.votes[sh]++
	}
}

// decide picks the shapes that enough marker lines share. A shape must hold
// more than letters and spaces ("Building " is text, "[INFO] " a prefix).
func (p *prefixLearner) decide() {
	p.done = true
	type kv struct {
		shape string
		n     int
	}
	var all []kv
	for sh, n := range p.votes {
		if sh == "" || n < 2 || n*20 < p.markers {
			continue
		}
		informative := false
		for i := 0; i < len(sh); i++ {
			if sh[i] != tokLetter && sh[i] != tokSpace {
				informative = true
			}
		}
		if informative {
			all = append(all, kv{sh, n})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if len(all[i].shape) != len(all[j].shape) {
			return len(all[i].shape) > len(all[j].shape)
		}
		if all[i].n != all[j].n {
			return all[i].n > all[j].n
		}
		return all[i].shape < all[j].shape
	})
	for i := 0; i < len(all) && i < 8; i++ {
		p.shapes = append(p.shapes, all[i].shape)
	}
	p.votes = nil
}

// strip removes a learned prefix from the line, returning the rest and the
// prefix. A line that itself begins with a marker keeps its text.
func (p *prefixLearner) strip(line []byte) ([]byte, []byte, bool) {
	if len(p.shapes) == 0 || len(line) == 0 || isMarker(line) || (line[0] == ' ' && isMarker(bytes.TrimLeft(line, " "))) {
		return line, nil, false
	}
	for _, sh := range p.shapes {
		if n, ok := matchShape(line, sh); ok && n > 0 {
			return line[n:], line[:n], true
		}
	}
	return line, nil, false
}

// Loose timestamps.

var monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// noDate is the year of times that carry no date ("12:00:01"): they measure
// durations, never absolute times.
const noDate = 1800

// looseTime finds a timestamp in a prefix: ISO-8601 and its relatives
// ("2024-03-29 14:00:00,123", "2024/03/29 14:00:00"), month names ("Mar 29
// 14:00:00", "29 Mar 2024 14:00:00", "29/Mar/2024:14:00:00 +0000"), times of
// day alone ("14:00:00.123", "2:00:01 PM"), and Unix seconds or
// milliseconds. A time without a date has year noDate.
func looseTime(p []byte) (time.Time, bool) {
	var year, month, day = -1, -1, -1
	hour, minute, sec, nanos := -1, -1, -1, 0
	loc := time.UTC
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case isDigit(c):
			n := 0
			for i+n < len(p) && isDigit(p[i+n]) {
				n++
			}
			num := p[i : i+n]
			// Elapsed seconds: "[  650.10s]".
			if j := i + n; hour < 0 && year < 0 && j+2 < len(p) && p[j] == '.' && isDigit(p[j+1]) {
				k := j + 1
				for k < len(p) && isDigit(p[k]) {
					k++
				}
				if k < len(p) && p[k] == 's' && (k+1 == len(p) || !isAlnum(p[k+1])) {
					if d := offsetDuration(p[i:k]); d >= 0 {
						return time.Date(noDate, 1, 1, 0, 0, 0, 0, time.UTC).Add(d), true
					}
				}
			}
			switch {
			case n == 4 && i+n < len(p) && (p[i+n] == '-' || p[i+n] == '/') && digitsAt(p, i+5, 2) && i+7 < len(p) && p[i+7] == p[i+4] && digitsAt(p, i+8, 2):
				year, month, day = atoiN(num), atoiN(p[i+5:i+7]), atoiN(p[i+8:i+10])
				i += 10
				continue
			case (n == 1 || n == 2) && hour < 0 && i+n < len(p) && p[i+n] == ':' && digitsAt(p, i+n+1, 2):
				hour, minute = atoiN(num), atoiN(p[i+n+1:i+n+3])
				j := i + n + 3
				sec = 0
				if j < len(p) && p[j] == ':' && digitsAt(p, j+1, 2) {
					sec = atoiN(p[j+1 : j+3])
					j += 3
				}
				if j < len(p) && (p[j] == '.' || p[j] == ',') && j+1 < len(p) && isDigit(p[j+1]) {
					j++
					k := 0
					for j < len(p) && isDigit(p[j]) {
						if k < 9 {
							nanos = nanos*10 + int(p[j]-'0')
							k++
						}
						j++
					}
					for ; k < 9; k++ {
						nanos *= 10
					}
				}
				// AM/PM and zones right after the time.
				k := j
				for k < len(p) && p[k] == ' ' {
					k++
				}
				if k+1 < len(p) && (p[k]|0x20 == 'a' || p[k]|0x20 == 'p') && p[k+1]|0x20 == 'm' && (k+2 == len(p) || !isAlnum(p[k+2])) {
					if p[k]|0x20 == 'p' && hour < 12 {
						hour += 12
					} else if p[k]|0x20 == 'a' && hour == 12 {
						hour = 0
					}
					j = k + 2
				}
				if j < len(p) && p[j] == 'Z' {
					j++
				} else if j+2 < len(p) && (p[j] == '+' || p[j] == '-') && digitsAt(p, j+1, 2) && year >= 0 {
					sign := 1
					if p[j] == '-' {
						sign = -1
					}
					h := atoiN(p[j+1 : j+3])
					m, jj := 0, j+3
					if jj < len(p) && p[jj] == ':' {
						jj++
					}
					if digitsAt(p, jj, 2) {
						m = atoiN(p[jj : jj+2])
						jj += 2
					}
					loc = time.FixedZone("", sign*(h*3600+m*60))
					j = jj
				}
				i = j
				continue
			case (n == 10 || n == 13) && year < 0 && hour < 0:
				v := int64(atoiN(num))
				if n == 13 {
					v /= 1000
				}
				if v >= 1e9 && v < 4e9 {
					t := time.Unix(v, 0).UTC()
					if n == 13 {
						t = time.UnixMilli(int64(atoiN(num))).UTC()
					} else if i+n+1 < len(p) && p[i+n] == '.' && isDigit(p[i+n+1]) {
						j, ns, k := i+n+1, 0, 0
						for j < len(p) && isDigit(p[j]) {
							if k < 9 {
								ns = ns*10 + int(p[j]-'0')
								k++
							}
							j++
						}
						for ; k < 9; k++ {
							ns *= 10
						}
						t = t.Add(time.Duration(ns))
					}
					return t, true
				}
			case n <= 2 && day < 0 && hour < 0:
				day = atoiN(num)
			case n == 4 && year < 0:
				year = atoiN(num)
			}
			i += n
		case c|0x20 >= 'a' && c|0x20 <= 'z':
			n := 0
			for i+n < len(p) && (p[i+n]|0x20 >= 'a' && p[i+n]|0x20 <= 'z') {
				n++
			}
			if n >= 3 && month < 0 {
				w := bytes.ToLower(p[i : i+3])
				for m, name := range monthNames {
					if string(w) == name {
						month = m + 1
					}
				}
			}
			i += n
		default:
			i++
		}
	}
	if hour < 0 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	if year < 1970 || year > 2200 || month < 1 || month > 12 || day < 1 || day > 31 {
		return time.Date(noDate, 1, 1, hour, minute, sec, nanos, time.UTC), true
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nanos, loc), true
}

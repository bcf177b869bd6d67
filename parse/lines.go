package parse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"time"
)

// maxKeptLine is how much of one text line is kept. Longer lines are read to
// their end but cut here, so a single huge line cannot grow memory.
const maxKeptLine = 64 << 10

// maxJSONLine bounds one rawjson line; a SolveStatus line longer than this
// is skipped (BuildKit splits logs into small chunks, so real lines are far
// shorter).
const maxJSONLine = 16 << 20

// lineReader yields lines of any length without bufio.Scanner's token limit.
type lineReader struct {
	r     *bufio.Reader
	buf   []byte
	limit int
	n     int // lines read
	cut   bool
	// plain is set when the line holds no ESC and no 0xe2 (the first byte
	// of the "␛" glyph), so cleanLine has nothing to strip but CRs; noE2
	// when it holds no 0xe2. The reader finds the next such byte once for
	// what is buffered, not once per line: escFree and e2Free are how many
	// bytes from the next line on hold no ESC, no 0xe2. Apart, because a
	// tty capture has an ESC in every few lines and a 0xe2 in few.
	plain, noE2     bool
	escFree, e2Free int
	// noCR is set when the line holds no carriage return but those that
	// end it, so what it shows is the whole line (shownText). As for
	// plain, the next CR is found once for what is buffered: crFree is
	// how many bytes from the next line on hold none. crlfRun counts
	// look-aheads in a row that stopped at the end of the next line (a
	// CRLF file, where they cannot pay); after crlfGiveUp the reader stops
	// looking and noCR stays false, as before there was a look-ahead.
	noCR    bool
	crFree  int
	crlfRun int
	// bare turns the look-aheads off: plain, noE2 and noCR stay false,
	// which is always true to the line (cleanLine then checks it itself).
	// A reader whose lines are mostly taken before cleanLine (rawjson's
	// log lines, lineSource.raw) spares the three passes over the input.
	bare bool
}

const crlfGiveUp = 16

func newLineReader(r io.Reader, limit int) *lineReader {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 64<<10 {
		br = bufio.NewReaderSize(r, 256<<10)
	}
	if dec := decodeInput(br); dec != io.Reader(br) {
		br = bufio.NewReaderSize(dec, 256<<10)
	}
	return &lineReader{r: br, limit: limit}
}

// next returns the next line without its trailing LF. The slice is valid
// until the following call. It returns io.EOF after the last line.
func (l *lineReader) next() ([]byte, error) {
	l.cut = false
	frag, err := l.r.ReadSlice('\n')
	if err == nil {
		l.n++
		if l.bare {
			// What was known ahead is forgotten: 0 is "look again".
			l.plain, l.noE2, l.escFree, l.e2Free = false, false, 0, 0
			l.noCR, l.crFree = false, 0
			return frag[:len(frag)-1], nil
		}
		n := len(frag)
		noESC := l.escFree >= n
		if noESC {
			l.escFree -= n
		} else {
			l.escFree = l.nextFree(0x1b)
		}
		l.noE2 = l.e2Free >= n
		if l.noE2 {
			l.e2Free -= n
		} else {
			l.e2Free = l.nextFree(0xe2)
		}
		l.plain = noESC && l.noE2
		l.noCR = l.crFree >= len(frag)
		if l.noCR {
			l.crFree -= len(frag)
		} else {
			l.crFree = 0
			if l.crlfRun < crlfGiveUp {
				l.findCR(frag)
			}
		}
		return frag[:len(frag)-1], nil
	}
	l.plain, l.noE2, l.escFree, l.e2Free = false, false, 0, 0
	l.noCR, l.crFree = false, 0
	if !errors.Is(err, bufio.ErrBufferFull) {
		if len(frag) == 0 {
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, err
		}
		l.n++
		return frag, nil // last line without a final newline
	}
	// Long line: accumulate up to the limit, then discard the rest.
	l.buf = append(l.buf[:0], frag...)
	for {
		frag, err = l.r.ReadSlice('\n')
		room := l.limit - len(l.buf)
		if room > 0 {
			take := frag
			if len(take) > room {
				take = take[:room]
				l.cut = true
			}
			l.buf = append(l.buf, take...)
		} else if len(frag) > 0 {
			l.cut = true
		}
		if err == nil || !errors.Is(err, bufio.ErrBufferFull) {
			break
		}
	}
	l.n++
	if n := len(l.buf); n > 0 && l.buf[n-1] == '\n' {
		l.buf = l.buf[:n-1]
	}
	if err != nil && err != io.EOF {
		return l.buf, err
	}
	return l.buf, nil
}

// nextFree returns how many of the bytes buffered after the current line
// come before the first c.
func (l *lineReader) nextFree(c byte) int {
	rest, _ := l.r.Peek(l.r.Buffered())
	if i := bytes.IndexByte(rest, c); i >= 0 {
		return i
	}
	return len(rest)
}

// findCR sets noCR for the line frag (its LF included) and crFree for
// the bytes buffered after it.
func (l *lineReader) findCR(frag []byte) {
	body := frag[:len(frag)-1]
	for len(body) > 0 && body[len(body)-1] == '\r' {
		body = body[:len(body)-1]
	}
	l.noCR = bytes.IndexByte(body, '\r') < 0
	rest, _ := l.r.Peek(l.r.Buffered())
	i := bytes.IndexByte(rest, '\r')
	if i < 0 {
		l.crFree, l.crlfRun = len(rest), 0
		return
	}
	l.crFree = i
	if j := bytes.IndexByte(rest[:i], '\n'); j < 0 && i+1 < len(rest) && rest[i+1] == '\n' {
		l.crlfRun++ // the very next line ends in CRLF
	} else {
		l.crlfRun = 0
	}
}

// cleanLine strips what terminals and CI systems add around build output:
// ANSI escapes and the trailing CRs of CRLF line ends. Carriage returns
// inside the line are kept: a line's identity comes from its start, so text
// a build step printed after a CR is output, never a new progress line. It
// returns text that may alias scratch (owned by the caller).
// plain says the line holds no ESC and no 0xe2 (lineReader.plain), noE2
// that it holds no 0xe2; unset, either may hold or not.
func cleanLine(line []byte, plain, noE2 bool, scratch *[]byte) []byte {
	if !plain {
		if !noE2 && bytes.IndexByte(line, 0xe2) >= 0 && bytes.Contains(line, escGlyph) {
			// A log copied from GitHub's web view shows ESC as "␛".
			line = bytes.ReplaceAll(line, escGlyph, []byte("\x1b["))
		}
		line = stripANSIInPlace(line, scratch)
	}
	for len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line
}

// escGlyph is U+241B SYMBOL FOR ESCAPE followed by "[": an escape sequence
// as a web page shows it.
var escGlyph = []byte("\u241b[")

// shownText is what a terminal shows of text with carriage returns in it:
// the last segment that is not blank. Only output text is read this way.
func shownText(s []byte) []byte {
	if bytes.IndexByte(s, '\r') < 0 {
		return s
	}
	for {
		i := bytes.LastIndexByte(s, '\r')
		if i < 0 {
			return s
		}
		if seg := s[i+1:]; len(bytes.TrimSpace(seg)) > 0 {
			return seg
		}
		s = s[:i]
	}
}

// stripANSIInPlace is stripANSI(nil, s), in scratch when it must copy.
// Escapes that only lead the line (the tty display's colour and cursor
// moves before each line of a frame) are sliced off: most such lines
// need no copy.
func stripANSIInPlace(s []byte, scratch *[]byte) []byte {
	for len(s) > 0 && s[0] == 0x1b {
		if len(s) < 2 {
			return s[:0] // a lone ESC at the end
		}
		s = s[escapeLen(s):]
	}
	if bytes.IndexByte(s, 0x1b) < 0 {
		return s
	}
	*scratch = stripANSI((*scratch)[:0], s)
	return *scratch
}

// stripANSI appends s without CSI, OSC and two-byte escape sequences to dst.
// The text between escapes is copied a run at a time.
func stripANSI(dst, s []byte) []byte {
	for {
		k := bytes.IndexByte(s, 0x1b)
		if k < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:k]...)
		s = s[k:]
		if len(s) < 2 {
			return dst // a lone ESC at the end
		}
		s = s[escapeLen(s):]
	}
}

// escapeLen is the length of the escape sequence at s[0] (an ESC; len(s)
// is at least 2), s's length when it is cut short.
func escapeLen(s []byte) int {
	j := 2
	switch s[1] {
	case '[': // CSI: parameters, then a final byte in 0x40..0x7e
		for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
			j++
		}
		j++ // the final byte
	case ']', '_', 'P', '^': // OSC, APC, DCS, PM: end with BEL or ESC \
		for j < len(s) && s[j] != 0x07 && !(s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\') {
			j++
		}
		if j < len(s) && s[j] == 0x1b {
			j++
		}
		j++ // the BEL or the backslash
	}
	return min(j, len(s))
}

// stripPrefixes removes CI line prefixes: ISO-8601 timestamps with any number
// of fraction digits, Go log timestamps ("2024/03/29 14:00:00"), and a leading
// "[Docker Build]"-style tag. It returns the rest and the timestamp, if any.
func stripPrefixes(line []byte) ([]byte, time.Time) {
	var ts time.Time
	for range 3 {
		if len(line) == 0 {
			break
		}
		c := line[0]
		switch {
		case c >= '0' && c <= '9':
			rest, t, ok := cutTimestamp(line)
			if !ok {
				return line, ts
			}
			line, ts = rest, t
		case c == '[':
			rest, ok := cutTag(line)
			if !ok {
				return line, ts
			}
			line = rest
		default:
			return line, ts
		}
	}
	return line, ts
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digitsAt(s []byte, i, n int) bool {
	if i+n > len(s) {
		return false
	}
	for _, c := range s[i : i+n] {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

func atoiN(s []byte) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// cutTimestamp recognises "2006-01-02T15:04:05[.frac][Z|±hh:mm] " and
// "2006/01/02 15:04:05[.frac] " followed by whitespace.
func cutTimestamp(s []byte) ([]byte, time.Time, bool) {
	if !digitsAt(s, 0, 4) || len(s) < 19 {
		return s, time.Time{}, false
	}
	sep := s[4]
	if (sep != '-' && sep != '/') || s[7] != sep || !digitsAt(s, 5, 2) || !digitsAt(s, 8, 2) {
		return s, time.Time{}, false
	}
	if (s[10] != 'T' && s[10] != ' ') || !digitsAt(s, 11, 2) || s[13] != ':' || !digitsAt(s, 14, 2) || s[16] != ':' || !digitsAt(s, 17, 2) {
		return s, time.Time{}, false
	}
	i := 19
	nanos := 0
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		frac := s[start:i]
		scale := 1
		for k := 0; k < 9; k++ {
			if k < len(frac) {
				nanos = nanos*10 + int(frac[k]-'0')
			} else {
				scale *= 10
			}
		}
		nanos *= scale
	}
	loc := time.UTC
	if i < len(s) && s[i] == 'Z' {
		i++
	} else if i < len(s) && (s[i] == '+' || s[i] == '-') && digitsAt(s, i+1, 2) {
		sign := 1
		if s[i] == '-' {
			sign = -1
		}
		h := atoiN(s[i+1 : i+3])
		j := i + 3
		if j < len(s) && s[j] == ':' {
			j++
		}
		m := 0
		if digitsAt(s, j, 2) {
			m = atoiN(s[j : j+2])
			j += 2
		}
		loc = time.FixedZone("", sign*(h*3600+m*60))
		i = j
	}
	if i < len(s) && s[i] != ' ' && s[i] != '\t' {
		return s, time.Time{}, false
	}
	year, month, day := atoiN(s[0:4]), atoiN(s[5:7]), atoiN(s[8:10])
	hour, minute, sec := atoiN(s[11:13]), atoiN(s[14:16]), atoiN(s[17:19])
	if year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return s, time.Time{}, false // not a time, or not one of a build
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, loc)
	if i < len(s) {
		i++ // one separator; further indentation belongs to the line
	}
	return s[i:], t, true
}

// cutTag removes a leading "[Some Tag] " CI label. BuildKit never starts a
// line with a bracket (its labels follow "#N " or " => "), and "[+]" is the
// tty header, so only tags that begin with a letter and contain no '/' digit
// position are taken.
func cutTag(s []byte) ([]byte, bool) {
	end := bytes.IndexByte(s, ']')
	if end < 2 || end > 40 || end+1 >= len(s) || (s[end+1] != ' ' && s[end+1] != '\t') {
		return s, false
	}
	c := s[1]
	if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
		return s, false
	}
	for _, b := range s[1:end] {
		if b == '/' || b == '[' {
			return s, false
		}
	}
	if tag := string(s[1:end]); tag == "internal" || tag == "auth" {
		return s, false // BuildKit's own labels, in a pasted log without "#N "
	}
	return s[end+2:], true
}

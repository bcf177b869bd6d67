package html

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// text makes log text fit for the page. html/template escapes markup;
// this handles what escaping does not: invalid UTF-8 becomes U+FFFD and
// control characters, which are not allowed in HTML text and could carry
// terminal escape sequences, become their visible Unicode pictures
// ("␛" for ESC), so the reader still sees that they were there.
func text(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	clean := true
	for _, r := range s {
		if isControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n':
			b.WriteRune(r)
		case r < 0x20:
			b.WriteRune(0x2400 + r) // control pictures: U+2400 NUL ... U+241F US
		case r == 0x7f:
			b.WriteRune('\u2421') // DEL
		case isControl(r):
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isControl reports whether r is a C0 or C1 control character other than
// tab and newline.
func isControl(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0
}

// line is text for a single line: line breaks and tabs become spaces.
func line(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, text(s))
}

// short is line(s) cut to at most n runes, marked with "…".
func short(s string, n int) string {
	s = line(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// num formats an SVG coordinate: at most one decimal, no trailing zeros,
// so the geometry is compact and stable in golden files.
func num(f float64) string {
	return strconv.FormatFloat(float64(int64(f*10+copysign(0.5, f)))/10, 'f', -1, 64)
}

func copysign(x, sign float64) float64 {
	if sign < 0 {
		return -x
	}
	return x
}

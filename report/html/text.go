package html

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/buildstats/buildstats/report/safe"
)

// text makes multi-line log text fit for the page. html/template escapes
// markup; safe.Block handles what escaping does not: invalid UTF-8 and
// C1 and bidi controls become U+FFFD, other control characters (which are
// not allowed in HTML text and could carry terminal escape sequences)
// their visible Unicode pictures ("␛" for ESC), so the reader still sees
// that they were there, and every line is CI-inert, for a page that is
// printed or grepped in a CI log.
func text(s string) string { return safe.Block(s) }

// line is text for a single line: line breaks and tabs become spaces.
func line(s string) string {
	return safe.Line(strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s))
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

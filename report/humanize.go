package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// FormatBytes formats n with decimal units as Docker and BuildKit print
// them ("392 B", "29.1 MB").
func FormatBytes(n int64) string {
	if n < 1000 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f := float64(n)
	for _, unit := range []string{"kB", "MB", "GB", "TB"} {
		f /= 1000
		if f < 999.95 || unit == "TB" {
			return fmt.Sprintf("%.1f %s", f, unit)
		}
	}
	panic("unreachable")
}

// FormatSeconds formats a duration in seconds for people: at least one
// decimal as BuildKit prints them ("0.0s", "6.2s"), millisecond precision
// below 10s when the log has it (rawjson), tenths from 10s and minutes from
// 60s.
func FormatSeconds(s float64) string {
	switch {
	case s < 10:
		f := strconv.FormatFloat(round3(s), 'f', -1, 64)
		if !strings.Contains(f, ".") {
			f += ".0"
		}
		return f + "s"
	case s < 60:
		return fmt.Sprintf("%.1fs", s)
	}
	return time.Duration(s * float64(time.Second)).Round(100 * time.Millisecond).String()
}

// FormatShare formats a fraction as a percentage ("53%", "0.4%").
func FormatShare(f float64) string {
	p := f * 100
	if p > 0 && p < 1 {
		return fmt.Sprintf("%.1f%%", p)
	}
	return fmt.Sprintf("%.0f%%", p)
}

// shorten cuts s to at most n runes, marking the cut with "…".
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

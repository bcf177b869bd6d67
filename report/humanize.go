package report

import (
	"fmt"
	"math"
	"strconv"
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

// FormatSeconds is the one duration format of every human-readable
// output: tenths of a second under a minute, as BuildKit prints them
// ("0.4s", "12.3s"), then minutes and seconds ("1m05s"), then hours and
// minutes ("2h03m"). Unknown durations are printed as "-" by the callers,
// never as 0.
func FormatSeconds(s float64) string {
	if s < 59.95 {
		return strconv.FormatFloat(math.Round(s*10)/10, 'f', 1, 64) + "s"
	}
	sec := int64(math.Round(s))
	if sec < 3600 {
		return fmt.Sprintf("%dm%02ds", sec/60, sec%60)
	}
	min := (sec + 30) / 60
	return fmt.Sprintf("%dh%02dm", min/60, min%60)
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

// boundSeconds formats a known duration, "≥" in front when it is a lower
// bound (the step or build had not finished when the log ended).
func boundSeconds(f float64, lower bool) string {
	if lower {
		return "≥" + FormatSeconds(f)
	}
	return FormatSeconds(f)
}

// stepSeconds is a step's time for people: "-" when unknown, "≥0.2s" for a
// lower bound.
func stepSeconds(s Step) string {
	if s.DurationSeconds == nil {
		return "-"
	}
	return boundSeconds(*s.DurationSeconds, s.DurationIsLowerBound)
}

// logScope says what part of a build the log holds, "" for all of it.
func logScope(e *Explanation) []string {
	var out []string
	if e.LogBuild != nil && e.LogBuilds != nil {
		out = append(out, fmt.Sprintf("build %d of %d in the log", *e.LogBuild, *e.LogBuilds))
	}
	if e.BeganMidBuild {
		out = append(out, "the log starts mid-build")
	}
	if e.Truncated {
		out = append(out, "the log ends before the build")
	}
	return out
}

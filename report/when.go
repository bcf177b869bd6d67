package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseWhen reads a time bound as --since/--until and the server's query
// parameters take it: a date (2026-01-31), an RFC 3339 time, or a span
// before now (30d, 12w, 36h); "" is the zero time (no bound).
func ParseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := ParseSpan(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2026-01-31), an RFC 3339 time or a span like 90d, 12w, 36h", s)
}

// ParseSpan reads a span of days, weeks or hours: 180d, 12w, 36h. A span
// too long for a time.Duration (about 292 years) is refused, not wrapped.
func ParseSpan(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a span like 90d, 12w, 36h", s)
	if len(s) < 2 {
		return 0, bad
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'd':
		unit = 24 * time.Hour
	case 'w':
		unit = 7 * 24 * time.Hour
	case 'h':
		unit = time.Hour
	default:
		return 0, bad
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil || n < 0 || n > int64((1<<63-1)/unit) {
		return 0, bad
	}
	return time.Duration(n) * unit, nil
}

package report

import (
	"testing"
	"time"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{"", time.Time{}, false},
		{"2026-01-31", time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), false},
		{"2026-11-20T10:00:00Z", time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), false},
		{" 30d ", now.Add(-30 * 24 * time.Hour), false},
		{"12w", now.Add(-12 * 7 * 24 * time.Hour), false},
		{"36h", now.Add(-36 * time.Hour), false},
		{"0d", now, false},
		{"-1d", time.Time{}, true},
		{"5m", time.Time{}, true},
		{"d", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"99999999999d", time.Time{}, true}, // would wrap a time.Duration
		{"106751d", now.Add(-106751 * 24 * time.Hour), false},
		{"106752d", time.Time{}, true},
	} {
		got, err := ParseWhen(tc.in, now)
		if (err != nil) != tc.bad || !got.Equal(tc.want) {
			t.Errorf("ParseWhen(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

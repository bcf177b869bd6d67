package analysis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// WeekOf and WeekSQL's arithmetic give the Monday of the ISO week.
func TestWeekOf(t *testing.T) {
	for d := time.Date(2024, 12, 25, 0, 0, 0, 0, time.UTC); d.Year() < 2025 || d.Month() < 3; d = d.AddDate(0, 0, 1) {
		day := d.Unix() / 86400
		monday := time.Unix(WeekOf(day)*86400, 0).UTC()
		if monday.Weekday() != time.Monday || d.Sub(monday) < 0 || d.Sub(monday) >= 7*24*time.Hour {
			t.Errorf("WeekOf(%s) = %s", d.Format("Mon 2006-01-02"), monday.Format("Mon 2006-01-02"))
		}
	}
	if WeekOf(0) != -3 || WeekOf(4) != 4 {
		t.Errorf("WeekOf(0) = %d, WeekOf(4) = %d", WeekOf(0), WeekOf(4))
	}
}

// splitSource records how StepWindow splits a window.
type splitSource struct {
	Source
	calls []string
}

func (s *splitSource) VertexScan(_ context.Context, _ Filter, lo, hi int64, _ map[int64]*Raw) error {
	if lo < hi {
		s.calls = append(s.calls, fmt.Sprintf("vertices %s..%s", ts(lo), ts(hi)))
	}
	return nil
}

func (s *splitSource) RollupScan(_ context.Context, _ Filter, g Grain, lo, hi int64, _ map[int64]*Raw) error {
	s.calls = append(s.calls, fmt.Sprintf("%s %s..%s", g, ts(lo*MsPerDay), ts(hi*MsPerDay)))
	return nil
}

func ts(ms int64) string { return time.UnixMilli(ms).UTC().Format("Mon 01-02 15h") }

// A window is read as partial days from vertices, whole days, whole weeks
// (Monday to Monday), whole days again, partial days.
func TestStepWindowSplit(t *testing.T) {
	mon := time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		lo, hi time.Time
		want   []string
	}{
		{mon.Add(15 * time.Hour), mon.AddDate(0, 0, 23).Add(2 * time.Hour), []string{
			"vertices Mon 11-16 15h..Tue 11-17 00h", "daily Tue 11-17 00h..Mon 11-23 00h", "weekly Mon 11-23 00h..Mon 12-07 00h",
			"daily Mon 12-07 00h..Wed 12-09 00h", "vertices Wed 12-09 00h..Wed 12-09 02h"}},
		{mon, mon.AddDate(0, 0, 7), []string{"weekly Mon 11-16 00h..Mon 11-23 00h"}},
		{mon.AddDate(0, 0, 1), mon.AddDate(0, 0, 8), []string{"daily Tue 11-17 00h..Tue 11-24 00h"}}, // no whole week
		{mon.Add(time.Hour), mon.Add(5 * time.Hour), []string{"vertices Mon 11-16 01h..Mon 11-16 05h"}},
	} {
		src := &splitSource{}
		if _, err := StepWindow(context.Background(), src, Filter{Lo: tc.lo.UnixMilli(), Hi: tc.hi.UnixMilli()}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(src.calls, tc.want) {
			t.Errorf("%s..%s:\n got %q\nwant %q", tc.lo, tc.hi, src.calls, tc.want)
		}
	}
}

// P50P95 selects what sorting and Percentile would give, for every size
// and for many equal values.
func TestP50P95(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 400; n++ {
		for _, spread := range []int64{3, 1000, 1 << 40} {
			xs := make([]int64, n)
			for i := range xs {
				xs[i] = r.Int64N(spread) - spread/3
			}
			sorted := slices.Clone(xs)
			slices.Sort(sorted)
			p50, p95 := P50P95(xs)
			if p50 != Percentile(sorted, 0.5) || p95 != Percentile(sorted, 0.95) {
				t.Fatalf("n %d spread %d: P50P95 = %d, %d; sorted: %d, %d", n, spread, p50, p95, Percentile(sorted, 0.5), Percentile(sorted, 0.95))
			}
		}
	}
}

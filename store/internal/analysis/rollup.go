package analysis

import (
	"fmt"
	"slices"
)

// RollupCheck verifies a store's rollups against its vertices: feed it
// every vertex and every rollup row, then ask Err. There are four
// rollups: per day and per week, each without a branch (branch 0) and per
// branch.
type RollupCheck struct {
	want, got map[rollupKey]*rollupRow
}

type rollupKey struct {
	grain              Grain
	branch, step, from int64
}

type rollupRow struct {
	builds, hits int
	runs         []int64
}

// NewRollupCheck starts an empty check.
func NewRollupCheck() *RollupCheck {
	return &RollupCheck{want: map[rollupKey]*rollupRow{}, got: map[rollupKey]*rollupRow{}}
}

func row(m map[rollupKey]*rollupRow, k rollupKey) *rollupRow {
	r := m[k]
	if r == nil {
		r = &rollupRow{}
		m[k] = r
	}
	return r
}

// Vertex counts one vertex of a build of branch that started on day; run
// is its run time in ms, nil when it did not run.
func (c *RollupCheck) Vertex(branch, step, day int64, cached bool, run *int64) {
	week := WeekOf(day)
	for _, k := range []rollupKey{{Day, 0, step, day}, {Day, branch, step, day}, {Week, 0, step, week}, {Week, branch, step, week}} {
		r := row(c.want, k)
		r.builds++
		if cached {
			r.hits++
		}
		if run != nil {
			r.runs = append(r.runs, *run)
		}
	}
}

// Row records one stored rollup row of grain g for the period starting on
// day from; runs is its comma-separated list.
func (c *RollupCheck) Row(g Grain, branch, step, from int64, builds, hits int, runs []byte) {
	r := row(c.got, rollupKey{g, branch, step, from})
	r.builds += builds
	r.hits += hits
	ParseIntList(runs, func(ms int64) { r.runs = append(r.runs, ms) })
}

// Err describes the first difference, or returns nil when the rollups
// hold exactly what the vertices say.
func (c *RollupCheck) Err() error {
	for k, w := range c.want {
		g := c.got[k]
		if g == nil {
			return fmt.Errorf("%s rollup of step %d, day %d, branch %d is missing", k.grain, k.step, k.from, k.branch)
		}
		slices.Sort(w.runs)
		slices.Sort(g.runs)
		if g.builds != w.builds || g.hits != w.hits || !slices.Equal(g.runs, w.runs) {
			return fmt.Errorf("%s rollup of step %d, day %d, branch %d holds %d builds, %d hits, runs %v; the vertices say %d, %d, %v",
				k.grain, k.step, k.from, k.branch, g.builds, g.hits, g.runs, w.builds, w.hits, w.runs)
		}
	}
	for k := range c.got {
		if c.want[k] == nil {
			return fmt.Errorf("%s rollup of step %d, day %d, branch %d has no vertices", k.grain, k.step, k.from, k.branch)
		}
	}
	return nil
}

func (g Grain) String() string {
	if g == Week {
		return "weekly"
	}
	return "daily"
}

package analysis

import (
	"fmt"
	"slices"
)

// RollupCheck verifies a store's per-day rollups against its vertices:
// feed it every vertex and every rollup row, then ask Err. Branch 0 is the
// rollup without a branch dimension (step_days); others are per branch.
type RollupCheck struct {
	want, got map[rollupKey]*rollupRow
}

type rollupKey struct{ branch, step, day int64 }

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
	for _, k := range []rollupKey{{0, step, day}, {branch, step, day}} {
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

// Row records one stored rollup row; runs is its comma-separated list.
func (c *RollupCheck) Row(branch, step, day int64, builds, hits int, runs []byte) {
	r := row(c.got, rollupKey{branch, step, day})
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
			return fmt.Errorf("rollup of step %d, day %d, branch %d is missing", k.step, k.day, k.branch)
		}
		slices.Sort(w.runs)
		slices.Sort(g.runs)
		if g.builds != w.builds || g.hits != w.hits || !slices.Equal(g.runs, w.runs) {
			return fmt.Errorf("rollup of step %d, day %d, branch %d holds %d builds, %d hits, runs %v; the vertices say %d, %d, %v",
				k.step, k.day, k.branch, g.builds, g.hits, g.runs, w.builds, w.hits, w.runs)
		}
	}
	for k := range c.got {
		if c.want[k] == nil {
			return fmt.Errorf("rollup of step %d, day %d, branch %d has no vertices", k.step, k.day, k.branch)
		}
	}
	return nil
}

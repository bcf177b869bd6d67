package store

import "time"

// The per-period queries break a window down the way the trends charts
// draw it: one answer for every period at once, so a year of weeks costs
// one query rather than fifty-two.

// PeriodQuery selects the builds and buckets of StepPeriods,
// BranchPeriods and MissPeriods. Zero fields do not filter.
type PeriodQuery struct {
	Period  Period    // Week when empty; days and weeks as in Trends
	Since   time.Time // inclusive
	Until   time.Time // exclusive
	Project string
	Branch  string
	// Steps limits StepPeriods to these step identities (StepRef.StepID);
	// empty means every Dockerfile step.
	Steps []int64
}

// StepPeriod is one step identity's figures over the builds that
// started in one period (within the query's window): what Slow says of
// that step for that stretch of time.
type StepPeriod struct {
	// Start is the first instant of the period (a UTC day, or a Monday).
	Start time.Time `json:"start"`
	StepStats
}

// BranchPeriod counts the builds of one branch that started in one
// period.
type BranchPeriod struct {
	Start time.Time `json:"start"`
	// Branch is "" for builds stored without a branch.
	Branch string `json:"branch"`
	Builds int    `json:"builds"`
}

// MissPeriod is the time lost to cache misses in one period: the runs of
// Dockerfile steps that had come from the cache in an earlier period
// (the same step identity, in the builds the query selects) and ran in
// this one. A step's runs in the period of its first cache hit, or
// before it, are not counted: they may have come before the hit, and a
// step that never hit the cache lost nothing to it.
type MissPeriod struct {
	Start time.Time `json:"start"`
	// Runs counts those runs, Timed the ones whose time is known;
	// Seconds is the run time of the timed ones.
	Runs    int     `json:"runs"`
	Timed   int     `json:"timed_runs"`
	Seconds float64 `json:"seconds"`
}

package gate

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// DefaultBaselineBuilds is how many earlier successful builds the baseline
// is taken over.
const DefaultBaselineBuilds = 10

// Baseline is the typical run time of each step in recent successful
// builds of a project and branch.
type Baseline struct {
	Project string
	// Branch is the branch whose builds were used.
	Branch string
	// FellBack is set when the current branch had no builds and Branch is
	// the default branch.
	FellBack bool
	// Builds is how many builds the medians are taken over; 0 means there
	// was no usable history and Note says why.
	Builds int
	Steps  map[model.Identity]StepBaseline
	Note   string
}

// StepBaseline is one step's median run time over the baseline builds in
// which it ran (cache hits are left out: they say nothing about the cost).
type StepBaseline struct {
	Seconds float64
	Runs    int
}

// Describe names the builds the baseline comes from, for messages: "the
// last 8 successful builds of shop on main".
func (b *Baseline) Describe() string {
	s := fmt.Sprintf("the last %d successful build%s of %s on %s", b.Builds, plural(b.Builds), b.Project, b.Branch)
	if b.FellBack {
		s += " (the default branch; this branch has none yet)"
	}
	return s
}

// Query selects the baseline builds.
type Query struct {
	Project string
	// Branch is the current build's branch; DefaultBranch is used when
	// Branch has no successful builds. Either may be empty.
	Branch        string
	DefaultBranch string
	// Builds is how many of the most recent successful builds to use
	// (DefaultBaselineBuilds when 0).
	Builds int
	// Exclude is the content hash of the build being checked, which may
	// already be in the history and must not be its own baseline.
	Exclude string
}

// LoadBaseline computes the baseline from the history. It returns a
// Baseline with Builds == 0 and a Note when there is nothing to compare
// with; errors are the store's.
func LoadBaseline(ctx context.Context, s store.Reader, q Query) (*Baseline, error) {
	n := q.Builds
	if n <= 0 {
		n = DefaultBaselineBuilds
	}
	base := &Baseline{Project: q.Project, Steps: map[model.Identity]StepBaseline{}}
	if q.Project == "" {
		base.Note = "no project name to look up the history by"
		return base, nil
	}
	var branches []string
	for _, br := range []string{q.Branch, q.DefaultBranch} {
		if br != "" && !slices.Contains(branches, br) {
			branches = append(branches, br)
		}
	}
	if len(branches) == 0 {
		base.Note = "the branch is unknown and so is the default branch, so there is no history to compare with"
		return base, nil
	}
	var ids []int64
	for i, br := range branches {
		var err error
		if ids, err = lastSuccessful(ctx, s, q.Project, br, n, q.Exclude); err != nil {
			return nil, err
		}
		if len(ids) > 0 {
			base.Branch, base.FellBack = br, i > 0 && br != q.Branch
			break
		}
	}
	if len(ids) == 0 {
		base.Note = fmt.Sprintf("no earlier successful build of %s on %s in the history", q.Project, strings.Join(branches, " or "))
		return base, nil
	}
	base.Builds = len(ids)
	runs := map[model.Identity][]float64{}
	for _, id := range ids {
		b, _, err := s.Build(ctx, id)
		if err != nil {
			return nil, err
		}
		keys := b.Identities()
		for i, v := range b.Vertices {
			if comparable(v) {
				runs[keys[i]] = append(runs[keys[i]], v.Duration.Seconds())
			}
		}
	}
	for k, xs := range runs {
		base.Steps[k] = StepBaseline{Seconds: median(xs), Runs: len(xs)}
	}
	return base, nil
}

// lastSuccessful returns the ids of the n most recent succeeded builds of
// project on branch, other than the one with content hash exclude.
func lastSuccessful(ctx context.Context, s store.Reader, project, branch string, n int, exclude string) ([]int64, error) {
	// History cannot filter on status, so read a window and widen it
	// while failures crowd out the successes.
	for limit := 2*n + 1; ; limit *= 4 {
		rows, err := s.History(ctx, store.HistoryQuery{Project: project, Branch: branch, Limit: limit})
		if err != nil {
			return nil, err
		}
		var ids []int64
		for _, r := range rows {
			if r.Status == string(model.StatusSucceeded) && r.Branch == branch && (exclude == "" || r.ContentHash != exclude) {
				ids = append(ids, r.ID)
				if len(ids) == n {
					return ids, nil
				}
			}
		}
		if len(rows) < limit {
			return ids, nil
		}
	}
}

// median of xs, which it sorts.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

package report

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/olekukonko/tablewriter/tw"

	"github.com/buildstats/buildstats/store"
)

// CausesSchemaVersion versions CauseReport (misses --by-cause).
const CausesSchemaVersion = 1

// StatsMissCauses is CauseReport's kind.
const StatsMissCauses = "misses-by-cause"

// CauseReport is what `buildstats misses --by-cause` prints: the time
// rebuilt after cache breaks over a window, by the cause of the break.
type CauseReport struct {
	SchemaVersion int        `json:"schema_version"`
	Kind          string     `json:"kind"`
	Since         time.Time  `json:"since"`
	Until         *time.Time `json:"until"`
	Project       *string    `json:"project"`
	Branch        *string    `json:"branch"`
	// Builds counts the builds in the window.
	Builds int `json:"builds"`
	// RebuiltSeconds is the time rebuilt after every break of the window
	// whose cause was stored.
	RebuiltSeconds float64 `json:"rebuilt_seconds"`
	// Summary says in a sentence where most of that time came from; null
	// when there were no breaks.
	Summary *string     `json:"summary"`
	Causes  []CauseStat `json:"causes"`
}

// CauseStat is one cause's share of the time lost to cache breaks.
type CauseStat struct {
	// Kind is a Cause* kind.
	Kind string `json:"kind"`
	// Area narrows it: for context_files the directory the changed files
	// share ("src/", "." when they are at the top or in several), for
	// build_arg the argument names; null otherwise.
	Area   *string `json:"area"`
	Builds int     `json:"builds"`
	Breaks int     `json:"breaks"`
	// RebuiltSeconds is the time rebuilt after these breaks.
	RebuiltSeconds float64 `json:"rebuilt_seconds"`
	// Share is RebuiltSeconds over the report's; null when that is 0.
	Share *float64 `json:"share"`
	// Confidence counts the breaks by confidence.
	Confidence map[string]int `json:"confidence"`
}

// NewCauseReport builds the report from Store.MissCauses' answer.
func NewCauseReport(project, branch string, since, until time.Time, builds int, stats []store.CauseStats) *CauseReport {
	r := &CauseReport{SchemaVersion: CausesSchemaVersion, Kind: StatsMissCauses, Since: since.UTC(), Builds: builds,
		Project: optString(project), Branch: optString(branch), Causes: []CauseStat{}}
	if !until.IsZero() {
		r.Until = ptr(until.UTC())
	}
	for _, s := range stats {
		r.RebuiltSeconds += s.RebuiltSeconds
	}
	r.RebuiltSeconds = round3(r.RebuiltSeconds)
	for _, s := range stats {
		cs := CauseStat{Kind: s.Kind, Area: optString(s.Area), Builds: s.Builds, Breaks: s.Breaks,
			RebuiltSeconds: s.RebuiltSeconds, Confidence: map[string]int{}}
		for _, c := range []string{ConfidenceExact, ConfidenceLikely, ConfidenceUnknown} {
			cs.Confidence[c] = s.Confidence[c]
		}
		if r.RebuiltSeconds > 0 {
			cs.Share = ptr(round3(s.RebuiltSeconds / r.RebuiltSeconds))
		}
		r.Causes = append(r.Causes, cs)
	}
	if len(r.Causes) > 0 {
		top := r.Causes[0]
		var s string
		if top.Share != nil {
			s = fmt.Sprintf("%s of the time lost to cache misses %s (%s of %s) came from %s.",
				FormatShare(*top.Share), windowWords(r), FormatSeconds(top.RebuiltSeconds), FormatSeconds(r.RebuiltSeconds),
				causeWords(top.Kind, deref(top.Area)))
		} else {
			s = fmt.Sprintf("The cache breaks %s rebuilt no measured time; most came from %s.", windowWords(r), causeWords(top.Kind, deref(top.Area)))
		}
		r.Summary = &s
	}
	return r
}

func windowWords(r *CauseReport) string {
	s := "since " + formatWhen(r.Since)
	if r.Until != nil {
		s += " until " + formatWhen(*r.Until)
	}
	return s
}

// causeWords names a cause for a sentence: "context changes under src/".
func causeWords(kind, area string) string {
	switch kind {
	case CauseContextFiles:
		switch area {
		case "", ".":
			return "changes to files in the build context"
		}
		return "context changes under " + printable(area)
	case CauseBuildArg:
		if area != "" {
			return "changed build args (" + printable(area) + ")"
		}
		return "changed build args"
	case CauseBaseImage:
		return "base images that moved"
	case CauseInstruction:
		return "edited instructions"
	case CauseNoCache:
		return "builds run with --no-cache"
	case CauseUpstream:
		return "upstream stages that rebuilt"
	case CauseCacheUnavailable:
		return "builders without the cache (fresh runners, caches pruned or not imported)"
	}
	return "breaks whose cause is unknown"
}

// RenderCauses writes a CauseReport in format.
func RenderCauses(w io.Writer, format string, r *CauseReport, opts RenderOptions) error {
	if err := CheckFormat(format); err != nil {
		return err
	}
	if format == FormatJSON {
		return WriteJSON(w, r)
	}
	ew := &errWriter{w: w}
	md := format == FormatMarkdown
	scope := "all projects"
	if r.Project != nil {
		scope = *r.Project
	}
	if r.Branch != nil {
		scope += " on " + *r.Branch
	}
	head := fmt.Sprintf("Cache misses by cause: %s %s (%d builds)", scope, windowWords(r), r.Builds)
	if md {
		ew.printf("# %s\n\n", mdText(head))
	} else {
		ew.printf("%s\n", clean(head))
	}
	if r.Summary == nil {
		ew.printf("No cache break with a recorded cause in the window (causes are recorded by ingest, annotate --db, build and import).\n")
		return ew.err
	}
	if md {
		ew.printf("%s\n\n", mdText(*r.Summary))
	} else {
		ew.printf("%s\n\n", clean(*r.Summary))
	}
	var rows [][]string
	for _, c := range r.Causes {
		share := "-"
		if c.Share != nil {
			share = FormatShare(*c.Share)
		}
		conf := fmt.Sprintf("%d exact, %d likely", c.Confidence[ConfidenceExact], c.Confidence[ConfidenceLikely])
		rows = append(rows, []string{causeWords(c.Kind, deref(c.Area)), strconv.Itoa(c.Builds), strconv.Itoa(c.Breaks),
			FormatSeconds(c.RebuiltSeconds), share, conf})
	}
	if md {
		for i := range rows {
			rows[i][0] = mdText(rows[i][0])
		}
	}
	writeGrid(ew, md, []string{"Cause", "Builds", "Breaks", "Rebuilt", "Share", "Confidence"}, rows,
		[]tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft}, nameColumn(opts, 0))
	return ew.err
}

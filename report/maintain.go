package report

import (
	"io"
	"strconv"
	"time"

	"github.com/buildstats/buildstats/store"
)

// MaintainSchemaVersion versions CopyReport and PruneReport.
const MaintainSchemaVersion = 1

// CopyReport is what `migrate` did: the JSON contract of
// `migrate --format json`. From and To name the histories with passwords
// replaced.
type CopyReport struct {
	SchemaVersion int    `json:"schema_version"`
	From          string `json:"from"`
	To            string `json:"to"`
	// Builds and Vertices count the source; Copied and CopiedVertices what
	// this run stored; Present the builds the target already had.
	Builds         int `json:"builds"`
	Vertices       int `json:"vertices"`
	Copied         int `json:"copied"`
	CopiedVertices int `json:"copied_vertices"`
	Present        int `json:"present"`
	// TargetBuilds is how many builds the target holds afterwards.
	TargetBuilds int `json:"target_builds"`
	// Checksum is the checksum of the source's builds, which the target's
	// copies were verified to have.
	Checksum string `json:"checksum"`
	// Tokens counts the server access tokens copied: those of the source
	// that still work and the target did not have.
	Tokens int `json:"tokens"`
}

// RenderCopy writes a CopyReport as text (two lines: what was copied,
// what was verified) or JSON.
func RenderCopy(w io.Writer, format string, r *CopyReport) error {
	if err := CheckFormat(format); err != nil {
		return err
	}
	if format == FormatJSON {
		return WriteJSON(w, r)
	}
	ew := &errWriter{w: w}
	ew.printf("copied %s %s (%s vertices) from %s to %s", FormatCount(r.Copied), pluralWord(r.Copied, "build", "builds"),
		FormatCount(r.CopiedVertices), TerminalText(r.From), TerminalText(r.To))
	if r.Present > 0 {
		ew.printf("; %s %s already there", FormatCount(r.Present), pluralWord(r.Present, "was", "were"))
	}
	if r.Tokens > 0 {
		ew.printf("; and %s server %s", FormatCount(r.Tokens), pluralWord(r.Tokens, "token", "tokens"))
	}
	ew.printf("\nverified: all %s builds of the source are in the target (which has %s), checksum %s\n",
		FormatCount(r.Builds), FormatCount(r.TargetBuilds), r.Checksum)
	return ew.err
}

// PruneReport is what `prune` removed or, in a dry run, would remove: the
// JSON contract of `prune --format json`.
type PruneReport struct {
	SchemaVersion int       `json:"schema_version"`
	DryRun        bool      `json:"dry_run"`
	OlderThan     time.Time `json:"older_than"`
	Builds        int       `json:"builds"`
	Vertices      int       `json:"vertices"`
	// StepIdentities counts the step identities no remaining build has.
	StepIdentities int            `json:"step_identities"`
	Projects       []PruneProject `json:"projects"`
}

// PruneProject is one project's share of a prune; Kept counts its builds
// that stay.
type PruneProject struct {
	Project  string `json:"project"`
	Builds   int    `json:"builds"`
	Vertices int    `json:"vertices"`
	Kept     int    `json:"kept"`
}

// NewPruneReport turns the store's answer into the report.
func NewPruneReport(p store.PruneResult) *PruneReport {
	r := &PruneReport{SchemaVersion: MaintainSchemaVersion, DryRun: p.DryRun, OlderThan: p.OlderThan.UTC(),
		Builds: p.Builds, Vertices: p.Vertices, StepIdentities: p.Steps, Projects: []PruneProject{}}
	for _, pp := range p.Projects {
		r.Projects = append(r.Projects, PruneProject{Project: pp.Project, Builds: pp.Builds, Vertices: pp.Vertices, Kept: pp.Kept})
	}
	return r
}

// RenderPrune writes a PruneReport as a sentence and a table per project,
// or JSON.
func RenderPrune(w io.Writer, format string, r *PruneReport, opts RenderOptions) error {
	if err := CheckFormat(format); err != nil {
		return err
	}
	if format == FormatJSON {
		return WriteJSON(w, r)
	}
	ew := &errWriter{w: w}
	verb := "removed"
	if r.DryRun {
		verb = "would remove"
	}
	if r.Builds == 0 {
		ew.printf("no build started before %s: nothing to remove\n", formatWhen(r.OlderThan))
		return ew.err
	}
	ew.printf("%s %s %s (%s vertices) started before %s", verb, FormatCount(r.Builds), pluralWord(r.Builds, "build", "builds"),
		FormatCount(r.Vertices), formatWhen(r.OlderThan))
	if r.StepIdentities > 0 {
		ew.printf(", and %s step %s no remaining build has", FormatCount(r.StepIdentities), pluralWord(r.StepIdentities, "identity", "identities"))
	}
	ew.printf(":\n")
	for _, p := range r.Projects {
		ew.printf("  %s  %s %s  %s vertices  (%s kept)\n", TerminalText(p.Project), FormatCount(p.Builds),
			pluralWord(p.Builds, "build", "builds"), FormatCount(p.Vertices), FormatCount(p.Kept))
	}
	if r.DryRun {
		ew.printf("nothing was removed (--dry-run)\n")
	}
	return ew.err
}

// FormatCount writes n with thousands separators: 25,389.
func FormatCount(n int) string {
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

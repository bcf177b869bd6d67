package annotate

import (
	"io"
	"strconv"
	"strings"

	"github.com/buildstats/buildstats/report/safe"
)

// WriteText writes the findings for a terminal or a CI log that has no
// annotations of its own:
//
//	warning: Dockerfile:12: Slow step: 45.2s (62% of the build)
//	  | [build 3/5] RUN npm ci took 45.2s, 62% of the build (1m13s).
//
// Every line starts with a severity word or "  |", never with log text:
// log viewers that act on line prefixes (GitHub's "::" workflow commands,
// Buildkite's "--- " groups) cannot be steered by the log. Log text goes
// through safe.Line too, for the markers CI systems find anywhere in a
// line ("##[", "##vso[", "##teamcity[") and for terminal controls.
func WriteText(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	if len(r.Findings) == 0 {
		ew.printf("buildstats: nothing to flag: %s.\n", r.quietText())
	}
	for _, f := range r.Findings {
		where := ""
		if f.File != "" && f.Line > 0 {
			where = safe.Line(f.File) + ":" + strconv.Itoa(f.Line) + ": "
		}
		ew.printf("%s: %s%s\n", f.Severity, where, safe.Line(oneLine(f.Title)))
		ew.printf("  | %s\n", safe.Line(oneLine(f.Message)))
		if len(f.Output) > 0 {
			ew.printf("  | Last %d line%s of output:\n", len(f.Output), plural(len(f.Output)))
			for _, l := range f.Output {
				ew.printf("  |   %s\n", safe.Line(strings.TrimRight(l, " ")))
			}
		}
	}
	for _, g := range r.Gates {
		ew.printf("gate %s: %s: %s\n", safe.Line(g.Gate), g.Status, safe.Line(oneLine(g.Message)))
	}
	return ew.err
}

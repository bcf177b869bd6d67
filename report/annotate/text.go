package annotate

import (
	"io"
	"strconv"
	"strings"
)

var lineBreaks = strings.NewReplacer("\r", " ", "\n", " ")

// WriteText writes the findings for a terminal or a CI log that has no
// annotations of its own:
//
//	warning: Dockerfile:12: Slow step: 45.2s (62% of the build)
//	  | [build 3/5] RUN npm ci took 45.2s, 62% of the build (1m13s).
//
// Every line starts with a severity word or "  |", never with log text:
// log viewers that act on line prefixes (GitHub's "::" workflow commands,
// Buildkite's "--- " groups) cannot be steered by the log.
func WriteText(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	if len(r.Findings) == 0 {
		ew.printf("buildstats: nothing to flag: %s.\n", r.quietText())
	}
	for _, f := range r.Findings {
		where := ""
		if f.File != "" && f.Line > 0 {
			where = scrubLine(f.File) + ":" + strconv.Itoa(f.Line) + ": "
		}
		ew.printf("%s: %s%s\n", f.Severity, where, scrubLine(f.Title))
		ew.printf("  | %s\n", scrubLine(f.Message))
		if len(f.Output) > 0 {
			ew.printf("  | Last %d line%s of output:\n", len(f.Output), plural(len(f.Output)))
			for _, l := range f.Output {
				ew.printf("  |   %s\n", strings.TrimRight(lineBreaks.Replace(scrub(l)), " "))
			}
		}
	}
	for _, g := range r.Gates {
		ew.printf("gate %s: %s: %s\n", g.Gate, g.Status, scrubLine(g.Message))
	}
	return ew.err
}

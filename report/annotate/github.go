package annotate

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/buildstats/buildstats/report/safe"
)

// GitHubLimit is how many annotations of each level GitHub Actions shows
// for a step; WriteGitHub writes no more than that of each (the summary
// lists them all), most important first.
const GitHubLimit = 10

// WriteGitHub writes the findings as GitHub Actions workflow commands
// ("::warning file=Dockerfile,line=12,title=...::message"), one per line.
// Log text is neutralised (safe.Line for the title, safe.Block for the
// message: each line of it is inert where the runner shows it in the log)
// and then escaped the way the runner unescapes it, so none of it can end
// a command early, add a property or start a command of its own. It
// returns how many findings it left out because of GitHubLimit.
func WriteGitHub(w io.Writer, r *Report) (omitted int, err error) {
	ew := &errWriter{w: w}
	written := map[string]int{}
	for _, f := range r.Findings {
		level := f.Severity
		if written[level] >= GitHubLimit {
			omitted++
			continue
		}
		written[level]++
		var props []string
		if f.File != "" && f.Line > 0 {
			props = append(props, "file="+EscapeGitHubProperty(safe.Inline(f.File)), "line="+strconv.Itoa(f.Line))
		}
		props = append(props, "title="+EscapeGitHubProperty(safe.Line(f.Title)))
		msg := safe.Block(f.Message)
		if len(f.Output) > 0 {
			msg += fmt.Sprintf("\n\nLast %d line%s of output:\n%s", len(f.Output), plural(len(f.Output)), strings.Join(safe.Lines(f.Output), "\n"))
		}
		ew.printf("::%s %s::%s\n", level, strings.Join(props, ","), EscapeGitHubData(msg))
	}
	return omitted, ew.err
}

// EscapeGitHubData escapes a workflow command's message as the Actions
// runner unescapes it (ActionCommand.EscapeData): % first, then CR and LF,
// so the message stays on one line and "%0A" in the text comes out as
// "%0A", not as a line break.
func EscapeGitHubData(s string) string {
	return dataEscaper.Replace(s)
}

// EscapeGitHubProperty escapes a workflow command property value: as data,
// plus ":" and "," which would end the property list or the value.
func EscapeGitHubProperty(s string) string {
	return propertyEscaper.Replace(s)
}

var (
	dataEscaper     = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	propertyEscaper = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
)

// errWriter keeps the first write error so writers can print freely and
// check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (ew *errWriter) printf(format string, args ...any) {
	if ew.err != nil {
		return
	}
	_, ew.err = fmt.Fprintf(ew.w, format, args...)
}

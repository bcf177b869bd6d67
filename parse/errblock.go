package parse

import (
	"strconv"
	"strings"
)

// errBlock reads the block BuildKit prints after a failed build:
//
//	------
//	 > [2/2] RUN make:
//	0.226 about to fail
//	------
//	Dockerfile:3
//	--------------------
//	   3 | >>> RUN make
//	--------------------
//
// The log box replaces the failing vertex's output tail (it is the last
// output BuildKit kept), and the excerpt becomes Build.ErrorContext.
type errBlock struct {
	state       int
	target      *vstate
	pendingFile string
	pendingLine int
	// prevLines is the target's output count before the box: the box
	// repeats output already counted, so the count is the larger of the two.
	prevLines int
}

const (
	ebNone = iota
	ebBoxOpen
	ebBoxLogs
	ebBoxClosed
	ebFileSeen
	ebExcerpt
)

const maxErrorContext = 40

func (e *errBlock) feed(t *tracker, line string) bool {
	trimmed := strings.TrimRight(line, " \t")
	switch e.state {
	case ebNone:
		if trimmed == "------" {
			e.state = ebBoxOpen
			return true
		}
		if f, n, ok := fileLine(trimmed); ok {
			e.pendingFile, e.pendingLine, e.state = f, n, ebFileSeen
			return true
		}
		return false
	case ebBoxOpen:
		if name, ok := strings.CutPrefix(trimmed, " > "); ok && strings.HasSuffix(name, ":") {
			full := strings.TrimSuffix(name, ":")
			e.target = t.findByName(full)
			if e.target != nil && e.target.v.NameTruncated && len(full) > len(e.target.v.Name) && strings.HasPrefix(full, e.target.v.Name) {
				// The box names the step in full: the display had cut it.
				e.target.v.NameTruncated = false
				t.named(e.target, full)
			}
			if e.target != nil {
				e.target.resetOutput()
				e.prevLines, e.target.v.OutputLines = e.target.v.OutputLines, 0
			}
			e.state = ebBoxLogs
			return true
		}
		e.state = ebNone
		return e.feed(t, line)
	case ebBoxLogs:
		if trimmed == "------" {
			if e.target != nil {
				e.target.v.OutputLines = max(e.target.v.OutputLines, e.prevLines)
			}
			e.state = ebBoxClosed
			return true
		}
		if e.target != nil {
			// "0.226 text", or "#5 0.226 text" from older CLIs.
			if _, rest, ok := cutVertexNumber([]byte(line)); ok {
				line = string(rest)
			}
			e.target.addOutput([]byte(stripLogOffset(line)))
		}
		return true
	case ebBoxClosed:
		if trimmed == "------" {
			e.state = ebBoxOpen
			return true
		}
		e.state = ebNone
		return e.feed(t, line)
	case ebFileSeen:
		if trimmed == "" {
			return true // a log copied from a web page doubles its line breaks
		}
		if strings.HasPrefix(trimmed, "--------------------") {
			t.b.ErrorFile, t.b.ErrorLine = e.pendingFile, e.pendingLine
			t.b.ErrorContext = t.b.ErrorContext[:0]
			e.state = ebExcerpt
			return true
		}
		e.state = ebNone
		return e.feed(t, line)
	case ebExcerpt:
		if strings.HasPrefix(trimmed, "--------------------") {
			e.state = ebNone
			return true
		}
		if trimmed == "" {
			return true // excerpt lines are numbered; a blank one is a copy's doubled break
		}
		if len(t.b.ErrorContext) < maxErrorContext {
			t.b.ErrorContext = append(t.b.ErrorContext, line) // as printed, like Excerpt
		}
		return true
	}
	return false
}

func (e *errBlock) finish(*tracker) { e.state = ebNone }

// fileLine matches "Dockerfile:3" or "docker/app.Dockerfile:12".
func fileLine(s string) (string, int, bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 || strings.ContainsAny(s[:i], " \t") {
		return "", 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n <= 0 {
		return "", 0, false
	}
	if !strings.Contains(strings.ToLower(s[:i]), "dockerfile") && !strings.Contains(strings.ToLower(s[:i]), "containerfile") {
		return "", 0, false
	}
	return s[:i], n, true
}

// stripLogOffset removes the "0.226 " time offset BuildKit puts before
// each output line.
func stripLogOffset(s string) string {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 || i >= len(s) || s[i] != '.' {
		return s
	}
	j := i + 1
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if j == i+1 {
		return s
	}
	if j == len(s) {
		return ""
	}
	if s[j] != ' ' {
		return s
	}
	return s[j+1:]
}

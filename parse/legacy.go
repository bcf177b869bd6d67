package parse

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/buildstats/buildstats/parse/model"
)

// ParseLegacy reads the legacy (pre-BuildKit) builder's output:
//
//	Step 3/27 : RUN apk add ca-certificates
//	 ---> Running in 6eb285c99dda
//	 ---> 73dbd54fb856
//	Successfully built 73dbd54fb856
//
// Step durations are known only when the lines carry CI timestamps. What a
// RUN step prints (between "Running in <id>" and "Removing intermediate
// container <id>") is output, whatever it looks like. It returns the last
// build when the log holds several (see ParseAll).
func ParseLegacy(r io.Reader) (*model.Build, error) {
	return last(parseLegacyAll(r))
}

func parseLegacyAll(r io.Reader) ([]*model.Build, error) {
	d := &legacyDecoder{t: newTracker(model.FormatLegacy)}
	err := eachLine(r, d.line)
	d.out = append(d.out, d.finish())
	return numberBuilds(d.out), err
}

type legacyDecoder struct {
	t         *tracker
	out       []*model.Build
	cur       *vstate
	curStart  time.Time
	stage     string
	lastIndex int
	succeeded bool
	// container is the intermediate container whose output is running;
	// pendingErr an error line seen in that output, which is the step's
	// error only if nothing closes the container after it.
	container  string
	pendingErr string
	// untotalled is set for old logs whose steps have no "/total";
	// zeroBased when their first step is "Step 0".
	untotalled, zeroBased bool
}

func (d *legacyDecoder) finish() *model.Build {
	if d.container != "" && d.pendingErr != "" {
		d.fail(d.pendingErr, time.Time{})
	}
	d.closeStep(time.Time{}, false)
	if d.succeeded {
		d.t.ended = true
	}
	if d.untotalled {
		// The number of steps is the last one the log shows.
		n := 0
		for _, s := range d.t.order {
			n = max(n, s.v.Index)
		}
		for _, s := range d.t.order {
			if s.v.Index > 0 && s.v.Total == 0 {
				s.v.Total = n
			}
		}
	}
	return d.t.finish()
}

func (d *legacyDecoder) newBuild() {
	d.out = append(d.out, d.finish())
	*d = legacyDecoder{t: newTracker(model.FormatLegacy), out: d.out}
}

func isLegacyStep(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("Step "))
	if !ok {
		return false
	}
	sp := bytes.Index(rest, []byte(" : "))
	if sp < 0 {
		return false
	}
	if _, ok := oldStepNumber(rest[:sp]); ok {
		return true // Docker before 1.13: "Step 0 : FROM centos"
	}
	_, _, ok = parsePosition(string(rest[:sp]))
	return ok
}

// oldStepNumber reads the bare step number old Docker versions print.
func oldStepNumber(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 6 {
		return 0, false
	}
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
	}
	return atoiN(b), true
}

// isFirstStep reports a "Step 1/N :" (or old "Step 0 :"/"Step 1 :") line.
func isFirstStep(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("Step ")) || !isLegacyStep(line) {
		return false
	}
	rest := line[len("Step "):]
	return bytes.HasPrefix(rest, []byte("1/")) || bytes.HasPrefix(rest, []byte("1 :")) || bytes.HasPrefix(rest, []byte("0 :"))
}

// legacyError recognises the lines the legacy builder ends a failed build
// with.
func legacyError(trimmed string) (string, bool) {
	switch {
	case strings.HasPrefix(trimmed, "The command '") && strings.Contains(trimmed, "returned a non-zero code"),
		strings.HasPrefix(trimmed, "executor failed running"),
		strings.HasPrefix(trimmed, "COPY failed:"), strings.HasPrefix(trimmed, "ADD failed:"):
		return trimmed, true
	}
	if rest, ok := strings.CutPrefix(trimmed, "Error response from daemon: "); ok {
		return rest, true
	}
	if rest, ok := strings.CutPrefix(trimmed, "ERROR: "); ok {
		return rest, true
	}
	if msg, ok := summaryError(trimmed); ok {
		return msg, true
	}
	for _, p := range []string{"pull access denied", "manifest for ", "failed to process", "unable to prepare context", "error checking context", "failed to get destination image", "unknown instruction:"} {
		if strings.HasPrefix(trimmed, p) {
			return trimmed, true
		}
	}
	return "", false
}

// closesContainer reports a line that ends the output of the running
// intermediate container.
func (d *legacyDecoder) closesContainer(trimmed string) bool {
	for _, p := range []string{"Removing intermediate container ", "---> Removed intermediate container "} {
		if id, ok := strings.CutPrefix(trimmed, p); ok {
			id = strings.TrimSpace(id)
			return id != "" && (strings.HasPrefix(d.container, id) || strings.HasPrefix(id, d.container))
		}
	}
	return false
}

func (d *legacyDecoder) line(l *srcLine) {
	raw, ts := l.text, l.ts
	if d.container != "" && d.outputLine(l) {
		return
	}
	line := string(raw)
	trimmed := strings.TrimSpace(line)
	if l.overwritten {
		if d.cur != nil && trimmed != "" {
			d.cur.addOutput(raw)
		}
		return
	}
	switch {
	case strings.HasPrefix(line, "Step ") && isLegacyStep(raw):
		d.step(line, ts)
		return
	case strings.HasPrefix(line, "Sending build context to Docker daemon"):
		if len(d.t.order) > 0 || d.t.b.Error != "" {
			d.newBuild()
		}
		d.t.stamp(ts)
		s := d.t.getOrAdd("context")
		if s.v.Name == "" {
			s.v.Name, s.v.Stage = "sending build context to Docker daemon", "internal"
		}
		// The daemon redraws the size after CRs: the last one is final.
		shown := string(shownText(raw))
		if !strings.HasPrefix(shown, "Sending build context") {
			shown = line
		}
		if i := strings.IndexByte(shown, '\r'); i >= 0 {
			shown = shown[:i]
		}
		if n, ok := parseSize([]byte(strings.Join(strings.Fields(strings.TrimPrefix(shown, "Sending build context to Docker daemon")), ""))); ok {
			s.setTransfer(model.Transfer{Name: "transferring context", Bytes: n, Done: true})
			s.v.Completed = true
		}
		return
	case strings.HasPrefix(line, "Successfully built "):
		d.t.stamp(ts)
		d.closeStep(ts, true)
		d.t.b.ImageID = strings.TrimSpace(strings.TrimPrefix(line, "Successfully built "))
		d.succeeded = true
		return
	case strings.HasPrefix(line, "Successfully tagged "):
		d.t.stamp(ts)
		d.t.imageName(strings.TrimPrefix(line, "Successfully tagged "))
		return
	}
	if d.cur != nil {
		v := d.cur.v
		switch {
		case trimmed == "---> Using cache":
			d.t.cached(d.cur)
			d.t.stamp(ts)
			return
		case strings.HasPrefix(trimmed, "---> Running in "):
			d.t.stamp(ts)
			d.container = strings.TrimSpace(strings.TrimPrefix(trimmed, "---> Running in "))
			return
		case trimmed == "--->" || strings.HasPrefix(trimmed, "---> "):
			// The step's resulting layer: the step is done.
			v.Completed = true
			d.t.stamp(ts)
			return
		case strings.HasPrefix(trimmed, "Removing intermediate container "):
			return
		}
	}
	if msg, ok := legacyError(trimmed); ok {
		d.t.stamp(ts)
		d.fail(msg, ts)
		return
	}
	if d.t.commonLine(line) {
		return
	}
	if d.cur != nil && trimmed != "" {
		d.cur.addOutput(raw)
		d.cur.stamp(ts)
		d.t.stamp(ts)
	}
}

// outputLine handles a line inside a RUN step's output: the hot path, on
// bytes. It reports false for a line that begins the next build.
func (d *legacyDecoder) outputLine(l *srcLine) bool {
	raw, ts := l.text, l.ts
	// Only the first byte picks the checks: the whole trim is made only
	// for a line one of them may take (it was 4% of legacy's parse).
	lead := raw
	for len(lead) > 0 && asciiSpace[lead[0]] {
		lead = lead[1:]
	}
	if len(lead) > 0 && lead[0] >= utf8.RuneSelf {
		lead = bytes.TrimSpace(lead) // Unicode spaces: as TrimSpace trims them
	}
	if !l.overwritten && len(lead) > 0 {
		switch lead[0] {
		case 'R', '-':
			if d.closesContainer(string(bytes.TrimSpace(lead))) {
				d.t.stamp(ts)
				d.keepPending()
				d.container = ""
				return true
			}
		case 'T', 'e':
			if trimmed := bytes.TrimSpace(lead); bytes.HasPrefix(trimmed, []byte("The command '")) && bytes.Contains(trimmed, []byte("returned a non-zero code")) || bytes.HasPrefix(trimmed, []byte("executor failed running")) {
				d.pendingErr = string(trimmed)
				d.t.stamp(ts)
				return true
			}
		case 'S':
			if d.pendingErr != "" && (isFirstStep(raw) || bytes.HasPrefix(raw, []byte("Sending build context"))) {
				// The failed build ended; this line begins the next one.
				d.fail(d.pendingErr, time.Time{})
				return false
			}
		}
	}
	// An error line stays pending through later lines (a shell prompt
	// after the failed build): only the line that removes the container
	// shows the step went on.
	if d.cur != nil && len(lead) > 0 {
		d.cur.addText(raw, l.noCR)
		d.cur.stamp(ts)
		d.t.stamp(ts)
	}
	return true
}

// keepPending turns an error line that more output followed into output:
// the step printed it and went on.
func (d *legacyDecoder) keepPending() {
	if d.pendingErr != "" && d.cur != nil {
		d.cur.addOutput([]byte(d.pendingErr))
	}
	d.pendingErr = ""
}

// fail records the build's error on the running step and the build.
func (d *legacyDecoder) fail(msg string, ts time.Time) {
	if d.cur != nil && !d.cur.v.Completed {
		d.t.setError(d.cur, msg)
	}
	d.t.summaryLine(msg)
	d.container, d.pendingErr = "", ""
	d.closeStep(ts, false)
}

func (d *legacyDecoder) step(line string, ts time.Time) {
	rest := strings.TrimPrefix(line, "Step ")
	pos, instr, _ := strings.Cut(rest, " : ")
	idx, total, _ := parsePosition(pos)
	if n, ok := oldStepNumber([]byte(pos)); ok {
		// Docker before 1.13 numbered steps from 0 and printed no total:
		// the total is set when the build ends.
		if len(d.t.order) == 0 || d.lastIndex == 0 && n == 0 {
			d.zeroBased = n == 0
		}
		idx, total = n, 0
		if d.zeroBased {
			idx++
		}
		d.untotalled = true
	}
	if idx <= d.lastIndex || d.succeeded || d.t.b.Error != "" {
		d.newBuild() // step numbers restart: the next build
	}
	d.t.stamp(ts)
	d.closeStep(ts, true)
	if d.lastIndex == 0 && len(d.t.order) == 0 && idx > 1 {
		d.t.b.BeganMidBuild = true // the log starts after the build's first steps
	}
	d.lastIndex = idx
	s := d.t.getOrAdd("step " + strconv.Itoa(idx))
	v := s.v
	v.Name = strings.TrimSpace(line)
	v.Index, v.Total = idx, total
	word, args, _ := strings.Cut(strings.TrimSpace(instr), " ")
	v.Instruction, v.Args = strings.ToUpper(word), strings.TrimSpace(args)
	if v.Instruction == "FROM" {
		d.stage = fromAlias(v.Args)
	}
	v.Stage = d.stage
	if !ts.IsZero() {
		v.Started = ts
	}
	s.stamp(ts)
	d.cur, d.curStart = s, ts
}

// closeStep ends the current step; with timestamps, it lasted until ts.
// finished says whether the builder moved on (so the step completed).
func (d *legacyDecoder) closeStep(ts time.Time, finished bool) {
	if d.cur == nil {
		return
	}
	v := d.cur.v
	if !ts.IsZero() && !d.curStart.IsZero() && !ts.Before(d.curStart) && !v.HasDuration && finished {
		d.t.setDuration(d.cur, ts.Sub(d.curStart))
		v.Ended = ts
	}
	if finished {
		d.t.done(d.cur, 0, false)
	}
	d.cur = nil
}

// fromAlias returns the stage name of "image AS name", or "".
func fromAlias(args string) string {
	f := strings.Fields(args)
	for i := 0; i+1 < len(f); i++ {
		if strings.EqualFold(f[i], "AS") {
			return f[i+1]
		}
	}
	return ""
}

package parse

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// ParseLegacy reads the legacy (pre-BuildKit) builder's output:
//
//	Step 3/27 : RUN apk add ca-certificates
//	 ---> Running in 6eb285c99dda
//	 ---> 73dbd54fb856
//	Successfully built 73dbd54fb856
//
// Step durations are known only when the lines carry CI timestamps.
func ParseLegacy(r io.Reader) (*model.Build, error) {
	d := &legacyDecoder{t: newTracker(model.FormatLegacy)}
	err := eachLine(r, func(line []byte, ts time.Time) { d.line(line, ts) })
	d.closeStep(time.Time{}, false)
	b := d.t.finish()
	if d.succeeded && !d.t.failed() {
		b.Status = model.StatusSucceeded
	}
	return b, err
}

type legacyDecoder struct {
	t         *tracker
	cur       *vstate
	curStart  time.Time
	stage     string
	builds    int // a log can hold several builds; step numbers restart
	lastIndex int
	succeeded bool
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
	_, _, ok = parsePosition(string(rest[:sp]))
	return ok
}

func (d *legacyDecoder) line(raw []byte, ts time.Time) {
	line := string(raw)
	switch {
	case strings.HasPrefix(line, "Step ") && isLegacyStep(raw):
		d.step(line, ts)
		return
	case strings.HasPrefix(line, "Sending build context to Docker daemon"):
		d.t.stamp(ts)
		s := d.t.getOrAdd("context")
		if s.v.Name == "" {
			s.v.Name, s.v.Stage = "sending build context to Docker daemon", "internal"
		}
		if n, ok := parseSize(strings.Join(strings.Fields(strings.TrimPrefix(line, "Sending build context to Docker daemon")), "")); ok {
			s.v.SetTransfer(model.Transfer{Name: "transferring context", Bytes: n, Done: true})
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
		addImageName(d.t.b, strings.TrimPrefix(line, "Successfully tagged "))
		return
	}
	trimmed := strings.TrimSpace(line)
	if d.cur != nil {
		v := d.cur.v
		switch {
		case trimmed == "---> Using cache":
			v.Cached = true
			d.t.stamp(ts)
			return
		case strings.HasPrefix(trimmed, "---> Running in "):
			d.t.stamp(ts)
			return
		case trimmed == "--->" || strings.HasPrefix(trimmed, "---> "):
			// The step's resulting layer: the step is done.
			v.Completed = true
			d.t.stamp(ts)
			return
		case strings.HasPrefix(trimmed, "Removing intermediate container "):
			return
		case strings.HasPrefix(trimmed, "The command '") && strings.Contains(trimmed, "returned a non-zero code"),
			strings.HasPrefix(trimmed, "executor failed running"):
			d.t.stamp(ts)
			d.t.setError(d.cur, trimmed)
			d.t.b.Error = trimmed
			d.closeStep(ts, false)
			return
		}
	}
	if msg, ok := strings.CutPrefix(trimmed, "ERROR: "); ok {
		d.t.stamp(ts)
		if d.cur != nil && !d.cur.v.Completed {
			d.t.setError(d.cur, msg)
		}
		if d.t.b.Error == "" {
			d.t.b.Error = msg
		}
		return
	}
	if d.t.commonLine(line) {
		return
	}
	if d.cur != nil && trimmed != "" {
		d.cur.addOutput(raw)
		d.t.stamp(ts)
	}
}

func (d *legacyDecoder) step(line string, ts time.Time) {
	d.t.stamp(ts)
	d.closeStep(ts, true)
	rest := strings.TrimPrefix(line, "Step ")
	pos, instr, _ := strings.Cut(rest, " : ")
	idx, total, _ := parsePosition(pos)
	if idx <= d.lastIndex {
		d.builds++
		d.stage = ""
	}
	d.lastIndex = idx
	key := "step " + strconv.Itoa(idx)
	if d.builds > 0 {
		key = "build " + strconv.Itoa(d.builds) + " " + key
	}
	s := d.t.getOrAdd(key)
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
	d.cur, d.curStart = s, ts
}

// closeStep ends the current step; with timestamps, it lasted until ts.
// finished says whether the builder moved on (so the step completed).
func (d *legacyDecoder) closeStep(ts time.Time, finished bool) {
	if d.cur == nil {
		return
	}
	v := d.cur.v
	if !ts.IsZero() && !d.curStart.IsZero() && !ts.Before(d.curStart) && !v.HasDuration {
		v.Duration, v.HasDuration = ts.Sub(d.curStart), true
		v.Ended = ts
	}
	if finished {
		v.Completed = true
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

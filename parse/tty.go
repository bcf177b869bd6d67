package parse

import (
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// ParseTTY reads BuildKit's tty display as captured from a terminal or
// pasted from one:
//
//	[+] Building 11.7s (8/8) FINISHED                 docker:default
//	 => [2/3] WORKDIR /usr/src/app                              0.4s
//	 => => transferring context: 392B                           0.0s
//
// Captures that contain every redraw frame are fine: each frame restates
// every vertex, and the last state of each vertex wins.
func ParseTTY(r io.Reader) (*model.Build, error) {
	d := &ttyDecoder{t: newTracker(model.FormatTTY)}
	err := eachLine(r, func(line []byte, ts time.Time) { d.line(string(line), ts) })
	if d.finished {
		for _, s := range d.t.order {
			s.v.Completed = true
		}
	}
	b := d.t.finish()
	for _, v := range b.Vertices {
		if v.Error == ttyFailed && b.Error != "" {
			v.Error = b.Error
			if m := exitCodeRE.FindStringSubmatch(b.Error); m != nil {
				v.ExitCode, _ = strconv.Atoi(m[1])
			}
		}
	}
	return b, err
}

// ttyFailed stands in for a vertex error until the summary line gives the
// text: the tty display only prefixes the vertex with ERROR.
const ttyFailed = "failed"

type ttyDecoder struct {
	t        *tracker
	cur      *vstate // vertex whose sub-lines follow
	finished bool
	// frameOutput marks vertices whose "=> => #" output was already reset in
	// the current frame: each frame redraws the visible output window.
	frameOutput map[*vstate]bool
	nextKey     int
}

func (d *ttyDecoder) line(line string, ts time.Time) {
	trimmed := strings.TrimLeft(line, " \t")
	switch {
	case strings.HasPrefix(trimmed, "[+] "):
		d.t.stamp(ts)
		d.header(trimmed)
		return
	case strings.HasPrefix(trimmed, "=> => "):
		d.t.stamp(ts)
		d.subLine(trimmed[len("=> => "):])
		return
	case strings.HasPrefix(trimmed, "=> "):
		d.t.stamp(ts)
		d.vertexLine(trimmed[len("=> "):], ts)
		return
	}
	if d.t.commonLine(line) {
		d.t.stamp(ts)
	}
}

// header parses "[+] Building 11.7s (8/8) FINISHED   docker:default".
func (d *ttyDecoder) header(s string) {
	fields := strings.Fields(s)
	if len(fields) < 3 || fields[1] != "Building" {
		return
	}
	// A new frame begins: output windows will be redrawn.
	d.frameOutput = map[*vstate]bool{}
	d.cur = nil
	if dur, ok := parseSeconds([]byte(fields[2])); ok {
		d.t.b.Duration, d.t.b.HasDuration = dur, true
	}
	for _, f := range fields[3:] {
		switch {
		case f == "FINISHED":
			d.finished = true
		case strings.HasPrefix(f, "(") && strings.HasSuffix(f, ")"):
		default:
			d.t.b.Builder = f
		}
	}
}

// splitTimer cuts the trailing "  0.4s" timer off a tty line and reports
// whether the text before it was cut to fit (exactly two spaces separate a
// cut name from its timer; a name that fits is padded further).
func splitTimer(s string) (text string, dur time.Duration, hasDur, cut bool) {
	s = strings.TrimRight(s, " ")
	i := strings.LastIndexByte(s, ' ')
	if i < 0 {
		return s, 0, false, false
	}
	d, ok := parseSeconds([]byte(s[i+1:]))
	if !ok || !strings.Contains(s[i+1:], ".") {
		return s, 0, false, false
	}
	text = s[:i]
	trimmed := strings.TrimRight(text, " ")
	cut = len(text)-len(trimmed) == 1
	return trimmed, d, true, cut
}

func (d *ttyDecoder) vertexLine(s string, ts time.Time) {
	text, dur, hasDur, cut := splitTimer(s)
	var cached, failed, canceled bool
	for {
		switch {
		case strings.HasPrefix(text, "CACHED "):
			cached, text = true, text[len("CACHED "):]
			continue
		case strings.HasPrefix(text, "ERROR "):
			failed, text = true, text[len("ERROR "):]
			continue
		case strings.HasPrefix(text, "CANCELED "):
			canceled, text = true, text[len("CANCELED "):]
			continue
		}
		break
	}
	if text == "" {
		return
	}
	if strings.HasPrefix(text, "WARN: ") {
		d.t.warning(d.cur, text[len("WARN: "):])
		return
	}
	s2 := d.vertexFor(text, cut)
	v := s2.v
	if !ts.IsZero() && v.Started.IsZero() {
		v.Started = ts
	}
	if hasDur {
		v.Duration, v.HasDuration = dur, true
		if !ts.IsZero() {
			v.Ended = ts
		}
	}
	if cached {
		v.Cached, v.Completed = true, true
	}
	if canceled {
		v.Canceled, v.Completed = true, true
	}
	if failed && v.Error == "" {
		// The tty shows only that it failed; the error text follows in the
		// summary and is attached in finishTTY.
		d.t.setError(s2, ttyFailed)
	}
	d.cur = s2
}

// vertexFor finds or creates the vertex a tty line names. Dockerfile steps
// are keyed by their [stage n/m] label, which survives truncation; other
// vertices by name, matching a cut name against its full form.
func (d *ttyDecoder) vertexFor(name string, cut bool) *vstate {
	var probe model.Vertex
	ApplyName(&probe, name)
	key := name
	if probe.Total > 0 {
		key = "step " + probe.Platform + " " + probe.Stage + " " + strconv.Itoa(probe.Index) + "/" + strconv.Itoa(probe.Total)
	}
	if s, ok := d.t.get(key); ok {
		d.rename(s, name, cut)
		return s
	}
	if probe.Total == 0 {
		for _, s := range d.t.order {
			n := s.v.Name
			if s.v.Total > 0 {
				continue
			}
			if (cut && strings.HasPrefix(n, name)) || (s.v.NameTruncated && strings.HasPrefix(name, n)) {
				d.rename(s, name, cut)
				return s
			}
		}
	}
	s := d.t.add(key)
	d.nextKey++
	ApplyName(s.v, name)
	s.v.ID = "v" + strconv.Itoa(d.nextKey)
	s.v.NameTruncated = cut
	return s
}

// rename keeps the longest form of a name seen across frames.
func (d *ttyDecoder) rename(s *vstate, name string, cut bool) {
	if len(name) > len(s.v.Name) || (s.v.NameTruncated && !cut) {
		ApplyName(s.v, name)
		s.v.NameTruncated = cut
	}
}

func (d *ttyDecoder) subLine(s string) {
	if d.cur == nil {
		return
	}
	if out, ok := strings.CutPrefix(s, "# "); ok || s == "#" {
		if d.frameOutput == nil {
			d.frameOutput = map[*vstate]bool{}
		}
		if !d.frameOutput[d.cur] {
			d.cur.resetOutput()
			d.frameOutput[d.cur] = true
		}
		d.cur.addOutput([]byte(out))
		return
	}
	text, dur, _, _ := splitTimer(s)
	st := parseStatusText(text)
	st.duration = dur
	switch {
	case strings.HasPrefix(st.name, "writing image "):
		d.t.b.ImageID = strings.TrimPrefix(st.name, "writing image ")
	case strings.HasPrefix(st.name, "naming to "):
		addImageName(d.t.b, strings.TrimPrefix(st.name, "naming to "))
	}
	if st.hasBytes {
		st.done = st.done || st.total == 0 || st.current == st.total
		d.cur.v.SetTransfer(model.Transfer{Name: st.name, Bytes: st.current, Total: st.total, Duration: st.duration, Done: st.done})
	}
}

package parse

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
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
// every vertex, and the last state of each vertex wins. It returns the last
// build when the log holds several (see ParseAll).
func ParseTTY(r io.Reader) (*model.Build, error) {
	return last(parseTTYAll(r))
}

func parseTTYAll(r io.Reader) ([]*model.Build, error) {
	d := newTTYDecoder()
	err := eachLine(r, d.line)
	d.out = append(d.out, d.finish())
	return numberBuilds(d.out), err
}

func newTTYDecoder() *ttyDecoder {
	return &ttyDecoder{t: newTracker(model.FormatTTY), byName: map[string]*vstate{}, cutIndex: map[string][]*vstate{}}
}

func (d *ttyDecoder) finish() *model.Build {
	if d.pending != "" {
		d.vertexLine([]byte(d.pending), time.Time{})
		d.pending = ""
	}
	d.flushWindows()
	t := d.t
	if d.finished {
		for _, s := range t.order {
			s.v.Completed = true
		}
		t.ended = true
	} else {
		// No FINISHED frame: a vertex is still running when the last frame
		// showed its output window, or its timer was still growing; the
		// others had finished (the display stops their timers).
		for _, s := range t.order {
			if s.tty.frame == 0 || s.tty.running(d.frame) {
				continue
			}
			s.v.Completed = true
		}
	}
	if !d.finished && d.headers == 0 && t.allCompleted() {
		// Pasted vertex lines without the header: judge by what they show.
		t.ended = t.exportDone() || t.lastStepEnds()
	}
	if d.counted > 0 && d.done < d.counted && !d.finished {
		t.ended = false
	}
	b := t.finish()
	for _, v := range b.Vertices {
		if v.Error == ttyFailed && b.Error != "" {
			v.Error = b.Error
			if c := exitCode(b.Error); c != 0 {
				v.ExitCode = c
			}
		}
	}
	return b
}

// ttyFailed stands in for a vertex error until the summary line gives the
// text: the tty display only prefixes the vertex with ERROR.
const ttyFailed = "failed"

type ttyDecoder struct {
	t        *tracker
	out      []*model.Build
	cur      *vstate // vertex whose sub-lines follow
	finished bool
	headers  int
	lastTime time.Duration // the last header's timer
	// done and counted are the last header's "(done/counted)".
	done, counted int
	// frame counts headers; windows hold each vertex's "=> => #" output
	// window as the last frame showed it.
	frame   int
	windows map[*vstate]*ttyWindow
	// lastWindow is windows[lastWindowOf].
	lastWindow   *ttyWindow
	lastWindowOf *vstate
	// byName finds vertices without an [n/m] position by name; cutIndex
	// by the first bytes of the name, for names the display cut.
	byName   map[string]*vstate
	cutIndex map[string][]*vstate
	nextKey  int
	// pending is a vertex line without a timer, which the next line may
	// complete.
	pending string
	// scratch holds a status name whose fields had to be joined.
	scratch []byte
	// slots hold what the vertex lines and the status lines of the last
	// frames meant, by their position in the frame (vpos, spos count
	// them since the header): every frame restates every vertex, so a
	// line that is the same as at its position before is not parsed or
	// looked up again.
	slots      []ttySlot
	subSlots   []ttySubSlot
	vpos, spos int
}

// Bounds of the frame-position caches: a frame is a screenful, and a line
// longer than a screen's width is not a frame's.
const (
	maxSlots    = 256
	maxSlotLine = 1024
)

// ttySlotsOff turns the caches' look-ups off, for the test that compares
// builds made with and without them.
var ttySlotsOff = false

// ttySlot is what a vertex line (after "=> ") meant. The same text always
// names the same vertex: vertexFor leaves every text it was given in
// byName, which never points a text elsewhere within a build. The timer
// and the flags come from the text alone.
type ttySlot struct {
	line                                  []byte
	name                                  []byte // within line: the text vertexFor was given
	s                                     *vstate
	dur                                   time.Duration
	hasDur, cut, cached, failed, canceled bool
}

// ttySubSlot is what a transfer line (after "=> => ") under the vertex cur
// meant: the transfer it states, which depends on the text alone.
type ttySubSlot struct {
	line []byte
	cur  *vstate
	xfer model.Transfer
}

func (d *ttyDecoder) line(l *srcLine) {
	if l.overwritten {
		return
	}
	// The line stays in bytes: every frame restates every vertex, and a
	// string per line was most of the decoder's allocations.
	line, ts := l.text, l.ts
	trimmed := line
	for len(trimmed) > 0 && (trimmed[0] == ' ' || trimmed[0] == '\t') {
		trimmed = trimmed[1:]
	}
	kind := frameLineKind(trimmed)
	isFrame := kind != ttyOther
	if d.pending != "" {
		// A vertex line without its timer, then a line that is not part of
		// a frame: a log viewer broke the line (VS Code prefixes each chunk
		// of output with a timestamp, wherever the chunk ends).
		p := d.pending
		d.pending = ""
		if !isFrame && len(trimmed) > 0 {
			joined := []byte(p + string(line))
			if _, _, ok, _ := splitTimer(joined); ok {
				d.vertexLine(joined, ts)
				return
			}
		}
		d.vertexLine([]byte(p), ts)
	}
	if !isFrame {
		d.flushWindows() // the frames are over
	}
	switch kind {
	case ttyHeader:
		d.header(trimmed, ts)
		return
	case ttySub:
		d.t.stamp(ts)
		d.subLine(trimmed[len("=> => "):], ts)
		return
	case ttyVertex:
		d.t.stamp(ts)
		rest := trimmed[len("=> "):]
		slot := d.vpos
		d.vpos++
		if d.sameVertexLine(slot, rest, ts) {
			return
		}
		if _, _, ok, _ := splitTimer(rest); !ok {
			d.pending = string(rest)
			return
		}
		d.vertexLineAt(rest, ts, slot)
		return
	}
	if d.t.commonLine(string(line)) {
		d.t.stamp(ts)
	}
}

// The kinds of tty line frameLineKind tells apart.
const (
	ttyOther  = iota
	ttyHeader // "[+] Building ..."
	ttyVertex // "=> [2/3] WORKDIR /src   0.4s"
	ttySub    // "=> => # output" or "=> => sha256:... 1MB / 2MB"
)

// frameLineKind classifies a line (its indentation trimmed) by its first
// bytes, compared one by one: bytes.HasPrefix calls a general comparison,
// several times a line.
func frameLineKind(t []byte) int {
	if len(t) >= 3 && t[0] == '=' && t[1] == '>' && t[2] == ' ' {
		if len(t) >= 6 && t[3] == '=' && t[4] == '>' && t[5] == ' ' {
			return ttySub
		}
		return ttyVertex
	}
	if len(t) >= 4 && t[0] == '[' && t[1] == '+' && t[2] == ']' && t[3] == ' ' {
		return ttyHeader
	}
	return ttyOther
}

// header parses "[+] Building 11.7s (8/8) FINISHED   docker:default".
func (d *ttyDecoder) header(s []byte, ts time.Time) {
	var buf [16][]byte
	fields := appendFields(buf[:0], s)
	if len(fields) < 3 || string(fields[1]) != "Building" {
		return
	}
	dur, hasDur := parseSeconds(fields[2])
	finished := false
	for _, f := range fields[3:] {
		finished = finished || string(f) == "FINISHED"
	}
	// A new build: a frame after a finished one (unless it repeats the
	// final frame's timer), after the build's closing error, or whose
	// timer went back.
	started := len(d.t.order) > 0 || d.t.b.Error != ""
	if d.headers > 0 && started && (d.finished && !(finished && hasDur && dur == d.lastTime) || d.t.b.Error != "" || hasDur && dur+time.Second < d.lastTime) {
		d.out = append(d.out, d.finish())
		*d = ttyDecoder{t: newTracker(model.FormatTTY), out: d.out, byName: map[string]*vstate{}, cutIndex: map[string][]*vstate{}}
	}
	d.t.stamp(ts)
	d.headers++
	d.frame++
	d.cur = nil
	d.vpos, d.spos = 0, 0
	if hasDur {
		d.lastTime = dur
		if !d.t.b.HasDuration || dur >= d.t.b.Duration {
			d.t.b.Duration, d.t.b.HasDuration = dur, true
		}
	}
	for _, f := range fields[3:] {
		switch {
		case string(f) == "FINISHED":
			d.finished = true
		case len(f) >= 2 && f[0] == '(' && f[len(f)-1] == ')':
			if a, b, ok := parsePosition(string(f[1 : len(f)-1])); ok {
				d.done, d.counted = a, b
			}
		default:
			if d.t.b.Builder != string(f) {
				d.t.b.Builder = string(f)
			}
		}
	}
}

// splitTimer cuts the trailing "  0.4s" timer off a tty line and reports
// whether the text before it was cut to fit (exactly two spaces separate a
// cut name from its timer; a name that fits is padded further).
func splitTimer(s []byte) (text []byte, dur time.Duration, hasDur, cut bool) {
	s = trimRightSpaces(s)
	i := bytes.LastIndexByte(s, ' ')
	if i < 0 {
		return s, 0, false, false
	}
	d, ok := parseSeconds(s[i+1:])
	if !ok || bytes.IndexByte(s[i+1:], '.') < 0 {
		return s, 0, false, false
	}
	text = s[:i]
	trimmed := trimRightSpaces(text)
	cut = len(text)-len(trimmed) == 1
	return trimmed, d, true, cut
}

// trimRightSpaces drops trailing spaces (not tabs), eight at a time: the
// display pads names to the terminal's width.
func trimRightSpaces(s []byte) []byte {
	const spaces = 0x2020202020202020
	for len(s) >= 8 && binary.LittleEndian.Uint64(s[len(s)-8:]) == spaces {
		s = s[:len(s)-8]
	}
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s
}

func (d *ttyDecoder) vertexLine(s []byte, ts time.Time) { d.vertexLineAt(s, ts, -1) }

// sameVertexLine applies a vertex line that is the same as the one at its
// position of an earlier frame as that one was, and reports whether it
// was.
func (d *ttyDecoder) sameVertexLine(slot int, line []byte, ts time.Time) bool {
	if slot >= len(d.slots) || ttySlotsOff {
		return false
	}
	sl := &d.slots[slot]
	if sl.s == nil || !bytes.Equal(sl.line, line) {
		return false
	}
	s := sl.s
	if s.v.NameTruncated && !sl.cut { // as vertexFor does for a known text
		d.rename(s, string(sl.name), sl.cut)
	}
	d.applyVertexLine(s, ts, sl.dur, sl.hasDur, sl.cached, sl.failed, sl.canceled)
	return true
}

// vertexLineAt takes a vertex line; slot is its position in the frame
// (-1 for none), where what it meant is kept for the next frame.
func (d *ttyDecoder) vertexLineAt(s []byte, ts time.Time, slot int) {
	text, dur, hasDur, cut := splitTimer(s)
	var cached, failed, canceled bool
	for {
		switch {
		case bytes.HasPrefix(text, []byte("CACHED ")):
			cached, text = true, text[len("CACHED "):]
			continue
		case bytes.HasPrefix(text, []byte("ERROR ")):
			failed, text = true, text[len("ERROR "):]
			continue
		case bytes.HasPrefix(text, []byte("CANCELED ")):
			canceled, text = true, text[len("CANCELED "):]
			continue
		}
		break
	}
	if len(text) == 0 {
		return
	}
	if bytes.HasPrefix(text, []byte("WARN: ")) {
		d.t.warning(d.cur, string(text[len("WARN: "):]))
		return
	}
	s2 := d.vertexFor(text, cut)
	if slot >= 0 && slot < maxSlots && len(s) <= maxSlotLine {
		for len(d.slots) <= slot {
			d.slots = append(d.slots, ttySlot{})
		}
		sl := &d.slots[slot]
		sl.line = append(sl.line[:0], s...)
		off := cap(s) - cap(text) // text is a slice of s
		sl.name = sl.line[off : off+len(text)]
		sl.s, sl.dur, sl.hasDur, sl.cut = s2, dur, hasDur, cut
		sl.cached, sl.failed, sl.canceled = cached, failed, canceled
	}
	d.applyVertexLine(s2, ts, dur, hasDur, cached, failed, canceled)
}

// applyVertexLine records what a vertex line says of the vertex s2.
func (d *ttyDecoder) applyVertexLine(s2 *vstate, ts time.Time, dur time.Duration, hasDur, cached, failed, canceled bool) {
	v := s2.v
	s2.stamp(ts)
	if !ts.IsZero() && v.Started.IsZero() {
		v.Started = ts
	}
	if hasDur {
		d.t.setDuration(s2, dur)
		if !ts.IsZero() {
			v.Ended = ts
		}
	}
	if sn := &s2.tty; sn.frame == 0 {
		sn.frame, sn.timer = int32(d.frame)+1, dur
	} else {
		sn.grew = int(sn.frame) != d.frame+1 && dur > sn.timer
		sn.frame, sn.timer = int32(d.frame)+1, dur
	}
	if cached {
		d.t.cached(s2)
	}
	if canceled {
		d.t.cancel(s2)
	}
	if failed && v.Error == "" {
		// The tty shows only that it failed; the error text follows in the
		// summary and is attached in finish.
		d.t.setError(s2, ttyFailed)
	}
	d.cur = s2
}

// vertexFor finds or creates the vertex a tty line names. Dockerfile steps
// are keyed by their [stage n/m] label, which survives truncation; other
// vertices by name, matching a cut name against its full form (the
// display cuts names to the terminal's width, at a length that changes
// with the width of the timer).
func (d *ttyDecoder) vertexFor(text []byte, cut bool) *vstate {
	if s, ok := d.byName[string(text)]; ok {
		// Every frame restates every vertex: the same text is the same
		// vertex, without parsing its label again.
		if s.v.NameTruncated && !cut {
			d.rename(s, string(text), cut)
		}
		return s
	}
	name := string(text)
	var probe model.Vertex
	ApplyName(&probe, name)
	key := name
	if probe.Total > 0 {
		key = "step " + probe.Platform + " " + probe.Stage + " " + strconv.Itoa(probe.Index) + "/" + strconv.Itoa(probe.Total)
	}
	if s, ok := d.t.get(key); ok {
		d.rename(s, name, cut)
		d.byName[name] = s
		return s
	}
	if probe.Total == 0 {
		// A name cut at another length: compare with recent vertices that
		// share its first bytes, a bounded number of them.
		cands := d.cutIndex[cutKey(name)]
		for i, n := len(cands)-1, 0; i >= 0 && n < nameScan; i, n = i-1, n+1 {
			c := cands[i]
			cn := c.v.Name
			if (cut && strings.HasPrefix(cn, name)) || (c.v.NameTruncated && strings.HasPrefix(name, cn)) {
				d.rename(c, name, cut)
				d.byName[name] = c
				return c
			}
		}
	}
	d.nextKey++
	id := "v" + strconv.Itoa(d.nextKey)
	var s *vstate
	if probe.Total > 0 {
		s = d.t.add(key)
		s.v.ID = id
	} else {
		s = d.t.addUnkeyed(id) // found through byName and cutIndex
	}
	s.v.NameTruncated = cut
	d.t.namedAs(s, &probe)
	d.byName[name] = s
	if probe.Total == 0 {
		k := cutKey(name)
		d.cutIndex[k] = append(d.cutIndex[k], s)
	}
	return s
}

// rename keeps the longest form of a name seen across frames.
func (d *ttyDecoder) rename(s *vstate, name string, cut bool) {
	if len(name) > len(s.v.Name) || (s.v.NameTruncated && !cut && len(name) >= len(s.v.Name)) {
		s.v.NameTruncated = cut
		d.t.named(s, name)
	}
}

func (d *ttyDecoder) subLine(s []byte, ts time.Time) {
	if d.cur == nil {
		return
	}
	d.cur.stamp(ts)
	if out, ok := bytes.CutPrefix(s, []byte("# ")); ok || string(s) == "#" {
		d.windowLine(d.cur, out)
		return
	}
	slot := d.spos
	d.spos++
	if slot < len(d.subSlots) && !ttySlotsOff {
		if sl := &d.subSlots[slot]; sl.cur == d.cur && bytes.Equal(sl.line, s) {
			d.cur.setTransfer(sl.xfer)
			return
		}
	}
	text, dur, _, _ := splitTimer(s)
	st := parseStatus(text, &d.scratch)
	st.duration = dur
	export := d.t.exportFactBytes(st.name)
	if st.hasBytes {
		st.done = st.done || st.total == 0 || st.current == st.total
		t := model.Transfer{Name: d.cur.transferName(st.name), Bytes: st.current, Total: st.total, Duration: st.duration, Done: st.done}
		d.cur.setTransfer(t)
		// Export lines are not kept: they are few, and each is a fact.
		if !export && slot < maxSlots && len(s) <= maxSlotLine {
			for len(d.subSlots) <= slot {
				d.subSlots = append(d.subSlots, ttySubSlot{})
			}
			sl := &d.subSlots[slot]
			sl.line = append(sl.line[:0], s...)
			sl.cur, sl.xfer = d.cur, t
		}
	}
}

// running reports whether the last frame showed the vertex running. Frame
// numbers are stored plus one, so 0 means never shown.
func (s *ttySeen) running(lastFrame int) bool {
	last := int32(lastFrame) + 1
	return s.frame == last && (s.grew || s.window == last)
}

// ttyWindow is the output window the display shows under a running vertex:
// its last few lines, redrawn in every frame and scrolling as lines come.
type ttyWindow struct {
	lines [][]byte
	free  [][]byte // buffers of lines that left the window, for new ones
	frame int      // the frame that last drew it
	pos   int      // lines of it the current frame has drawn
}

// drop sends lines that left the window to the output and keeps their
// buffers.
func (w *ttyWindow) drop(s *vstate, gone [][]byte) {
	for _, g := range gone {
		s.addOutput(g)
		w.free = append(w.free, g[:0])
	}
}

// windowLine takes one "=> => # line" of a frame. Lines that scrolled out
// of the window since the last frame, and lines no frame will show again,
// go to the vertex's output once each, so redraws are not counted twice.
func (d *ttyDecoder) windowLine(s *vstate, line []byte) {
	s.tty.window = int32(d.frame) + 1
	if d.windows == nil {
		d.windows = map[*vstate]*ttyWindow{}
	}
	// A window's lines come one after another: the last window found is
	// most often the one.
	w := d.lastWindow
	if w == nil || d.lastWindowOf != s {
		w = d.windows[s]
		if w == nil {
			w = &ttyWindow{frame: -1}
			d.windows[s] = w
		}
		d.lastWindow, d.lastWindowOf = w, s
	}
	if w.frame != d.frame {
		// The first line of a new frame: what stood above it scrolled out.
		w.frame, w.pos = d.frame, 0
		p := slices.IndexFunc(w.lines, func(l []byte) bool { return bytes.Equal(l, line) })
		if p < 0 {
			p = len(w.lines)
		}
		w.drop(s, w.lines[:p])
		w.lines = append(w.lines[:0], w.lines[p:]...)
	}
	if w.pos < len(w.lines) && bytes.Equal(w.lines[w.pos], line) {
		w.pos++
		return
	}
	// A line the last frame did not show: the rest of the old window is
	// replaced.
	w.drop(s, w.lines[w.pos:])
	var buf []byte
	if n := len(w.free); n > 0 {
		buf, w.free = w.free[n-1], w.free[:n-1]
	}
	w.lines = append(w.lines[:w.pos], append(buf, line...))
	w.pos++
	if len(w.lines) > 64 { // a window is a few lines; bound a hostile one
		w.drop(s, w.lines[:1])
		w.lines = append(w.lines[:0], w.lines[1:]...)
		w.pos--
	}
}

// flushWindows sends what the windows still show to the output.
func (d *ttyDecoder) flushWindows() {
	if len(d.windows) == 0 {
		return
	}
	for s, w := range d.windows {
		for _, line := range w.lines {
			s.addOutput(line)
		}
	}
	d.windows = nil
	d.lastWindow, d.lastWindowOf = nil, nil
}

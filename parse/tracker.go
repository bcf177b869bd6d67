package parse

import (
	"bytes"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// maxOutputLine caps one kept output line; the tail is for humans.
const maxOutputLine = 4 << 10

// Bounds on build-level lists a hostile log could grow without end.
const (
	maxWarnings   = 1000
	maxImageNames = 100
	// nameScan bounds how many same-prefix vertices a truncated name is
	// compared with, so matching stays linear in the log.
	nameScan = 64
)

// outBuf holds a vertex's output lines back to back, each ended by '\n':
// first lines already scanned or dropped (before off), then the spill
// (lines that left the tail and were not yet looked at for errors, from
// off to the tail), then the tail (the last model.OutputTailLines lines,
// whose starts the ring holds). Each line is copied once, into buf; it
// becomes spill in place when it leaves the tail.
type outBuf struct {
	buf    []byte
	off    int
	starts [model.OutputTailLines]int32 // a ring: the oldest at head
	head   int
	n      int
}

// tailStart is where the tail begins in buf.
func (o *outBuf) tailStart() int {
	if o.n == 0 {
		return len(o.buf)
	}
	return int(o.starts[o.head])
}

// line returns the i-th line of the tail, oldest first.
func (o *outBuf) line(i int) []byte {
	const size = model.OutputTailLines
	start := int(o.starts[(o.head+i)%size])
	end := len(o.buf)
	if i+1 < o.n {
		end = int(o.starts[(o.head+i+1)%size])
	}
	return o.buf[start : end-1]
}

// vextra is the part of a vertex's parser state that few vertices need.
type vextra struct {
	// partial holds an unterminated rawjson log chunk.
	partial []byte
	ivals   intervals
	// xfer indexes v.Transfers by name once a vertex has many.
	xfer map[string]int
}

func (s *vstate) x() *vextra {
	if s.ext == nil {
		s.ext = &vextra{}
	}
	return s.ext
}

// errLines holds output lines that carry an error: the first few and a
// ring of the last ones.
type errLines struct {
	first []string
	last  []string
	next  int
}

// vstate is the parser-side state of one vertex.
type vstate struct {
	v   *model.Vertex
	out *outBuf // allocated with the first output line
	// ext holds what few vertices need: rawjson state, a transfer index.
	ext  *vextra
	errs *errLines
	// pool counts the spilled output of the build's vertices: lines that
	// left the tail are kept unscanned until the vertex's outcome is known,
	// so a step that succeeds never has its output scanned for errors.
	pool *spillPool
	// ran is the longest the vertex is known to have been running (its
	// last output offset, or the span of CI timestamps on its lines): a
	// lower bound for a vertex the log never states a time for.
	ran time.Duration
	// firstTS and lastTS are the CI timestamps of its first and last line
	// (Unix nanoseconds; 0 when none).
	firstTS, lastTS int64
	// tty is what the tty display's frames showed of the vertex.
	tty ttySeen
}

// ttySeen is what tty frames showed of a vertex: the last frame that showed
// it and its timer there, whether the timer grew into that frame, and the
// last frame that showed its output window (frame numbers plus one).
type ttySeen struct {
	frame, window int32
	grew          bool
	timer         time.Duration
}

const errFirstMax = 4

func (s *vstate) addOutput(line []byte) {
	s.addShown(shownText(line))
}

// addText adds a line of output that noCR says holds no carriage return
// (srcLine.noCR), sparing the search for one.
func (s *vstate) addText(line []byte, noCR bool) {
	if !noCR {
		line = shownText(line)
	}
	s.addShown(line)
}

// addShown adds a line of output that is what a terminal shows.
func (s *vstate) addShown(line []byte) {
	if len(line) > maxOutputLine {
		line = line[:maxOutputLine]
	}
	o := s.out
	if o == nil {
		o = &outBuf{}
		s.out = o
		if s.pool != nil && len(s.pool.free) > 0 {
			n := len(s.pool.free) - 1
			o.buf, s.pool.free = s.pool.free[n][:0], s.pool.free[:n]
		}
	}
	const size = model.OutputTailLines
	end := len(o.buf)
	o.buf = append(o.buf, line...)
	o.buf = append(o.buf, '\n')
	s.v.OutputLines++
	if o.n < size {
		o.starts[(o.head+o.n)%size] = int32(end)
		o.n++
		return
	}
	// The tail is full (the usual case): the oldest line leaves it and is
	// spill now, where it is, and the new line takes its slot. No modulo:
	// the head only steps.
	h := o.head
	old := o.starts[h]
	o.starts[h] = int32(end)
	if h++; h == size {
		h = 0
	}
	o.head = h
	if s.pool != nil {
		s.pool.bytes += int(o.starts[h] - old)
	}
	if int(o.starts[h])-o.off > spillMax || s.pool != nil && s.pool.bytes > spillBudget {
		s.scanSpill()
	}
}

// Bounds of the output kept for error lines before it is scanned.
const (
	spillMax    = 1 << 20 // one vertex
	spillBudget = 8 << 20 // all vertices of a build
)

// spillPool counts the spilled bytes of a build's vertices and keeps the
// large buffers of vertices that finished for the next ones.
type spillPool struct {
	bytes int
	free  [][]byte
}

// scanSpill looks for error lines in the spilled output and forgets it.
func (s *vstate) scanSpill() {
	o := s.out
	if o == nil {
		return
	}
	rest := o.buf[o.off:o.tailStart()]
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if errorish(rest[:i]) {
			s.addErrorLine(rest[:i])
		}
		rest = rest[i+1:]
	}
	s.dropSpill(false)
}

// dropSpill forgets the spilled output, and moves the tail to the front
// of the buffer once the forgotten part is the larger. With done (the
// vertex finished well, its output will not grow much), the tail moves to
// a buffer of its size and the large one goes back to the pool for the
// next vertex: steps that run one after another share a few buffers.
func (s *vstate) dropSpill(done bool) {
	o := s.out
	if o == nil {
		return
	}
	ts := o.tailStart()
	if s.pool != nil {
		s.pool.bytes -= ts - o.off
	}
	o.off = ts
	if o.off == 0 || o.off < len(o.buf)-o.off {
		return
	}
	live := o.buf[o.off:]
	if done && len(live) < cap(o.buf)/4 {
		if s.pool != nil && len(s.pool.free) < 4 {
			s.pool.free = append(s.pool.free, o.buf[:0])
		}
		o.buf = append(make([]byte, 0, 2*len(live)+256), live...)
	} else {
		o.buf = o.buf[:copy(o.buf, live)]
	}
	for i := range o.starts {
		o.starts[i] -= int32(o.off)
	}
	o.off = 0
}

func (s *vstate) addErrorLine(line []byte) {
	if len(line) > model.ErrorLineMaxBytes {
		line = line[:model.ErrorLineMaxBytes]
	}
	text := strings.TrimSpace(string(line))
	if s.errs == nil {
		s.errs = &errLines{}
	}
	e := s.errs
	if text == "" || slices.Contains(e.first, text) || slices.Contains(e.last, text) {
		return // the tty display redraws the same lines in every frame
	}
	if len(e.first) < errFirstMax {
		e.first = append(e.first, text)
		return
	}
	const lastMax = model.ErrorLinesMax - errFirstMax
	if len(e.last) < lastMax {
		e.last = append(e.last, text)
		return
	}
	e.last[e.next] = text
	e.next = (e.next + 1) % lastMax
}

// dropErrorLines forgets error lines of a vertex that finished well: the
// lines a successful step printed are not an error.
func (s *vstate) dropErrorLines() {
	s.errs = nil
	s.dropSpill(true)
}

func (s *vstate) resetOutput() {
	// The tail's lines are forgotten, not spilled.
	if o := s.out; o != nil {
		o.buf = o.buf[:o.tailStart()]
		o.head, o.n = 0, 0
	}
}

func (s *vstate) flushOutput() {
	s.v.Output = nil
	keepErrors := s.v.Error != "" || s.v.Canceled || !s.v.Completed
	if keepErrors {
		s.scanSpill()
	}
	if o := s.out; o != nil && o.n > 0 {
		s.v.Output = make([]string, 0, o.n)
		for i := 0; i < o.n; i++ {
			line := o.line(i)
			s.v.Output = append(s.v.Output, string(line))
			if keepErrors && errorish(line) {
				s.addErrorLine(line)
			}
		}
	}
	s.dropSpill(false)
	s.out = nil
	v := s.v
	if e := s.errs; e != nil && keepErrors {
		v.ErrorLines = make([]string, 0, len(e.first)+len(e.last))
		v.ErrorLines = append(v.ErrorLines, e.first...)
		v.ErrorLines = append(v.ErrorLines, e.last[e.next:]...)
		v.ErrorLines = append(v.ErrorLines, e.last[:e.next]...)
	}
	s.dropErrorLines()
}

// transferName returns name as a string, the vertex's own when it has a
// transfer of that name already, so a restated transfer costs nothing.
func (s *vstate) transferName(name []byte) string {
	if s.ext != nil && s.ext.xfer != nil {
		if i, ok := s.ext.xfer[string(name)]; ok {
			return s.v.Transfers[i].Name
		}
		return string(name)
	}
	for i := range s.v.Transfers {
		if s.v.Transfers[i].Name == string(name) {
			return s.v.Transfers[i].Name
		}
	}
	return string(name)
}

// setTransfer records the latest state of a named transfer in O(1).
func (s *vstate) setTransfer(t model.Transfer) {
	if t.Bytes < 0 || t.Bytes > model.MaxBytes || t.Total < 0 || t.Total > model.MaxBytes {
		return
	}
	if t.Duration < 0 || t.Duration > model.MaxDuration {
		t.Duration = 0
	}
	tr := s.v.Transfers
	if s.ext != nil && s.ext.xfer != nil {
		if i, ok := s.ext.xfer[t.Name]; ok {
			tr[i] = t
			return
		}
	} else {
		for i := range tr {
			if tr[i].Name == t.Name {
				tr[i] = t
				return
			}
		}
		if len(tr) >= 8 {
			x := s.x()
			x.xfer = make(map[string]int, 16)
			for i := range tr {
				x.xfer[tr[i].Name] = i
			}
		}
	}
	if s.ext != nil && s.ext.xfer != nil {
		s.ext.xfer[t.Name] = len(tr)
	}
	s.v.Transfers = append(tr, t)
}

// stamp notes a CI timestamp on one of the vertex's lines.
func (s *vstate) stamp(ts time.Time) {
	if ts.IsZero() {
		return
	}
	n := ts.UnixNano()
	if s.firstTS == 0 {
		s.firstTS = n
	}
	if n > s.lastTS {
		s.lastTS = n
	}
}

// sawRunning notes that the vertex had been running for at least d.
func (s *vstate) sawRunning(d time.Duration) {
	if validDuration(d) && d > s.ran {
		s.ran = d
	}
}

// validDuration rejects negative and absurd durations.
func validDuration(d time.Duration) bool { return d >= 0 && d <= model.MaxDuration }

// tracker is the one state machine every format decoder feeds: vertices by
// key in order of first appearance, the trailing error block, and build
// level facts. Decoders only translate lines into tracker calls.
//
// Progress about one vertex is merged, never replaced (the rule the package
// documentation states): flags (cached, cancelled, failed, completed) are
// only ever set, and a duration only ever grows.
type tracker struct {
	b     *model.Build
	byKey map[string]*vstate
	order []*vstate
	// byName holds exact printed names (latest vertex wins); it is built
	// on the first lookup, as most logs never need it.
	byName map[string]*vstate
	// cutNames indexes vertices whose printed name was cut, by the first
	// bytes of the name, for matching an error box's full name.
	cutNames map[string][]*vstate
	eb       errBlock
	// first and last CI timestamps seen on build lines.
	firstTS, lastTS time.Time
	// warningList is set while reading "N warnings found" items.
	warningList bool
	warned      map[string]bool
	// ended is set when the log shows the build's end: a FINISHED
	// header, an image written or named, "Successfully built", an export.
	ended bool
	// anyFailed is set once a vertex failed or was cancelled, or the build
	// printed its closing error.
	anyFailed bool
	// lastStep is the Dockerfile step named last.
	lastStep *vstate
	// namedCount counts the vertices that have a name.
	namedCount int
	// spills counts the output bytes all vertices hold for error lines.
	spills spillPool
}

func newTracker(f model.Format) *tracker {
	return &tracker{
		b:        &model.Build{Format: f, Status: model.StatusUnknown},
		byKey:    map[string]*vstate{},
		cutNames: map[string][]*vstate{},
		warned:   map[string]bool{},
	}
}

func (t *tracker) get(key string) (*vstate, bool) {
	s, ok := t.byKey[key]
	return s, ok
}

func (t *tracker) add(key string) *vstate {
	s := &vstate{v: &model.Vertex{ID: key}, pool: &t.spills}
	t.byKey[key] = s
	t.order = append(t.order, s)
	return s
}

// addUnkeyed adds a vertex the decoder finds by its own index.
func (t *tracker) addUnkeyed(id string) *vstate {
	s := &vstate{v: &model.Vertex{ID: id}, pool: &t.spills}
	t.order = append(t.order, s)
	return s
}

func (t *tracker) getOrAdd(key string) *vstate {
	if s, ok := t.byKey[key]; ok {
		return s
	}
	return t.add(key)
}

// named sets a vertex's name and indexes it for findByName.
func (t *tracker) named(s *vstate, name string) {
	if s.v.Name == "" {
		t.namedCount++
	}
	ApplyName(s.v, name)
	t.indexName(s, name)
}

// namedAs names a vertex with the fields ApplyName already derived into
// probe.
func (t *tracker) namedAs(s *vstate, probe *model.Vertex) {
	if s.v.Name == "" {
		t.namedCount++
	}
	v := s.v
	v.Name, v.Platform, v.Stage, v.Index, v.Total = probe.Name, probe.Platform, probe.Stage, probe.Index, probe.Total
	v.Instruction, v.Args = probe.Instruction, probe.Args
	t.indexName(s, probe.Name)
}

func (t *tracker) indexName(s *vstate, name string) {
	if s.v.Total > 0 {
		t.lastStep = s
	}
	if t.byName != nil {
		t.byName[name] = s
	}
	if s.v.NameTruncated {
		k := cutKey(name)
		t.cutNames[k] = append(t.cutNames[k], s)
	}
}

func cutKey(name string) string { return name[:min(len(name), 12)] }

// stamp records a CI timestamp for build-duration purposes.
func (t *tracker) stamp(ts time.Time) {
	if ts.IsZero() {
		return
	}
	if t.firstTS.IsZero() {
		t.firstTS = ts
	}
	if ts.After(t.lastTS) {
		t.lastTS = ts
	}
}

// findByName finds a vertex by its printed name (for error blocks). A name
// the tty display cut matches the full name it begins.
func (t *tracker) findByName(name string) *vstate {
	if t.byName == nil {
		t.byName = make(map[string]*vstate, len(t.order))
		for _, s := range t.order {
			t.byName[s.v.Name] = s
		}
	}
	if s, ok := t.byName[name]; ok {
		return s
	}
	if len(name) < 12 {
		return nil
	}
	cands := t.cutNames[cutKey(name)]
	for i, n := len(cands)-1, 0; i >= 0 && n < nameScan; i, n = i-1, n+1 {
		if c := cands[i]; c.v.NameTruncated && len(c.v.Name) >= 12 && strings.HasPrefix(name, c.v.Name) {
			return c
		}
	}
	return nil
}

var exitCodeRE = regexp.MustCompile(`(?:exit code|non-zero code|exit status):? (\d+)`)

// exitCode finds the process exit code an error message states.
func exitCode(msg string) int {
	if !strings.Contains(msg, "exit") && !strings.Contains(msg, "code") {
		return 0
	}
	if m := exitCodeRE.FindStringSubmatch(msg); m != nil {
		n, err := strconv.Atoi(m[1])
		if err == nil && n >= 0 && n < 1<<16 {
			return n
		}
	}
	return 0
}

// setError marks a vertex failed. A failed cache import is only a warning:
// the build goes on without the cache.
func (t *tracker) setError(s *vstate, msg string) {
	if strings.HasPrefix(s.v.Name, "importing cache manifest") {
		t.b.Warnings = append(t.b.Warnings, model.Warning{Vertex: s.v.ID, Text: "cache import failed: " + msg})
		s.v.Warnings = append(s.v.Warnings, msg)
		s.v.Completed = true
		return
	}
	if isCanceled(msg) {
		t.cancel(s)
		return
	}
	t.anyFailed = true
	if s.v.Error == "" || s.v.Error == ttyFailed {
		s.v.Error = msg
	}
	s.v.Completed = true
	if c := exitCode(msg); c != 0 && s.v.ExitCode == 0 {
		s.v.ExitCode = c
	}
}

// isCanceled recognises the errors BuildKit gives a vertex it cancelled
// (a process killed by the cancellation ends its error the same way).
func isCanceled(msg string) bool {
	return strings.HasSuffix(msg, "context canceled")
}

// cancel marks a vertex cancelled.
func (t *tracker) cancel(s *vstate) {
	s.v.Canceled, s.v.Completed = true, true
	t.anyFailed = true
}

// seemsEnded reports cheaply whether the build looks over: it ended, failed,
// or its last named step is a finished last step of its stage.
func (t *tracker) seemsEnded() bool {
	if t.ended || t.anyFailed {
		return true
	}
	ls := t.lastStep
	return ls != nil && ls.v.Completed && ls.v.Index == ls.v.Total
}

// done marks a vertex finished, with the time the log states for it if any.
func (t *tracker) done(s *vstate, d time.Duration, hasD bool) {
	s.v.Completed = true
	if hasD {
		t.setDuration(s, d)
	}
	if s.v.Error == "" && !s.v.Canceled {
		s.dropErrorLines()
	}
}

// cached marks a vertex as served from the cache.
func (t *tracker) cached(s *vstate) {
	s.v.Cached, s.v.Completed = true, true
	if s.v.Error == "" {
		s.dropErrorLines()
	}
}

// setDuration applies a stated duration: a vertex's time only grows, and an
// absurd one is dropped.
func (t *tracker) setDuration(s *vstate, d time.Duration) {
	if !validDuration(d) {
		return
	}
	if !s.v.HasDuration || d > s.v.Duration {
		s.v.Duration, s.v.HasDuration = d, true
	}
}

// warning records a vertex or build warning once.
func (t *tracker) warning(s *vstate, text string) {
	id := ""
	if s != nil {
		id = s.v.ID
		if len(s.v.Warnings) < maxWarnings {
			s.v.Warnings = append(s.v.Warnings, text)
		}
	}
	if t.warned[text] || len(t.b.Warnings) >= maxWarnings {
		return
	}
	t.warned[text] = true
	t.b.Warnings = append(t.b.Warnings, model.Warning{Vertex: id, Text: text})
}

func (t *tracker) imageName(name string) {
	name = strings.TrimSpace(name)
	if name == "" || len(t.b.ImageNames) >= maxImageNames || slices.Contains(t.b.ImageNames, name) {
		return
	}
	t.b.ImageNames = append(t.b.ImageNames, name)
}

// exportPrefixes begin the status names exportFact reads.
var exportPrefixes = []string{"writing image ", "naming to ", "exporting manifest list", "pushing manifest", "sending tarball", "unpacking to"}

// exportFactBytes is exportFact for a name in a line's bytes: it makes a
// string only of a name exportFact reads, and reports whether it was one.
func (t *tracker) exportFactBytes(name []byte) bool {
	for _, p := range exportPrefixes {
		if bytes.HasPrefix(name, []byte(p)) {
			t.exportFact(string(name))
			return true
		}
	}
	return false
}

// exportFact records what an export status line says about the image; such
// lines mean the build reached its end. Its prefixes are exportPrefixes.
func (t *tracker) exportFact(name string) {
	switch {
	case strings.HasPrefix(name, "writing image "):
		t.b.ImageID = strings.TrimSpace(strings.TrimPrefix(name, "writing image "))
		t.ended = true
	case strings.HasPrefix(name, "naming to "):
		t.imageName(strings.TrimPrefix(name, "naming to "))
		t.ended = true
	case strings.HasPrefix(name, "exporting manifest list"), strings.HasPrefix(name, "pushing manifest"), strings.HasPrefix(name, "sending tarball"), strings.HasPrefix(name, "unpacking to"):
		t.ended = true
	}
}

// summaryLine records a build's closing error line.
func (t *tracker) summaryLine(msg string) {
	t.anyFailed = true
	if t.b.Error == "" {
		t.b.Error = msg
	}
}

// commonLine handles lines that every text format shares: the error block,
// the summary error, warning lists and legacy-style notices. It reports
// whether it consumed the line.
func (t *tracker) commonLine(line string) bool {
	if t.eb.feed(t, line) {
		return true
	}
	trimmed := strings.TrimSpace(line)
	if msg, ok := summaryError(trimmed); ok {
		t.summaryLine(msg)
		t.warningList = false
		return true
	}
	if strings.HasSuffix(trimmed, "warnings found (use docker --debug to expand):") || strings.HasSuffix(trimmed, "warning found (use docker --debug to expand):") {
		t.warningList = true
		return true
	}
	if t.warningList {
		if rest, ok := strings.CutPrefix(trimmed, "- "); ok {
			t.warning(nil, rest)
			return true
		}
		t.warningList = false
	}
	if rest, ok := strings.CutPrefix(trimmed, "WARNING: "); ok {
		t.warning(nil, rest)
		return true
	}
	return false
}

// summaryError recognises the build's closing error line in its variants:
// "ERROR: failed to solve: ...", "error: failed to solve: ...",
// "failed to solve: ...", "ERROR: failed to build: ...", the 20.10 CLI's
// bare "executor failed running [...]: exit code: 3", and the errors of a
// build that fails outside any step: the daemon connection lost ("failed to
// receive status: rpc error ..."), a push or export that fails, a base
// image or named context that cannot be found, a cancelled build.
func summaryError(s string) (string, bool) {
	// compose and bake name the target: "target web: failed to solve: ...".
	if t, ok := strings.CutPrefix(s, "target "); ok {
		if i := strings.Index(t, ": "); i > 0 && !strings.ContainsAny(t[:i], " \t") {
			s = t[i+2:]
		}
	}
	rest := s
	if len(rest) > 7 && strings.EqualFold(rest[:7], "error: ") {
		rest = rest[7:]
	} else if len(rest) > 6 && strings.EqualFold(rest[:6], "error ") && strings.HasPrefix(rest[6:], "failed") {
		rest = rest[6:]
	}
	for _, p := range summaryPrefixes {
		if strings.HasPrefix(rest, p) {
			return rest, true
		}
	}
	// Any "ERROR: ..." line the buildx CLI prints at top level ends the
	// build, whatever its wording.
	if rest != s && strings.HasPrefix(s, "ERROR: ") && len(rest) > 0 {
		return rest, true
	}
	return "", false
}

var summaryPrefixes = []string{
	"failed to solve", "failed to build", "executor failed running", "failed to compute cache key",
	"failed to load cache key", "failed to read dockerfile", "failed to parse dockerfile",
	"dockerfile parse error", "failed to receive status", "failed to dial gRPC",
	"failed to push", "failed to export", "failed to copy", "failed to get build context",
	"failed to read context", "failed to fetch", "failed to do request",
	"unexpected status from", "context canceled", "canceled", "Canceled:", "rpc error:",
	"Cannot connect to the Docker daemon", "error during connect", "pull access denied",
	"manifest unknown", "denied: requested access", "unauthorized:",
}

// statedTimePrecision is how finely text logs state a step's time
// ("DONE 1.8s").
const statedTimePrecision = 100 * time.Millisecond

// finish turns tracker state into the final model.Build.
func (t *tracker) finish() *model.Build {
	b := t.b
	t.eb.finish(t)
	b.Vertices = make([]*model.Vertex, 0, len(t.order))
	for _, s := range t.order {
		if s.ext != nil && len(s.ext.partial) > 0 {
			s.addOutput(s.ext.partial)
		}
		v := s.v
		if !v.HasDuration && !v.Started.IsZero() && v.Ended.After(v.Started) {
			t.setDuration(s, v.Ended.Sub(v.Started))
		}
		if s.firstTS != 0 && s.lastTS > s.firstTS {
			s.sawRunning(time.Duration(s.lastTS - s.firstTS))
		}
		// A vertex with no stated time that had been running keeps the time
		// it ran as a lower bound.
		switch {
		case !v.Completed && v.HasDuration:
			v.DurationIsLowerBound = true
			if s.ran > v.Duration {
				v.Duration = s.ran
			}
		case !v.HasDuration && s.ran > 0 && (!v.Completed || v.Error != "" || v.Canceled) && !v.Cached:
			// It ran (or was still running) without a stated time.
			v.Duration, v.HasDuration, v.DurationIsLowerBound = s.ran, true, true
		}
		// CI timestamps say when a line reached the log, which can be
		// long after the step began (a runner that flushes in batches
		// stamps "#6 transferring context 1.8s done" and "#6 DONE 1.8s"
		// within microseconds of its first line). The time BuildKit states
		// is the step's own: it ended when its end was printed, so it began
		// that long before. Stated times are rounded to a tenth of a
		// second, so a shorter gap than that is rounding, not batching.
		if v.Completed && v.HasDuration && !v.DurationIsLowerBound && !v.Ended.IsZero() && b.Format != model.FormatRawJSON &&
			(v.Started.IsZero() || v.Ended.Sub(v.Started) < v.Duration-statedTimePrecision) {
			v.Started = v.Ended.Add(-v.Duration)
			if !t.firstTS.IsZero() && v.Started.Before(t.firstTS) {
				t.firstTS = v.Started // the build began by then too
			}
		}
		s.flushOutput()
		s.ext = nil
		b.Vertices = append(b.Vertices, v)
	}
	if !b.HasDuration && !t.firstTS.IsZero() && t.lastTS.After(t.firstTS) && validDuration(t.lastTS.Sub(t.firstTS)) {
		b.Duration, b.HasDuration, b.DurationFromTimestamps = t.lastTS.Sub(t.firstTS), true, true
	}
	if b.Started.IsZero() && !t.firstTS.IsZero() {
		b.Started, b.Completed = t.firstTS, t.lastTS
	}
	if b.HasDuration && !validDuration(b.Duration) {
		b.Duration, b.HasDuration, b.DurationFromTimestamps = 0, false, false
	}
	t.dropDatelessTimes()

	switch {
	case t.failed():
		b.Status = model.StatusFailed
	case b.Status == model.StatusSucceeded:
		// A decoder that saw the end (Successfully built) decided already.
	case t.ended && len(t.order) > 0 && t.allCompleted():
		// An end with nothing before it is no build.
		b.Status = model.StatusSucceeded
	default:
		b.Status = model.StatusUnknown
	}
	if b.Status != model.StatusFailed && len(t.order) > 0 && !(t.ended && t.allCompleted()) {
		b.Truncated = true
	}
	if b.Truncated && b.Status == model.StatusSucceeded {
		b.Status = model.StatusUnknown
	}
	if b.Truncated && b.HasDuration {
		b.DurationIsLowerBound = true
	}
	return b
}

// dropDatelessTimes clears absolute times that came from a time of day
// without a date: their differences are durations, their values are not
// times.
func (t *tracker) dropDatelessTimes() {
	b := t.b
	if !b.Started.IsZero() && b.Started.Year() == noDate {
		b.Started, b.Completed = time.Time{}, time.Time{}
	}
	for _, s := range t.order {
		if v := s.v; !v.Started.IsZero() && v.Started.Year() == noDate || !v.Ended.IsZero() && v.Ended.Year() == noDate {
			v.Started, v.Ended = time.Time{}, time.Time{}
		}
	}
}

func (t *tracker) failed() bool {
	if t.b.Error != "" {
		return true
	}
	for _, s := range t.order {
		if s.v.Error != "" || s.v.Canceled {
			return true
		}
	}
	return false
}

func (t *tracker) allCompleted() bool {
	for _, s := range t.order {
		if !s.v.Completed {
			return false
		}
	}
	return true
}

// exportDone reports whether an export vertex ("exporting to image",
// "exporting to client directory", "exporting cache") completed.
func (t *tracker) exportDone() bool {
	for i := len(t.order) - 1; i >= 0; i-- {
		if v := t.order[i].v; v.Completed && v.Error == "" && strings.HasPrefix(v.Name, "exporting ") {
			return true
		}
	}
	return false
}

// lastStepEnds reports whether the Dockerfile step named last is the last
// step of its stage ([n/n]): a plain log whose build exported nothing ends
// there.
func (t *tracker) lastStepEnds() bool {
	return t.lastStep != nil && t.lastStep.v.Index == t.lastStep.v.Total
}

// parseSeconds parses "12.3s", rejecting what is not a finite, sane time.
func parseSeconds(b []byte) (time.Duration, bool) {
	if len(b) < 2 || b[len(b)-1] != 's' {
		return 0, false
	}
	num := b[:len(b)-1]
	var m uint64 // the digits as one integer, and how many follow the point
	digits, frac, dots := 0, 0, 0
	for _, c := range num {
		switch {
		case isDigit(c):
			m = m*10 + uint64(c-'0')
			digits++
			if dots > 0 {
				frac++
			}
		case c == '.':
			dots++
		default:
			return 0, false // no signs, exponents, NaN or Inf
		}
	}
	var f float64
	if dots == 1 && frac > 0 && digits > frac && digits <= 15 {
		// What strconv.ParseFloat computes for such a number: an exact
		// integer over an exact power of ten, one correctly rounded
		// division.
		f = float64(m) / pow10[frac]
	} else {
		var err error
		if f, err = strconv.ParseFloat(string(num), 64); err != nil {
			return 0, false
		}
	}
	if math.IsNaN(f) || f < 0 || f > model.MaxDuration.Seconds() {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// interval is one started/completed pair of a rawjson vertex.
type interval struct {
	start time.Time
	stop  time.Time // zero while running
}

// intervals holds a rawjson vertex's runs, keyed by start time as
// BuildKit's display keys them, with O(1) replacement.
type intervals struct {
	list  []interval
	index map[int64]int // start (UnixNano) -> position, once there are many
}

func (iv *intervals) put(x interval) {
	key := x.start.UnixNano()
	if n := len(iv.list); n > 0 && iv.list[n-1].start.Equal(x.start) {
		iv.list[n-1] = x
		return
	}
	if iv.index != nil {
		if i, ok := iv.index[key]; ok {
			iv.list[i] = x
			return
		}
	} else {
		for i := range iv.list {
			if iv.list[i].start.Equal(x.start) {
				iv.list[i] = x
				return
			}
		}
		if len(iv.list) >= 8 {
			iv.index = make(map[int64]int, 16)
			for i := range iv.list {
				iv.index[iv.list[i].start.UnixNano()] = i
			}
		}
	}
	if iv.index != nil {
		iv.index[key] = len(iv.list)
	}
	iv.list = append(iv.list, x)
}

// mergedDuration sums the union of the intervals, the way BuildKit's
// progress display does: overlapping runs count once.
func mergedDuration(ivals []interval) time.Duration {
	if len(ivals) == 0 {
		return 0
	}
	sorted := append([]interval(nil), ivals...)
	slices.SortFunc(sorted, func(a, b interval) int { return a.start.Compare(b.start) })
	var total time.Duration
	cur := sorted[0]
	for _, next := range sorted[1:] {
		if cur.stop.IsZero() {
			break
		}
		if cur.stop.Before(next.start) {
			total = model.AddDurations(total, cur.stop.Sub(cur.start))
			cur = next
			continue
		}
		if next.stop.IsZero() {
			cur.stop = time.Time{}
			break
		}
		if next.stop.After(cur.stop) {
			cur.stop = next.stop
		}
	}
	if !cur.stop.IsZero() {
		total = model.AddDurations(total, cur.stop.Sub(cur.start))
	}
	return total
}

// errorish reports whether an output line carries an error: error, ERR!,
// fatal, Traceback, missing, exit code/status, failed, panic, denied,
// "not found", "No such file", exception. One pass, case-insensitive, no
// allocation.
func errorish(s []byte) bool {
	for i := 0; i+4 <= len(s); i++ {
		c := s[i] | 0x20
		if errTrigger[c] == 0 || errSecond[c] != s[i+1]|0x20 && errSecond2[c] != s[i+1]|0x20 {
			continue // the first two letters rule out every word
		}
		// Words only: "liberror-perl" is a package, "TypeError" an error.
		if i > 0 && isLetter(s[i-1]) && !(s[i] >= 'A' && s[i] <= 'Z' && s[i-1] >= 'a' && s[i-1] <= 'z') {
			continue
		}
		rest := s[i:]
		switch c {
		case 'e':
			if hasFold(rest, "error") || hasFold(rest, "err!") || hasFold(rest, "exit code") || hasFold(rest, "exit status") || hasFold(rest, "exception") {
				return true
			}
		case 'f':
			if hasFold(rest, "fatal") || hasFold(rest, "failed") || hasFold(rest, "failure") {
				return true
			}
		case 't':
			if hasFold(rest, "traceback") {
				return true
			}
		case 'm':
			if hasFold(rest, "missing") {
				return true
			}
		case 'p':
			if hasFold(rest, "panic") {
				return true
			}
		case 'd':
			if hasFold(rest, "denied") {
				return true
			}
		case 'n':
			if hasFold(rest, "not found") || hasFold(rest, "no such file") {
				return true
			}
		}
	}
	return false
}

// errSecond and errSecond2 give, for each first letter of a keyword, the
// second letters its keywords can have.
var errSecond, errSecond2 = func() (a, b [256]byte) {
	a['e'], b['e'] = 'r', 'x' // error, err!; exit, exception
	a['f'] = 'a'              // fatal, failed, failure
	a['t'] = 'r'              // traceback
	a['m'] = 'i'              // missing
	a['p'] = 'a'              // panic
	a['d'] = 'e'              // denied
	a['n'] = 'o'              // not found, no such file
	return a, b
}()

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

var errTrigger = func() (t [256]byte) {
	for _, c := range "eftmpdn" {
		t[c] = 1
	}
	return t
}()

// hasFold reports whether s begins with the lower-case word w, ignoring
// the case of s.
func hasFold(s []byte, w string) bool {
	if len(s) < len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c |= 0x20
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

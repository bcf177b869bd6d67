package parse

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// maxOutputLine caps one kept output line; the tail is for humans.
const maxOutputLine = 4 << 10

// vstate is the parser-side state of one vertex.
type vstate struct {
	v *model.Vertex
	// tail is a ring of reused buffers so output lines cost no allocation.
	tail     [model.OutputTailLines][]byte
	tailNext int
	tailLen  int
	// partial holds an unterminated rawjson log chunk.
	partial   []byte
	intervals []interval
}

func (s *vstate) addOutput(line []byte) {
	if len(line) > maxOutputLine {
		line = line[:maxOutputLine]
	}
	s.tail[s.tailNext] = append(s.tail[s.tailNext][:0], line...)
	s.tailNext = (s.tailNext + 1) % len(s.tail)
	if s.tailLen < len(s.tail) {
		s.tailLen++
	}
	s.v.OutputLines++
}

func (s *vstate) resetOutput() { s.tailNext, s.tailLen = 0, 0 }

func (s *vstate) flushOutput() {
	s.v.Output = s.v.Output[:0]
	start := (s.tailNext - s.tailLen + len(s.tail)) % len(s.tail)
	for i := 0; i < s.tailLen; i++ {
		s.v.Output = append(s.v.Output, string(s.tail[(start+i)%len(s.tail)]))
	}
	if len(s.v.Output) == 0 {
		s.v.Output = nil
	}
}

// tracker is the one state machine every format decoder feeds: vertices by
// key in order of first appearance, the trailing error block, and build
// level facts. Decoders only translate lines into tracker calls.
type tracker struct {
	b     *model.Build
	byKey map[string]*vstate
	order []*vstate
	eb    errBlock
	// first and last CI timestamps seen on build lines.
	firstTS, lastTS time.Time
	// warningList is set while reading "N warnings found" items.
	warningList bool
}

func newTracker(f model.Format) *tracker {
	return &tracker{b: &model.Build{Format: f, Status: model.StatusUnknown}, byKey: map[string]*vstate{}}
}

func (t *tracker) get(key string) (*vstate, bool) {
	s, ok := t.byKey[key]
	return s, ok
}

func (t *tracker) add(key string) *vstate {
	s := &vstate{v: &model.Vertex{ID: key}}
	t.byKey[key] = s
	t.order = append(t.order, s)
	return s
}

func (t *tracker) getOrAdd(key string) *vstate {
	if s, ok := t.byKey[key]; ok {
		return s
	}
	return t.add(key)
}

// stamp records a CI timestamp for build-duration purposes.
func (t *tracker) stamp(ts time.Time) {
	if ts.IsZero() {
		return
	}
	if t.firstTS.IsZero() {
		t.firstTS = ts
	}
	t.lastTS = ts
}

// findByName finds a vertex by its printed name (for error blocks).
func (t *tracker) findByName(name string) *vstate {
	for i := len(t.order) - 1; i >= 0; i-- {
		if t.order[i].v.Name == name {
			return t.order[i]
		}
	}
	// tty names may be truncated: accept a prefix match.
	for i := len(t.order) - 1; i >= 0; i-- {
		n := t.order[i].v.Name
		if t.order[i].v.NameTruncated && len(n) >= 12 && strings.HasPrefix(name, n) {
			return t.order[i]
		}
	}
	return nil
}

var exitCodeRE = regexp.MustCompile(`(?:exit code|non-zero code|exit status):? (\d+)`)

// setError marks a vertex failed. A failed cache import is only a warning:
// the build goes on without the cache.
func (t *tracker) setError(s *vstate, msg string) {
	if strings.HasPrefix(s.v.Name, "importing cache manifest") {
		t.b.Warnings = append(t.b.Warnings, model.Warning{Vertex: s.v.ID, Text: "cache import failed: " + msg})
		s.v.Warnings = append(s.v.Warnings, msg)
		s.v.Completed = true
		return
	}
	s.v.Error = msg
	s.v.Completed = true
	if m := exitCodeRE.FindStringSubmatch(msg); m != nil {
		s.v.ExitCode, _ = strconv.Atoi(m[1])
	}
}

// warning records a vertex or build warning once.
func (t *tracker) warning(s *vstate, text string) {
	id := ""
	if s != nil {
		id = s.v.ID
		s.v.Warnings = append(s.v.Warnings, text)
	}
	for _, w := range t.b.Warnings {
		if w.Text == text {
			return
		}
	}
	t.b.Warnings = append(t.b.Warnings, model.Warning{Vertex: id, Text: text})
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
		if t.b.Error == "" {
			t.b.Error = msg
		}
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
// "failed to solve: ...", "ERROR: failed to build: ...", and the 20.10 CLI's
// bare "executor failed running [...]: exit code: 3".
func summaryError(s string) (string, bool) {
	rest := s
	if len(rest) > 7 && strings.EqualFold(rest[:7], "error: ") {
		rest = rest[7:]
	}
	for _, p := range []string{"failed to solve", "failed to build", "executor failed running", "failed to compute cache key", "failed to load cache key", "failed to read dockerfile", "failed to parse dockerfile", "dockerfile parse error"} {
		if strings.HasPrefix(rest, p) {
			return rest, true
		}
	}
	return "", false
}

// finish turns tracker state into the final model.Build.
func (t *tracker) finish() *model.Build {
	b := t.b
	b.Vertices = make([]*model.Vertex, 0, len(t.order))
	for _, s := range t.order {
		if len(s.partial) > 0 {
			s.addOutput(s.partial)
			s.partial = nil
		}
		s.flushOutput()
		if v := s.v; !v.HasDuration && !v.Started.IsZero() && v.Ended.After(v.Started) {
			v.Duration, v.HasDuration = v.Ended.Sub(v.Started), true
		}
		b.Vertices = append(b.Vertices, s.v)
	}
	t.eb.finish(t)
	if !b.HasDuration && !t.firstTS.IsZero() && t.lastTS.After(t.firstTS) {
		b.Duration, b.HasDuration = t.lastTS.Sub(t.firstTS), true
	}
	if b.Started.IsZero() && !t.firstTS.IsZero() {
		b.Started, b.Completed = t.firstTS, t.lastTS
	}
	if b.Status == model.StatusUnknown || b.Status == "" {
		b.Status = t.inferStatus()
	} else if t.failed() {
		b.Status = model.StatusFailed
	}
	return b
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

// inferStatus decides the outcome for formats without an explicit final
// line: failed on any error, succeeded when every vertex completed.
func (t *tracker) inferStatus() model.Status {
	if t.failed() {
		return model.StatusFailed
	}
	if len(t.order) == 0 {
		return model.StatusUnknown
	}
	for _, s := range t.order {
		if !s.v.Completed {
			return model.StatusUnknown
		}
	}
	return model.StatusSucceeded
}

// interval is one started/completed pair of a rawjson vertex.
type interval struct {
	start time.Time
	stop  time.Time // zero while running
}

// mergedDuration sums the union of the intervals, the way BuildKit's
// progress display does: overlapping runs count once.
func mergedDuration(ivals []interval) time.Duration {
	if len(ivals) == 0 {
		return 0
	}
	sorted := append([]interval(nil), ivals...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].start.Before(sorted[j].start) })
	var total time.Duration
	cur := sorted[0]
	for _, next := range sorted[1:] {
		if cur.stop.IsZero() {
			break
		}
		if cur.stop.Before(next.start) {
			total += cur.stop.Sub(cur.start)
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
		total += cur.stop.Sub(cur.start)
	}
	return total
}

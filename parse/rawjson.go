package parse

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// SolveStatus mirrors the JSON of BuildKit's client.SolveStatus as printed
// by `--progress=rawjson`, so that parse does not import BuildKit. Byte
// fields are base64 in JSON, as encoding/json encodes []byte.
type SolveStatus struct {
	Vertexes []*StatusVertex  `json:"vertexes,omitempty"`
	Statuses []*VertexStatus  `json:"statuses,omitempty"`
	Logs     []*VertexLog     `json:"logs,omitempty"`
	Warnings []*VertexWarning `json:"warnings,omitempty"`
}

// StatusVertex mirrors client.Vertex.
type StatusVertex struct {
	Digest        string         `json:"digest,omitempty"`
	Inputs        []string       `json:"inputs,omitempty"`
	Name          string         `json:"name,omitempty"`
	Started       *time.Time     `json:"started,omitempty"`
	Completed     *time.Time     `json:"completed,omitempty"`
	Cached        bool           `json:"cached,omitempty"`
	Error         string         `json:"error,omitempty"`
	ProgressGroup *ProgressGroup `json:"progressGroup,omitempty"`
}

// ProgressGroup mirrors pb.ProgressGroup.
type ProgressGroup struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	Weak bool   `json:"weak,omitempty"`
}

// VertexStatus mirrors client.VertexStatus: a progress item of a vertex.
type VertexStatus struct {
	ID        string     `json:"id"`
	Vertex    string     `json:"vertex,omitempty"`
	Name      string     `json:"name,omitempty"`
	Total     int64      `json:"total,omitempty"`
	Current   int64      `json:"current"`
	Timestamp time.Time  `json:"timestamp"`
	Started   *time.Time `json:"started,omitempty"`
	Completed *time.Time `json:"completed,omitempty"`
}

// VertexLog mirrors client.VertexLog.
type VertexLog struct {
	Vertex    string    `json:"vertex,omitempty"`
	Stream    int       `json:"stream,omitempty"`
	Data      []byte    `json:"data,omitempty"`
	Timestamp time.Time `json:"timestamp"`
}

// VertexWarning mirrors client.VertexWarning.
type VertexWarning struct {
	Vertex string   `json:"vertex,omitempty"`
	Level  int      `json:"level,omitempty"`
	Short  []byte   `json:"short,omitempty"`
	Detail [][]byte `json:"detail,omitempty"`
	URL    string   `json:"url,omitempty"`
}

// Recorder builds a model.Build from a stream of SolveStatus updates, the
// same way whether they come from a rawjson file or a live BuildKit session.
type Recorder struct {
	t *tracker
	// latest is the newest timestamp the stream carried: a vertex still
	// running had run at least until then.
	latest time.Time
	// lastKey and lastState are the vertex a status or log named last:
	// they come in runs for one vertex.
	lastKey   string
	lastState *vstate
}

// vertex finds the vertex a status, log or warning names.
func (r *Recorder) vertex(key string) (*vstate, bool) {
	if r.lastState != nil && key == r.lastKey {
		return r.lastState, true
	}
	s, ok := r.t.get(key)
	if ok {
		r.lastKey, r.lastState = key, s
	}
	return s, ok
}

// NewRecorder returns a Recorder for a rawjson-format build.
func NewRecorder() *Recorder { return &Recorder{t: newTracker(model.FormatRawJSON)} }

func (r *Recorder) saw(ts time.Time) {
	if ts.After(r.latest) {
		r.latest = ts
	}
}

// Add applies one status update.
func (r *Recorder) Add(st *SolveStatus) {
	t := r.t
	for _, sv := range st.Vertexes {
		if sv == nil || sv.Digest == "" {
			continue
		}
		s := t.getOrAdd(sv.Digest)
		v := s.v
		v.Digest = sv.Digest
		if sv.Name != "" && sv.Name != v.Name {
			t.named(s, sv.Name)
		}
		if len(sv.Inputs) > 0 && len(sv.Inputs) <= 10000 {
			v.Inputs = append(v.Inputs[:0], sv.Inputs...)
		}
		// BuildKit resends a vertex with a new Started for every run of it;
		// intervals are keyed by start time, as its display does.
		if sv.Started != nil {
			iv := interval{start: *sv.Started}
			r.saw(iv.start)
			if sv.Completed != nil {
				iv.stop = *sv.Completed
				r.saw(iv.stop)
				if iv.stop.Before(iv.start) {
					iv.stop = iv.start // clock skew or a hand-edited stream
				}
			}
			s.x().ivals.put(iv)
		}
		if sv.Cached {
			t.cached(s)
		}
		if sv.Error != "" {
			t.setError(s, sv.Error)
		}
		if sv.Completed != nil {
			v.Completed = true
			if v.Error == "" && !v.Canceled {
				s.dropErrorLines()
			}
		}
	}
	for _, ss := range st.Statuses {
		if ss == nil {
			continue
		}
		r.saw(ss.Timestamp)
		s, ok := r.vertex(ss.Vertex)
		if !ok {
			continue
		}
		r.status(s, ss)
	}
	for _, l := range st.Logs {
		if l == nil {
			continue
		}
		r.saw(l.Timestamp)
		if s, ok := r.vertex(l.Vertex); ok {
			appendLog(s, l.Data)
		}
	}
	for _, w := range st.Warnings {
		if w == nil {
			continue
		}
		s, _ := t.get(w.Vertex)
		t.warning(s, strings.TrimSpace(string(w.Short)))
	}
}

func (r *Recorder) status(s *vstate, ss *VertexStatus) {
	name := strings.TrimSuffix(strings.TrimSpace(ss.ID), ":")
	r.t.exportFact(name)
	if ss.Total == 0 && ss.Current == 0 {
		return
	}
	tr := model.Transfer{Name: name, Bytes: ss.Current, Total: ss.Total, Done: ss.Completed != nil}
	if ss.Started != nil {
		end := ss.Timestamp
		if ss.Completed != nil {
			end = *ss.Completed
		}
		tr.Duration = end.Sub(*ss.Started)
	}
	s.setTransfer(tr)
}

// appendLog splits a log chunk into lines, carrying a partial last line to
// the next chunk.
func appendLog(s *vstate, data []byte) {
	x := s.x()
	// A chunk without a CR (most are) is searched for one once, not once
	// per line it holds.
	noCR := bytes.IndexByte(data, '\r') < 0
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			x.partial = append(x.partial, data...)
			if len(x.partial) > maxOutputLine {
				s.addOutput(x.partial)
				x.partial = x.partial[:0]
			}
			return
		}
		if len(x.partial) > 0 {
			x.partial = append(x.partial, data[:i]...)
			s.addOutput(bytes.TrimRight(x.partial, "\r"))
			x.partial = x.partial[:0]
		} else if noCR {
			s.addShown(data[:i])
		} else {
			s.addOutput(bytes.TrimRight(data[:i], "\r"))
		}
		data = data[i+1:]
	}
}

// Build returns the build recorded so far. The Recorder must not be used
// after Build. A stream has no closing line: the build is complete when
// every vertex completed; a vertex still running keeps the time it had run
// by the stream's last timestamp, as a lower bound.
func (r *Recorder) Build() *model.Build {
	t := r.t
	var first, last time.Time
	for _, s := range t.order {
		v := s.v
		if s.ext == nil || len(s.ext.ivals.list) == 0 {
			continue
		}
		d := mergedDuration(s.ext.ivals.list)
		running := false
		for _, iv := range s.ext.ivals.list {
			if v.Started.IsZero() || iv.start.Before(v.Started) {
				v.Started = iv.start
			}
			if iv.stop.After(v.Ended) {
				v.Ended = iv.stop
			}
			if iv.stop.IsZero() {
				running = true
				if r.latest.After(iv.start) {
					s.sawRunning(r.latest.Sub(iv.start))
				}
			}
		}
		if validDuration(d) && (d > 0 || !running) {
			v.Duration, v.HasDuration = d, true
		}
		if first.IsZero() || v.Started.Before(first) {
			first = v.Started
		}
		if v.Ended.After(last) {
			last = v.Ended
		}
	}
	if !first.IsZero() && last.After(first) && validDuration(last.Sub(first)) {
		t.b.Started, t.b.Completed = first, last
		t.b.Duration, t.b.HasDuration = last.Sub(first), true
	}
	// BuildKit sends the whole graph up front; list vertices in the order
	// they started, as --progress=plain numbers them.
	slices.SortStableFunc(t.order, func(a, b *vstate) int {
		x, y := a.v.Started, b.v.Started
		switch {
		case x.IsZero() && y.IsZero():
			return 0
		case x.IsZero():
			return 1
		case y.IsZero():
			return -1
		}
		return x.Compare(y)
	})
	t.ended = true // judged by whether every vertex completed
	return t.finish()
}

// ParseRawJSON reads `--progress=rawjson` output: one SolveStatus JSON
// object per line. Non-JSON lines (the error summary a failed build prints
// after the stream, CI noise) are handled like the text formats' trailers.
// It returns the last build when the log holds several (see ParseAll).
func ParseRawJSON(r io.Reader) (*model.Build, error) {
	return last(parseRawJSONAll(r))
}

func parseRawJSONAll(r io.Reader) ([]*model.Build, error) {
	var dec statusDecoder
	return parseRawJSONWith(r, dec.decodeStatus, dec.logLine)
}

// parseRawJSONWith reads rawjson with the given line decoder, which
// reports false for a line that is not a SolveStatus (tests compare the
// fast decoder with encoding/json this way). logLine, when not nil, is
// tried on each line as read, before the line is cleaned of escapes and
// prefixes (see lineSource.raw): statusDecoder.logLine takes only lines
// that cleaning leaves as they are, and most lines are log lines.
func parseRawJSONWith(r io.Reader, decode, logLine func([]byte) (*SolveStatus, bool)) ([]*model.Build, error) {
	rec := NewRecorder()
	var out []*model.Build
	afterError := false
	add := func(st *SolveStatus) {
		if afterError && len(st.Vertexes) > 0 {
			// A stream that resumes after a build's closing error is
			// the next build.
			out = append(out, rec.Build())
			rec = NewRecorder()
		}
		afterError = false
		rec.Add(st)
	}
	var raw func([]byte) bool
	if logLine != nil {
		raw = func(line []byte) bool {
			st, ok := logLine(line)
			if ok {
				add(st)
			}
			return ok
		}
	}
	err := eachLineRaw(r, maxJSONLine, raw, func(l *srcLine) {
		line := l.text
		if len(line) > 0 && line[0] == '{' && !l.cut && !l.overwritten {
			if st, ok := decode(line); ok {
				add(st)
				return
			}
		}
		if l.overwritten {
			return
		}
		rec.t.commonLine(string(line))
		if rec.t.b.Error != "" {
			afterError = true
		}
	})
	out = append(out, rec.Build())
	return numberBuilds(out), err
}

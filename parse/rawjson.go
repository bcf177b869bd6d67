package parse

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"sort"
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
}

// NewRecorder returns a Recorder for a rawjson-format build.
func NewRecorder() *Recorder { return &Recorder{t: newTracker(model.FormatRawJSON)} }

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
			ApplyName(v, sv.Name)
		}
		if len(sv.Inputs) > 0 {
			v.Inputs = append(v.Inputs[:0], sv.Inputs...)
		}
		// BuildKit resends a vertex with a new Started for every run of it;
		// intervals are keyed by start time, as its display does.
		if sv.Started != nil {
			iv := interval{start: *sv.Started}
			if sv.Completed != nil {
				iv.stop = *sv.Completed
				if iv.stop.Before(iv.start) {
					iv.stop = iv.start // clock skew or a hand-edited stream
				}
			}
			replaced := false
			for i := range s.intervals {
				if s.intervals[i].start.Equal(iv.start) {
					s.intervals[i], replaced = iv, true
				}
			}
			if !replaced {
				s.intervals = append(s.intervals, iv)
			}
		}
		v.Cached = v.Cached || sv.Cached
		if sv.Error != "" {
			if strings.HasSuffix(sv.Error, context.Canceled.Error()) {
				v.Canceled, v.Completed = true, true
			} else {
				t.setError(s, sv.Error)
			}
		}
		if sv.Completed != nil {
			v.Completed = true
		}
	}
	for _, ss := range st.Statuses {
		if ss == nil {
			continue
		}
		s, ok := t.get(ss.Vertex)
		if !ok {
			continue
		}
		r.status(s, ss)
	}
	for _, l := range st.Logs {
		if l == nil {
			continue
		}
		if s, ok := t.get(l.Vertex); ok {
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
	switch {
	case strings.HasPrefix(name, "writing image "):
		r.t.b.ImageID = strings.TrimPrefix(name, "writing image ")
	case strings.HasPrefix(name, "naming to "):
		addImageName(r.t.b, strings.TrimPrefix(name, "naming to "))
	}
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
	s.v.SetTransfer(tr)
}

// appendLog splits a log chunk into lines, carrying a partial last line to
// the next chunk.
func appendLog(s *vstate, data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			s.partial = append(s.partial, data...)
			if len(s.partial) > maxOutputLine {
				s.addOutput(s.partial)
				s.partial = s.partial[:0]
			}
			return
		}
		if len(s.partial) > 0 {
			s.partial = append(s.partial, data[:i]...)
			s.addOutput(bytes.TrimRight(s.partial, "\r"))
			s.partial = s.partial[:0]
		} else {
			s.addOutput(bytes.TrimRight(data[:i], "\r"))
		}
		data = data[i+1:]
	}
}

// Build returns the build recorded so far. The Recorder must not be used
// after Build.
func (r *Recorder) Build() *model.Build {
	t := r.t
	var first, last time.Time
	for _, s := range t.order {
		v := s.v
		if len(s.intervals) == 0 {
			continue
		}
		v.Duration, v.HasDuration = mergedDuration(s.intervals), true
		for _, iv := range s.intervals {
			if v.Started.IsZero() || iv.start.Before(v.Started) {
				v.Started = iv.start
			}
			if iv.stop.After(v.Ended) {
				v.Ended = iv.stop
			}
		}
		if first.IsZero() || v.Started.Before(first) {
			first = v.Started
		}
		if v.Ended.After(last) {
			last = v.Ended
		}
	}
	if !first.IsZero() && last.After(first) {
		t.b.Started, t.b.Completed = first, last
		t.b.Duration, t.b.HasDuration = last.Sub(first), true
	}
	// BuildKit sends the whole graph up front; list vertices in the order
	// they started, as --progress=plain numbers them.
	sort.SliceStable(t.order, func(i, j int) bool {
		a, b := t.order[i].v.Started, t.order[j].v.Started
		if a.IsZero() || b.IsZero() {
			return !a.IsZero() && b.IsZero()
		}
		return a.Before(b)
	})
	return t.finish()
}

// ParseRawJSON reads `--progress=rawjson` output: one SolveStatus JSON
// object per line. Non-JSON lines (the error summary a failed build prints
// after the stream, CI noise) are handled like the text formats' trailers.
func ParseRawJSON(r io.Reader) (*model.Build, error) {
	rec := NewRecorder()
	lr := newLineReader(r, maxJSONLine)
	var scratch []byte
	for {
		raw, err := lr.next()
		if err == io.EOF {
			break
		}
		if raw != nil {
			line := cleanLine(raw, &scratch)
			line, _ = stripPrefixes(line)
			if len(line) > 0 && line[0] == '{' && !lr.cut {
				var st SolveStatus
				if json.Unmarshal(line, &st) == nil {
					rec.Add(&st)
					continue
				}
			}
			rec.t.commonLine(string(line))
		}
		if err != nil {
			return rec.Build(), err
		}
	}
	return rec.Build(), nil
}

package buildkit

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/buildstats/buildstats/parse"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/solver/pb"
)

// Convert turns one BuildKit status update into parse's mirror of it, so a
// live stream feeds the same parse.Recorder as a --progress=rawjson file.
//
// The result is what decoding the update's rawjson line would give: strings
// get encoding/json's treatment of invalid UTF-8 (each bad byte becomes
// U+FFFD) and times lose their monotonic reading, so live and file records
// come out identical. Nil entries are dropped.
func Convert(st *client.SolveStatus) *parse.SolveStatus {
	if st == nil {
		return &parse.SolveStatus{}
	}
	out := &parse.SolveStatus{}
	if len(st.Vertexes) > 0 {
		out.Vertexes = make([]*parse.StatusVertex, 0, len(st.Vertexes))
		for _, v := range st.Vertexes {
			if v == nil {
				continue
			}
			sv := &parse.StatusVertex{
				Digest:    jsonString(string(v.Digest)),
				Name:      jsonString(v.Name),
				Started:   timePtr(v.Started),
				Completed: timePtr(v.Completed),
				Cached:    v.Cached,
				Error:     jsonString(v.Error),
			}
			if len(v.Inputs) > 0 {
				sv.Inputs = make([]string, len(v.Inputs))
				for i, in := range v.Inputs {
					sv.Inputs[i] = jsonString(string(in))
				}
			}
			sv.ProgressGroup = progressGroup(v.ProgressGroup)
			out.Vertexes = append(out.Vertexes, sv)
		}
	}
	if len(st.Statuses) > 0 {
		out.Statuses = make([]*parse.VertexStatus, 0, len(st.Statuses))
		for _, s := range st.Statuses {
			if s == nil {
				continue
			}
			out.Statuses = append(out.Statuses, &parse.VertexStatus{
				ID:        jsonString(s.ID),
				Vertex:    jsonString(string(s.Vertex)),
				Name:      jsonString(s.Name),
				Total:     s.Total,
				Current:   s.Current,
				Timestamp: s.Timestamp.Round(0),
				Started:   timePtr(s.Started),
				Completed: timePtr(s.Completed),
			})
		}
	}
	if len(st.Logs) > 0 {
		out.Logs = make([]*parse.VertexLog, 0, len(st.Logs))
		for _, l := range st.Logs {
			if l == nil {
				continue
			}
			// Data is shared, not copied: BuildKit never reuses it and the
			// recorder copies what it keeps.
			out.Logs = append(out.Logs, &parse.VertexLog{
				Vertex:    jsonString(string(l.Vertex)),
				Stream:    l.Stream,
				Data:      l.Data,
				Timestamp: l.Timestamp.Round(0),
			})
		}
	}
	if len(st.Warnings) > 0 {
		out.Warnings = make([]*parse.VertexWarning, 0, len(st.Warnings))
		for _, w := range st.Warnings {
			if w == nil {
				continue
			}
			out.Warnings = append(out.Warnings, &parse.VertexWarning{
				Vertex: jsonString(string(w.Vertex)),
				Level:  w.Level,
				Short:  w.Short,
				Detail: w.Detail,
				URL:    jsonString(w.URL),
			})
		}
	}
	return out
}

func progressGroup(g *pb.ProgressGroup) *parse.ProgressGroup {
	if g == nil {
		return nil
	}
	return &parse.ProgressGroup{ID: jsonString(g.Id), Name: jsonString(g.Name), Weak: g.Weak}
}

// timePtr copies t without its monotonic clock reading, as a JSON round
// trip would.
func timePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := t.Round(0)
	return &c
}

// jsonString returns s as encoding/json would hand it back after a round
// trip: every byte that is not part of valid UTF-8 becomes U+FFFD. Valid
// strings, nearly all of them, are returned as they are.
func jsonString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

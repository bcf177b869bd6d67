package buildrecord

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/buildstats/buildstats/parse"
)

// MaxStatusFrame bounds one message of a progress stream blob: BuildKit
// writes updates of a few kilobytes; a larger frame is damage or hostile.
const MaxStatusFrame = 64 << 20

// ErrBadStatus is returned for a progress stream that does not decode.
var ErrBadStatus = errors.New("not a BuildKit progress stream")

// DecodeStatus reads a progress stream blob (MediaTypeStatus): each
// controlapi.StatusResponse as a 4-byte little-endian length and its
// protobuf bytes, as BuildKit's history stores them. It hands each update
// to fn as parse.SolveStatus, converted as collect/buildkit.Convert
// converts a live one (strings made valid UTF-8, times in UTC), so the
// same build decodes to the same record either way.
func DecodeStatus(r io.Reader, fn func(*parse.SolveStatus)) error {
	br := bufio.NewReader(r)
	var hdr [4]byte
	buf := make([]byte, 0, 32<<10)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("%w: a truncated frame header", ErrBadStatus)
		}
		n := binary.LittleEndian.Uint32(hdr[:])
		if n > MaxStatusFrame {
			return fmt.Errorf("%w: a frame of %d bytes", ErrBadStatus, n)
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("%w: a truncated frame", ErrBadStatus)
		}
		st, err := decodeStatusResponse(buf)
		if err != nil {
			return err
		}
		fn(st)
	}
}

// The protobuf wire format, as much of it as StatusResponse needs.
type pbReader struct {
	b   []byte
	err error
}

func (p *pbReader) fail(what string) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: %s", ErrBadStatus, what)
	}
	p.b = nil
}

func (p *pbReader) varint() uint64 {
	v, n := binary.Uvarint(p.b)
	if n <= 0 {
		p.fail("a bad varint")
		return 0
	}
	p.b = p.b[n:]
	return v
}

// next returns the next field's number and wire type; ok is false at the
// end or on damage.
func (p *pbReader) next() (field int, wire int, ok bool) {
	if len(p.b) == 0 || p.err != nil {
		return 0, 0, false
	}
	k := p.varint()
	if p.err != nil {
		return 0, 0, false
	}
	return int(k >> 3), int(k & 7), true
}

func (p *pbReader) bytes() []byte {
	n := p.varint()
	if p.err != nil {
		return nil
	}
	if n > uint64(len(p.b)) {
		p.fail("a field longer than its message")
		return nil
	}
	out := p.b[:n]
	p.b = p.b[n:]
	return out
}

// skip skips a field of the given wire type.
func (p *pbReader) skip(wire int) {
	switch wire {
	case 0:
		p.varint()
	case 1:
		if len(p.b) < 8 {
			p.fail("a truncated fixed64")
			return
		}
		p.b = p.b[8:]
	case 2:
		p.bytes()
	case 5:
		if len(p.b) < 4 {
			p.fail("a truncated fixed32")
			return
		}
		p.b = p.b[4:]
	default:
		p.fail(fmt.Sprintf("wire type %d", wire))
	}
}

func decodeStatusResponse(b []byte) (*parse.SolveStatus, error) {
	p := &pbReader{b: b}
	st := &parse.SolveStatus{}
	for {
		f, w, ok := p.next()
		if !ok {
			break
		}
		if w != 2 {
			p.skip(w)
			continue
		}
		m := p.bytes()
		var err error
		switch f {
		case 1:
			var v *parse.StatusVertex
			if v, err = decodeVertex(m); err == nil {
				st.Vertexes = append(st.Vertexes, v)
			}
		case 2:
			var s *parse.VertexStatus
			if s, err = decodeVertexStatus(m); err == nil {
				st.Statuses = append(st.Statuses, s)
			}
		case 3:
			var l *parse.VertexLog
			if l, err = decodeVertexLog(m); err == nil {
				st.Logs = append(st.Logs, l)
			}
		case 4:
			var w *parse.VertexWarning
			if w, err = decodeVertexWarning(m); err == nil {
				st.Warnings = append(st.Warnings, w)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return st, p.err
}

// str is a string field as encoding/json would hand it back: invalid
// UTF-8 bytes become U+FFFD (see collect/buildkit.Convert).
func str(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func decodeTimestamp(b []byte) (time.Time, error) {
	p := &pbReader{b: b}
	var sec, nanos int64
	for {
		f, w, ok := p.next()
		if !ok {
			break
		}
		switch {
		case f == 1 && w == 0:
			sec = int64(p.varint())
		case f == 2 && w == 0:
			nanos = int64(int32(p.varint()))
		default:
			p.skip(w)
		}
	}
	return time.Unix(sec, nanos).UTC(), p.err
}

func decodeVertex(b []byte) (*parse.StatusVertex, error) {
	p := &pbReader{b: b}
	v := &parse.StatusVertex{}
	for {
		f, w, ok := p.next()
		if !ok {
			break
		}
		switch {
		case f == 1 && w == 2:
			v.Digest = str(p.bytes())
		case f == 2 && w == 2:
			v.Inputs = append(v.Inputs, str(p.bytes()))
		case f == 3 && w == 2:
			v.Name = str(p.bytes())
		case f == 4 && w == 0:
			v.Cached = p.varint() != 0
		case (f == 5 || f == 6) && w == 2:
			t, err := decodeTimestamp(p.bytes())
			if err != nil {
				return nil, err
			}
			if f == 5 {
				v.Started = &t
			} else {
				v.Completed = &t
			}
		case f == 7 && w == 2:
			v.Error = str(p.bytes())
		case f == 8 && w == 2:
			g, err := decodeProgressGroup(p.bytes())
			if err != nil {
				return nil, err
			}
			v.ProgressGroup = g
		default:
			p.skip(w)
		}
	}
	return v, p.err
}

func decodeProgressGroup(b []byte) (*parse.ProgressGroup, error) {
	p := &pbReader{b: b}
	g := &parse.ProgressGroup{}
	for {
		f, w, ok := p.next()
		if !ok {
			break
		}
		switch {
		case f == 1 && w == 2:
			g.ID = str(p.bytes())
		case f == 2 && w == 2:
			g.Name = str(p.bytes())
		case f == 3 && w == 0:
			g.Weak = p.varint() != 0
		default:
			p.skip(w)
		}
	}
	return g, p.err
}

func decodeVertexStatus(b []byte) (*parse.VertexStatus, error) {
	p := &pbReader{b: b}
	// An absent timestamp is the epoch, as BuildKit's client reads it.
	s := &parse.VertexStatus{Timestamp: time.Unix(0, 0).UTC()}
	for {
		f, w, ok := p.next()
		if !ok {
			break
		}
		switch {
		case f == 1 && w == 2:
			s.ID = str(p.bytes())
		case f == 2 && w == 2:
			s.Vertex = str(p.bytes())
		case f == 3 && w == 2:
			s.Name = str(p.bytes())
		case f == 4 && w == 0:
			s.Current = int64(p.varint())
		case f == 5 && w == 0:
			s.Total = int64(p.varint())
		case f >= 6 && f <= 8 && w == 2:
			t, err := decodeTimestamp(p.bytes())
			if err != nil {
				return nil, err
			}
			switch f {
			case 6:
				s.Timestamp = t
			case 7:
				s.Started = &t
			case 8:
				s.Completed = &t
			}
		default:
			p.skip(w)
		}
	}
	return s, p.err
}

func decodeVertexLog(b []byte) (*parse.VertexLog, error) {
	p := &pbReader{b: b}
	l := &parse.VertexLog{Timestamp: time.Unix(0, 0).UTC()}
	for {
		f, w, ok := p.next()
		if !ok {
			break
		}
		switch {
		case f == 1 && w == 2:
			l.Vertex = str(p.bytes())
		case f == 2 && w == 2:
			t, err := decodeTimestamp(p.bytes())
			if err != nil {
				return nil, err
			}
			l.Timestamp = t
		case f == 3 && w == 0:
			l.Stream = int(int64(p.varint()))
		case f == 4 && w == 2:
			l.Data = append([]byte(nil), p.bytes()...)
		default:
			p.skip(w)
		}
	}
	return l, p.err
}

func decodeVertexWarning(b []byte) (*parse.VertexWarning, error) {
	p := &pbReader{b: b}
	v := &parse.VertexWarning{}
	for {
		f, w, ok := p.next()
		if !ok {
			break
		}
		switch {
		case f == 1 && w == 2:
			v.Vertex = str(p.bytes())
		case f == 2 && w == 0:
			v.Level = int(int64(p.varint()))
		case f == 3 && w == 2:
			v.Short = append([]byte(nil), p.bytes()...)
		case f == 4 && w == 2:
			v.Detail = append(v.Detail, append([]byte(nil), p.bytes()...))
		case f == 5 && w == 2:
			v.URL = str(p.bytes())
		default:
			p.skip(w)
		}
	}
	return v, p.err
}

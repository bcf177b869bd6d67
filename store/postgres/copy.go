package postgres

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/buildstats/buildstats/store/internal/analysis"
)

// COPY's binary format, written by hand for the vertices: pgx encodes each
// value through its type map, which cost the client more CPU than the
// server spent storing the rows, and the server waited for it.

// textOID is the type of text array elements.
const textOID = 25

func copyHeader(b []byte) []byte {
	b = append(b, "PGCOPY\n\xff\r\n\x00"...)
	return binary.BigEndian.AppendUint64(b, 0) // flags, header extension length
}

func copyNull(b []byte) []byte { return binary.BigEndian.AppendUint32(b, math.MaxUint32) } // length -1

func copyInt64(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(b, 8), uint64(v))
}

func copyInt32(b []byte, v int32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(b, 4), uint32(v))
}

// copyInt64If writes v, or NULL when it is not known.
func copyInt64If(b []byte, v int64, known bool) []byte {
	if !known {
		return copyNull(b)
	}
	return copyInt64(b, v)
}

func copyBool(b []byte, v bool) []byte {
	b = binary.BigEndian.AppendUint32(b, 1)
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func copyText(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
}

// copyTextUnless writes s, or NULL when null.
func copyTextUnless(b []byte, s string, null bool) []byte {
	if null {
		return copyNull(b)
	}
	return copyText(b, s)
}

// copyTexts writes a text[]; an empty list is NULL, as list() stores it.
func copyTexts(b []byte, xs []string) []byte {
	if len(xs) == 0 {
		return copyNull(b)
	}
	size := 20
	for _, x := range xs {
		size += 4 + len(x)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(size))
	for _, v := range [5]uint32{1, 0, textOID, uint32(len(xs)), 1} { // dimensions, has nulls, element type, length, lower bound
		b = binary.BigEndian.AppendUint32(b, v)
	}
	for _, x := range xs {
		b = copyText(b, x)
	}
	return b
}

// vertexReader streams the builds' vertices to COPY as binary rows, a
// buffer at a time, and gathers their rollup rows.
type vertexReader struct {
	in  *ingester
	ps  []*pending
	buf []byte
	off int
	pi  int
	seq int
	n   int
	end bool
	err error
}

func (vr *vertexReader) Read(p []byte) (int, error) {
	if vr.off == len(vr.buf) {
		if vr.end {
			return 0, io.EOF
		}
		vr.buf, vr.off = vr.buf[:0], 0
		for len(vr.buf) < 64<<10 && !vr.end {
			vr.next()
		}
		if vr.err != nil {
			return 0, vr.err
		}
	}
	n := copy(p, vr.buf[vr.off:])
	vr.off += n
	return n, nil
}

// next appends the next vertex, or the trailer after the last.
func (vr *vertexReader) next() {
	for vr.pi < len(vr.ps) {
		p := vr.ps[vr.pi]
		vr.seq++
		if vr.seq < len(p.b.Vertices) {
			if testHookVertex != nil {
				testHookVertex(vr.n)
			}
			vr.n++
			vr.row(p, vr.seq)
			return
		}
		vr.pi, vr.seq = vr.pi+1, -1
	}
	vr.buf = binary.BigEndian.AppendUint16(vr.buf, math.MaxUint16) // -1: no more rows
	vr.end = true
}

// row appends a vertex's row: the columns of vertexColumns, in order.
func (vr *vertexReader) row(p *pending, seq int) {
	v := p.b.Vertices[seq]
	step, ok := vr.in.cachedStep(stepKey{p.project, p.ids[seq]})
	if !ok {
		vr.err, vr.end = fmt.Errorf("no step identity for vertex %d of build %s", seq, p.m.ContentHash), true
		return
	}
	b := binary.BigEndian.AppendUint16(vr.buf, uint16(len(vertexColumns)))
	b = copyInt64(b, p.id)
	b = copyInt32(b, int32(seq))
	b = copyInt64(b, step.id)
	b = copyText(b, v.ID)
	b = copyText(b, v.Digest)
	b = copyTexts(b, v.Inputs)
	// Text the step identity already holds is stored as NULL.
	b = copyTextUnless(b, v.Name, v.Name == analysis.CanonicalName(v))
	b = copyBool(b, v.NameTruncated)
	b = copyText(b, v.Platform)
	b = copyText(b, v.Stage)
	b = copyInt32(b, int32(v.Index))
	b = copyInt32(b, int32(v.Total))
	b = copyText(b, v.Instruction)
	b = copyTextUnless(b, v.Args, v.Args == step.args)
	b = copyBool(b, v.Cached)
	b = copyBool(b, v.Canceled)
	b = copyBool(b, v.Completed)
	b = copyText(b, v.Error)
	b = copyInt32(b, int32(v.ExitCode))
	b = copyInt64(b, int64(v.Duration))
	b = copyBool(b, v.HasDuration)
	b = copyInt64If(b, v.Started.UnixNano(), !v.Started.IsZero())
	b = copyInt64If(b, v.Ended.UnixNano(), !v.Ended.IsZero())
	b = copyTexts(b, v.Warnings)
	b = copyInt32(b, int32(v.OutputLines))
	runMs, ran := analysis.RunMs(v)
	b = copyInt64If(b, runMs, ran)
	b = copyText(b, v.ImageDigest())
	b = copyInt64If(b, v.LayerBytes, v.HasLayerBytes)
	b = copyBool(b, v.DurationIsLowerBound)
	if p.keep {
		b = copyTexts(b, v.ErrorLines)
	} else {
		b = copyNull(b)
	}
	vr.buf = b
	vr.in.addDay(p.project, p.branch, step.id, p.m.Started.UnixMilli()/analysis.MsPerDay, v.Cached, runMs, ran)
}

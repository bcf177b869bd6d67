package postgres

import (
	"encoding/binary"
	"fmt"
)

// appendInts decodes a one-dimensional integer[] or bigint[] without NULLs
// in PostgreSQL's binary format and appends its elements to dst. pgx's
// generic array decoding allocates per row and costs more than the rest
// of the query for a year of packed rows; this reads the bytes in place.
func appendInts(dst []int64, b []byte) ([]int64, error) {
	if len(b) < 12 {
		return dst, fmt.Errorf("integer array of %d bytes", len(b))
	}
	ndim, hasNull := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	if ndim == 0 {
		return dst, nil
	}
	if ndim != 1 || hasNull != 0 || len(b) < 20 {
		return dst, fmt.Errorf("integer array of %d dimensions, nulls %d", ndim, hasNull)
	}
	n := int(binary.BigEndian.Uint32(b[12:]))
	b = b[20:]
	for i := 0; i < n; i++ {
		if len(b) < 4 {
			return dst, fmt.Errorf("integer array cut short at element %d of %d", i, n)
		}
		size := int(int32(binary.BigEndian.Uint32(b)))
		b = b[4:]
		switch {
		case size == 8 && len(b) >= 8:
			dst = append(dst, int64(binary.BigEndian.Uint64(b)))
		case size == 4 && len(b) >= 4:
			dst = append(dst, int64(int32(binary.BigEndian.Uint32(b))))
		default:
			return dst, fmt.Errorf("integer array element %d of %d bytes", i, size)
		}
		b = b[size:]
	}
	return dst, nil
}

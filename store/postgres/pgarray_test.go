package postgres

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// encodeArray is pgx's binary encoding of v as a PostgreSQL array of oid.
func encodeArray(t testing.TB, oid uint32, v any) []byte {
	b, err := pgtype.NewMap().Encode(oid, pgtype.BinaryFormatCode, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appendInts reads what pgx writes, bigint[] and integer[], and refuses
// what a packed row never holds (NULLs, two dimensions, cut bytes)
// without reading past the end.
func TestAppendInts(t *testing.T) {
	for _, want := range [][]int64{{}, {0}, {1, -1, 1 << 40, -(1 << 62), 7}} {
		got, err := appendInts([]int64{99}, encodeArray(t, pgtype.Int8ArrayOID, want))
		if err != nil || !slices.Equal(got, append([]int64{99}, want...)) {
			t.Errorf("bigint[] %v: %v %v", want, got, err)
		}
		small := make([]int32, len(want))
		for i, v := range want {
			small[i] = int32(v)
		}
		got, err = appendInts(nil, encodeArray(t, pgtype.Int4ArrayOID, small))
		if err != nil || len(got) != len(small) {
			t.Errorf("integer[] %v: %v %v", small, got, err)
		}
		for i := range got {
			if got[i] != int64(small[i]) {
				t.Errorf("integer[] %v: %v", small, got)
			}
		}
	}
	withNull := encodeArray(t, pgtype.Int8ArrayOID, []*int64{nil})
	twoDims := encodeArray(t, pgtype.Int8ArrayOID, [][]int64{{1, 2}, {3, 4}})
	full := encodeArray(t, pgtype.Int8ArrayOID, []int64{1, 2, 3})
	for name, b := range map[string][]byte{"null": withNull, "2d": twoDims, "cut": full[:len(full)-3], "header": full[:10]} {
		if _, err := appendInts(nil, b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzAppendInts: any bytes give elements or an error, never a panic, and
// an array pgx encodes comes back whole.
func FuzzAppendInts(f *testing.F) {
	f.Add(encodeArray(f, pgtype.Int8ArrayOID, []int64{1, 2, 3}))
	f.Add(encodeArray(f, pgtype.Int4ArrayOID, []int32{-1, 5}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := appendInts(nil, b)
		if err != nil {
			return
		}
		if len(b) >= 20 && binary.BigEndian.Uint32(b) == 1 && len(got) != int(binary.BigEndian.Uint32(b[12:])) {
			t.Fatalf("%d elements of %d", len(got), binary.BigEndian.Uint32(b[12:]))
		}
		again, err := appendInts(nil, encodeArray(t, pgtype.Int8ArrayOID, append([]int64{}, got...))) // nil encodes as NULL
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("round trip of %v: %v %v", got, again, err)
		}
	})
}

//go:build amd64 && !purego

package parse

import "golang.org/x/sys/cpu"

// useAVX2 is whether decode64 hands whole blocks to decode64AVX2; tests
// turn it off to compare the two paths.
var useAVX2 = cpu.X86.HasAVX2

// decode64AVX2 is in base64_amd64.s.
//
//go:noescape
func decode64AVX2(dst, src []byte) int

// decode64Blocks decodes what it can of src 32 bytes at a time into dst,
// which needs 8 bytes to spare after the last it decodes, and returns how
// many bytes of src it decoded (0 without AVX2, or at a byte that is not
// base64: the caller decodes, or rejects, the rest).
func decode64Blocks(dst, src []byte) int {
	if !useAVX2 {
		return 0
	}
	return decode64AVX2(dst, src)
}

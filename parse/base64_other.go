//go:build !amd64 || purego

package parse

// useAVX2 is false: there is no vector decoder here.
var useAVX2 = false

// decode64Blocks decodes nothing: decode64's table loop does it all.
func decode64Blocks(dst, src []byte) int { return 0 }

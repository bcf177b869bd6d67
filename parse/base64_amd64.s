//go:build amd64 && !purego

#include "textflag.h"

// decode64AVX2 decodes base64 32 characters at a time, as Muła and
// Lemire's "Faster Base64 Encoding and Decoding Using AVX2 Instructions"
// does: each byte's nibbles look up whether it is in the alphabet and
// what to add to it for its 6 bits, then multiply-adds pack the bits.

// Lookup tables, each 16 bytes repeated for both 128-bit lanes.
DATA b64lutLo<>+0x00(SB)/8, $0x1111111111111115
DATA b64lutLo<>+0x08(SB)/8, $0x1A1B1B1B1A131111
DATA b64lutLo<>+0x10(SB)/8, $0x1111111111111115
DATA b64lutLo<>+0x18(SB)/8, $0x1A1B1B1B1A131111
GLOBL b64lutLo<>(SB), RODATA|NOPTR, $32

DATA b64lutHi<>+0x00(SB)/8, $0x0804080402011010
DATA b64lutHi<>+0x08(SB)/8, $0x1010101010101010
DATA b64lutHi<>+0x10(SB)/8, $0x0804080402011010
DATA b64lutHi<>+0x18(SB)/8, $0x1010101010101010
GLOBL b64lutHi<>(SB), RODATA|NOPTR, $32

DATA b64lutRoll<>+0x00(SB)/8, $0xB9B9BFBF04131000
DATA b64lutRoll<>+0x08(SB)/8, $0x0000000000000000
DATA b64lutRoll<>+0x10(SB)/8, $0xB9B9BFBF04131000
DATA b64lutRoll<>+0x18(SB)/8, $0x0000000000000000
GLOBL b64lutRoll<>(SB), RODATA|NOPTR, $32

DATA b64mask2F<>+0x00(SB)/8, $0x2F2F2F2F2F2F2F2F
DATA b64mask2F<>+0x08(SB)/8, $0x2F2F2F2F2F2F2F2F
DATA b64mask2F<>+0x10(SB)/8, $0x2F2F2F2F2F2F2F2F
DATA b64mask2F<>+0x18(SB)/8, $0x2F2F2F2F2F2F2F2F
GLOBL b64mask2F<>(SB), RODATA|NOPTR, $32

DATA b64mergeAB<>+0x00(SB)/8, $0x0140014001400140
DATA b64mergeAB<>+0x08(SB)/8, $0x0140014001400140
DATA b64mergeAB<>+0x10(SB)/8, $0x0140014001400140
DATA b64mergeAB<>+0x18(SB)/8, $0x0140014001400140
GLOBL b64mergeAB<>(SB), RODATA|NOPTR, $32

DATA b64mergeABC<>+0x00(SB)/8, $0x0001100000011000
DATA b64mergeABC<>+0x08(SB)/8, $0x0001100000011000
DATA b64mergeABC<>+0x10(SB)/8, $0x0001100000011000
DATA b64mergeABC<>+0x18(SB)/8, $0x0001100000011000
GLOBL b64mergeABC<>(SB), RODATA|NOPTR, $32

// Within each lane: bytes 2,1,0, 6,5,4, 10,9,8, 14,13,12, then zeros.
DATA b64pack<>+0x00(SB)/8, $0x090A040506000102
DATA b64pack<>+0x08(SB)/8, $0xFFFFFFFF0C0D0E08
DATA b64pack<>+0x10(SB)/8, $0x090A040506000102
DATA b64pack<>+0x18(SB)/8, $0xFFFFFFFF0C0D0E08
GLOBL b64pack<>(SB), RODATA|NOPTR, $32

// Dwords 0,1,2 and 4,5,6: each lane's 12 bytes, back to back.
DATA b64perm<>+0x00(SB)/8, $0x0000000100000000
DATA b64perm<>+0x08(SB)/8, $0x0000000400000002
DATA b64perm<>+0x10(SB)/8, $0x0000000600000005
DATA b64perm<>+0x18(SB)/8, $0x0000000700000003
GLOBL b64perm<>(SB), RODATA|NOPTR, $32

// func decode64AVX2(dst, src []byte) int
//
// It stops before the first block that holds a byte outside the alphabet
// (padding included), before src has fewer than 32 bytes left and before
// dst has fewer than 32 (each block writes 32, 24 of them decoded). It
// returns how many bytes of src it decoded.
TEXT ·decode64AVX2(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), DX
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	XORQ AX, AX
	VMOVDQU b64lutLo<>(SB), Y8
	VMOVDQU b64lutHi<>(SB), Y9
	VMOVDQU b64lutRoll<>(SB), Y10
	VMOVDQU b64mask2F<>(SB), Y11
	VMOVDQU b64mergeAB<>(SB), Y12
	VMOVDQU b64mergeABC<>(SB), Y13
	VMOVDQU b64pack<>(SB), Y14
	VMOVDQU b64perm<>(SB), Y15

loop:
	CMPQ CX, $32
	JB   done
	CMPQ DX, $32
	JB   done
	VMOVDQU (SI), Y0
	VPSRLD  $4, Y0, Y1
	VPAND   Y11, Y1, Y1      // high nibbles
	VPAND   Y11, Y0, Y2      // low nibbles (bit 5 is ignored by VPSHUFB)
	VPSHUFB Y2, Y8, Y3       // lutLo[lo]
	VPSHUFB Y1, Y9, Y4       // lutHi[hi]
	VPTEST  Y3, Y4
	JNZ     done             // a byte that is not base64
	VPCMPEQB Y11, Y0, Y5     // '/'
	VPADDB  Y5, Y1, Y5
	VPSHUFB Y5, Y10, Y5      // roll
	VPADDB  Y5, Y0, Y0       // 6-bit values
	VPMADDUBSW Y12, Y0, Y0
	VPMADDWD   Y13, Y0, Y0
	VPSHUFB Y14, Y0, Y0
	VPERMD  Y0, Y15, Y0
	VMOVDQU Y0, (DI)
	ADDQ $32, SI
	ADDQ $24, DI
	SUBQ $32, CX
	SUBQ $24, DX
	ADDQ $32, AX
	JMP  loop

done:
	VZEROUPPER
	MOVQ AX, ret+48(FP)
	RET

//go:build amd64 && !purego

#include "textflag.h"

// AVX2_CONSTANTS broadcasts the bytes compared with: '"' (Y12), '\\' (Y13), 0x20 (Y14), '{'
// (Y15) and '}' (Y11). VEX-encoded moves only: an SSE instruction between AVX2 ones stalls.
#define AVX2_CONSTANTS \
	MOVL $0x22, AX; VMOVQ AX, X12; VPBROADCASTB X12, Y12 \
	MOVL $0x5c, AX; VMOVQ AX, X13; VPBROADCASTB X13, Y13 \
	MOVL $0x20, AX; VMOVQ AX, X14; VPBROADCASTB X14, Y14 \
	MOVL $0x7b, AX; VMOVQ AX, X15; VPBROADCASTB X15, Y15 \
	MOVL $0x7d, AX; VMOVQ AX, X11; VPBROADCASTB X11, Y11

// MASK64 sets dst to the mask of the 64 bytes in Y0 (the first 32) and Y1 equal to the bytes
// of c (bit j: byte j); t is clobbered.
#define MASK64(c, dst, t) \
	VPCMPEQB c, Y0, Y2; VPCMPEQB c, Y1, Y3 \
	VPMOVMSKB Y2, dst; VPMOVMSKB Y3, t \
	SHLQ $32, t; ORQ t, dst

// func masksAVX2(p *byte, n int, quotes, backslashes, opens, closes *uint64)
//
// Each chunk of 64 bytes: two 32-byte halves compared with '"', '\\', and (ORed with 0x20,
// which makes '[' a '{' and ']' a '}' and no other byte either) '{' and '}'; bit j of each mask
// is byte j.
TEXT ·masksAVX2(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ quotes+16(FP), R8
	MOVQ backslashes+24(FP), R9
	MOVQ opens+32(FP), R10
	MOVQ closes+40(FP), R11
	AVX2_CONSTANTS

avxloop:
	TESTQ CX, CX
	JZ    avxdone
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1
	MASK64(Y12, AX, DX)
	MOVQ AX, (R8)
	MASK64(Y13, AX, DX)
	MOVQ AX, (R9)
	VPOR Y14, Y0, Y0
	VPOR Y14, Y1, Y1
	MASK64(Y15, AX, DX)
	MOVQ AX, (R10)
	MASK64(Y11, AX, DX)
	MOVQ AX, (R11)
	ADDQ $64, SI
	ADDQ $8, R8
	ADDQ $8, R9
	ADDQ $8, R10
	ADDQ $8, R11
	DECQ CX
	JMP  avxloop

avxdone:
	VZEROUPPER
	RET

// func masksSSE2(p *byte, n int, quotes, backslashes, opens, closes *uint64)
//
// masksAVX2 sixteen bytes a comparison (every amd64 has SSE2).
TEXT ·masksSSE2(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ quotes+16(FP), R8
	MOVQ backslashes+24(FP), R9
	MOVQ opens+32(FP), R10
	MOVQ closes+40(FP), R11
	MOVQ $0x2222222222222222, AX
	VMOVQ AX, X12
	PSHUFD $0x44, X12, X12      // '"'
	MOVQ $0x5c5c5c5c5c5c5c5c, AX
	VMOVQ AX, X13
	PSHUFD $0x44, X13, X13      // '\\'
	MOVQ $0x2020202020202020, AX
	VMOVQ AX, X14
	PSHUFD $0x44, X14, X14      // 0x20
	MOVQ $0x7b7b7b7b7b7b7b7b, AX
	VMOVQ AX, X15
	PSHUFD $0x44, X15, X15      // '{'
	MOVQ $0x7d7d7d7d7d7d7d7d, AX
	VMOVQ AX, X11
	PSHUFD $0x44, X11, X11      // '}'

sseloop:
	TESTQ CX, CX
	JZ    ssedone
	XORQ R12, R12               // quotes
	XORQ R13, R13               // backslashes
	XORQ R14, R14               // opens
	XORQ R15, R15               // closes
	MOVQ $48, DI                // the offset of the sixteen bytes, last first

sseblock:
	MOVOU (SI)(DI*1), X0
	MOVOU X0, X1
	PCMPEQB X12, X1
	PMOVMSKB X1, AX
	SHLQ $16, R12
	ORQ AX, R12
	MOVOU X0, X1
	PCMPEQB X13, X1
	PMOVMSKB X1, AX
	SHLQ $16, R13
	ORQ AX, R13
	POR X14, X0
	MOVOU X0, X1
	PCMPEQB X15, X1
	PMOVMSKB X1, AX
	SHLQ $16, R14
	ORQ AX, R14
	PCMPEQB X11, X0
	PMOVMSKB X0, AX
	SHLQ $16, R15
	ORQ AX, R15
	SUBQ $16, DI
	JGE  sseblock

	MOVQ R12, (R8)
	MOVQ R13, (R9)
	MOVQ R14, (R10)
	MOVQ R15, (R11)
	ADDQ $64, SI
	ADDQ $8, R8
	ADDQ $8, R9
	ADDQ $8, R10
	ADDQ $8, R11
	DECQ CX
	JMP  sseloop

ssedone:
	RET

// func structureAVX2(p *byte, n int, last *byte, quotes, backslashes, opens, closes *uint64) bool
//
// Structure.Build's loop in one pass, for n chunks: chunk k is at p+64k but the last, which is
// at last (a padded copy, or p+64(n-1)). Per chunk, as masksAVX2, then: the bytes escaped by a
// backslash are dropped from the quotes (EscapedBytes, only when the chunk has backslashes or
// starts escaped); the bytes inside strings are the quotes' prefix XOR (a carry-less
// multiplication by all ones) with the string carried in from the last chunk; a backslash
// outside them returns false; the brackets inside them are dropped.
TEXT ·structureAVX2(SB), NOSPLIT, $0-57
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ last+16(FP), DI
	MOVQ quotes+24(FP), R8
	MOVQ backslashes+32(FP), R9
	MOVQ opens+40(FP), R10
	MOVQ closes+48(FP), R11
	AVX2_CONSTANTS
	MOVQ $-1, AX
	VMOVQ AX, X10               // all ones, for the prefix XOR
	XORQ R12, R12               // k
	XORQ BX, BX                 // 1: the chunk's first byte is escaped
	XORQ R13, R13               // all ones: the chunk starts inside a string

chunk:
	CMPQ R12, CX
	JGE  done
	MOVQ R12, AX
	SHLQ $6, AX
	LEAQ (SI)(AX*1), R15
	LEAQ 1(R12), AX
	CMPQ AX, CX
	JNE  load
	MOVQ DI, R15

load:
	VMOVDQU (R15), Y0
	VMOVDQU 32(R15), Y1
	MASK64(Y12, AX, DX)
	MOVQ AX, R15                // quotes
	MASK64(Y13, AX, DX)
	MOVQ AX, R14                // backslashes
	MOVQ AX, (R9)(R12*8)
	VPOR Y14, Y0, Y0
	VPOR Y14, Y1, Y1
	ORQ  BX, AX
	JZ   unescaped
	MOVQ BX, AX
	NOTQ AX
	ANDQ R14, AX                // b: the backslashes, less an escaped first byte
	LEAQ (BX)(AX*2), DX         // follows: b<<1 | escapedIn
	MOVQ $0xaaaaaaaaaaaaaaaa, R14
	ANDQ AX, R14
	MOVQ DX, BX
	NOTQ BX
	ANDQ BX, R14                // the runs that start on an odd bit
	XORQ BX, BX
	ADDQ AX, R14                // their sum with b; the carry escapes the next chunk's first byte
	SETCS BL
	SHLQ $1, R14
	MOVQ $0x5555555555555555, AX
	XORQ AX, R14
	ANDQ DX, R14                // the escaped bytes
	NOTQ R14
	ANDQ R14, R15

unescaped:
	MOVQ R15, (R8)(R12*8)
	VMOVQ R15, X9
	VPCLMULQDQ $0, X10, X9, X9
	VMOVQ X9, AX
	XORQ R13, AX                // inside strings
	MOVQ AX, R13
	SARQ $63, R13
	MOVQ AX, DX
	NOTQ DX                     // outside strings
	MOVQ (R9)(R12*8), R14
	ANDQ DX, R14
	JNZ  fail                   // a backslash outside a string
	MASK64(Y15, AX, R14)
	ANDQ DX, AX
	MOVQ AX, (R10)(R12*8)
	MASK64(Y11, AX, R14)
	ANDQ DX, AX
	MOVQ AX, (R11)(R12*8)
	INCQ R12
	JMP  chunk

done:
	VZEROUPPER
	MOVB $1, ret+56(FP)
	RET

fail:
	VZEROUPPER
	MOVB $0, ret+56(FP)
	RET

//go:build amd64 && !purego

#include "textflag.h"

// func chunkMasks(p *byte) (quotes, backslashes, opens, closes uint64)
//
// The 64 bytes at p, four SSE2 comparisons of sixteen bytes each: bit j of each mask is byte j.
// A byte ORed with 0x20 is '{' for '{' and '[' only, and '}' for '}' and ']' only.
TEXT ·chunkMasks(SB), NOSPLIT, $0-40
	MOVQ p+0(FP), SI
	MOVQ $0x2222222222222222, AX
	MOVQ AX, X12
	PSHUFD $0x44, X12, X12      // '"'
	MOVQ $0x5c5c5c5c5c5c5c5c, AX
	MOVQ AX, X13
	PSHUFD $0x44, X13, X13      // '\\'
	MOVQ $0x2020202020202020, AX
	MOVQ AX, X14
	PSHUFD $0x44, X14, X14      // 0x20
	MOVQ $0x7b7b7b7b7b7b7b7b, AX
	MOVQ AX, X15
	PSHUFD $0x44, X15, X15      // '{'
	MOVQ $0x7d7d7d7d7d7d7d7d, AX
	MOVQ AX, X11
	PSHUFD $0x44, X11, X11      // '}'
	XORQ R8, R8                 // quotes
	XORQ R9, R9                 // backslashes
	XORQ R10, R10               // opens
	XORQ R11, R11               // closes
	MOVQ $48, CX                // the shift of the block, last block first

block:
	MOVOU (SI)(CX*1), X0
	MOVOU X0, X1
	PCMPEQB X12, X1
	PMOVMSKB X1, AX
	SHLQ $16, R8
	ORQ AX, R8
	MOVOU X0, X1
	PCMPEQB X13, X1
	PMOVMSKB X1, AX
	SHLQ $16, R9
	ORQ AX, R9
	POR X14, X0
	MOVOU X0, X1
	PCMPEQB X15, X1
	PMOVMSKB X1, AX
	SHLQ $16, R10
	ORQ AX, R10
	PCMPEQB X11, X0
	PMOVMSKB X0, AX
	SHLQ $16, R11
	ORQ AX, R11
	SUBQ $16, CX
	JGE  block

	MOVQ R8, quotes+8(FP)
	MOVQ R9, backslashes+16(FP)
	MOVQ R10, opens+24(FP)
	MOVQ R11, closes+32(FP)
	RET

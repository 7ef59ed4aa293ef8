//go:build amd64 && !purego

#include "textflag.h"

// func appendQuotedBlocks(d, b []byte, i, o int) (ni, no int, carry uint64)
//
// Each block of b[i:i+16] is taken whole when its quote bytes are exactly its backslash bytes
// moved up one (the last block's backslash at byte 15 moving to byte 0 of this one: carry).
// Each half is then shuffled by compactTable[its backslashes] and stored at d[o:o+8]; o moves
// by the bytes kept.
TEXT ·appendQuotedBlocks(SB), NOSPLIT, $0-88
	MOVQ d_base+0(FP), DI
	MOVQ b_base+24(FP), SI
	MOVQ b_len+32(FP), DX
	MOVQ i+48(FP), AX
	MOVQ o+56(FP), BX
	XORQ R8, R8                 // carry: 1 when the last block ended with a backslash
	SUBQ $16, DX                // a block starts at most at len(b)-16
	MOVQ $0x2222222222222222, R9
	MOVQ R9, X14
	PSHUFD $0, X14, X14         // '"' in every byte
	MOVQ $0x5c5c5c5c5c5c5c5c, R9
	MOVQ R9, X15
	PSHUFD $0, X15, X15         // '\\' in every byte
	MOVQ $0x0808080808080808, R10
	LEAQ ·compactTable(SB), R11

loop:
	CMPQ AX, DX
	JGT  done
	MOVOU (SI)(AX*1), X0
	MOVOU X0, X1
	PCMPEQB X15, X1
	PMOVMSKB X1, CX             // backslashes
	MOVOU X0, X2
	PCMPEQB X14, X2
	PMOVMSKB X2, R12            // quotes
	LEAL (R8)(CX*2), R13        // backslashes moved up one, and the carry
	ANDL $0xffff, R13
	CMPL R13, R12
	JNE  done
	MOVL CX, R8
	SHRL $15, R8

	// Low half: bytes 0-7.
	MOVL CX, R13
	ANDL $0xff, R13
	MOVQ (R11)(R13*8), X3
	MOVOU X0, X4
	PSHUFB X3, X4
	MOVQ X4, (DI)(BX*1)
	POPCNTL R13, R13
	ADDQ $8, BX
	SUBQ R13, BX

	// High half: bytes 8-15 (the control's indexes moved up 8).
	SHRL $8, CX
	MOVQ (R11)(CX*8), R13
	ADDQ R10, R13
	MOVQ R13, X3
	PSHUFB X3, X0
	MOVQ X0, (DI)(BX*1)
	POPCNTL CX, CX
	ADDQ $8, BX
	SUBQ CX, BX

	ADDQ $16, AX
	JMP  loop

done:
	SHLQ $7, R8
	MOVQ AX, ni+64(FP)
	MOVQ BX, no+72(FP)
	MOVQ R8, carry+80(FP)
	RET

//go:build amd64 && !purego

package audit

import "golang.org/x/sys/cpu"

// hasQuotedBlocks: appendQuotedBlocks can run (it needs SSSE3's PSHUFB and POPCNT).
var hasQuotedBlocks = cpu.X86.HasSSSE3 && cpu.X86.HasPOPCNT

// appendQuotedBlocks is appendQuotedWords' loop sixteen bytes at a time, in assembly
// (unescape_amd64.s): while every backslash of a block is the start of a \" escape and every
// quote follows one, the block's backslashes are found with one comparison of its sixteen
// bytes and dropped by a shuffle of each half (compactTable), with no branch on its bytes.
// It returns where it stopped and carry (0x80 when the last block taken ended with a
// backslash, whose quote is the next byte), as appendQuotedWords' loop takes it. d[o:] must
// have room for len(b)-i bytes.
//
//go:noescape
func appendQuotedBlocks(d, b []byte, i, o int) (ni, no int, carry uint64)

// compactTable: for each set of an 8-byte half's bytes to drop (bit j: byte j), the PSHUFB
// control that moves the others down, in order (0x80, a zero, for the bytes after them).
var compactTable = func() (t [256]uint64) {
	for set := range t {
		k := 0
		for j := range 8 {
			if set>>j&1 == 0 {
				t[set] |= uint64(j) << (8 * k)
				k++
			}
		}
		for ; k < 8; k++ {
			t[set] |= 0x80 << (8 * k)
		}
	}
	return t
}()

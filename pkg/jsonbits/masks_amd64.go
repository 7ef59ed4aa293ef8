//go:build amd64 && !purego

package jsonbits

import "golang.org/x/sys/cpu"

// hasAVX2 picks masksAVX2 (32 bytes a comparison) over masksSSE2 (16), and Build's loop in
// assembly (structureAVX2, which also needs the carry-less multiplication) over Go's.
var (
	hasAVX2      = cpu.X86.HasAVX2
	hasStructure = cpu.X86.HasAVX2 && cpu.X86.HasPCLMULQDQ
)

// build is Build's loop in assembly where it runs (ok false: not here), p holding the chunks
// but the last, which is at last.
func build(s *Structure, p []byte, last *byte) (valid, ok bool) {
	if !hasStructure {
		return false, false
	}
	base := last
	if len(p) > 0 {
		base = &p[0]
	}
	return structureAVX2(base, len(s.Quotes), last, &s.Quotes[0], &s.Backslashes[0], &s.Opens[0], &s.Closes[0]), true
}

//go:noescape
func structureAVX2(p *byte, n int, last *byte, quotes, backslashes, opens, closes *uint64) bool

func masks(p []byte, quotes, backslashes, opens, closes []uint64) {
	if hasAVX2 {
		masksAVX2(&p[0], len(quotes), &quotes[0], &backslashes[0], &opens[0], &closes[0])
		return
	}
	masksSSE2(&p[0], len(quotes), &quotes[0], &backslashes[0], &opens[0], &closes[0])
}

// masksAVX2 and masksSSE2 are Masks over n chunks at p, in assembly (masks_amd64.s).
//
//go:noescape
func masksAVX2(p *byte, n int, quotes, backslashes, opens, closes *uint64)

//go:noescape
func masksSSE2(p *byte, n int, quotes, backslashes, opens, closes *uint64)

// Fast: Masks runs in assembly here, so that finding a text's structure first costs less than
// reading its bytes one by one.
const Fast = true

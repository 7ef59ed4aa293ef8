//go:build amd64 && !purego

package envelope

// chunkMasks marks the quotes, backslashes, opening brackets ('{', '[') and closing ones of the
// 64 bytes at p (bit j: byte j), in assembly (skip_amd64.s, SSE2).
//
//go:noescape
func chunkMasks(p *byte) (quotes, backslashes, opens, closes uint64)

// hasChunkMasks: skipContainer may read 64 bytes at a time (chunkMasks).
const hasChunkMasks = true

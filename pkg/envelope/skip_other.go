//go:build !amd64 || purego

package envelope

// hasChunkMasks is false: skipContainer reads a byte at a time.
const hasChunkMasks = false

func chunkMasks(*byte) (quotes, backslashes, opens, closes uint64) { panic("amd64 only") }

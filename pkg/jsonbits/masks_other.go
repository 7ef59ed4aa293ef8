//go:build !amd64 || purego

package jsonbits

func masks(p []byte, quotes, backslashes, opens, closes []uint64) {
	masksGo(p, quotes, backslashes, opens, closes)
}

// Fast is false: Masks reads a byte at a time here, slower than a scanner reading the text.
const Fast = false

func build(*Structure, []byte, *byte) (valid, ok bool) { return false, false }

//go:build !amd64 || purego

package audit

// hasQuotedBlocks is false: there is no block loop here (a variable, as on amd64, for tests).
var hasQuotedBlocks = false

// appendQuotedBlocks is amd64 only (unescape_amd64.go).
func appendQuotedBlocks(_, _ []byte, i, o int) (ni, no int, carry uint64) { return i, o, 0 }

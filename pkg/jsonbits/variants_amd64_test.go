//go:build amd64 && !purego

package jsonbits

import "testing"

func forEachVariant(t *testing.T, fn func(string, func([]byte, []uint64, []uint64, []uint64, []uint64))) {
	t.Helper()
	fn("sse2", func(p []byte, q, bs, o, c []uint64) { masksSSE2(&p[0], len(q), &q[0], &bs[0], &o[0], &c[0]) })
	if hasAVX2 {
		fn("avx2", func(p []byte, q, bs, o, c []uint64) { masksAVX2(&p[0], len(q), &q[0], &bs[0], &o[0], &c[0]) })
	}
}

func BenchmarkBuildSSE2(b *testing.B) {
	hasAVX2 = false
	defer func() { hasAVX2 = true }()
	BenchmarkBuild(b)
}

// TestBuildVariants: Build in assembly (structureAVX2) finds what its Go loop does.
func TestBuildVariants(t *testing.T) {
	if !hasStructure {
		t.Skip("no AVX2 and PCLMULQDQ here")
	}
	for _, text := range buildTexts() {
		var asm, gol Structure
		okA := asm.Build([]byte(text))
		hasStructure = false
		okG := gol.Build([]byte(text))
		hasStructure = true
		if okA != okG {
			t.Fatalf("%q: %v, Go %v", text, okA, okG)
		}
		if !okA {
			continue
		}
		for _, m := range [][2][]uint64{{asm.Quotes, gol.Quotes}, {asm.Backslashes, gol.Backslashes}, {asm.Opens, gol.Opens}, {asm.Closes, gol.Closes}} {
			for k := range m[1] {
				if m[0][k] != m[1][k] {
					t.Fatalf("%q chunk %d: %064b, Go %064b", text, k, m[0][k], m[1][k])
				}
			}
		}
	}
}

func BenchmarkBuildGoLoop(b *testing.B) {
	hasStructure = false
	defer func() { hasStructure = true }()
	BenchmarkBuild(b)
}

package jsonbits

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestMasksMatchGo: the assembly (AVX2 and SSE2, where they run) marks what masksGo does, over
// random texts of JSON's structural bytes and others.
func TestMasksMatchGo(t *testing.T) {
	alphabet := []byte(`"\{}[]:, ax` + "\x00\x80\xff\x22\x5c\x7b\x7d\x5b\x5d\x3b\x3d")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := 1 + rng.IntN(8)
		p := make([]byte, 64*n)
		for i := range p {
			p[i] = alphabet[rng.IntN(len(alphabet))]
		}
		want := [4][]uint64{make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)}
		masksGo(p, want[0], want[1], want[2], want[3])
		got := [4][]uint64{make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)}
		Masks(p, got[0], got[1], got[2], got[3])
		for m := range want {
			for k := range want[m] {
				if got[m][k] != want[m][k] {
					t.Fatalf("mask %d chunk %d of %q: %064b, want %064b", m, k, p, got[m][k], want[m][k])
				}
			}
		}
		forEachVariant(t, func(name string, f func([]byte, []uint64, []uint64, []uint64, []uint64)) {
			got := [4][]uint64{make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)}
			f(p, got[0], got[1], got[2], got[3])
			for m := range want {
				for k := range want[m] {
					if got[m][k] != want[m][k] {
						t.Fatalf("%s: mask %d chunk %d of %q: %064b, want %064b", name, m, k, p, got[m][k], want[m][k])
					}
				}
			}
		})
	}
}

// TestBuild: the structure of texts with strings, escapes and brackets, against a byte walk.
func TestBuild(t *testing.T) {
	var s Structure
	for _, text := range buildTexts() {
		b := []byte(text)
		ok := s.Build(b)
		wq, wo, wc, wok := byteWalk(b)
		if ok != wok {
			t.Fatalf("%q: Build %v, byte walk %v", text, ok, wok)
		}
		if !ok {
			continue
		}
		for i := range b {
			bit := func(m []uint64) bool { return m[i>>6]>>(i&63)&1 == 1 }
			if bit(s.Quotes) != wq[i] || bit(s.Opens) != wo[i] || bit(s.Closes) != wc[i] {
				t.Fatalf("%q byte %d: quote %v open %v close %v, want %v %v %v", text, i, bit(s.Quotes), bit(s.Opens), bit(s.Closes), wq[i], wo[i], wc[i])
			}
		}
		for i := range b {
			if got, want := Next(s.Quotes, i), nextTrue(wq, i); got != want {
				t.Fatalf("%q: Next(quotes, %d) = %d, want %d", text, i, got, want)
			}
		}
	}
}

// buildTexts are JSON texts and random strings of JSON's structural bytes, of every length up
// to a few chunks.
func buildTexts() []string {
	texts := []string{
		`{"a":"b"}`,
		`{"a":"x\"y","b":[1,{"c":"]"}]}`,
		`{"a":"\\","b":"\\\"{"}`,
		`{"k":"` + string(bytes.Repeat([]byte(`\\`), 40)) + `","l":"` + string(bytes.Repeat([]byte(`\"`), 50)) + `"}`,
		`{"long":"` + string(bytes.Repeat([]byte("x"), 200)) + `","after":{"x":[]}}`,
		`{"unterminated":"abc`,
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		var b []byte
		// mostly strings and brackets, few backslashes: most texts are valid as far as
		// Build is concerned (no backslash outside a string), and long
		alphabet := `"\{}[]abcdefghijklmnopqrstuvwxyz`
		if rng.IntN(2) == 0 {
			alphabet = `"\{}[]ab`
		}
		for range rng.IntN(300) {
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
		texts = append(texts, string(b))
	}
	return texts
}

// byteWalk marks a text's unescaped quotes and its brackets outside strings, byte by byte; ok
// is false when a backslash stands outside a string.
func byteWalk(b []byte) (quotes, opens, closes []bool, ok bool) {
	quotes, opens, closes = make([]bool, len(b)), make([]bool, len(b)), make([]bool, len(b))
	in := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case in && c == '\\':
			i++
		case c == '\\':
			return nil, nil, nil, false
		case c == '"':
			quotes[i], in = true, !in
		case !in && (c == '{' || c == '['):
			opens[i] = true
		case !in && (c == '}' || c == ']'):
			closes[i] = true
		}
	}
	return quotes, opens, closes, true
}

func nextTrue(m []bool, i int) int {
	for ; i < len(m); i++ {
		if m[i] {
			return i
		}
	}
	return -1
}

func BenchmarkBuild(b *testing.B) {
	line := bytes.Repeat([]byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","user":{"username":"system:serviceaccount:kube-system:x","groups":["a","b"]}}`), 7)
	var s Structure
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		s.Build(line)
	}
}

// TestAny: Any against a bit at a time, over every range of a few chunks.
func TestAny(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50 {
		m := make([]uint64, 3)
		for k := range m {
			m[k] = rng.Uint64() & rng.Uint64() & rng.Uint64() & rng.Uint64() // sparse
		}
		for i := range 192 {
			for j := i + 1; j <= 192; j++ {
				want := false
				for x := i; x < j; x++ {
					want = want || m[x>>6]>>(x&63)&1 == 1
				}
				if got := Any(m, i, j); got != want {
					t.Fatalf("Any(%064b, %d, %d) = %v", m, i, j, got)
				}
			}
		}
	}
}

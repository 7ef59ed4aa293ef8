package audit

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
)

// refAppendQuoted is AppendQuoted before the speed-up of its loop: the oracle of
// TestAppendQuotedMatchesReference and FuzzAppendQuoted, for every input (valid JSON strings
// are also checked against encoding/json, in decode_test.go).
func refAppendQuoted(dst, b []byte) (out []byte, n int, ok bool) {
	if need := len(dst) + len(b); cap(dst) < need {
		grown := make([]byte, len(dst), need)
		copy(grown, dst)
		dst = grown
	}
	d := dst[:cap(dst)]
	o, i := len(dst), 0
	for {
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			binary.LittleEndian.PutUint64(d[o:], x)
			if m := zeroByte(x^(lsb*'"')) | zeroByte(x^(lsb*'\\')); m != 0 {
				k := bits.TrailingZeros64(m) / 8
				i, o = i+k, o+k
				goto special
			}
			i, o = i+8, o+8
		}
		for i < len(b) && b[i] != '"' && b[i] != '\\' {
			d[o] = b[i]
			i, o = i+1, o+1
		}
		if i >= len(b) {
			return d[:o], i, false
		}
	special:
		if b[i] == '"' {
			return d[:o], i + 1, true
		}
		if i+1 < len(b) && (b[i+1] == '"' || b[i+1] == '\\') {
			d[o] = b[i+1]
			i, o = i+2, o+1
			continue
		}
		e, k, ok := AppendEscape(d[:o], b[i:])
		if !ok {
			return e, i, false
		}
		i, o = i+k, len(e)
	}
}

func checkAppendQuoted(t *testing.T, pre, b []byte) {
	t.Helper()
	want, wn, wok := refAppendQuoted(bytes.Clone(pre), b)
	got, n, ok := AppendQuoted(bytes.Clone(pre), b)
	if ok != wok || (ok && (n != wn || !bytes.Equal(got, want))) {
		t.Fatalf("AppendQuoted(%q, %q) = %q, %d, %v; want %q, %d, %v", pre, b, got, n, ok, want, wn, wok)
	}
	// With room to spare in dst, as the envelope's reused buffer has.
	roomy := append(make([]byte, 0, len(pre)+len(b)+64), pre...)
	got, n, ok = AppendQuoted(roomy, b)
	if ok != wok || (ok && (n != wn || !bytes.Equal(got, want))) {
		t.Fatalf("AppendQuoted(roomy %q, %q) = %q, %d, %v; want %q, %d, %v", pre, b, got, n, ok, want, wn, wok)
	}
}

// TestAppendQuotedMatchesReference: random strings dense in quotes, backslashes and escapes, at
// every length, read as before.
func TestAppendQuotedMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	parts := []string{`\"`, `\\`, `\n`, `\/`, `\t`, `\u00e9`, `\ud83d\ude00`, `\ud83d`, `\u12`, `\x`, `"`, `\`, `a`, `bc`, `defghijk`, "\x00", "é", `}`, `{`, `:`}
	for i := 0; i < 50000; i++ {
		var sb strings.Builder
		for n := rng.IntN(30); n > 0; n-- {
			sb.WriteString(parts[rng.IntN(len(parts))])
		}
		if rng.IntN(2) == 0 {
			sb.WriteString(`"`)
		}
		if rng.IntN(3) == 0 {
			sb.WriteString(`,"stream":"stdout"}`)
		}
		checkAppendQuoted(t, []byte("pre"[:rng.IntN(4)]), []byte(sb.String()))
	}
}

// FuzzAppendQuoted: any bytes read as before the speed-up.
func FuzzAppendQuoted(f *testing.F) {
	for _, s := range []string{`a\"b"`, `\ud83d\ude00"`, `{\"kind\":\"Event\",\"verb\":\"get\"}\n","stream":"stdout"}`, `abcdefgh\`, `\x"`, `abcdefghijklmnopq\\\"rs"tail`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAppendQuoted(t, nil, b)
		checkAppendQuoted(t, []byte("pre"), b)
	})
}

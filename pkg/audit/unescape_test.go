package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkAppendQuoted: AppendQuoted reads b the way encoding/json reads the string `"`+b: where it
// says ok, the bytes it consumed are a JSON string's body and its closing quote, and what it
// appended is that string (compared where encoding/json keeps the bytes as they are: valid
// UTF-8 and no \u escape, which encoding/json turns into U+FFFD when it is a lone surrogate).
// Raw control bytes, which JSON does not allow in a string, are taken as they are.
// A dst with room to spare (the envelope's reused buffer) gives the same answer.
func checkAppendQuoted(t *testing.T, pre, b []byte) {
	t.Helper()
	got, n, ok := AppendQuoted(bytes.Clone(pre), b)
	roomy := append(make([]byte, 0, len(pre)+len(b)+64), pre...)
	rgot, rn, rok := AppendQuoted(roomy, b)
	if rok != ok || (ok && (rn != n || !bytes.Equal(rgot, got))) {
		t.Fatalf("AppendQuoted(roomy %q, %q) = %q, %d, %v; with a plain dst %q, %d, %v", pre, b, rgot, rn, rok, got, n, ok)
	}
	if !ok {
		return
	}
	if n < 1 || n > len(b) || b[n-1] != '"' || !bytes.HasPrefix(got, pre) {
		t.Fatalf("AppendQuoted(%q, %q) = %q, %d: not a string body and its quote after dst", pre, b, got, n)
	}
	// AppendQuoted takes raw control bytes as they are, as the scanner does (JSON wants them
	// escaped): escape them for encoding/json, which decodes them to the same bytes.
	quoted := []byte{'"'}
	for _, c := range b[:n] {
		if c < 0x20 {
			quoted = fmt.Appendf(quoted, `\u%04x`, c)
		} else {
			quoted = append(quoted, c)
		}
	}
	var want string
	if err := json.Unmarshal(quoted, &want); err != nil {
		t.Fatalf("AppendQuoted(%q, %q) read %q as a string; encoding/json: %v", pre, b, b[:n], err)
	}
	if utf8.Valid(b[:n]) && !bytes.Contains(b[:n], []byte(`\u`)) && string(got[len(pre):]) != want {
		t.Fatalf("AppendQuoted(%q, %q) = %q, encoding/json %q", pre, b, got[len(pre):], want)
	}
}

// TestAppendQuotedAsEncodingJSON: random strings dense in quotes, backslashes and escapes, at
// every length, read as encoding/json reads them.
func TestAppendQuotedAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	parts := []string{`\"`, `\\`, `\n`, `\/`, `\t`, `\u00e9`, `\ud83d\ude00`, `\ud83d`, `\u12`, `\x`, `"`, `\`, `a`, `bc`, `defghijk`, "\x00", "é", `}`, `{`, `:`, `#`, `]`, `\"\"\"`}
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

// FuzzAppendQuoted: any bytes read as encoding/json reads them (checkAppendQuoted).
func FuzzAppendQuoted(f *testing.F) {
	for _, s := range []string{`a\"b"`, `\ud83d\ude00"`, `{\"kind\":\"Event\",\"verb\":\"get\"}\n","stream":"stdout"}`, `abcdefgh\`, `\x"`, `abcdefghijklmnopq\\\"rs"tail`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAppendQuoted(t, nil, b)
		checkAppendQuoted(t, []byte("pre"), b)
	})
}

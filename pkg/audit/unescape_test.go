package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
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
	for _, s := range []string{`{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"annotations\":{\"r\":\"RBAC: allowed by \\\"x\\\"\"},\"ips\":[\"10.0.0.1\"],\"code\":200}\n","stream":"stdout"}`, `a\"b"`, `\ud83d\ude00"`, `{\"kind\":\"Event\",\"verb\":\"get\"}\n","stream":"stdout"}`, `abcdefgh\`, `\x"`, `abcdefghijklmnopq\\\"rs"tail`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAppendQuoted(t, nil, b)
		checkAppendQuoted(t, []byte("pre"), b)
	})
}

// TestAppendQuotedGeneratedEvents: generated events, each escaped as docker's json-file writes
// it (encoding/json), read back byte for byte.
func TestAppendQuotedGeneratedEvents(t *testing.T) {
	var dst []byte
	for _, l := range generatedEvents(t, 500) {
		in := string(l) + "\n"
		q, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		var ok bool
		dst, n, ok = AppendQuoted(dst[:0], append(q[1:], `,"stream":"stdout"}`...))
		if !ok || n != len(q)-1 || string(dst) != in {
			t.Fatalf("AppendQuoted(%s) = %q, %d, %v", q, dst, n, ok)
		}
	}
}

// generatedEvents returns the lines of an auditgen log of the given number of requests.
func generatedEvents(tb testing.TB, requests int) [][]byte {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 9, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Duration: time.Hour, Requests: requests}); err != nil {
		tb.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
}

// BenchmarkAppendQuoted unescapes generated events as docker's json-file holds them (each one a
// JSON string: every quote of the event is \", about one escape every 11 bytes), with the
// envelope's rest after the closing quote. Bytes are the escaped strings'.
func BenchmarkAppendQuoted(b *testing.B) {
	var strs [][]byte
	total := 0
	for _, l := range generatedEvents(b, 4000) {
		q, err := json.Marshal(string(l) + "\n")
		if err != nil {
			b.Fatal(err)
		}
		q = append(q[1:], `,"stream":"stdout","time":"2025-01-01T00:00:00.000000000Z"}`...)
		strs = append(strs, q)
		total += len(q)
	}
	b.SetBytes(int64(total))
	var dst []byte
	for b.Loop() {
		for _, s := range strs {
			var ok bool
			if dst, _, ok = AppendQuoted(dst[:0], s); !ok {
				b.Fatalf("AppendQuoted(%.80q…) not ok", s)
			}
		}
	}
}

// TestAppendQuotedBlocks: the sixteen-byte blocks of appendQuotedBlocks (amd64) give what the
// eight-byte words alone give, and what encoding/json reads, on strings made of \" escapes
// and plain bytes (which it takes whole) with one other byte or escape at every place: at and
// across the edges of blocks and of words, after a backslash that ends a block, in runs of
// backslashes; and every prefix of them (unterminated strings).
func TestAppendQuotedBlocks(t *testing.T) {
	if !hasQuotedBlocks {
		t.Skip("no block loop on this machine")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	odd := []string{`"`, `\\`, `\\\"`, `\\\\"`, `\n`, `\u00e9`, `\ud83d\ude00`, `\`, `\x`, `#`, `]`, `"#`, `\]`, "\x00", "é"}
	check := func(b []byte) {
		t.Helper()
		checkAppendQuoted(t, nil, b)
		got, n, ok := AppendQuoted(nil, b)
		hasQuotedBlocks = false
		want, wn, wok := AppendQuoted(nil, b)
		hasQuotedBlocks = true
		if ok != wok || n != wn || !bytes.Equal(got, want) {
			t.Fatalf("AppendQuoted(%q) = %q, %d, %v with blocks; %q, %d, %v without", b, got, n, ok, want, wn, wok)
		}
	}
	for i := 0; i < 3000; i++ {
		var sb strings.Builder
		for sb.Len() < 70 {
			if rng.IntN(3) == 0 {
				sb.WriteString(`\"`)
			} else {
				sb.WriteByte("abc:,{}[]"[rng.IntN(9)])
			}
		}
		s := sb.String()
		at := rng.IntN(len(s) + 1)
		s = s[:at] + odd[rng.IntN(len(odd))] + s[at:] + `","stream":"stdout"}`
		check([]byte(s))
		if i%10 == 0 {
			for n := range len(s) {
				check([]byte(s[:n]))
			}
		}
	}
}

package envelope

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/jsonbits"
)

// checkSkipContainer: skipContainerChunks ends the container at b[i] where skipContainerBytes
// does (or fails where it does).
func checkSkipContainer(t *testing.T, b []byte, i int) {
	t.Helper()
	if !jsonbits.Fast {
		return
	}
	if got, want := skipContainerChunks(b, i), skipContainerBytes(b, i); got != want {
		t.Fatalf("skipContainerChunks(%q, %d) = %d, skipContainerBytes %d", b, i, got, want)
	}
}

// TestSkipContainerChunks: the chunked skip against the byte one, from every bracket of
// generated envelope lines (event payloads, Kubernetes metadata, nested objects and arrays),
// of random documents dense in strings, escaped quotes, runs of backslashes and brackets
// (inside and outside strings, at and across the 64-byte edges), and of every prefix of some
// of them (unterminated containers and strings); and backslashes outside strings (not JSON),
// which the byte skip reads as it always did.
func TestSkipContainerChunks(t *testing.T) {
	if !jsonbits.Fast {
		t.Skip("no chunked skip on this machine")
	}
	fromEveryBracket := func(b []byte) {
		t.Helper()
		for i, c := range b {
			if c == '{' || c == '[' {
				checkSkipContainer(t, b, i)
			}
		}
	}
	for _, f := range []string{auditgen.EnvelopeFluentBit, auditgen.EnvelopeBare, auditgen.EnvelopeAKS} {
		_, wrapped := generated(t, f, genOptions())
		for n, l := range lines(wrapped) {
			if n > 300 {
				break
			}
			fromEveryBracket(l)
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	parts := []string{`{`, `}`, `[`, `]`, `"`, `"a"`, `"b\"c"`, `"\\"`, `"\\\\\"x"`, `"{[\"]}"`, `\`, `\\`, `\"`, `:`, `,`, ` `, `abcdefgh`, `"` + strings.Repeat(`\\`, 31) + `\""`, `"` + strings.Repeat("z", 60) + `"`}
	for n := 0; n < 20000; n++ {
		var sb strings.Builder
		sb.WriteString("{")
		for k := rng.IntN(60); k > 0; k-- {
			p := parts[rng.IntN(len(parts))]
			if (p == `\` || p == `\\` || p == `\"`) && rng.IntN(8) != 0 {
				p = `"` + p + `"` // mostly inside strings: JSON
			}
			sb.WriteString(p)
		}
		b := []byte(sb.String())
		fromEveryBracket(b)
		if n%50 == 0 {
			for k := range len(b) {
				checkSkipContainer(t, b[:k], 0)
			}
		}
	}
}

// FuzzSkipContainerChunks: any bytes, from the first bracket.
func FuzzSkipContainerChunks(f *testing.F) {
	for _, s := range []string{`{"a":{"b":["c\"}",1]}}`, `{"k":"` + strings.Repeat(`\\`, 40) + `\"}"}`, `[\]`, `{"x":"\\\"` + strings.Repeat("{", 70) + `"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if i := bytes.IndexAny(b, "{["); i >= 0 {
			checkSkipContainer(t, b, i)
		}
	})
}

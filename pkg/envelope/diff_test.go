package envelope

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// diffLines feeds lines to an Unwrapper and to the reference implementation (ref_test.go, the
// code before the speed-ups) of the same format and fails on the first difference: event, ok,
// Meta, the line counts and the partial-line state.
func diffLines(t testing.TB, f Format, ls [][]byte) {
	t.Helper()
	u, r := New(f), refNew(f)
	for i, l := range ls {
		in := bytes.Clone(l)
		ev, ok := u.Unwrap(l)
		rev, rok := r.Unwrap(in)
		if ok != rok || !bytes.Equal(ev, rev) || (ev == nil) != (rev == nil) {
			t.Fatalf("format %v, line %d %q:\n got %q, %v\nwant %q, %v", f, i, l, ev, ok, rev, rok)
		}
		if got, want := metaString(u.Meta), metaString(r.Meta); got != want {
			t.Fatalf("format %v, line %d %q: Meta\n got %s\nwant %s", f, i, l, got, want)
		}
		if u.Lines != r.Lines || u.Pending() != r.Pending() || u.Incomplete() != r.Incomplete() {
			t.Fatalf("format %v, line %d %q: counts %v %v %d, want %v %v %d", f, i, l, u.Lines, u.Pending(), u.Incomplete(), r.Lines, r.Pending(), r.Incomplete())
		}
	}
}

func metaString(m Meta) string {
	q := func(b []byte) string {
		if b == nil {
			return "nil"
		}
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("{%v %s %s %s}", m.Format, q(m.Time), q(m.Stream), q(m.Pod))
}

// diffCorpus is every generated format (malformed and huge lines included) and the recorded
// samples, line by line.
func diffCorpus(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, f := range auditgen.EnvelopeFormats {
		_, wrapped := generated(t, f, genOptions())
		out = append(out, lines(wrapped)...)
	}
	files, _ := filepath.Glob("testdata/*.log")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lines(b)...)
	}
	return out
}

// TestUnwrapMatchesReference: the unwrap gives what it gave before the speed-ups, for every
// format setting, on the generated and recorded lines and on mutations of them (truncations,
// byte changes, inserted bytes).
func TestUnwrapMatchesReference(t *testing.T) {
	corpus := diffCorpus(t)
	rng := rand.New(rand.NewPCG(1, 2))
	special := []byte(`"\{}[],: 0uF` + "\n\t")
	var mutated [][]byte
	for i := 0; i < 20000; i++ {
		l := bytes.Clone(corpus[rng.IntN(len(corpus))])
		if len(l) == 0 {
			continue
		}
		for n := 1 + rng.IntN(3); n > 0; n-- {
			p := rng.IntN(len(l))
			switch rng.IntN(4) {
			case 0:
				l = l[:p]
			case 1:
				l[p] = special[rng.IntN(len(special))]
			case 2:
				l = append(l[:p:p], append([]byte{special[rng.IntN(len(special))]}, l[p:]...)...)
			case 3:
				l[p] = byte(rng.IntN(256))
			}
			if len(l) == 0 {
				break
			}
		}
		mutated = append(mutated, l)
	}
	for _, f := range Formats() {
		diffLines(t, f, corpus)
		diffLines(t, f, mutated)
	}
}

// FuzzUnwrap: any line, after any other, unwraps as it did before the speed-ups.
func FuzzUnwrap(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.log")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		ls := lines(b)
		for i, l := range ls {
			if i < 3 && len(l) < 8<<10 {
				f.Add(l, []byte(nil))
			}
		}
	}
	f.Add([]byte(`2025-01-01T00:00:00.000000000Z stdout P {"kind":`), []byte(`2025-01-01T00:00:00.000000000Z stdout F "Event"}`))
	f.Add([]byte(`{"log":"{\"kind\":\"Event\"}\n","stream":"stdout","time":"t"}`), []byte(`{"log":{"kind":"Event"},"kubernetes":{"pod_name":"p"}}`))
	f.Add([]byte(`{"properties":{"log":"{\"a\\u00e9\":1}","pod":"p\u0041","stream":"s"},"time":"x"}`), []byte(`{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"io.k8s.core.v1.pods.get"},"timestamp":"t"}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		for _, fm := range Formats() {
			diffLines(t, fm, [][]byte{a, b, a})
		}
	})
}

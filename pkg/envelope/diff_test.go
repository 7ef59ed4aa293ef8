package envelope

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

var update = flag.Bool("update", false, "rewrite testdata/unwrap.golden")

// goldenChunk is how many lines' results one digest of testdata/unwrap.golden covers.
const goldenChunk = 256

// unwrapDigests feeds lines to a new Unwrapper of format f and returns, for each chunk of
// goldenChunk lines, the SHA-256 of their results: event, ok, Meta, the line counts and the
// partial-line state after each line.
func unwrapDigests(f Format, ls [][]byte) []string {
	u := New(f)
	var out []string
	h := sha256.New()
	for i, l := range ls {
		ev, ok := u.Unwrap(bytes.Clone(l))
		fmt.Fprintf(h, "%d %q %v %v %s %v %v %d\n", i, ev, ok, ev == nil, metaString(u.Meta), u.Lines, u.Pending(), u.Incomplete())
		if (i+1)%goldenChunk == 0 || i == len(ls)-1 {
			out = append(out, hex.EncodeToString(h.Sum(nil)))
			h.Reset()
		}
	}
	return out
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

// TestUnwrapGolden: the unwrap gives what testdata/unwrap.golden recorded, for every format
// setting, on the generated and recorded lines and on mutations of them (truncations, byte
// changes, inserted bytes), in digests of goldenChunk lines. The file was written at the commit
// after eccff02, whose speed-ups were checked line by line against a copy of the code before
// them (that commit's ref_test.go). A change of behaviour shows here as the chunks it changed;
// when it is meant, rewrite the file with `go test -run TestUnwrapGolden -update`.
func TestUnwrapGolden(t *testing.T) {
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
	var got []string
	for _, f := range Formats() {
		for _, set := range []struct {
			name  string
			lines [][]byte
		}{{"corpus", corpus}, {"mutated", mutated}} {
			for i, d := range unwrapDigests(f, set.lines) {
				got = append(got, fmt.Sprintf("%v %s %d %s", f, set.name, i, d))
			}
		}
	}
	const golden = "testdata/unwrap.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (write it with -update)", err)
	}
	want := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(got) != len(want) {
		t.Errorf("%d digests, the golden file has %d: the corpus changed (auditgen, testdata)?", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			var f, set string
			var chunk int
			fmt.Sscan(got[i], &f, &set, &chunk)
			t.Errorf("format %s, %s lines %d to %d unwrap differently than %s records", f, set, chunk*goldenChunk, (chunk+1)*goldenChunk-1, golden)
		}
	}
}

// FuzzUnwrap: any line unwraps without a panic, and after itself, other lines and a Reset as a
// new Unwrapper unwraps it: no state (partial lines, reused buffers) survives Reset, and what is
// remembered of lines before (aksPrefix, aksSuffix, kube) changes no answer.
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
	f.Add([]byte(`{"properties":{"log":"{\"kind\":\"Event\"}","stream":"stdout","pod":"p"},"time":"x"}`), []byte(`{"properties":{"log":"{\"kind\":\"Event\"}","stream":"stdout","pod":"q"},"time":"y"}`))
	f.Add([]byte(`{"properties":{"log":"{\"a\\u00e9\":1}","pod":"p\u0041","stream":"s"},"time":"x"}`), []byte(`{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"io.k8s.core.v1.pods.get"},"timestamp":"t"}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		result := func(u *Unwrapper, ev []byte, ok bool) string {
			return fmt.Sprintf("%q %v %v %s", ev, ok, ev == nil, metaString(u.Meta))
		}
		for _, fm := range Formats() {
			u := New(fm)
			u.Unwrap(bytes.Clone(a))
			u.Unwrap(bytes.Clone(a)) // the second time, what was remembered of the first is used
			u.Unwrap(bytes.Clone(b))
			u.Reset()
			ev, ok := u.Unwrap(bytes.Clone(a))
			got := result(u, ev, ok)
			fresh := New(fm)
			fev, fok := fresh.Unwrap(bytes.Clone(a))
			if want := result(fresh, fev, fok); got != want {
				t.Fatalf("format %v: %q after %q and Reset gives %s; a new Unwrapper %s", fm, a, b, got, want)
			}
		}
	})
}

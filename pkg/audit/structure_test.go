package audit

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/jsonbits"
)

// scanBothWays scans line with the structure (jsonbits) and byte by byte, with every field,
// and fails t when the two records or errors differ.
func scanBothWays(t *testing.T, line []byte) {
	t.Helper()
	s := NewScanner(AllFields)
	var a, b Record
	useStructure = true
	errA := s.Scan(line, &a)
	useStructure = false
	errB := s.Scan(line, &b)
	useStructure = jsonbits.Fast
	for _, r := range []*Record{&a, &b} {
		r.st, r.tc, r.buf = jsonbits.Structure{}, timeCache{}, nil
	}
	if errA != errB || !reflect.DeepEqual(a, b) {
		t.Fatalf("%q:\nwith the structure %v %+v\nbyte by byte      %v %+v", line, errA, a, errB, b)
	}
}

// TestScanStructureEqualsBytes: Scan reads every line alike with the structure and byte by
// byte: the real events of testdata, generated ones, lines that are not JSON in the ways the
// structure could misread (a quote or backslash in a literal, a backslash outside strings,
// strings cut off, escapes across 64-byte chunks), and random cuts and byte changes of real
// lines.
func TestScanStructureEqualsBytes(t *testing.T) {
	if !jsonbits.Fast {
		t.Skip("the structure is not used here")
	}
	var lines [][]byte
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "audit", "*.jsonl"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, bytes.Split(data, []byte("\n"))...)
	}
	if len(lines) < 100 {
		t.Fatalf("only %d lines of testdata", len(lines))
	}
	pad := strings.Repeat("x", 70)
	for _, l := range []string{
		`{"auditID":"a","stage":"ResponseComplete","code":tr"ue,"verb":"get","x":"` + pad + `"}`,
		`{"auditID":"a","stage":"ResponseComplete","n":1\"2,"verb":"get","x":"` + pad + `"}`,
		`{"auditID":"a","stage":"ResponseComplete",\"verb":"get","x":"` + pad + `"}`,
		`{"auditID":"a","stage":"ResponseComplete","responseStatus":{"code":4"0"3},"x":"` + pad + `"}`,
		`{"auditID":"a","stage":"ResponseComplete","annotations":{"k":1"},"verb":"get","x":"` + pad + `"}`,
		`{"auditID":"a","stage":"ResponseComplete","verb":"get` + pad + `}`,
		`{"auditID":"a","stage":"ResponseComplete","requestObject":{"a":["]}",{"b":"{"}]},"verb":"get","x":"` + pad + `"}`,
		`{"auditID":"a","stage":"ResponseComplete","requestObject":{"a":[1,2},"verb":"get","x":"` + pad + `"}`,
		`{"auditID":"a","stage":"ResponseComplete","verb":"g\\\"et","x":"` + pad + `"}`,
	} {
		lines = append(lines, []byte(l))
	}
	// A backslash run and an escaped quote at every place across a chunk's end.
	for n := range 80 {
		lines = append(lines, []byte(`{"auditID":"a","stage":"ResponseComplete","userAgent":"`+strings.Repeat("y", n)+`\\\\\"z\\","verb":"get","x":"`+pad+`"}`))
	}
	rng := rand.New(rand.NewPCG(7, 8))
	real := len(lines)
	for range 20000 {
		l := bytes.Clone(lines[rng.IntN(real)])
		if len(l) == 0 {
			continue
		}
		switch rng.IntN(3) {
		case 0:
			l = l[:rng.IntN(len(l))]
		case 1:
			l[rng.IntN(len(l))] = `"\{}[],:0 a`[rng.IntN(11)]
		default:
			i := rng.IntN(len(l))
			l = append(l[:i], append([]byte(`"\`[rng.IntN(2):rng.IntN(2)+1]), l[i:]...)...)
		}
		lines = append(lines, l)
	}
	for _, l := range lines {
		scanBothWays(t, l)
	}
}

// FuzzScanStructure: any line reads alike with the structure and byte by byte.
func FuzzScanStructure(f *testing.F) {
	f.Add([]byte(`{"auditID":"a","stage":"ResponseComplete","verb":"get","stageTimestamp":"2025-01-01T00:00:00Z","user":{"username":"u","groups":["g"]},"objectRef":{"resource":"pods"},"responseStatus":{"code":200}}`))
	f.Add([]byte(`{"auditID":"a","stage":"ResponseComplete","n":tr"ue,"verb":"get","pad":"` + strings.Repeat("x", 100) + `"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(line) < structureMin {
			line = append(line, bytes.Repeat([]byte(" "), structureMin)...)
		}
		scanBothWays(t, line)
	})
}

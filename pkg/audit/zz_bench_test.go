package audit_test

import (
	"bytes"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"os"
	"path/filepath"
	"testing"
)

func load() ([][]byte, int64) {
	files, _ := filepath.Glob("../../testdata/audit/*.jsonl")
	var all [][]byte
	for _, f := range files {
		d, _ := os.ReadFile(f)
		for _, l := range bytes.Split(d, []byte("\n")) {
			if len(l) > 0 {
				all = append(all, l)
			}
		}
	}
	var n int64
	for _, l := range all {
		n += int64(len(l))
	}
	return all, n
}
func BenchmarkZZW(b *testing.B) {
	all, n := load()
	b.SetBytes(n)
	b.ReportAllocs()
	sc := audit.NewScanner(audit.Fields(0).With(audit.FieldVerb, audit.FieldUsername, audit.FieldCode, audit.FieldRequestReceived, audit.FieldAnnotations, audit.FieldResource, audit.FieldSubresource))
	var r audit.Record
	for i := 0; i < b.N; i++ {
		for _, l := range all {
			_ = sc.Scan(l, &r)
			_ = r.Decision()
		}
	}
}

package index

import (
	"bytes"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// BenchmarkBuild scans a generated log with audit.IndexedFields and indexes it (build), beside
// the same scan without the builder (scan), so that the cost of the builder is the difference
// of the two in one run; MB/s is of log.
func BenchmarkBuild(b *testing.B) {
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 5, Start: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), Duration: time.Hour, Requests: 20000}); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(buf.Bytes(), []byte("\n"))
	for _, build := range []bool{false, true} {
		name := "scan"
		if build {
			name = "build"
		}
		b.Run(name, func(b *testing.B) {
			sc := audit.NewScanner(audit.IndexedFields)
			var rec audit.Record
			b.SetBytes(int64(buf.Len()))
			b.ReportAllocs()
			var size int64
			for b.Loop() {
				bld := NewBuilder()
				off := int64(0)
				for _, l := range lines {
					if sc.Scan(l, &rec) == nil && build {
						bld.Add(&rec, off)
					}
					off += int64(len(l)) + 1
				}
				ix := &Index{}
				ix.Append(bld)
				size = ix.Size()
			}
			if build {
				b.ReportMetric(float64(size)/float64(buf.Len())*100, "%-of-log")
			}
		})
	}
}

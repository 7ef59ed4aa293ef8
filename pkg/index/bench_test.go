package index

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// BenchmarkBuild scans a generated log with audit.IndexedFields and indexes it (build), beside
// the same scan without the builder (scan), so that the cost of the builder is the difference
// of the two in one run, and beside a scan of the verb alone (scan-verb: what a timeseries by
// verb asks without an index), so that the cost of extracting every indexed field is the
// difference of scan and scan-verb; MB/s is of log, cpu-MB/s of log per second of the
// process's CPU time (which other work on the machine changes far less).
func BenchmarkBuild(b *testing.B) {
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 5, Start: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), Duration: time.Hour, Requests: 20000}); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(buf.Bytes(), []byte("\n"))
	for _, name := range []string{"scan-verb", "scan", "build"} {
		build := name == "build"
		b.Run(name, func(b *testing.B) {
			fields := audit.IndexedFields
			if name == "scan-verb" {
				fields = audit.Fields(0).With(audit.FieldVerb)
			}
			sc := audit.NewScanner(fields)
			var rec audit.Record
			b.SetBytes(int64(buf.Len()))
			b.ReportAllocs()
			var size int64
			cpu0 := cpuTime()
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
			if cpu := cpuTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(buf.Len())*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
			}
			if build {
				b.ReportMetric(float64(size)/float64(buf.Len())*100, "%-of-log")
			}
		})
	}
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecode decodes every block of a generated hour, whole (all) and with the columns a
// timeseries by verb reads (verb: the verb, stage and code), as Each does; MB/s is of the
// compressed blocks.
func BenchmarkDecode(b *testing.B) {
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 5, Start: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), Duration: time.Hour, Requests: 20000}); err != nil {
		b.Fatal(err)
	}
	sc := audit.NewScanner(audit.IndexedFields)
	var rec audit.Record
	bld := NewBuilder()
	off := int64(0)
	for _, l := range bytes.Split(buf.Bytes(), []byte("\n")) {
		if sc.Scan(l, &rec) == nil {
			bld.Add(&rec, off)
		}
		off += int64(len(l)) + 1
	}
	ix := &Index{}
	ix.Append(bld)
	for _, c := range []struct {
		name string
		cols Columns
	}{{"all", AllColumns}, {"verb", Columns{Fields: audit.Fields(0).With(audit.FieldVerb, audit.FieldStage, audit.FieldCode)}}} {
		b.Run(c.name, func(b *testing.B) {
			var size int64
			for _, rb := range ix.blocks {
				size += int64(rb.size)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				for k := range ix.blocks {
					if _, err := ix.blocks[k].decode(ix.blocks[k].data, c.cols); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

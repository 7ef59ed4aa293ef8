//go:build unix

package envelope

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// BenchmarkUnwrapAndScan measures the decode of a generated log (the audit scanner with the
// fields a timeseries-by-verb query reads) without unwrapping ("decode-only") and with it, per
// format: bytes/s are of the bare events, so the numbers compare directly.
func BenchmarkUnwrapAndScan(b *testing.B) {
	o := auditgen.Options{Seed: 9, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Duration: time.Hour, Requests: 4000}
	sc := audit.NewScanner(audit.Fields(0).With(audit.FieldVerb, audit.FieldCode, audit.FieldStage))
	for _, f := range []string{"decode-only", auditgen.EnvelopeBare, auditgen.EnvelopeCRI, auditgen.EnvelopeDocker, auditgen.EnvelopeFluentBit, auditgen.EnvelopeAKS, auditgen.EnvelopeGKE} {
		format := f
		if f == "decode-only" {
			format = auditgen.EnvelopeBare
		}
		bare, wrapped := generated(b, format, o)
		ls := lines(wrapped)
		b.Run(f, func(b *testing.B) {
			b.SetBytes(int64(len(bare)))
			b.ReportAllocs()
			var rec audit.Record
			u := New(Auto)
			defer reportCPU(b, int64(len(bare)))()
			for b.Loop() {
				for _, l := range ls {
					ev := l
					if f != "decode-only" {
						var ok bool
						if ev, ok = u.Unwrap(l); !ok {
							continue
						}
					}
					_ = sc.Scan(ev, &rec)
				}
			}
		})
	}
}

// BenchmarkUnwrapOnly is the unwrap alone, per format.
func BenchmarkUnwrapOnly(b *testing.B) {
	o := auditgen.Options{Seed: 9, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Duration: time.Hour, Requests: 4000}
	for _, f := range []string{auditgen.EnvelopeBare, auditgen.EnvelopeCRI, auditgen.EnvelopeDocker, auditgen.EnvelopeFluentBit, auditgen.EnvelopeAKS, auditgen.EnvelopeGKE} {
		bare, wrapped := generated(b, f, o)
		ls := bytes.Split(bytes.TrimSuffix(wrapped, []byte("\n")), []byte("\n"))
		b.Run(f, func(b *testing.B) {
			b.SetBytes(int64(len(bare)))
			b.ReportAllocs()
			u := New(Auto)
			defer reportCPU(b, int64(len(bare)))()
			for b.Loop() {
				for _, l := range ls {
					u.Unwrap(l)
				}
			}
		})
	}
}

// reportCPU adds the process's CPU time per op (cpu-ns/op) and the bytes per CPU second
// (cpu-MB/s) to a benchmark: on a machine shared with other work, wall time measures the
// others too. Call it before the loop and defer what it returns.
func reportCPU(b *testing.B, bytes int64) func() {
	start := cpuTime()
	return func() {
		cpu := cpuTime() - start
		if b.N == 0 || cpu <= 0 {
			return
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(bytes)*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

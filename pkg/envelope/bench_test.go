package envelope

import (
	"bytes"
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
			for b.Loop() {
				for _, l := range ls {
					u.Unwrap(l)
				}
			}
		})
	}
}

//go:build unix

package engine_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// envBenchLogs writes the same 40,000 generated requests in every format, each in its own
// directory; it returns the directories and the bytes of the bare log.
func envBenchLogs(b *testing.B) (map[string]string, int64) {
	b.Helper()
	var bare bytes.Buffer
	sum, err := auditgen.Write(&bare, auditgen.Options{Seed: 7, Start: benchStart, Duration: 6 * time.Hour, Requests: 40_000})
	if err != nil {
		b.Fatal(err)
	}
	dirs := map[string]string{}
	for _, f := range auditgen.EnvelopeFormats {
		dirs[f] = b.TempDir()
		var out bytes.Buffer
		ew, err := auditgen.NewEnvelopeWriter(&out, f)
		if err != nil {
			b.Fatal(err)
		}
		ew.Write(bare.Bytes())
		ew.Close()
		if err := os.WriteFile(filepath.Join(dirs[f], "audit.log"), out.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dirs, sum.Bytes
}

// BenchmarkScanEnvelopes runs a timeseries-by-verb query over the same events in every format
// (one worker: the unwrap runs in the source's goroutine either way). bytes/s are of the bare
// events, so formats compare directly; "bare-fixed" is envelope bare (no detection: the scan
// as before the envelope layer), "bare-auto" the default detection on bare lines.
func BenchmarkScanEnvelopes(b *testing.B) {
	dirs, bareBytes := envBenchLogs(b)
	q, err := query.Parse([]byte(`{"queryType":"timeseries","groupBy":["verb"]}`), "")
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name, format string
		env          envelope.Format
	}{
		{"bare-fixed", auditgen.EnvelopeBare, envelope.Bare},
		{"bare-auto", auditgen.EnvelopeBare, envelope.Auto},
		{"cri", auditgen.EnvelopeCRI, envelope.Auto},
		{"docker", auditgen.EnvelopeDocker, envelope.Auto},
		{"fluentbit", auditgen.EnvelopeFluentBit, envelope.Auto},
		{"aks", auditgen.EnvelopeAKS, envelope.Auto},
		{"gke", auditgen.EnvelopeGKE, envelope.Auto},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			src := envelopeSource(b, dirs[c.format])
			req := engine.Request{Query: q, From: benchStart, To: benchStart.Add(6 * time.Hour), Interval: time.Minute, MaxDataPoints: 1000, Workers: 1, Envelope: c.env}
			b.SetBytes(bareBytes)
			b.ReportAllocs()
			start := cpuTime()
			defer func() {
				// CPU time of the process per op: wall time on a shared machine measures the
				// others too (the same metric as pkg/envelope's benchmarks).
				if cpu := cpuTime() - start; b.N > 0 && cpu > 0 {
					b.ReportMetric(float64(bareBytes)*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
				}
			}()
			for b.Loop() {
				res, err := engine.Run(context.Background(), src, req)
				if err != nil {
					b.Fatal(err)
				}
				if res.Stats.Matched == 0 {
					b.Fatal("no events matched")
				}
			}
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

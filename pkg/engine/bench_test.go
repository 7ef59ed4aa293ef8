package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
)

// The benchmarks run queries end to end over a generated 6-hour audit.log of about 300 MB
// (a realistic level mix: mostly Metadata, some Request/RequestResponse with objects), read
// from disk by the file source. Run:
//
//	go test -run '^$' -bench . -benchmem ./pkg/engine/
var (
	benchOnce sync.Once
	benchDir  string
	benchSum  auditgen.Summary
	benchErr  error
)

var benchStart = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func benchFile(b *testing.B) (string, auditgen.Summary) {
	b.Helper()
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "k8saudit-bench-")
		if benchErr != nil {
			return
		}
		f, err := os.Create(filepath.Join(benchDir, "audit.log"))
		if err != nil {
			benchErr = err
			return
		}
		defer f.Close()
		benchSum, benchErr = auditgen.Write(f, auditgen.Options{Seed: 7, Start: benchStart, Duration: 6 * time.Hour, Requests: 150_000})
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDir, benchSum
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	if scaleDir != "" {
		os.RemoveAll(scaleDir)
	}
	os.Exit(code)
}

func benchQuery(b *testing.B, raw string) {
	for _, w := range []struct {
		name    string
		workers int
	}{{"1worker", 1}, {"allcores", 0}} {
		b.Run(w.name, func(b *testing.B) { benchQueryWorkers(b, raw, w.workers) })
	}
}

func benchQueryWorkers(b *testing.B, raw string, workers int) {
	dir, sum := benchFile(b)
	src, err := file.New(file.Config{Paths: []string{dir}}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		b.Fatal(err)
	}
	q, err := query.Parse([]byte(raw), "")
	if err != nil {
		b.Fatal(err)
	}
	req := engine.Request{Query: q, From: benchStart, To: benchStart.Add(6 * time.Hour), Interval: time.Minute, MaxDataPoints: 1000, Workers: workers}
	b.SetBytes(sum.Bytes)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := engine.Run(context.Background(), src, req)
		if err != nil {
			b.Fatal(err)
		}
		if res.Stats.Matched == 0 {
			b.Fatal("no events matched")
		}
	}
}

func BenchmarkTimeSeriesByVerb(b *testing.B) {
	benchQuery(b, `{"queryType":"timeseries","groupBy":["verb"]}`)
}

func BenchmarkLatencyP99ByResource(b *testing.B) {
	benchQuery(b, `{"queryType":"latency","groupBy":["objectRef.resource"],"quantiles":[0.5,0.99]}`)
}

func BenchmarkDeniedTable(b *testing.B) {
	benchQuery(b, `{"queryType":"denied"}`)
}

// BenchmarkEventsTable keeps the newest 5000 events and decodes them for the table: the scan
// plus the decode of the kept lines.
func BenchmarkEventsTable(b *testing.B) {
	benchQuery(b, `{"queryType":"events","format":"table","limit":5000}`)
}

func BenchmarkDetections(b *testing.B) {
	benchQuery(b, `{"queryType":"detections"}`)
}

// BenchmarkRBACLookback reads a 6-hour look-back of role writes (the whole generated log) for a
// detections query of binding-to-wildcard-role over the hour after it, without a RoleIndex, so
// every iteration reads the whole look-back: the cost of a first dashboard load. The file's
// times cannot be told from its name or mtime, so the range itself is read too: "none" is that
// cost alone, and the look-back costs the difference.
func BenchmarkRBACLookback(b *testing.B) {
	dir, sum := benchFile(b)
	src, err := file.New(file.Config{Paths: []string{dir}}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		b.Fatal(err)
	}
	q, err := query.Parse([]byte(`{"queryType":"detections","rules":["binding-to-wildcard-role"]}`), "")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range []time.Duration{0, 6 * time.Hour} {
		name := "none"
		if l > 0 {
			name = l.String()
		}
		b.Run(name, func(b *testing.B) {
			req := engine.Request{Query: q, From: benchStart.Add(6 * time.Hour), To: benchStart.Add(7 * time.Hour),
				Detect: detect.Config{RoleLookback: l}}
			b.SetBytes(sum.Bytes)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := engine.Run(context.Background(), src, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package audit_test

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// benchTargetBytes is the size of the generated log the benchmarks read.
const benchTargetBytes = 64 << 20

var benchData struct {
	once  sync.Once
	lines [][]byte
	bytes int64
	err   error
}

// benchLines returns ~64 MB of audit lines: a realistic generated mix (auditgen: every stage,
// denied and failed requests, slow requests with latency annotations, some huge objects) plus
// the real fixtures.
func benchLines(b *testing.B) ([][]byte, int64) {
	b.Helper()
	benchData.once.Do(func() {
		var buf bytes.Buffer
		buf.Grow(benchTargetBytes + benchTargetBytes/4)
		_, err := auditgen.Write(&buf, auditgen.Options{
			Seed:     42,
			Start:    time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			Duration: time.Hour,
			Requests: 110_000,
		})
		if err != nil {
			benchData.err = err
			return
		}
		data := buf.Bytes()
		if len(data) > benchTargetBytes {
			data = data[:bytes.LastIndexByte(data[:benchTargetBytes], '\n')+1]
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(l) > 0 {
				benchData.lines = append(benchData.lines, l)
				benchData.bytes += int64(len(l)) + 1
			}
		}
	})
	if benchData.err != nil {
		b.Fatal(benchData.err)
	}
	lines, n := benchData.lines, benchData.bytes
	for _, fl := range readFixtures(b) {
		lines = append(lines, fl.line)
		n += int64(len(fl.line)) + 1
	}
	return lines, n
}

// BenchmarkScanRecord scans with the field set of an aggregation (timeseries/latency grouped
// by verb and user, with the decision): verb, user, code, stage, times, annotations.
func BenchmarkScanRecord(b *testing.B) {
	lines, n := benchLines(b)
	s := audit.NewScanner(audit.Fields(0).With(audit.FieldVerb, audit.FieldUsername, audit.FieldCode,
		audit.FieldStage, audit.FieldRequestReceived, audit.FieldStageTimestamp, audit.FieldAnnotations))
	var r audit.Record
	b.SetBytes(n)
	b.ReportAllocs()
	b.ResetTimer()
	var events, decided int
	for b.Loop() {
		events, decided = 0, 0
		for _, l := range lines {
			if s.Scan(l, &r) != nil {
				continue
			}
			events++
			if len(r.Decision()) > 0 {
				decided++
			}
			_, _ = r.Latency()
		}
	}
	b.ReportMetric(float64(events), "events")
	if events == 0 || decided == 0 {
		b.Fatalf("scanned %d events, %d with a decision", events, decided)
	}
}

// BenchmarkDecodeFull decodes every line with every field (what a table query does for the
// rows it shows), as Decode does.
func BenchmarkDecodeFull(b *testing.B) {
	lines, n := benchLines(b)
	b.SetBytes(n)
	b.ReportAllocs()
	b.ResetTimer()
	var events int
	for b.Loop() {
		events = 0
		for _, l := range lines {
			if _, err := audit.Decode(l); err == nil {
				events++
			}
		}
	}
	b.ReportMetric(float64(events), "events")
	if events == 0 {
		b.Fatal("no events decoded")
	}
}

// BenchmarkScanFixtures is the same scan over the real fixtures only (no generator).
func BenchmarkScanFixtures(b *testing.B) {
	fl := readFixtures(b)
	var n int64
	s := audit.NewScanner(audit.Fields(0).With(audit.FieldVerb, audit.FieldUsername, audit.FieldCode,
		audit.FieldStage, audit.FieldRequestReceived, audit.FieldStageTimestamp, audit.FieldAnnotations))
	for _, l := range fl {
		n += int64(len(l.line)) + 1
	}
	var r audit.Record
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range fl {
			_ = s.Scan(l.line, &r)
			_ = r.Decision()
		}
	}
}

// BenchmarkDecodeStdlib is the baseline the scanner is measured against: encoding/json into
// a struct of the full event, as most audit tooling in Go decodes. Compare it with BenchmarkScanRecord on
// the same machine in the same run: absolute MB/s vary a lot between machines and with load.
func BenchmarkDecodeStdlib(b *testing.B) {
	lines, n := benchLines(b)
	b.SetBytes(n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, l := range lines {
			var ev oracleEvent
			_ = json.Unmarshal(l, &ev)
		}
	}
}

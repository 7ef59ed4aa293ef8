package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
)

// TestDetectionsNoiseThroughSegments: with cluster networks and the known-good profile, grouped
// findings (counts, first and last seen), the rules on requests from outside and the profile's
// notice are the same raw and through the segment cache (detector partials merged per
// segment), cold, warm and over a range that cuts segments.
func TestDetectionsNoiseThroughSegments(t *testing.T) {
	dir := t.TempDir()
	writeSegmentedLog(t, dir)
	src := newFileSource(t, dir)
	cache := engine.NewCache(0)
	cfg := detect.Config{ClusterNetworks: []string{"10.0.0.0/16", "172.16.0.0/12"}, Profile: detect.ProfileKnownGood}
	run := func(raw string, from, to time.Time, c *engine.Cache) *engine.Result {
		t.Helper()
		q, err := query.Parse([]byte(raw), "")
		if err != nil {
			t.Fatal(err)
		}
		res, err := engine.Run(context.Background(), src, engine.Request{Query: q, From: from, To: to, Interval: time.Minute,
			MaxDataPoints: 600, Cache: c, Detect: cfg})
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return res
	}
	queries := []string{
		`{"queryType":"detections","limit":1000}`,
		`{"queryType":"detections","format":"timeseries","groupBy":["user.username","sourceIPs"]}`,
	}
	from, to := segStart.Add(-time.Minute), segStart.Add(4*time.Hour)
	outside, grouped := 0, 0
	for _, pass := range []struct {
		name     string
		from, to time.Time
	}{{"cold", from, to}, {"warm", from, to}, {"cut", segStart.Add(47 * time.Minute), segStart.Add(2*time.Hour + 13*time.Minute)}} {
		for _, raw := range queries {
			want := run(raw, pass.from, pass.to, nil)
			got := run(raw, pass.from, pass.to, cache)
			resultsEqual(t, pass.name+" "+raw, want, got)
			if want.Detections == nil {
				continue
			}
			for _, f := range want.Detections.Findings {
				if f.RuleID == detect.TokenOutsideRule {
					outside++
				}
				if f.Count > 1 {
					grouped++
				}
			}
			profiled := false
			for _, n := range want.Notices {
				profiled = profiled || strings.HasPrefix(n.Text, "the knownGood profile")
			}
			// A cut of the smaller log of -race runs may hold nothing the profile leaves out.
			if !profiled && pass.name != "cut" {
				t.Errorf("%s: no profile notice: %v", pass.name, want.Notices)
			}
		}
	}
	if outside == 0 || grouped == 0 {
		t.Errorf("the generated log gave %d token-outside-cluster findings and %d grouped ones: nothing was compared", outside, grouped)
	}
}

// BenchmarkDetectionsRange runs a detections query (every rule, the table) over the last hour
// and over the whole of a generated day (150,000 requests with the scripted intrusion, in 25
// rotations of 6,000 requests) through a new segment cache, as a cold dashboard load does,
// then once more through the same cache (a refresh). It reports the peak of the live heap
// during the cold query above what was live before it (sampled every 200 µs), the bytes the
// cache keeps for the segments' partials, and the refresh's time. Run:
//
//	go test -run '^$' -bench DetectionsRange -benchtime 5x ./pkg/engine/
func BenchmarkDetectionsRange(b *testing.B) {
	dir := b.TempDir()
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	if _, _, err := auditgen.WriteRotated(dir, auditgen.Options{Seed: 7, Start: start, Duration: 24 * time.Hour, Requests: 150_000, Incident: true}, 6000, false); err != nil {
		b.Fatal(err)
	}
	src := newFileSource(b, dir)
	q, err := query.Parse([]byte(`{"queryType":"detections","limit":1000}`), "")
	if err != nil {
		b.Fatal(err)
	}
	cfg := detect.Config{ClusterNetworks: []string{"10.0.0.0/16", "172.16.0.0/12"}}
	for _, r := range []struct {
		name string
		from time.Time
	}{{"1h", start.Add(23 * time.Hour)}, {"24h", start}} {
		b.Run(r.name, func(b *testing.B) {
			req := engine.Request{Query: q, From: r.from, To: start.Add(24 * time.Hour), Detect: cfg}
			var peak, cached, refresh float64
			for b.Loop() {
				req.Cache = engine.NewCache(0)
				b.StopTimer()
				runtime.GC()
				base := liveHeap()
				stop, most := peakHeap()
				b.StartTimer()
				res, err := engine.Run(context.Background(), src, req)
				b.StopTimer()
				stop()
				if err != nil {
					b.Fatal(err)
				}
				if res.Detections == nil || len(res.Detections.Findings) == 0 {
					b.Fatal("no findings")
				}
				peak = max(peak, float64(*most-base)/(1<<20))
				cached = float64(req.Cache.Info().Bytes) / (1 << 20)
				t0 := time.Now()
				if _, err := engine.Run(context.Background(), src, req); err != nil {
					b.Fatal(err)
				}
				refresh += float64(time.Since(t0).Milliseconds())
				b.StartTimer()
			}
			b.ReportMetric(peak, "peak-heap-MiB")
			b.ReportMetric(cached, "cached-MiB")
			b.ReportMetric(refresh/float64(b.N), "refresh-ms")
		})
	}
}

// liveHeap is the bytes of live and not yet swept heap objects.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// peakHeap samples liveHeap until stop is called; most is the largest sample.
func peakHeap() (stop func(), most *uint64) {
	most = new(uint64)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			*most = max(*most, liveHeap())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }, most
}

// TestDetectionsOfSeveralAPIServers: the files of two API servers over the same hours (two
// rotation families, two streams) give the same findings through the segments as a raw read,
// with no notice of segments overlapping: the window rules are not decided within a segment
// (a burst of one client spread over both servers' files stays whole). Low burst thresholds
// make many such bursts.
func TestDetectionsOfSeveralAPIServers(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i, server := range []string{"apiserver-a", "apiserver-b"} {
		d := filepath.Join(dir, server)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		opts := auditgen.Options{Seed: uint64(40 + i), Start: segStart, Duration: 3 * time.Hour, Requests: 4000, Incident: i == 0}
		if _, _, err := auditgen.WriteRotated(d, opts, 1000, false); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, d)
	}
	src, err := file.New(file.Config{Paths: paths, MaxLineBytes: 512 << 10}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		t.Fatal(err)
	}
	cache := engine.NewCache(0)
	for _, raw := range []string{
		`{"queryType":"detections","limit":5000,"burstThreshold":3,"burstWindow":"2m"}`,
		`{"queryType":"detections","limit":5000}`,
		`{"queryType":"detections","format":"timeseries","burstThreshold":3}`,
	} {
		q, err := query.Parse([]byte(raw), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, pass := range []string{"cold", "warm"} {
			req := engine.Request{Query: q, From: segStart.Add(-time.Minute), To: segStart.Add(4 * time.Hour), Interval: time.Minute, MaxDataPoints: 600}
			want, err := engine.Run(context.Background(), src, req)
			if err != nil {
				t.Fatal(err)
			}
			req.Cache = cache
			got, err := engine.Run(context.Background(), src, req)
			if err != nil {
				t.Fatal(err)
			}
			resultsEqual(t, pass+" "+raw, want, got)
			for _, n := range got.Notices {
				if strings.Contains(n.Text, "several API servers") {
					t.Errorf("%s %s: %s", pass, raw, n.Text)
				}
			}
			if got.Detections != nil && got.Detections.Total == 0 {
				t.Errorf("%s: no findings, nothing was compared", raw)
			}
		}
	}
}

package engine

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// TestParallelEqualsSequential runs every query type over ~15 MB of generated audit log (many
// batches) with one worker and with several, and requires identical results: the merges of
// the per-worker aggregators must not depend on how lines were split.
func TestParallelEqualsSequential(t *testing.T) {
	var buf bytes.Buffer
	start := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 3, Start: start, Duration: time.Hour, Requests: 8000, MalformedEvery: 500}); err != nil {
		t.Fatal(err)
	}
	var src lines
	for _, l := range bytes.Split(buf.Bytes(), []byte("\n")) {
		if len(l) > 0 {
			src = append(src, string(l))
		}
	}
	if buf.Len() < 4*batchBytes {
		t.Fatalf("only %d bytes: the test needs several batches", buf.Len())
	}
	for _, raw := range []string{
		`{"queryType":"timeseries","groupBy":["verb","user.groups"],"limit":20}`,
		`{"queryType":"timeseries","metric":"rate","filter":{"codes":["4xx","5xx"]}}`,
		`{"queryType":"latency","groupBy":["objectRef.resource"],"quantiles":[0.5,0.9,0.99],"limit":5}`,
		`{"queryType":"latency","format":"heatmap","includeLongRunning":true}`,
		`{"queryType":"denied","limit":50}`,
		`{"queryType":"matrix","limit":6}`,
		`{"queryType":"topn","groupBy":["user.username","verb"],"limit":25}`,
		`{"queryType":"latencyBreakdown"}`,
		`{"queryType":"latencyBreakdown","format":"table","limit":7}`,
		`{"queryType":"deprecatedApis","limit":5}`,
		`{"queryType":"detections","limit":500,"burstThreshold":3}`,
		`{"queryType":"detections","format":"timeseries"}`,
		`{"queryType":"objectHistory","limit":300,"filter":{"resources":["deployments","pods"],"namespaces":["*"]}}`,
		`{"queryType":"events","limit":40,"filter":{"stages":["RequestReceived","ResponseStarted","ResponseComplete","Panic"]}}`,
	} {
		q, err := query.Parse([]byte(raw), "")
		if err != nil {
			t.Fatal(err)
		}
		req := Request{Query: q, From: start, To: start.Add(time.Hour), Interval: time.Minute, MaxDataPoints: 500}
		run := func(workers int) *Result {
			req.Workers = workers
			res, err := Run(context.Background(), src, req)
			if err != nil {
				t.Fatalf("%s with %d workers: %v", raw, workers, err)
			}
			return res
		}
		one, four := run(1), run(4)
		if one.Stats.Matched == 0 {
			t.Fatalf("%s matched nothing", raw)
		}
		if diff := cmp.Diff(one, four, cmpopts.EquateNaNs(), cmpopts.IgnoreUnexported(detect.Finding{}, HistoryRow{})); diff != "" {
			t.Errorf("%s: 1 worker vs 4 workers (-want +got):\n%s", raw, diff)
		}
	}
}

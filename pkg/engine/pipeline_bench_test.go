//go:build unix

package engine_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// BenchmarkScalePipelineHealth: pipelineHealth over the 24 h scale log (scaleLog), one query
// per iteration: without a cache (every file read, as every pipelineHealth query did before
// it went through the segments), with a new cache (every segment read), a refresh with the
// cache warm, and a refresh after audit.log grew by 0.1 % of the day's requests.
//
//	go test -run '^$' -bench ScalePipelineHealth -benchtime 5x ./pkg/engine/
func BenchmarkScalePipelineHealth(b *testing.B) {
	s := newScale(b)
	dir, sum := scaleLog(b)
	q, err := query.Parse([]byte(`{"queryType":"pipelineHealth"}`), "")
	if err != nil {
		b.Fatal(err)
	}
	to := day[1].Add(time.Hour)
	run := func(b *testing.B, cache *engine.Cache) *engine.Result {
		res, err := engine.Run(context.Background(), s.src, engine.Request{Query: q, From: day[0], To: to, Interval: time.Minute, MaxDataPoints: 1000, Cache: cache})
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	report := func(b *testing.B, res *engine.Result) {
		b.Logf("%d MB of log on disk, %d MB read, %d segments (%s)", s.bytes>>20, res.Stats.Source.BytesRead>>20, res.Stats.Segments.Total, res.Stats.Segments)
		b.ReportMetric(float64(res.Stats.Source.BytesRead)/float64(s.bytes), "log-read/log")
	}
	b.Run("uncached", func(b *testing.B) {
		var res *engine.Result
		for b.Loop() {
			res = run(b, nil)
		}
		report(b, res)
	})
	b.Run("cold", func(b *testing.B) {
		var res *engine.Result
		for b.Loop() {
			res = run(b, engine.NewCache(0))
		}
		report(b, res)
	})
	seed := uint64(200)
	for _, grow := range []bool{false, true} {
		b.Run(map[bool]string{false: "warm", true: "grown"}[grow], func(b *testing.B) {
			cache := engine.NewCache(0)
			run(b, cache)
			var res *engine.Result
			for b.Loop() {
				if grow {
					b.StopTimer()
					seed++
					growLog(b, filepath.Join(dir, "audit.log"), seed, sum.Requests/1000)
					b.StartTimer()
				}
				res = run(b, cache)
			}
			report(b, res)
		})
	}
}

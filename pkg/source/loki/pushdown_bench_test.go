package loki_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend/httpclient"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// countingBody counts the bytes of an answer as the plugin reads them.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// meteredProxy stands between the plugin and lokitest and counts requests and bytes sent back.
// scanned sums what Loki says it processed (stats.summary.totalBytesProcessed).
func meteredProxy(tb testing.TB, target string) (url string, requests, bytesOut, scanned *atomic.Int64) {
	u, _ := urlParse(target)
	requests, bytesOut, scanned = new(atomic.Int64), new(atomic.Int64), new(atomic.Int64)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		if strings.HasPrefix(r.Request.URL.Path, "/loki/api/v1/query") {
			requests.Add(1)
			body, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil {
				return err
			}
			var st struct {
				Data struct {
					Stats struct {
						Summary struct {
							TotalBytesProcessed int64 `json:"totalBytesProcessed"`
						} `json:"summary"`
					} `json:"stats"`
				} `json:"data"`
			}
			if json.Unmarshal(body, &st) == nil {
				scanned.Add(st.Data.Stats.Summary.TotalBytesProcessed)
			}
			r.Body = countingBody{io.NopCloser(bytes.NewReader(body)), bytesOut}
		}
		return nil
	}
	ps := httptest.NewServer(rp)
	tb.Cleanup(ps.Close)
	return ps.URL, requests, bytesOut, scanned
}

func urlParse(s string) (*url.URL, error) { return url.Parse(s) }

// BenchmarkPushdownVsRaw: topn, matrix, denied and the newest events over 24 h of a generated busy log in lokitest
// (its real limits: 5000 lines per page, max_query_series), pushdown against raw: requests sent
// and bytes Loki sent back. Then the overview dashboard's counts twice, the second a minute
// later with the cache of finished buckets. 60,000 requests (126,000 lines) take about a
// minute on two shared cores; K8SAUDIT_BENCH_REQUESTS sets another size (480000: about 1 M
// lines, the size, in about ten minutes).
func BenchmarkPushdownVsRaw(b *testing.B) {
	start := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	n := 60000
	if v, err := strconv.Atoi(os.Getenv("K8SAUDIT_BENCH_REQUESTS")); err == nil && v > 0 {
		n = v
	}
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 11, Start: start, Duration: 24 * time.Hour, Requests: n}); err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	srv := lokitest.New()
	defer srv.Close()
	load(srv, lines, noLag)
	purl, requests, bytesOut, scanned := meteredProxy(b, srv.URL)
	now := start.Add(24 * time.Hour)
	clock := func() time.Time { return now }
	lk := newSource(b, srv, func(c *loki.Config) {
		c.URL, c.CountCacheBytes, c.Now = purl, 64<<20, clock
		// lokitest evaluates LogQL line by line, far slower than Loki: a larger log needs time.
		c.HTTP.Timeouts = &httpclient.TimeoutOptions{Timeout: time.Duration(max(10, n/6000)) * time.Second}
	})
	from, to := start, start.Add(24*time.Hour)
	var lastScanned int64
	run := func(js string) (reqs, out int64) {
		b.Helper()
		requests.Store(0)
		bytesOut.Store(0)
		scanned.Store(0)
		defer func() { lastScanned = scanned.Load() }()
		req := engine.Request{Query: parse(b, js), From: from, To: to, Interval: 5 * time.Minute, MaxDataPoints: 1000}
		if _, err := engine.Run(context.Background(), lk, req); err != nil {
			b.Fatalf("%s: %v", js, err)
		}
		return requests.Load(), bytesOut.Load()
	}
	b.Logf("log: %d lines, %d bytes over 24 h", len(lines), buf.Len())
	for range b.N {
		for _, c := range []struct{ name, push, raw string }{
			{"topn", `{"queryType":"topn","sourceMode":"pushdown","groupBy":["objectRef.namespace"],"limit":20}`, `{"queryType":"topn","sourceMode":"raw","groupBy":["objectRef.namespace"],"limit":20}`},
			{"matrix", `{"queryType":"matrix","sourceMode":"pushdown","rows":"user.username","columns":"objectRef.resource","limit":15}`, `{"queryType":"matrix","sourceMode":"raw","rows":"user.username","columns":"objectRef.resource","limit":15}`},
			{"denied", `{"queryType":"denied","limit":500}`, `{"queryType":"events","sourceMode":"raw","limit":1}`},
			// Newest first (backward pages, the total counted by Loki) against the full read.
			{"denied-newest", `{"queryType":"denied","limit":100}`, `{"queryType":"events","sourceMode":"raw","limit":1}`},
			{"events-newest", `{"queryType":"events","limit":1000}`, `{"queryType":"events","sourceMode":"raw","limit":1}`},
		} {
			pr, pb := run(c.push)
			rr, rb := run(c.raw)
			b.Logf("%s: pushdown %d requests %d bytes; raw %d requests %d bytes (%.2f %%)", c.name, pr, pb, rr, rb, 100*float64(pb)/float64(rb))
			b.ReportMetric(float64(pr), c.name+"-requests")
			b.ReportMetric(100*float64(pb)/float64(rb), c.name+"-%raw-bytes")
		}
		// The overview's counts (pushed), then again a minute later.
		overview := []string{
			`{"queryType":"timeseries","sourceMode":"pushdown"}`,
			`{"queryType":"timeseries","sourceMode":"pushdown","filter":{"codes":["4xx"]}}`,
			`{"queryType":"timeseries","sourceMode":"pushdown","metric":"rate","groupBy":["verb"],"limit":10}`,
			`{"queryType":"timeseries","sourceMode":"pushdown","metric":"rate","groupBy":["responseStatus.code"],"limit":10}`,
			`{"queryType":"matrix","sourceMode":"pushdown","rows":"user.username","columns":"objectRef.resource","limit":15}`,
		}
		refresh := func() (reqs, out, sc int64) {
			for _, js := range overview {
				r, o := run(js)
				reqs, out, sc = reqs+r, out+o, sc+lastScanned
			}
			return
		}
		now = start.Add(24 * time.Hour)
		from, to = now.Add(-24*time.Hour), now
		r1, b1, s1 := refresh()
		now = now.Add(time.Minute)
		from, to = now.Add(-24*time.Hour), now
		r2, b2, s2 := refresh()
		b.Logf("overview refresh: first %d requests, %d bytes scanned by Loki, %d sent; a minute later %d requests, %d scanned, %d sent (%.1f %% fewer bytes scanned)",
			r1, s1, b1, r2, s2, b2, 100-100*float64(s2)/float64(s1))
		b.ReportMetric(100-100*float64(s2)/float64(s1), "refresh-%fewer-scanned")
		from, to = start, start.Add(24*time.Hour)
	}
}

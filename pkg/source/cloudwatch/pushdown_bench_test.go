package cloudwatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
)

// cwMeter counts what the plugin asked CloudWatch Logs and what came back, per operation.
type cwMeter struct {
	starts, pages, polls atomic.Int64 // StartQuery, FilterLogEvents, GetQueryResults calls
	bytesOut             atomic.Int64 // response bytes, every operation
	scanned              atomic.Int64 // statistics.bytesScanned of the finished Insights queries
}

func (m *cwMeter) reset() {
	m.starts.Store(0)
	m.pages.Store(0)
	m.polls.Store(0)
	m.bytesOut.Store(0)
	m.scanned.Store(0)
}

// meteredCloudWatch stands between the plugin and cwtest (the SDK's requests pass unchanged,
// their signature included) and meters them.
func meteredCloudWatch(tb testing.TB, target string) (string, *cwMeter) {
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	m := &cwMeter{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return err
		}
		m.bytesOut.Add(int64(len(body)))
		switch op := strings.TrimPrefix(r.Request.Header.Get("X-Amz-Target"), "Logs_20140328."); op {
		case "StartQuery":
			m.starts.Add(1)
		case "FilterLogEvents":
			m.pages.Add(1)
		case "GetQueryResults":
			m.polls.Add(1)
			var res struct {
				Status     string `json:"status"`
				Statistics struct {
					BytesScanned float64 `json:"bytesScanned"`
				} `json:"statistics"`
			}
			if json.Unmarshal(body, &res) == nil && res.Status == "Complete" {
				m.scanned.Add(int64(res.Statistics.BytesScanned))
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		return nil
	}
	ps := httptest.NewServer(rp)
	tb.Cleanup(ps.Close)
	return ps.URL, m
}

// BenchmarkInsightsVsRaw: topn, matrix and denied over 24 h of a generated busy log in cwtest
// (its real limits: 10,000 events or 1 MB per FilterLogEvents page, 10,000 result rows, the
// Insights concurrency), counted by Logs Insights against raw FilterLogEvents pages: calls, bytes
// sent back and bytes Insights scanned. Then the overview dashboard's counts twice, the second a
// minute later with the cache of finished buckets (FinishedAfter, 10 min by default). The size
// is fixed: a run takes about three minutes on two cores (cwtest evaluates every query itself).
//
//	go test -run '^$' -bench InsightsVsRaw -benchtime 1x ./pkg/source/cloudwatch/
func BenchmarkInsightsVsRaw(b *testing.B) {
	start := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 11, Start: start, Duration: 24 * time.Hour, Requests: 60000}); err != nil {
		b.Fatal(err)
	}
	var fx []fixture
	for l := range strings.SplitSeq(strings.TrimRight(buf.String(), "\n"), "\n") {
		if tm, ok := audit.LineTime([]byte(l)); ok {
			fx = append(fx, fixture{l, tm.UnixMilli()}) // EKS stamps an event when it ships it
		}
	}
	srv := newServer(b, fx)
	purl, m := meteredCloudWatch(b, srv.URL)
	now := start.Add(24 * time.Hour)
	cw := newSource(b, srv, func(c *cloudwatch.Config) { c.Endpoint = purl; c.CountCacheBytes = 64 << 20 },
		cloudwatch.Options{Now: func() time.Time { return now }})
	from, to := start, start.Add(24*time.Hour)
	type cost struct{ starts, pages, polls, out, scanned int64 }
	run := func(js string) cost {
		b.Helper()
		m.reset()
		q, err := query.Parse([]byte(js), "")
		if err != nil {
			b.Fatal(err)
		}
		req := engine.Request{Query: q, From: from, To: to, Interval: 5 * time.Minute, MaxDataPoints: 1000}
		if _, err := engine.Run(context.Background(), cw, req); err != nil {
			b.Fatalf("%s: %v", js, err)
		}
		return cost{m.starts.Load(), m.pages.Load(), m.polls.Load(), m.bytesOut.Load(), m.scanned.Load()}
	}
	b.Logf("log: %d events, %d bytes over 24 h", len(fx), buf.Len())
	for range b.N {
		for _, c := range []struct{ name, push, raw string }{
			{"topn", `{"queryType":"topn","sourceMode":"pushdown","groupBy":["objectRef.namespace"],"limit":20}`, `{"queryType":"topn","sourceMode":"raw","groupBy":["objectRef.namespace"],"limit":20}`},
			{"matrix", `{"queryType":"matrix","sourceMode":"pushdown","rows":"user.username","columns":"objectRef.resource","limit":15}`, `{"queryType":"matrix","sourceMode":"raw","rows":"user.username","columns":"objectRef.resource","limit":15}`},
			{"denied", `{"queryType":"denied","limit":500}`, `{"queryType":"events","sourceMode":"raw","limit":1}`},
		} {
			p, r := run(c.push), run(c.raw)
			b.Logf("%s: pushdown %d Insights queries (%d polls) + %d pages, %d bytes sent, %d scanned; raw %d pages, %d bytes sent (%.2f %%)",
				c.name, p.starts, p.polls, p.pages, p.out, p.scanned, r.pages, r.out, 100*float64(p.out)/float64(r.out))
			b.ReportMetric(float64(p.starts+p.pages), c.name+"-queries+pages")
			b.ReportMetric(100*float64(p.out)/float64(r.out), c.name+"-%raw-bytes")
		}
		overview := []string{
			`{"queryType":"timeseries","sourceMode":"pushdown"}`,
			`{"queryType":"timeseries","sourceMode":"pushdown","filter":{"codes":["4xx"]}}`,
			`{"queryType":"timeseries","sourceMode":"pushdown","metric":"rate","groupBy":["verb"],"limit":10}`,
			`{"queryType":"timeseries","sourceMode":"pushdown","metric":"rate","groupBy":["responseStatus.code"],"limit":10}`,
			`{"queryType":"matrix","sourceMode":"pushdown","rows":"user.username","columns":"objectRef.resource","limit":15}`,
		}
		refresh := func() (c cost) {
			for _, js := range overview {
				r := run(js)
				c.starts, c.pages, c.out, c.scanned = c.starts+r.starts, c.pages+r.pages, c.out+r.out, c.scanned+r.scanned
			}
			return c
		}
		now = start.Add(24 * time.Hour)
		from, to = now.Add(-24*time.Hour), now
		first := refresh()
		now = now.Add(time.Minute)
		from, to = now.Add(-24*time.Hour), now
		second := refresh()
		b.Logf("overview refresh: first %d Insights queries, %d bytes scanned; a minute later %d queries, %d scanned (%.1f %% fewer bytes scanned)",
			first.starts, first.scanned, second.starts, second.scanned, 100-100*float64(second.scanned)/float64(first.scanned))
		b.ReportMetric(100-100*float64(second.scanned)/float64(first.scanned), "refresh-%fewer-scanned")
		from, to = start, start.Add(24*time.Hour)
	}
}

package loki_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/grafana/grafana-plugin-sdk-go/backend/httpclient"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// TestCountCacheRefreshAsksTail: a refresh a minute later asks Loki only for the bucket cut by
// the range's start and the unfinished tail; its counts equal an uncached count, including an
// event that arrived late inside the lag window.
func TestCountCacheRefreshAsksTail(t *testing.T) {
	lines := generated(t)
	srv := lokitest.New()
	defer srv.Close()
	load(srv, lines, noLag)
	now := genStart.Add(6 * time.Hour)
	clock := func() time.Time { return now }
	cached := newSource(t, srv, func(c *loki.Config) { c.CountCacheBytes = 16 << 20; c.Now = clock })
	plain := newSource(t, srv, func(c *loki.Config) { c.Now = clock })
	countReq := func() source.CountRequest {
		from := now.Add(-6*time.Hour + 30*time.Second)
		start := from.Truncate(5 * time.Minute)
		return source.CountRequest{From: from, To: now, Start: start, Step: 5 * time.Minute,
			N: int(now.Sub(start)/(5*time.Minute)) + 1, Filter: query.Filter{}, GroupBy: []string{"verb"}}
	}
	count := func(s *loki.Source) *source.CountResult {
		t.Helper()
		res, err := s.Count(context.Background(), countReq())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := count(cached)
	if first.CachedBuckets != 0 || first.Requests == 0 {
		t.Fatalf("first count: %d cached, %d requests", first.CachedBuckets, first.Requests)
	}
	// A minute later, with one event logged 3 minutes ago (inside the 5-minute lag window),
	// pushed to Loki only now.
	now = now.Add(time.Minute)
	at := now.Add(-3 * time.Minute)
	mid := len(lines) / 2
	for !strings.Contains(lines[mid], `"stage":"ResponseComplete"`) {
		mid++
	}
	late := retime(t, lines[mid], at)
	srv.Push(map[string]string{"job": "kubernetes-audit", "host": "master-1", "filename": "/var/log/kubernetes/audit/audit.log"}, at, late)
	before := len(srv.Queries())
	second := count(cached)
	asked := srv.Queries()[before:]
	want := count(plain)
	bySeries := func(r *source.CountResult) map[string][]float64 {
		m := map[string][]float64{}
		for _, s := range r.Series {
			m[strings.Join(s.Values, ",")] = s.Counts
		}
		return m
	}
	if d := cmp.Diff(bySeries(want), bySeries(second)); d != "" {
		t.Errorf("cached refresh differs from an uncached count (-uncached +cached):\n%s", d)
	}
	if second.Requests > 3 || len(asked) > 3 {
		t.Errorf("refresh sent %d requests (%d queries), want at most 3: the head bucket and the tail", second.Requests, len(asked))
	}
	if second.CachedBuckets < second.Buckets-3 {
		t.Errorf("%d of %d buckets from the cache", second.CachedBuckets, second.Buckets)
	}
	t.Logf("first: %d requests; refresh: %d requests, %d of %d buckets cached", first.Requests, second.Requests, second.CachedBuckets, second.Buckets)
}

// retime sets a line's requestReceivedTimestamp and stageTimestamp to at.
func retime(t *testing.T, line string, at time.Time) string {
	t.Helper()
	ts := at.UTC().Format("2006-01-02T15:04:05.000000Z")
	for _, k := range []string{`"requestReceivedTimestamp":"`, `"stageTimestamp":"`} {
		i := strings.Index(line, k)
		if i < 0 {
			t.Fatalf("line without %s", k)
		}
		j := i + len(k) + strings.IndexByte(line[i+len(k):], '"')
		line = line[:i+len(k)] + ts + line[j:]
	}
	if got, ok := audit.LineTime([]byte(line)); !ok || !got.Equal(at.Truncate(time.Microsecond)) {
		t.Fatalf("retimed line has time %v", got)
	}
	return line
}

// TestCountParallelBounded: a count split into many range chunks sends at most Parallelism
// requests at once, and counts what a one-at-a-time count does.
func TestCountParallelBounded(t *testing.T) {
	lines := generated(t)
	srv := lokitest.New()
	defer srv.Close()
	srv.Limits.MaxQueryLength = 30 * time.Minute
	load(srv, lines, noLag)
	var inFlight, most atomic.Int32
	track := httpclient.NamedMiddlewareFunc("track", func(_ httpclient.Options, next http.RoundTripper) http.RoundTripper {
		return httpclient.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			return next.RoundTrip(r)
		})
	})
	newCounter := func(par int) *loki.Source {
		return newSource(t, srv, func(c *loki.Config) {
			c.MaxQueryLength = 30 * time.Minute
			c.Parallelism = par
			c.HTTP.Middlewares = []httpclient.Middleware{track}
		})
	}
	from := genStart.Add(90 * time.Second)
	to := genStart.Add(6 * time.Hour)
	req := source.CountRequest{From: from, To: to, Start: genStart, Step: 5 * time.Minute, N: int(to.Sub(genStart)/(5*time.Minute)) + 1, GroupBy: []string{"verb"}}
	par, err := newCounter(3).Count(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if m := most.Load(); m > 3 {
		t.Errorf("%d requests at once, want at most 3", m)
	}
	if par.Requests < 10 {
		t.Errorf("%d requests: the count was not split", par.Requests)
	}
	seq, err := newCounter(1).Count(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	bySeries := func(r *source.CountResult) map[string][]float64 {
		m := map[string][]float64{}
		for _, s := range r.Series {
			m[strings.Join(s.Values, ",")] = s.Counts
		}
		return m
	}
	if d := cmp.Diff(bySeries(seq), bySeries(par)); d != "" {
		t.Errorf("parallel count differs (-sequential +parallel):\n%s", d)
	}
}

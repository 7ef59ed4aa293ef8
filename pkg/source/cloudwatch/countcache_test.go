package cloudwatch_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
)

// TestCountCacheRefreshAsksTail: a refresh asks Insights only for the bucket cut by the
// range's start and the buckets of the last finishedAfter; the counts are the same, and the
// cost says how many buckets came from the cache and what Insights scanned.
func TestCountCacheRefreshAsksTail(t *testing.T) {
	srv := newServer(t, loadFixtures(t))
	now := genStart.Add(51 * time.Minute)
	src := newSource(t, srv, func(c *cloudwatch.Config) { c.CountCacheBytes = 16 << 20 },
		cloudwatch.Options{Now: func() time.Time { return now }})
	req := countReq(query.Filter{}, "verb")
	first, err := src.Count(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	before := srv.Calls("StartQuery")
	second, err := src.Count(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls("StartQuery") - before; n != 2 {
		t.Errorf("the refresh started %d queries, want 2 (the head bucket and the unfinished tail)", n)
	}
	bySeries := func(r *source.CountResult) map[string][]float64 {
		m := map[string][]float64{}
		for _, s := range r.Series {
			m[strings.Join(s.Values, ",")] = s.Counts
		}
		return m
	}
	if d := cmp.Diff(bySeries(first), bySeries(second)); d != "" {
		t.Errorf("refresh differs (-first +refresh):\n%s", d)
	}
	if second.PricePerGB != cloudwatch.DefaultPricePerGB {
		t.Errorf("price per GB %v", second.PricePerGB)
	}
	if second.CachedBuckets != req.N-11 || first.BytesScanned == 0 || second.BytesScanned >= first.BytesScanned {
		t.Errorf("cached %d of %d buckets; scanned %d then %d bytes", second.CachedBuckets, req.N, first.BytesScanned, second.BytesScanned)
	}
}

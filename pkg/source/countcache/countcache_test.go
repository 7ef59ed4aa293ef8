package countcache

import (
	"context"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// fake counts one request per bucket for series "a", recording what it was asked.
type fake struct{ asked []source.CountRequest }

func (f *fake) count(_ context.Context, req source.CountRequest) (*source.CountResult, error) {
	f.asked = append(f.asked, req)
	s := source.CountSeries{Values: []string{"a"}, Counts: make([]float64, req.N)}
	for i := range s.Counts {
		s.Counts[i] = 1
	}
	return &source.CountResult{Series: []source.CountSeries{s}, Requests: 1}, nil
}

func req(from, to time.Time) source.CountRequest {
	start := from.Truncate(time.Minute)
	return source.CountRequest{From: from, To: to, Start: start, Step: time.Minute, N: int(to.Sub(start)/time.Minute) + 1,
		Filter: query.Filter{Verbs: []string{"get"}}, GroupBy: []string{"verb"}}
}

func TestCountAsksOnlyUnfinishedAndEdges(t *testing.T) {
	c := New(1 << 20)
	f := &fake{}
	now := t0.Add(time.Hour)
	r := req(t0.Add(30*time.Second), now)
	if _, err := c.Count(context.Background(), r, now.Add(-5*time.Minute), f.count); err != nil {
		t.Fatal(err)
	}
	if len(f.asked) != 1 {
		t.Fatalf("first count asked %d times", len(f.asked))
	}
	// A minute later: the head bucket (cut by From) and the last unfinished ones are asked.
	f.asked = nil
	now = now.Add(time.Minute)
	r = req(t0.Add(90*time.Second), now)
	res, err := c.Count(context.Background(), r, now.Add(-5*time.Minute), f.count)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.asked) != 2 || f.asked[0].N != 1 || !f.asked[0].From.Equal(r.From) || f.asked[1].N != 7 { // 10:55 (unfinished at the first count) to 11:01
		t.Errorf("asked %+v", f.asked)
	}
	if res.CachedBuckets != r.N-8 || len(res.Series) != 1 {
		t.Errorf("cached %d of %d, %d series", res.CachedBuckets, r.N, len(res.Series))
	}
	for i, n := range res.Series[0].Counts {
		if n != 1 {
			t.Errorf("bucket %d = %v", i, n)
		}
	}
	// Another filter shares nothing.
	f.asked = nil
	r.Filter = query.Filter{}
	if _, err := c.Count(context.Background(), r, now.Add(-5*time.Minute), f.count); err != nil || len(f.asked) != 1 || f.asked[0].N != r.N {
		t.Errorf("another fingerprint: %v %+v", err, f.asked)
	}
}

func TestCacheBounded(t *testing.T) {
	c := New(2000)
	for i := range 100 {
		c.put(key{"fp", int64(i)}, map[string]float64{"a": 1}, 0)
	}
	if c.bytes > 2000 || c.Len() == 0 || c.Len() >= 100 {
		t.Errorf("%d entries, %d bytes", c.Len(), c.bytes)
	}
	if _, ok := c.get(key{"fp", 99}, true, 0); !ok {
		t.Error("the newest entry was evicted")
	}
	if _, ok := c.get(key{"fp", 0}, true, 0); ok {
		t.Error("the oldest entry was kept")
	}
	var nilCache *Cache
	f := &fake{}
	if _, err := nilCache.Count(context.Background(), req(t0, t0.Add(time.Hour)), t0.Add(time.Hour), f.count); err != nil || len(f.asked) != 1 {
		t.Errorf("nil cache: %v %d", err, len(f.asked))
	}
}

// TestCountSharedUnfinished: within share, a second identical count is answered whole from the
// cache, unfinished buckets included; after share the unfinished ones are asked again; once a
// shared bucket is finished it is asked again and kept for good.
func TestCountSharedUnfinished(t *testing.T) {
	c := New(1 << 20)
	f := &fake{}
	now := t0.Add(time.Hour)
	r := req(t0, now)
	lag, share := 5*time.Minute, 30*time.Second
	count := func(now time.Time) *source.CountResult {
		t.Helper()
		res, err := c.CountShared(context.Background(), r, now.Add(-lag), now, share, f.count)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	count(now)
	if len(f.asked) != 1 {
		t.Fatalf("first count asked %d times", len(f.asked))
	}
	// The same count 10 s later (another panel of the refresh): only the last bucket
	// [11:00, 11:01) is asked, which is not whole inside [From, To=11:00].
	f.asked = nil
	if res := count(now.Add(10 * time.Second)); len(f.asked) != 1 || f.asked[0].N != 1 || res.CachedBuckets != r.N-1 {
		t.Errorf("within share: asked %+v, cached %d of %d", f.asked, res.CachedBuckets, r.N)
	}
	// 40 s later: the unfinished buckets (10:55 on) and the cut last one are asked again.
	f.asked = nil
	count(now.Add(40 * time.Second))
	if len(f.asked) != 1 || !f.asked[0].Start.Equal(t0.Add(55*time.Minute)) || f.asked[0].N != 6 {
		t.Errorf("after share: asked %+v", f.asked)
	}
	// 10 minutes later every bucket of r is finished: the ones shared while unfinished are asked
	// once more, then kept.
	f.asked = nil
	count(now.Add(10 * time.Minute))
	if len(f.asked) != 1 || !f.asked[0].Start.Equal(t0.Add(55*time.Minute)) {
		t.Errorf("finished: asked %+v", f.asked)
	}
	f.asked = nil
	if res := count(now.Add(20 * time.Minute)); len(f.asked) != 1 || f.asked[0].N != 1 || res.CachedBuckets != r.N-1 {
		t.Errorf("kept: asked %+v, cached %d of %d", f.asked, res.CachedBuckets, r.N)
	}
}

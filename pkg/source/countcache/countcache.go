// Package countcache keeps the finished buckets of counts that a remote source (Loki,
// CloudWatch Logs Insights) computed, so that a dashboard refresh asks the source only for
// the buckets that can still change: the unfinished tail, and the buckets cut by the range's
// edges.
//
// A bucket is finished when its end is older than now minus the source's ingestion lag (events
// arrive minutes late: a bucket that is too recent may still grow). A Cache belongs to one
// datasource instance, which Grafana rebuilds when its settings change, so no cache spans two
// datasources or orgs and a settings change drops it. Entries are keyed by the count's
// fingerprint (filter, groupBy, step: everything but the time range) and the bucket's start;
// they are bounded in bytes and evicted least recently used first.
package countcache

import (
	"container/list"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// Cache is a bounded LRU of finished buckets. It is safe for concurrent use. The zero value
// is not usable: use New. A nil *Cache caches nothing.
type Cache struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	lru      *list.List // of *entry, most recent first
	byKey    map[key]*list.Element
}

type key struct {
	fingerprint string
	start       int64 // bucket start, Unix nanoseconds
}

// entry is one bucket: its count per series (series values joined by \x00). A finished
// bucket's entry never expires (expires 0); an unfinished one's is shared until expires (Unix
// nanoseconds; see CountShared).
type entry struct {
	key     key
	counts  map[string]float64
	size    int64
	expires int64
}

// New returns a cache holding at most maxBytes (estimated) of buckets.
func New(maxBytes int64) *Cache {
	return &Cache{maxBytes: maxBytes, lru: list.New(), byKey: map[key]*list.Element{}}
}

// get returns the bucket's counts: a finished entry when finished, else an unfinished one that
// has not expired at now.
func (c *Cache) get(k key, finished bool, now int64) (map[string]float64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	if finished != (e.expires == 0) || (!finished && e.expires <= now) {
		// An unfinished bucket's count, for a bucket now finished, is asked again (and then
		// kept for good); an expired one is asked again.
		return nil, false
	}
	c.lru.MoveToFront(el)
	return e.counts, true
}

func (c *Cache) put(k key, counts map[string]float64, expires int64) {
	size := int64(64 + len(k.fingerprint))
	for s := range counts {
		size += int64(len(s)) + 48
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if size > c.maxBytes {
		return
	}
	if el, ok := c.byKey[k]; ok {
		c.bytes -= el.Value.(*entry).size
		c.lru.Remove(el)
	}
	c.byKey[k] = c.lru.PushFront(&entry{key: k, counts: counts, size: size, expires: expires})
	c.bytes += size
	for c.bytes > c.maxBytes {
		last := c.lru.Back()
		e := last.Value.(*entry)
		c.lru.Remove(last)
		delete(c.byKey, e.key)
		c.bytes -= e.size
	}
}

// Len is the number of buckets held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Fingerprint identifies what a count request counts, apart from its time range.
func Fingerprint(req source.CountRequest) string {
	b, _ := json.Marshal(struct {
		F any
		G []string
		S time.Duration
		B bool `json:",omitempty"`
	}{req.Filter, req.GroupBy, req.Step, req.NotBare})
	return string(b)
}

// CountFunc counts a request at the source.
type CountFunc func(ctx context.Context, req source.CountRequest) (*source.CountResult, error)

// Count answers req from the cache where its buckets are finished and cached, and from count
// for the rest: one request per run of consecutive buckets to compute. Buckets that are whole
// inside [From, To] and finished (end at or before finishedBefore) are stored afterwards.
// Problems of any run keep every bucket of the answer out of the cache. res.Cached says how many
// buckets came from the cache.
func (c *Cache) Count(ctx context.Context, req source.CountRequest, finishedBefore time.Time, count CountFunc) (*source.CountResult, error) {
	return c.count(ctx, req, finishedBefore, time.Time{}, 0, count)
}

// CountShared is Count that also keeps the buckets whole inside [From, To] that are not
// finished, for share after now: the panels of one dashboard refresh that ask the same count
// within seconds (the line-format check, the same for every query of a refresh) then ask the
// source once. A shared bucket is at most share older than the source's answer would be, as if
// the later queries had come share earlier; once finished it is asked again and kept.
func (c *Cache) CountShared(ctx context.Context, req source.CountRequest, finishedBefore, now time.Time, share time.Duration, count CountFunc) (*source.CountResult, error) {
	return c.count(ctx, req, finishedBefore, now, share, count)
}

func (c *Cache) count(ctx context.Context, req source.CountRequest, finishedBefore, now time.Time, share time.Duration, count CountFunc) (*source.CountResult, error) {
	if c == nil || req.N <= 0 {
		return count(ctx, req)
	}
	fp := Fingerprint(req)
	bucketStart := func(i int) time.Time { return req.Start.Add(time.Duration(i) * req.Step) }
	inside := func(i int) bool {
		return !bucketStart(i).Before(req.From) && !bucketStart(i+1).Add(-time.Nanosecond).After(req.To)
	}
	finished := func(i int) bool { return !bucketStart(i + 1).After(finishedBefore) }
	// cacheable: whole inside the range, and finished or shared for a while.
	cacheable := func(i int) bool { return inside(i) && (share > 0 || finished(i)) }
	cached := make([]map[string]float64, req.N)
	hits := 0
	for i := range req.N {
		if cacheable(i) {
			if m, ok := c.get(key{fp, bucketStart(i).UnixNano()}, finished(i), now.UnixNano()); ok {
				cached[i] = m
				hits++
			}
		}
	}
	res := &source.CountResult{CachedBuckets: hits, Buckets: req.N}
	series := map[string]int{}
	add := func(values []string, i int, n float64) {
		k := strings.Join(values, "\x00")
		idx, ok := series[k]
		if !ok {
			idx = len(res.Series)
			series[k] = idx
			res.Series = append(res.Series, source.CountSeries{Values: values, Counts: make([]float64, req.N)})
		}
		res.Series[idx].Counts[i] += n
	}
	for i, m := range cached {
		for k, n := range m {
			add(splitValues(k, len(req.GroupBy)), i, n)
		}
	}
	// Runs of buckets to ask for.
	for i := 0; i < req.N; {
		if cached[i] != nil {
			i++
			continue
		}
		j := i
		for j < req.N && cached[j] == nil {
			j++
		}
		sub := req
		sub.Start, sub.N = bucketStart(i), j-i
		sub.From, sub.To = maxTime(req.From, bucketStart(i)), minTime(req.To, bucketStart(j).Add(-time.Nanosecond))
		cr, err := count(ctx, sub)
		if err != nil {
			return nil, err
		}
		res.Problems = append(res.Problems, cr.Problems...)
		res.BytesScanned += cr.BytesScanned
		res.Requests += cr.Requests
		fresh := make([]map[string]float64, sub.N)
		for _, s := range cr.Series {
			k := strings.Join(s.Values, "\x00")
			for b, n := range s.Counts {
				if b >= sub.N {
					break
				}
				add(s.Values, i+b, n)
				if n != 0 {
					if fresh[b] == nil {
						fresh[b] = map[string]float64{}
					}
					fresh[b][k] += n
				}
			}
		}
		if len(cr.Problems) == 0 {
			for b := range sub.N {
				if cacheable(i + b) {
					m := fresh[b]
					if m == nil {
						m = map[string]float64{} // an empty bucket is an answer too
					}
					var expires int64
					if !finished(i + b) {
						expires = now.Add(share).UnixNano()
					}
					c.put(key{fp, bucketStart(i + b).UnixNano()}, m, expires)
				}
			}
		}
		i = j
	}
	return res, nil
}

func splitValues(k string, n int) []string {
	if n == 0 {
		return nil
	}
	return strings.SplitN(k, "\x00", n)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

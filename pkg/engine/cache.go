package engine

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// DefaultCacheBytes is the default bound of a datasource's partial-aggregate cache.
const DefaultCacheBytes = 512 << 20

// Cache keeps the partial aggregates of segments between the queries of one datasource, so a
// dashboard refresh reads only what changed: nothing for a rotated file, only the appended
// bytes of audit.log. Entries are keyed by segment ID and query fingerprint (the query without
// its time range, and the bucket step); each holds the newest version of that segment. It is
// bounded in bytes, least recently used first out. It is safe for concurrent use, and
// concurrent queries that need the same entry build it once.
type Cache struct {
	max int64

	mu       sync.Mutex
	used     int64
	lru      *list.List // of *cacheEntry, most recently used first
	entries  map[string]*list.Element
	building map[string]chan struct{}
	evicted  int64
}

type cacheEntry struct {
	key    string
	p      *partial     // a segment's partial aggregate
	shared *sharedEntry // or a finished result that queries share (shared.go)
	cost   int64
}

// partial is what one query's aggregator computed over bytes [0, end) of a segment, counting
// the events in [from, to].
type partial struct {
	agg         partialAgg
	end         int64
	first, last time.Time // span of every event parsed in it; zero when there were none
	from, to    time.Time // the range its events were counted in
	malformed   int64
	// indexMalformed are the malformed lines of what was read whatever the query's text
	// search (Stats.Unsearched), for the index built from the read.
	indexMalformed int64
	matched        int64
	src            source.Stats // lines and bytes read, over-long lines, problems (but the over-long one)
	// pruned: a table of the newest N rows left out the rows older than floor (Unix ns), which
	// the rows of newer segments outranked (readBack); it answers only a query whose floor,
	// when it reaches the segment, is at least as new (usableFor).
	pruned bool
	floor  int64
}

// usableFor reports whether p holds every row a query with plan needs from its segment.
func (p *partial) usableFor(plan segmentPlan) bool {
	if !p.pruned {
		return true
	}
	if plan.floor == nil {
		return false
	}
	f, ok := plan.floor()
	return ok && f >= p.floor
}

// fits reports whether p answers a query over [from, to]: p's events in that range are the
// ones it was built from. That holds when both ranges clip p's event span to the same
// interval (every event inside both, every event outside both, or the same cut).
func (p *partial) fits(from, to time.Time) bool {
	if p.first.IsZero() {
		return true
	}
	lo1, hi1, ok1 := clip(p.first, p.last, p.from, p.to)
	lo2, hi2, ok2 := clip(p.first, p.last, from, to)
	return ok1 == ok2 && (!ok1 || lo1.Equal(lo2) && hi1.Equal(hi2))
}

// clip is [first, last] ∩ [from, to]; ok is false when they do not meet.
func clip(first, last, from, to time.Time) (lo, hi time.Time, ok bool) {
	lo, hi = first, last
	if from.After(lo) {
		lo = from
	}
	if to.Before(hi) {
		hi = to
	}
	return lo, hi, !lo.After(hi)
}

// NewCache returns a cache bounded to about maxBytes (DefaultCacheBytes when <= 0).
func NewCache(maxBytes int64) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultCacheBytes
	}
	return &Cache{max: maxBytes, lru: list.New(), entries: map[string]*list.Element{}, building: map[string]chan struct{}{}}
}

// CacheInfo describes a cache's contents.
type CacheInfo struct {
	Entries int
	Bytes   int64
	Max     int64
	Evicted int64
}

// Info returns the cache's size and bound.
func (c *Cache) Info() CacheInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheInfo{Entries: c.lru.Len(), Bytes: c.used, Max: c.max, Evicted: c.evicted}
}

func (c *Cache) get(key string) *partial {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry).p
}

// put keeps p under key, replacing an older version, and evicts the least recently used
// entries past the bound. An entry larger than a quarter of the bound is not kept.
func (c *Cache) put(key string, p *partial) {
	c.keep(&cacheEntry{key: key, p: p, cost: int64(p.agg.cost()) + 256 + int64(len(key))})
}

// keep keeps e under its key, as put does.
func (c *Cache) keep(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[e.key]; ok {
		c.remove(el)
	}
	if e.cost > c.max/4 {
		return
	}
	c.entries[e.key] = c.lru.PushFront(e)
	c.used += e.cost
	for c.used > c.max {
		c.remove(c.lru.Back())
		c.evicted++
	}
}

func (c *Cache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.entries, e.key)
	c.used -= e.cost
}

// acquire waits until no other query builds key, then marks it as built by the caller until
// release is called.
func (c *Cache) acquire(ctx context.Context, key string) (release func(), err error) {
	for {
		c.mu.Lock()
		ch, busy := c.building[key]
		if !busy {
			ch = make(chan struct{})
			c.building[key] = ch
			c.mu.Unlock()
			return func() {
				c.mu.Lock()
				delete(c.building, key)
				c.mu.Unlock()
				close(ch)
			}, nil
		}
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

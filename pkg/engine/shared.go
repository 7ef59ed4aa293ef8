package engine

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// Finished results shared between queries. The panels of a dashboard often ask one question
// and differ only in how they show the answer: the security dashboard's six detections panels
// run the same rules over the same range, three as counts per interval and three as tables of
// different lengths. Adding up every segment's detector and finishing it (the window rules,
// ordering some 20,000 findings) was most of a warm refresh, six times over. So the first of
// them keeps what it finished, under a key of everything the finished result depends on (the
// query but for its presentation, the range, each segment's identity and version), and the
// others present that: the same frames, since the result they would have finished is the
// same.

// sharer is a partialAgg whose finished result queries with the same shareKey can share.
type sharer interface {
	partialAgg
	// shareKey is what the finished result depends on besides the range and the segments
	// (the query but for how it is shown, and what the plan read besides: the RBAC look-back);
	// "" when it cannot be shared.
	shareKey() string
	// finishShared finishes the aggregator into the result to share (it is not used after).
	finishShared() sharedResult
	// useShared makes finish present r rather than finish the aggregator.
	useShared(r sharedResult)
}

// sharedResult is a finished result. It is read by many queries and changed by none.
type sharedResult interface {
	cost() int
}

// sharedEntry is a finished result kept in the Cache, with the stats of the query that
// finished it and the key of what it answers (sharedKey). The Cache keeps one per question
// (sharedSlot), the newest: the panels of one refresh ask over one range, and a dashboard over
// the last 24 h asks over a new one at each refresh, so older answers would only fill the
// cache.
type sharedEntry struct {
	key string
	r   sharedResult
	st  Stats
}

// sharedSlot is the Cache key under which the newest finished result of the question k is
// kept.
func sharedSlot(k string) string {
	return "finished\x00" + partialCacheVersion + "\x00" + k
}

// sharedKey is what the finished result of the question k over req's range and segs answers.
func sharedKey(k string, req Request, several bool, segs []source.Segment) string {
	var b strings.Builder
	b.WriteString(sharedSlot(k) + "\x00")
	b.WriteString(strconv.FormatInt(req.From.UnixNano(), 10) + "\x00" + strconv.FormatInt(req.To.UnixNano(), 10))
	if several {
		b.WriteString("\x00several streams")
	}
	for _, s := range segs {
		b.WriteString("\x00" + s.ID + "\x00" + strconv.FormatInt(s.Version, 10))
	}
	return b.String()
}

// sharedStats are the stats of a query answered by a finished result that another query kept:
// every segment from the cache, nothing read, and what the result counted (malformed and
// matched lines, the span, the sources' problems), as a query answered from cached partials
// reports them.
func sharedStats(st Stats) Stats {
	out := st
	out.Source.LinesRead, out.Source.BytesRead = 0, 0
	out.Source.Problems = slices.Clone(st.Source.Problems)
	s := &out.Segments
	s.BytesCached = st.Segments.BytesCached + st.Source.BytesRead
	s.Cached, s.Extended, s.Indexed, s.Scanned, s.Changed = s.Total, 0, 0, 0, 0
	s.Shared = s.Total
	s.IndexBytes, s.BlocksCached, s.LinesReadBack, s.IndexWritten, s.IndexDiscarded, s.IndexProblem = 0, 0, 0, 0, 0, ""
	return out
}

// sharedAnswer returns the finished result of the question k that answers key, if the Cache
// keeps it; else it marks key as being finished by the caller (other queries of the key wait
// for it) until release.
func (c *Cache) sharedAnswer(ctx context.Context, k, key string) (e *sharedEntry, release func(), err error) {
	if e := c.getShared(k, key); e != nil {
		return e, func() {}, nil
	}
	release, err = c.acquire(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	if e := c.getShared(k, key); e != nil {
		release()
		return e, func() {}, nil
	}
	return nil, release, nil
}

func (c *Cache) getShared(k, key string) *sharedEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[sharedSlot(k)]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry).shared
	if e.key != key {
		return nil
	}
	c.lru.MoveToFront(el)
	return e
}

// putShared keeps e as the question k's newest finished result, in place of the one before.
func (c *Cache) putShared(k string, e *sharedEntry) {
	slot := sharedSlot(k)
	c.keep(&cacheEntry{key: slot, shared: e, cost: int64(e.r.cost()) + 256 + int64(len(slot)+len(e.key))})
}

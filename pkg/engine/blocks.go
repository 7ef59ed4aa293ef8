package engine

import (
	"strconv"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/index"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// Aggregates from a segment's column index, and the partials of its blocks.
//
// A segment's partial answers every range that cuts its events where the range it was built
// for cut them (partial.fits). A dashboard over "the last 24 hours" asks at each refresh over
// a range that starts a little later, and so cuts its oldest segment anew each time: that
// segment's partial no longer fits, and the segment was answered again from all its index
// blocks. Here each block the range holds whole gets a partial of its own, kept in the cache
// under the segment's key, the block's number and its checksum. A block's partial answers any
// range that holds the block whole, so the next refresh decodes only the blocks its range
// cuts (one or two of a segment's) and absorbs the others' partials.

// aggregateIndex answers req over the events of ix into a new partial; read is the compressed
// bytes decoded. key is the segment's key in req.Cache ("" for none); the blocks answered by
// their kept partials are counted in st.
func aggregateIndex(ix *index.Index, req Request, newAgg func() aggregator, key string, st *Stats) (*partial, int64, error) {
	m := req.Query.Filter.Compile()
	if req.Cache != nil && key != "" && cutsIndex(ix, req) {
		return aggregateBlocks(ix, req, newAgg, m, key, st)
	}
	aggs := make([]aggregator, workers(req.Workers))
	for i := range aggs {
		aggs[i] = newAgg()
	}
	matched, read, err := eachIndexed(ix, req, m, aggs[0].needs(), false, len(aggs), func(w int, r *audit.Record, _ *index.Block, _ int) {
		aggs[w].add(r)
	})
	if err != nil {
		return nil, read, err
	}
	for _, o := range aggs[1:] {
		aggs[0].merge(o)
	}
	return indexPartial(ix, req, aggs[0], matched), read, nil
}

// cutsIndex reports whether req's range holds some of ix's events but not all.
func cutsIndex(ix *index.Index, req Request) bool {
	if ix.First.IsZero() {
		return false
	}
	return ix.Last.After(req.From) && ix.First.Before(req.To) && (ix.First.Before(req.From) || ix.Last.After(req.To))
}

// blockKey is the cache key of the partial of block i (span s) of the segment under key.
func blockKey(key string, i int, s index.BlockSpan) string {
	return key + "\x00block\x00" + strconv.Itoa(i) + "\x00" + strconv.FormatUint(uint64(s.Sum), 16) + "\x00" + strconv.FormatInt(s.Min, 10)
}

// aggregateBlocks is aggregateIndex for a range that cuts the segment: the blocks it holds
// whole are answered by their kept partials, or aggregated into partials that are then kept;
// the blocks it cuts are aggregated over the range.
func aggregateBlocks(ix *index.Index, req Request, newAgg func() aggregator, m *query.Matcher, key string, st *Stats) (*partial, int64, error) {
	from, to := req.From.UnixNano(), req.To.UnixNano()
	final := newAgg()
	absorber := final.(partialAgg)
	var matched int64
	var whole, cut []int
	var keys []string
	spans := ix.Spans()
	for i, s := range spans {
		switch {
		case s.Max < from || s.Min > to:
		case s.Min >= from && s.Max <= to:
			k := blockKey(key, i, s)
			if p := req.Cache.get(k); p != nil {
				absorber.absorb(p.agg)
				matched += p.matched
				st.Segments.BlocksCached++
				continue
			}
			whole, keys = append(whole, i), append(keys, k)
		default:
			cut = append(cut, i)
		}
	}
	needs := indexNeeds(m, final.needs())
	cols := index.Columns{Fields: needs}
	nw := workers(req.Workers)

	// The whole blocks not kept yet: a partial each.
	blockAggs := make([]aggregator, len(whole))
	blockMatched := make([]int64, len(whole))
	read, err := ix.EachOf(whole, nw, cols, func(_, k int, b *index.Block) {
		a := newAgg()
		var rec audit.Record
		blockMatched[k] = indexRows(b, from, to, m, needs, &rec, func(r *audit.Record, _ int) { a.add(r) })
		blockAggs[k] = a
	})
	if err != nil {
		return nil, read, err
	}
	// The cut blocks, over the range: one aggregator per worker.
	aggs := make([]aggregator, nw)
	cutMatched := make([]int64, nw)
	for i := range aggs {
		aggs[i] = newAgg()
	}
	readCut, err := ix.EachOf(cut, nw, cols, func(w, _ int, b *index.Block) {
		var rec audit.Record
		cutMatched[w] += indexRows(b, from, to, m, needs, &rec, func(r *audit.Record, _ int) { aggs[w].add(r) })
	})
	read += readCut
	if err != nil {
		return nil, read, err
	}
	for k, a := range blockAggs {
		settle(a)
		s := spans[whole[k]]
		p := &partial{agg: a.(partialAgg), end: ix.End, first: time.Unix(0, s.Min).UTC(), last: time.Unix(0, s.Max).UTC(), from: req.From, to: req.To, matched: blockMatched[k]}
		req.Cache.put(keys[k], p)
		absorber.absorb(a)
		matched += blockMatched[k]
	}
	for w, a := range aggs {
		final.merge(a)
		matched += cutMatched[w]
	}
	return indexPartial(ix, req, final, []int64{matched}), read, nil
}

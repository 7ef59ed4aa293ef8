package engine

import (
	"strconv"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/index"
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
	from, to := req.From.UnixNano(), req.To.UnixNano()
	keep := req.Cache != nil && key != "" && cutsIndex(ix, req)
	final := newAgg()
	absorber := final.(partialAgg)
	var matched int64
	// The blocks to aggregate over the range (all of them, or those the range cuts), and those
	// the range holds whole whose partials are not kept yet, with their keys.
	var rest, whole []int
	var keys []string
	spans := ix.Spans()
	for i, s := range spans {
		switch {
		case s.Max < from || s.Min > to:
		case keep && s.Min >= from && s.Max <= to:
			k := blockKey(key, i, s)
			if p := req.Cache.get(k); p != nil {
				absorber.absorb(p.agg)
				matched += p.matched
				st.Segments.BlocksCached++
				continue
			}
			whole, keys = append(whole, i), append(keys, k)
		default:
			rest = append(rest, i)
		}
	}
	needs := indexNeeds(m, final.needs())
	cols := index.Columns{Fields: needs}
	nw := workers(req.Workers)

	// The whole blocks not kept yet: a partial each, then kept.
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
	// The other blocks, over the range: one aggregator per worker.
	aggs := make([]aggregator, nw)
	restMatched := make([]int64, nw)
	for i := range aggs {
		aggs[i] = newAgg()
	}
	readRest, err := ix.EachOf(rest, nw, cols, func(w, _ int, b *index.Block) {
		var rec audit.Record
		restMatched[w] += indexRows(b, from, to, m, needs, &rec, func(r *audit.Record, _ int) { aggs[w].add(r) })
	})
	read += readRest
	if err != nil {
		return nil, read, err
	}
	for k, a := range blockAggs {
		settle(a)
		s := spans[whole[k]]
		req.Cache.put(keys[k], &partial{agg: a.(partialAgg), end: ix.End, first: time.Unix(0, s.Min).UTC(), last: time.Unix(0, s.Max).UTC(), from: req.From, to: req.To, matched: blockMatched[k]})
		absorber.absorb(a)
		matched += blockMatched[k]
	}
	for w, a := range aggs {
		final.merge(a)
		matched += restMatched[w]
	}
	return indexPartial(ix, req, final, []int64{matched}), read, nil
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

package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// Segment planning: a query over a segmented source (the file source) is answered segment by
// segment. Each segment's partial aggregate is taken from the cache when the segment is
// unchanged, extended by reading only the bytes appended since when it grew, or read whole;
// the partials are then added up. The result is the same as one scan of the source: the
// aggregators' merges are exact whatever the split, and a partial is kept only when every
// event of its segment lay in the range, so a later range holding the same events gets the
// same partial.

// partialCacheVersion changes when what a partial holds changes meaning.
const partialCacheVersion = "1"

// cacheable reports whether the query's aggregators can be kept as partials.
func cacheable(newAgg func() aggregator) bool {
	_, ok := newAgg().(partialAgg)
	return ok
}

// fingerprint identifies what a partial of req's query holds: the query without its time range
// and, for bucketed results, the bucket step.
func fingerprint(req Request) (string, error) {
	qj, err := json.Marshal(req.Query)
	if err != nil {
		return "", err
	}
	fp := partialCacheVersion + "\x00" + string(qj)
	if bucketed(req.Query) {
		fp += "\x00" + Step(req.From, req.To, req.Interval, req.MaxDataPoints).String()
	}
	return fp, nil
}

// bucketed reports whether the query's aggregator counts per time bucket.
func bucketed(q *query.Query) bool {
	switch q.QueryType {
	case query.TypeTimeSeries, query.TypeLatency:
		return true
	case query.TypeLatencyBreakdown, query.TypeDetections:
		return q.Format != query.FormatTable
	}
	return false
}

// runSegments answers req over the segments of ss with req.Cache.
func runSegments(ctx context.Context, ss source.SegmentScanner, req Request, newAgg func() aggregator) (aggregator, Stats, error) {
	var st Stats
	fp, err := fingerprint(req)
	if err != nil {
		return nil, st, err
	}
	segs, listed, err := ss.Segments(ctx, sourceRequest(req))
	st.Source.Add(listed)
	if err != nil {
		return nil, st, err
	}
	final := newAgg().(partialAgg)
	for _, seg := range segs {
		if err := ctx.Err(); err != nil {
			return nil, st, err
		}
		if err := answerSegment(ctx, ss, seg, req, fp, newAgg, final, &st); err != nil {
			return nil, st, err
		}
	}
	st.Segments.Total = len(segs)
	return final, st, nil
}

// answerSegment adds seg's events to final and its counts to st.
func answerSegment(ctx context.Context, ss source.SegmentScanner, seg source.Segment, req Request, fp string, newAgg func() aggregator, final partialAgg, st *Stats) error {
	key := seg.ID + "\x00" + fp
	release, err := req.Cache.acquire(ctx, key)
	if err != nil {
		return err
	}
	defer release()

	base := req.Cache.get(key)
	if base != nil && !(base.fits(req.From, req.To) && base.end <= seg.Version && (seg.Appendable || base.end == seg.Version)) {
		base = nil
	}
	var from int64
	if base != nil {
		from = base.end
		if from == seg.Version {
			st.Segments.Cached++
			st.Segments.BytesCached += base.src.BytesRead
			addPartial(ss, seg, final, base, nil, st)
			return nil
		}
	}

	// Read what the cache does not hold: complete lines only, so that what is kept never
	// holds a line still being written.
	part, scanned, err := scanSegment(ctx, ss, seg, req, newAgg, from, seg.Appendable)
	if err != nil {
		return err
	}
	st.Source.LinesRead += scanned.LinesRead
	st.Source.BytesRead += scanned.BytesRead
	if !scanned.Stable {
		// The file changed between listing and reading: answer from a plain read and keep
		// nothing.
		if from > 0 {
			if part, scanned, err = scanSegment(ctx, ss, seg, req, newAgg, 0, false); err != nil {
				return err
			}
			st.Source.LinesRead += scanned.LinesRead
			st.Source.BytesRead += scanned.BytesRead
		}
		st.Segments.Scanned++
		addPartial(ss, seg, final, part, nil, st)
		return nil
	}
	if base != nil {
		st.Segments.Extended++
		st.Segments.BytesCached += base.src.BytesRead
		whole := &partial{agg: newAgg().(partialAgg), end: part.end}
		whole.absorbPartial(base)
		whole.absorbPartial(part)
		part = whole
	} else {
		st.Segments.Scanned++
	}
	// A last line without a newline (being written) is read on its own and not kept.
	var tail *partial
	if seg.Appendable && scanned.End < from+scanned.BytesRead {
		var rest source.SegmentScan
		if tail, rest, err = scanSegment(ctx, ss, seg, req, newAgg, scanned.End, false); err != nil {
			return err
		}
		// The piece was read twice: once up to the end of the file, once on its own.
		st.Source.LinesRead += rest.LinesRead
		part.src.BytesRead -= from + scanned.BytesRead - scanned.End
	}
	if part.fits(req.From, req.To) {
		req.Cache.put(key, part)
	}
	addPartial(ss, seg, final, part, tail, st)
	return nil
}

// scanSegment reads seg from offset from into a new partial.
func scanSegment(ctx context.Context, ss source.SegmentScanner, seg source.Segment, req Request, newAgg func() aggregator, from int64, complete bool) (*partial, source.SegmentScan, error) {
	var scanned source.SegmentScan
	agg, stats, err := scanAll(ctx, req, newAgg, func(ctx context.Context, fn source.LineFunc) (source.Stats, error) {
		var err error
		scanned, err = ss.ScanSegment(ctx, seg, from, complete, fn)
		return scanned.Stats, err
	})
	if err != nil {
		return nil, scanned, err
	}
	return &partial{
		agg:       agg.(partialAgg),
		end:       scanned.End,
		first:     stats.First,
		last:      stats.Last,
		malformed: stats.Malformed,
		matched:   stats.Matched,
		src:       stats.Source,
	}, scanned, nil
}

// absorbPartial adds o to p (p's end is set by the caller).
func (p *partial) absorbPartial(o *partial) {
	p.agg.absorb(o.agg)
	s := Stats{First: p.first, Last: p.last}
	s.span(o.first, o.last)
	p.first, p.last = s.First, s.Last
	p.malformed += o.malformed
	p.matched += o.matched
	p.src.Add(o.src)
}

// addPartial adds a segment's partial (and the uncached piece after it, if any) to final and
// its counts to st, with the segment's problems in the order a plain scan reports them.
func addPartial(ss source.SegmentScanner, seg source.Segment, final partialAgg, p, tail *partial, st *Stats) {
	parts := []*partial{p}
	if tail != nil {
		parts = append(parts, tail)
	}
	var tooLong int64
	for _, x := range parts {
		final.absorb(x.agg)
		st.add(Stats{Malformed: x.malformed, Matched: x.matched, First: x.first, Last: x.last})
		src := x.src
		// What was read is counted by the caller: a cached partial was not read now.
		src.FilesScanned, src.LinesRead, src.BytesRead = 0, 0, 0
		st.Source.Add(src)
		tooLong += x.src.LinesTooLong
	}
	st.Source.FilesScanned++
	if tooLong > 0 {
		st.Source.Problems = append(st.Source.Problems, ss.LongLinesProblem(seg, tooLong))
	}
}

// String describes segment stats for logs and notices.
func (s SegmentStats) String() string {
	return fmt.Sprintf("%d segments: %d from cache, %d extended, %d read", s.Total, s.Cached, s.Extended, s.Scanned)
}

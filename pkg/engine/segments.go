package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/index"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// Segment planning: a query over a segmented source (the file source) is answered segment by
// segment. Each segment's partial aggregate is taken from the cache when the segment is
// unchanged, extended by reading only the bytes appended since when it grew, or read whole;
// the partials are then added up. The result is the same as one scan of the source: the
// aggregators' merges are exact whatever the split, and a partial is used only for a range
// that holds the same events of its segment as the range it was built for (partial.fits).

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

// bucketed reports whether the query's aggregator counts per time bucket (the registered
// property of its type, type_<name>.go).
func bucketed(q *query.Query) bool {
	e, err := lookupType(q.QueryType)
	return err == nil && e.bucketed != nil && e.bucketed(q)
}

// runSegments answers req over the segments of ss with req.Cache.
func runSegments(ctx context.Context, ss source.SegmentScanner, req Request, newAgg func() aggregator) (aggregator, Stats, error) {
	var st Stats
	if req.Cache == nil {
		// An index without a cache: a cache for this query only (it still makes concurrent
		// reads of one segment wait for each other).
		req.Cache = NewCache(1)
	}
	fp, err := fingerprint(req)
	if err != nil {
		return nil, st, err
	}
	plan := segmentPlan{fp: fp, index: planIndex(newAgg, req)}
	segs, listed, err := ss.Segments(ctx, sourceRequest(req))
	st.Source.Add(listed)
	if err != nil {
		return nil, st, err
	}
	several := false
	if severalStreams(segs) {
		if _, ok := newAgg().(streamsAware); ok {
			several = true
			// Segments that may hold the same time: aggregators that decide within a
			// segment (detections' windows) wait for all of them, and their partials are
			// kept apart from those of a single stream.
			one := newAgg
			newAgg = func() aggregator {
				a := one()
				a.(streamsAware).severalStreams()
				return a
			}
			plan.fp += "\x00several streams"
		}
	}
	final := newAgg().(partialAgg)
	// A finished result another query of the same question kept, or the key to keep this
	// one's under (shared.go).
	var share, keepAs string
	if sh, ok := final.(sharer); ok {
		if k := sh.shareKey(); k != "" {
			key := sharedKey(k, req, several, segs)
			e, release, err := req.Cache.sharedAnswer(ctx, k, key)
			if err != nil {
				return nil, st, err
			}
			defer release()
			if e != nil {
				sh.useShared(e.r)
				return final, sharedStats(e.st), nil
			}
			share, keepAs = k, key
		}
	}
	saves := newIndexSaves()
	defer saves.wait(nil) // no save outlives the query
	order := make([]int, len(segs))
	for i := range order {
		order[i] = i
	}
	if k, ok := final.(newestKeeper); ok && k.keepsNewest() > 0 && plan.index == indexReadBack {
		// A table of the newest rows: the last segments (the newest files) first, so that the
		// older ones are read back only where they can still hold a row the table keeps
		// (readBack). The order only saves reads: the floor holds in any order.
		plan.floor = k.rows().cut
		slices.Reverse(order)
	}
	// Each segment's problems are listed in the segments' order, whatever the order of reading.
	problems := make([][]string, len(segs))
	for _, i := range order {
		if err := ctx.Err(); err != nil {
			return nil, st, err
		}
		before := len(st.Source.Problems)
		if err := answerSegment(ctx, ss, segs[i], req, plan, newAgg, final, saves, &st); err != nil {
			return nil, st, err
		}
		problems[i] = slices.Clone(st.Source.Problems[before:])
		st.Source.Problems = st.Source.Problems[:before]
	}
	st.Source.Problems = append(st.Source.Problems, slices.Concat(problems...)...)
	saves.wait(&st)
	st.Segments.Total = len(segs)
	if keepAs != "" && st.Segments.Changed == 0 {
		sh := final.(sharer)
		r := sh.finishShared()
		sh.useShared(r)
		req.Cache.putShared(share, &sharedEntry{key: keepAs, r: r, st: st})
	}
	return final, st, nil
}

// answerSegment adds seg's events to final and its counts to st. In order of preference:
// the cached partial of the segment as it is now; a cached partial of an older version, plus
// the appended bytes; the segment's column index (plus the appended bytes), for queries it
// can answer; a read of the whole segment, which also builds its index.
func answerSegment(ctx context.Context, ss source.SegmentScanner, seg source.Segment, req Request, plan segmentPlan, newAgg func() aggregator, final partialAgg, saves *indexSaves, st *Stats) error {
	key := seg.ID + "\x00" + plan.fp
	usable := func(p *partial) bool {
		return p != nil && p.fits(req.From, req.To) && p.end <= seg.Version && (seg.Appendable || p.end == seg.Version) && p.usableFor(plan)
	}
	// A kept partial never changes, so the common case (it answers the segment as it is) needs
	// no lock.
	if base := req.Cache.get(key); usable(base) && base.end == seg.Version {
		st.Segments.Cached++
		st.Segments.BytesCached += base.src.BytesRead
		addPartial(ss, seg, final, base, nil, st)
		return nil
	}
	release, err := req.Cache.acquire(ctx, buildKey(key, req.Cache.get(key), req.From, req.To))
	if err != nil {
		return err
	}
	defer release()

	base := req.Cache.get(key)
	if !usable(base) {
		base = nil
	}
	if base != nil && base.end == seg.Version {
		st.Segments.Cached++
		st.Segments.BytesCached += base.src.BytesRead
		addPartial(ss, seg, final, base, nil, st)
		return nil
	}

	// The segment's index, if it still describes the segment. Queries of other fingerprints
	// wait for each other while one loads it, and while one builds or extends it, so that
	// concurrent panels build a segment's index once (and the later ones answer from it). An
	// index that covers the whole segment is only read from then on (each query has its own
	// handle), so the others go on at once.
	var ix *index.Index
	// held lets the segment's index go (closes the one loaded, unlocks): when this returns,
	// or after the index is saved in the background.
	held := func() {}
	defer func() { held() }()
	if req.Index != nil {
		unlock, err := req.Cache.acquire(ctx, "index\x00"+seg.ID)
		if err != nil {
			return err
		}
		var once sync.Once
		ix = loadIndex(req.Index, seg, st)
		loaded := ix
		held = func() {
			loaded.Close()
			once.Do(unlock)
		}
		if ix != nil && ix.End == seg.Version {
			once.Do(unlock)
		}
	}
	// extend is the index the bytes read now are added to: the segment's, when it ends where
	// the read starts, or a new one for a read from the start.
	var extend *index.Index
	prefix := base
	var from int64
	switch {
	case base != nil:
		from = base.end
		if ix != nil && ix.End == from {
			extend = ix
		}
	case ix != nil && plan.index != indexUnused:
		var p *partial
		var read int64
		var err error
		if plan.index == indexColumns {
			p, read, err = aggregateIndex(ix, req, newAgg, key, st)
		} else {
			p, read, err = readBack(ctx, ss, seg, ix, req, plan, newAgg, st)
		}
		switch {
		case errors.Is(err, errNotSelective):
			// Most rows would be read back: a plain read is cheaper. The index stays.
			st.Segments.IndexBytes += read
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			// A damaged block, or rows the file no longer holds: drop the index and read
			// the segment (which builds it again).
			req.Index.Remove(seg.ID)
			st.Segments.IndexDiscarded++
			ix = nil
		default:
			st.Segments.Indexed++
			st.Segments.IndexBytes += read
			st.Segments.BytesCached += ix.Bytes
			prefix, from, extend = p, ix.End, ix
			if from == seg.Version {
				req.Cache.put(key, prefix)
				addPartial(ss, seg, final, prefix, nil, st)
				return nil
			}
		}
	}
	if prefix == nil && req.Index != nil && ix == nil {
		extend = &index.Index{}
	}

	// Read what neither holds: complete lines only, so that what is kept never holds a line
	// still being written.
	part, scanned, builders, err := scanSegment(ctx, ss, seg, req, newAgg, from, seg.Appendable, extend != nil)
	if err != nil {
		return err
	}
	st.Source.LinesRead += scanned.LinesRead
	st.Source.BytesRead += scanned.BytesRead
	if !scanned.Stable {
		// The file changed between listing and reading: answer from a plain read and keep
		// nothing.
		if from > 0 {
			if part, scanned, _, err = scanSegment(ctx, ss, seg, req, newAgg, 0, false, false); err != nil {
				return err
			}
			st.Source.LinesRead += scanned.LinesRead
			st.Source.BytesRead += scanned.BytesRead
		}
		st.Segments.Scanned++
		st.Segments.Changed++
		addPartial(ss, seg, final, part, nil, st)
		return nil
	}
	// A last line without a newline (being written) is read on its own and kept nowhere.
	var tail *partial
	if seg.Appendable && scanned.End < from+scanned.BytesRead {
		var rest source.SegmentScan
		if tail, rest, _, err = scanSegment(ctx, ss, seg, req, newAgg, scanned.End, false, false); err != nil {
			return err
		}
		// The piece was read twice: once up to the end of the file, once on its own.
		st.Source.LinesRead += rest.LinesRead
		part.src.BytesRead -= from + scanned.BytesRead - scanned.End
	}
	if extend != nil {
		// Saved while the next segment is read; the index stays held (other queries wait
		// for it) until it is on disk.
		read, release := *part, held
		held = func() {}
		saves.start(func(st *Stats) {
			defer release()
			saveIndex(req.Index, seg, extend, &read, builders, st)
		})
	}
	if prefix != nil {
		if base != nil {
			st.Segments.Extended++
			st.Segments.BytesCached += base.src.BytesRead
		}
		whole := &partial{agg: newAgg().(partialAgg), end: part.end, from: req.From, to: req.To, pruned: prefix.pruned, floor: prefix.floor}
		whole.absorbPartial(prefix)
		whole.absorbPartial(part)
		part = whole
	} else {
		st.Segments.Scanned++
	}
	req.Cache.put(key, part)
	addPartial(ss, seg, final, part, tail, st)
	return nil
}

// streamsAware aggregators decide some things within a segment, which holds only while the
// segments follow each other in time (one stream); severalStreams is called on each when the
// query's segments belong to several (source.Segment.Stream).
type streamsAware interface {
	severalStreams()
}

// severalStreams reports whether segs belong to more than one stream.
func severalStreams(segs []source.Segment) bool {
	for _, s := range segs {
		if s.Stream != segs[0].Stream {
			return true
		}
	}
	return false
}

// buildKey is what a query that answers a segment anew waits on: concurrent queries that would
// compute the same partial (one fingerprint, and the same cut of the segment's events as far
// as the kept partial tells) compute it once, and the others use it. Queries that cut the
// segment elsewhere (a moving range) could not use each other's, so they do not wait for each
// other.
func buildKey(key string, kept *partial, from, to time.Time) string {
	if kept == nil || kept.first.IsZero() {
		return key
	}
	lo, hi, ok := clip(kept.first, kept.last, from, to)
	if !ok {
		return key + "\x00none"
	}
	return key + "\x00" + strconv.FormatInt(lo.UnixNano(), 10) + "-" + strconv.FormatInt(hi.UnixNano(), 10)
}

// loadIndex returns seg's index if it covers a prefix of the segment as it is now; a damaged
// one is counted and dropped.
func loadIndex(store *index.Store, seg source.Segment, st *Stats) *index.Index {
	ix, err := store.Load(seg.ID)
	switch {
	case errors.Is(err, index.ErrCorrupt):
		st.Segments.IndexDiscarded++
		return nil
	case err != nil:
		st.Segments.IndexProblem = err.Error()
		return nil
	case ix == nil:
		return nil
	case ix.End > seg.Version || (!seg.Appendable && ix.End != seg.Version):
		ix.Close()
		return nil
	}
	return ix
}

// indexSaves saves a query's new index files in the background, one at a time, so that
// encoding, writing and syncing a segment's index (a few milliseconds, most of it the sync)
// overlaps the read of the next segment instead of adding to the query's time.
type indexSaves struct {
	slot chan struct{} // held by the save in progress
	wg   sync.WaitGroup
	mu   sync.Mutex
	st   SegmentStats // IndexWritten and IndexProblem of the saves done
}

func newIndexSaves() *indexSaves { return &indexSaves{slot: make(chan struct{}, 1)} }

// start runs save (which reports into its Stats' Segments) once the previous save is done.
func (s *indexSaves) start(save func(st *Stats)) {
	s.slot <- struct{}{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.slot }()
		var st Stats
		save(&st)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.st.IndexWritten += st.Segments.IndexWritten
		if p := st.Segments.IndexProblem; p != "" {
			s.st.IndexProblem = p
		}
	}()
}

// wait waits for the saves started and adds what they report to st (when not nil).
func (s *indexSaves) wait(st *Stats) {
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if st != nil {
		st.Segments.IndexWritten += s.st.IndexWritten
		if p := s.st.IndexProblem; p != "" {
			st.Segments.IndexProblem = p
		}
	}
	s.st = SegmentStats{}
}

// saveIndex adds what was just read (part, with its builders' blocks) to ix and stores it; a
// store that cannot be written is said once in the stats, and the query goes on.
func saveIndex(store *index.Store, seg source.Segment, ix *index.Index, part *partial, builders []*index.Builder, st *Stats) {
	ix.Append(builders...)
	ix.End = part.end
	ix.Lines += part.src.LinesRead
	ix.Bytes += part.src.BytesRead
	ix.Malformed += part.indexMalformed
	ix.TooLong += part.src.LinesTooLong
	ix.Problems = append(ix.Problems, part.src.Problems...)
	ix.First, ix.Last = widen(ix.First, ix.Last, part.first, part.last)
	if err := store.Save(seg.ID, ix); err != nil {
		st.Segments.IndexProblem = err.Error()
		return
	}
	st.Segments.IndexWritten++
}

// segmentPlan is what runSegments decides once for a query: its fingerprint and how a
// segment's column index can answer it.
type segmentPlan struct {
	fp    string
	index indexUse
	// floor, for a table of the newest N rows read newest segment first, is the time (Unix
	// ns) of the N-th row kept so far, once there are N: older rows cannot be kept.
	floor func() (int64, bool)
}

// indexUse is how a column index can answer a query.
type indexUse int

const (
	indexUnused indexUse = iota
	// indexColumns: the aggregator and the filter read only indexed fields (and the filter
	// needs no text search of the line), so the events are read from columns.
	indexColumns
	// indexReadBack: a table whose filter reads only indexed fields says from them which
	// events it wants; the index finds them and their lines are read back (readBack).
	indexReadBack
	// indexRange: for everything else (detections, a text search, fields the index does not
	// hold) the index finds the segment's events in the range by their time alone, and only
	// their lines are read back; the filter and aggregator then run on them as on a scan. A
	// segment the range leaves out, or barely touches, costs next to nothing.
	indexRange
)

func planIndex(newAgg func() aggregator, req Request) indexUse {
	agg := newAgg()
	if _, ok := agg.(unwrapCounter); ok {
		return indexUnused // it counts every line's format, which the index does not keep
	}
	m := req.Query.Filter.Compile()
	if m.NeedsLine() || m.Needs()&^audit.IndexedFields != 0 {
		return indexRange
	}
	if _, ok := agg.(interface{ columnar() }); ok && agg.needs()&^audit.IndexedFields == 0 {
		return indexColumns
	}
	if _, ok := agg.(locator); ok {
		return indexReadBack
	}
	return indexRange
}

// errNotSelective: so many rows match that reading them back would cost more than a read.
var errNotSelective = errors.New("too many rows to read back")

// maxReadBack is the largest share of a segment's events read back rather than scanned.
const maxReadBack = 0.25

// eachIndexed calls fn, from nw workers, with every event of ix in req's range that matches
// req's filter, filled with the fields of needs (plus what the filter needs); only those
// columns are decoded, and the events' offsets (Block.Offset) with offsets. It returns the
// matching events per worker and the index bytes decoded.
// With a nil filter every event in the range is passed.
func eachIndexed(ix *index.Index, req Request, m *query.Matcher, needs audit.Fields, offsets bool, nw int, fn func(w int, r *audit.Record, b *index.Block, i int)) ([]int64, int64, error) {
	needs = indexNeeds(m, needs)
	matched := make([]int64, nw)
	from, to := req.From.UnixNano(), req.To.UnixNano()
	read, err := ix.Each(req.From, req.To, nw, index.Columns{Fields: needs, Offsets: offsets}, func(w int, b *index.Block) {
		var rec audit.Record
		matched[w] += indexRows(b, from, to, m, needs, &rec, func(r *audit.Record, i int) { fn(w, r, b, i) })
	})
	return matched, read, err
}

// indexNeeds is the columns to decode for a filter m and an aggregator's needs.
func indexNeeds(m *query.Matcher, needs audit.Fields) audit.Fields {
	if m != nil {
		needs |= m.Needs()
	}
	return (needs | audit.Fields(0).With(audit.FieldStage, audit.FieldStageTimestamp)) & audit.IndexedFields
}

// indexRows calls fn with every event of b in [from, to] (Unix ns) that matches m (nil: every
// event), filled into rec with the fields of needs, and its row; it returns how many.
func indexRows(b *index.Block, from, to int64, m *query.Matcher, needs audit.Fields, rec *audit.Record, fn func(r *audit.Record, i int)) int64 {
	var n int64
	for i := range b.Rows {
		if t := b.UnixNano(i); t < from || t > to {
			continue
		}
		b.Fill(i, rec, needs)
		if m != nil && !m.Match(rec) {
			continue
		}
		n++
		fn(rec, i)
	}
	return n
}

// indexPartial is agg as the partial of the segment ix describes: what the index's build
// counted over the segment, and matched events.
func indexPartial(ix *index.Index, req Request, agg aggregator, matched []int64) *partial {
	settle(agg)
	p := &partial{agg: agg.(partialAgg), end: ix.End, first: ix.First, last: ix.Last, from: req.From, to: req.To, malformed: ix.Malformed}
	for _, n := range matched {
		p.matched += n
	}
	p.src = source.Stats{LinesRead: ix.Lines, BytesRead: ix.Bytes, LinesTooLong: ix.TooLong, Problems: slices.Clone(ix.Problems)}
	return p
}

// readBack answers a query over seg with its index: the index finds the events that match
// the filter and that the table wants (indexReadBack), or the events in the range
// (indexRange), and only their lines are read back from the file and decoded, into a new
// partial. read is the index bytes decoded.
func readBack(ctx context.Context, ss source.SegmentScanner, seg source.Segment, ix *index.Index, req Request, plan segmentPlan, newAgg func() aggregator, st *Stats) (*partial, int64, error) {
	use := plan.index
	probe := newAgg()
	nw := workers(req.Workers)
	rows := make([][]indexRow, nw)
	var m *query.Matcher
	var needs audit.Fields
	wants := func(*audit.Record) bool { return true }
	limit := 0
	if use == indexReadBack {
		m, needs, wants = req.Query.Filter.Compile(), probe.needs(), probe.(locator).wants
		if k, ok := probe.(newestKeeper); ok {
			limit = k.keepsNewest()
		}
	}
	matched, read, err := eachIndexed(ix, req, m, needs, true, nw, func(w int, r *audit.Record, b *index.Block, i int) {
		if wants(r) {
			rows[w] = append(rows[w], indexRow{b.UnixNano(i), b.Offset(i)})
		}
	})
	if err != nil {
		return nil, read, err
	}
	wanted := slices.Concat(rows...)
	kept := newestRows(wanted, limit)
	floor, hasFloor := int64(0), false
	if plan.floor != nil {
		floor, hasFloor = plan.floor()
	}
	n := len(kept)
	if hasFloor {
		kept = slices.DeleteFunc(kept, func(r indexRow) bool { return r.t < floor })
	}
	pruned := len(kept) < n
	if float64(len(kept)) > maxReadBack*float64(ix.Events) {
		return nil, read, errNotSelective
	}
	all := make([]int64, len(kept))
	for i, r := range kept {
		all[i] = r.off
	}
	slices.Sort(all)
	var lines, bytes int64
	agg, scanned, _, err := scanAllIndexing(ctx, req, newAgg, func(ctx context.Context, fn source.LineAtFunc) (source.Stats, error) {
		err := ss.ReadLines(ctx, seg, all, func(line []byte) error {
			lines++
			bytes += int64(len(line)) + 1
			return fn(-1, line)
		})
		return source.Stats{}, err
	}, nil, false)
	st.Source.LinesRead += lines
	st.Source.BytesRead += bytes
	st.Segments.LinesReadBack += lines
	if err != nil {
		return nil, read, err
	}
	if scanned.Malformed > 0 {
		// A line read back is not a whole event: the first of an event's CRI partial lines
		// (package envelope). A plain read joins them; the index stays.
		return nil, read, errNotSelective
	}
	if use == indexRange { // the filter ran on the lines
		matched = []int64{scanned.Matched}
	}
	if unread := len(wanted) - len(kept); unread > 0 {
		k := agg.(newestKeeper).rows()
		k.setTotal(k.counted() + unread)
	}
	p := indexPartial(ix, req, agg, matched)
	p.pruned, p.floor = pruned, floor
	return p, read, nil
}

// indexRow is an event the index found: its stageTimestamp (Unix ns) and its line's offset.
type indexRow struct{ t, off int64 }

// newestRows returns the rows a table of the newest limit rows can keep (limit 0: all): every
// row at least as new as the limit-th newest. The rows older than it cannot be kept, since at
// least limit rows rank above each of them; the rows at its time are all read back, because a
// tie is broken by fields the index does not hold. rows may be reordered.
func newestRows(rows []indexRow, limit int) []indexRow {
	if limit <= 0 || len(rows) <= limit {
		return rows
	}
	slices.SortFunc(rows, func(a, b indexRow) int { return cmp.Compare(b.t, a.t) })
	cut := rows[limit-1].t
	n := limit
	for n < len(rows) && rows[n].t == cut {
		n++
	}
	return rows[:n]
}

// scanSegment reads seg from offset from into a new partial; with build, it also fills column
// index builders with every event read.
func scanSegment(ctx context.Context, ss source.SegmentScanner, seg source.Segment, req Request, newAgg func() aggregator, from int64, complete, build bool) (*partial, source.SegmentScan, []*index.Builder, error) {
	var scanned source.SegmentScan
	env := envelope.New(req.Envelope)
	// Where the CRI partial lines pending at the end of the read start, and how many they are.
	var pendingAt, pendingLines int64
	agg, stats, builders, err := scanAllIndexing(ctx, req, newAgg, func(ctx context.Context, fn source.LineAtFunc) (source.Stats, error) {
		var err error
		scanned, err = ss.ScanSegment(ctx, seg, from, complete, func(off int64, line []byte) error {
			if !env.Pending() {
				pendingAt, pendingLines = off, 0
			}
			pendingLines++
			return fn(off, line)
		})
		return scanned.Stats, err
	}, env, build)
	if err != nil {
		return nil, scanned, nil, err
	}
	if complete && env.Pending() && scanned.Stable {
		// The last lines are CRI partial lines whose end is not written yet: like a line
		// without a newline, they are not kept. The partial ends where they start, the lost
		// event they would count now (Incomplete) is not counted in it, and the caller reads
		// them again with what follows, on their own (answerSegment's tail) and, once their
		// end is written, into the next extension.
		scanned.End = pendingAt
		scanned.LinesRead -= pendingLines
		stats.Source.LinesRead -= pendingLines
		stats.Malformed--
	}
	settle(agg)
	malformed := stats.Malformed - stats.Unsearched
	if c, ok := agg.(unwrapCounter); ok {
		c.unwrapped(env.Lines, malformed)
	}
	return &partial{
		agg:            agg.(partialAgg),
		end:            scanned.End,
		first:          stats.First,
		last:           stats.Last,
		from:           req.From,
		to:             req.To,
		malformed:      malformed,
		indexMalformed: stats.Malformed,
		matched:        stats.Matched,
		src:            stats.Source,
	}, scanned, builders, nil
}

// absorbPartial adds o to p (p's end is set by the caller).
func (p *partial) absorbPartial(o *partial) {
	p.agg.absorb(o.agg)
	p.first, p.last = widen(p.first, p.last, o.first, o.last)
	p.malformed += o.malformed
	p.indexMalformed += o.indexMalformed
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
		if sa, ok := final.(segmentAbsorber); ok {
			sa.absorbSegment(seg, x.agg)
		} else {
			final.absorb(x.agg)
		}
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
	return fmt.Sprintf("%d segments: %d from cache (%d shared), %d extended, %d from the index, %d read (%d changed while read); %d index files written, %d discarded",
		s.Total, s.Cached, s.Shared, s.Extended, s.Indexed, s.Scanned, s.Changed, s.IndexWritten, s.IndexDiscarded)
}

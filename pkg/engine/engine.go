// Package engine runs queries of the query model over audit lines from any source. It is pure
// Go: results are plain structs that the plugin package turns into Grafana data frames.
package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/index"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// Request is one query over a time range.
type Request struct {
	Query         *query.Query
	From, To      time.Time
	Interval      time.Duration // the panel's interval; may be zero
	MaxDataPoints int64         // may be zero
	// Workers is how many goroutines decode lines; 0 means one per CPU (at most 8).
	Workers int
	// Detect is the datasource's base configuration of detections (allow-lists, tunables); the
	// query's own allow-lists add to it and its tunables override it.
	Detect detect.Config
	// Roles remembers the RBAC look-back of detections between queries (see RoleIndex); nil
	// reads the whole look-back for each query.
	Roles *RoleIndex
	// Cache keeps partial aggregates of segments between queries (see Cache); nil reads every
	// segment for each query.
	Cache *Cache
	// Index keeps a column index of each segment on disk (see package index); nil decodes
	// the JSON of every segment the cache cannot answer.
	Index *index.Store
	// Envelope is the line format of the source (package envelope): every line is unwrapped
	// into its audit event before the line filter and the decoder. Zero is envelope.Auto.
	Envelope envelope.Format
	// notBare is set by resolveAuto when, under envelope.Auto, some lines of a remote source
	// are not bare audit events: the source is then given no filter and asked to count nothing.
	notBare bool
}

// Severity of a notice.
type Severity int

// Notice severities.
const (
	Info Severity = iota
	Warning
)

// Notice is a sentence about the result shown to the user: what was skipped or cut.
type Notice struct {
	Severity Severity
	Text     string
}

// Result is a query's answer. Exactly one of the typed results is set, by query type.
type Result struct {
	Series  *SeriesResult  // timeseries, latency (timeseries format)
	Heatmap *HeatmapResult // latency (heatmap format)
	Denied  *DeniedResult
	Matrix  *MatrixResult
	TopN    *TopNResult
	Events  *EventsResult
	// Operational insights.
	Slowest    *SlowestResult    // latencyBreakdown (table format)
	Deprecated *DeprecatedResult // deprecatedApis
	Detections *DetectionsResult // detections (table format)
	History    *HistoryResult    // objectHistory
	Pipeline   *PipelineResult   // pipelineHealth (table format)
	Notices    []Notice
	Stats      Stats
}

// Stats counts what the engine read.
type Stats struct {
	Source    source.Stats
	Malformed int64 // lines that were not audit events
	// Unsearched are the malformed lines a text search leaves out. Only the scan that builds
	// an index decodes them (its line prefilter is off): they are in Malformed there, for
	// the index, which every query of the segment reads, and not in the query's count, which
	// a plain scan, prefiltered, never sees.
	Unsearched int64
	Matched    int64 // events that matched the filter and time range
	// First and Last are the earliest and latest stageTimestamp of every event decoded,
	// whether or not it matched; zero when none was.
	First, Last time.Time
	// Segments says how the segments of a segmented source were answered; zero for sources
	// read whole.
	Segments SegmentStats
}

// SegmentStats counts the segments of one query by how they were answered.
type SegmentStats struct {
	Total    int // segments that may hold events of the range
	Cached   int // answered from the cache without reading
	Extended int // answered from the cache plus the bytes appended since
	Scanned  int // read whole
	Indexed  int // answered from the segment's column index (plus what was appended since)
	// Changed counts segments that changed while they were read: answered from a plain read,
	// and nothing of them kept.
	Changed int
	// Shared counts the segments answered by the finished result of another query that
	// asked the same question and shows it otherwise (shared.go); they are also in Cached.
	Shared int
	// BytesCached is how many bytes of log the cached and indexed answers stand for (not read).
	BytesCached int64
	// IndexBytes is how many bytes of column index were decoded.
	IndexBytes int64
	// BlocksCached counts the index blocks of segments the range cuts that were answered by
	// the partials kept of them (blocks.go), not decoded.
	BlocksCached int
	// LinesReadBack counts the lines a table query read back from files at the offsets the
	// index found (they are also in Source.LinesRead and BytesRead).
	LinesReadBack int64
	// IndexWritten counts index files written; IndexDiscarded damaged or foreign ones dropped.
	IndexWritten, IndexDiscarded int
	// IndexProblem is why the index could not be read or written, if it could not (a
	// read-only or full directory); the query is answered from the files all the same.
	IndexProblem string
}

func (s *Stats) add(o Stats) {
	s.Malformed += o.Malformed
	s.Unsearched += o.Unsearched
	s.Matched += o.Matched
	s.span(o.First, o.Last)
}

// span widens [First, Last] to hold [first, last] (zero times are ignored).
func (s *Stats) span(first, last time.Time) {
	s.First, s.Last = widen(s.First, s.Last, first, last)
}

// widen returns [first, last] widened to hold [f, l]; zero times are ignored.
func widen(first, last, f, l time.Time) (time.Time, time.Time) {
	if !f.IsZero() && (first.IsZero() || f.Before(first)) {
		first = f
	}
	if !l.IsZero() && l.After(last) {
		last = l
	}
	return first, last
}

// aggregator consumes matching records. Each scan worker has its own aggregator; at the end
// they are merged into the first one, which then finishes the result.
type aggregator interface {
	needs() audit.Fields
	add(r *audit.Record)
	merge(other aggregator) // other is of the same type and is not used afterwards
	finish(res *Result)
}

// Run runs one query over src.
func Run(ctx context.Context, src source.Source, req Request) (*Result, error) {
	q := req.Query
	if q == nil {
		return nil, errors.New("engine: nil query")
	}
	if !req.To.After(req.From) {
		return nil, &query.Error{Msg: fmt.Sprintf("empty time range: from %s is not before to %s", req.From.Format(time.RFC3339), req.To.Format(time.RFC3339))}
	}
	te, err := lookupType(q.QueryType) // type_<name>.go
	if err != nil {
		return nil, err
	}
	req, autoNotices, err := resolveAuto(ctx, src, req)
	if err != nil {
		return nil, err
	}
	if te.run != nil && (te.runs == nil || te.runs(src, req)) {
		res, err := te.run(ctx, src, req)
		if res != nil {
			res.Notices = append(autoNotices, res.Notices...)
		}
		return res, err
	}
	pd, done, err := pushdown(ctx, src, req)
	if err != nil {
		return nil, err
	}
	if done {
		pd.Notices = append(autoNotices, pd.Notices...)
		return pd, nil
	}
	newAgg, preNotices, err := te.plan(ctx, src, req)
	if err != nil {
		return nil, err
	}
	if nr, done, err := runNewest(ctx, src, req, newAgg); err != nil {
		return nil, err
	} else if done {
		if pd != nil {
			nr.Notices = append(pd.Notices, nr.Notices...)
		}
		nr.Notices = append(autoNotices, nr.Notices...)
		return nr, nil
	}
	res := &Result{}
	var agg aggregator
	var stats Stats
	if ss, ok := src.(source.SegmentScanner); ok && (req.Cache != nil || req.Index != nil) && cacheable(newAgg) {
		agg, stats, err = runSegments(ctx, ss, req, newAgg)
	} else {
		agg, stats, err = scanAll(ctx, req, newAgg, wholeSource(src, sourceRequest(req)))
	}
	res.Stats = stats
	if err != nil {
		return nil, err
	}
	agg.finish(res)
	if stats.Matched == 0 { // a search that looks encoded: say what would find the events
		if hint := q.Filter.SearchHint(); hint != "" {
			res.Notices = append(res.Notices, Notice{Info, hint})
		}
	}
	res.Notices = append(append(sourceNotices(stats), preNotices...), res.Notices...)
	if pd != nil {
		res.Notices = append(pd.Notices, res.Notices...)
	}
	res.Notices = append(autoNotices, res.Notices...)
	return res, nil
}

// maxWorkers bounds the goroutines one query decodes with.
const maxWorkers = 8

func workers(n int) int {
	if n > 0 {
		return n
	}
	return min(runtime.GOMAXPROCS(0), maxWorkers)
}

// batchBytes is the size of the line batches handed to scan workers.
const batchBytes = 1 << 20

// batch holds copied lines: line i is buf[ends[i-1]:ends[i]].
type batch struct {
	buf  []byte
	ends []int
	offs []int64 // each line's offset in its segment (-1 when unknown)
}

// scanFunc reads lines of a source (all of it, or one segment) into fn, with their offsets in
// their segment where known (-1 otherwise).
type scanFunc func(ctx context.Context, fn source.LineAtFunc) (source.Stats, error)

// wholeSource is the scanFunc of a source read with Scan (no offsets).
func wholeSource(src source.Source, req source.Request) scanFunc {
	return func(ctx context.Context, fn source.LineAtFunc) (source.Stats, error) {
		return src.Scan(ctx, req, func(line []byte) error { return fn(-1, line) })
	}
}

// sourceRequest is what a query asks of its source.
func sourceRequest(req Request) source.Request {
	srcReq := source.Request{From: req.From, To: req.To}
	// The source matches the filter against raw lines (line filters, filter patterns): only
	// where the event's JSON is in the line as it is (package envelope). Under auto, a remote
	// source has been checked (resolveAuto); files ignore the filter.
	if filterToSource(req) {
		srcReq.Filter = &req.Query.Filter
		if req.Query.QueryType == query.TypeDetections {
			if f := detectionsSourceFilter(req.Query); f != nil {
				srcReq.Filter = f
			}
		}
	}
	return srcReq
}

// filterToSource reports whether the source is given the query's filter (sourceRequest).
func filterToSource(req Request) bool {
	return req.Query != nil && ((req.Envelope == envelope.Auto && !req.notBare) || req.Envelope.LiteralFiltersExact())
}

// scanAll reads everything scanFn yields with one aggregator per worker and returns them
// merged into one.
func scanAll(ctx context.Context, req Request, newAgg func() aggregator, scanFn scanFunc) (aggregator, Stats, error) {
	agg, stats, _, err := scanAllIndexing(ctx, req, newAgg, scanFn, nil, false)
	return agg, stats, err
}

// scanAllIndexing is scanAll that, with build, also stores every event decoded (matching or
// not) in column index builders, one per worker; the line prefilter is then off. env, when not
// nil, is the unwrapper the lines go through (the caller reads what it counted and whether
// partial lines are pending at the end); nil uses a new one.
func scanAllIndexing(ctx context.Context, req Request, newAgg func() aggregator, scanFn scanFunc, env *envelope.Unwrapper, build bool) (aggregator, Stats, []*index.Builder, error) {
	aggs := make([]aggregator, workers(req.Workers))
	adds := make([]func(*audit.Record), len(aggs))
	var builders []*index.Builder
	for i := range aggs {
		aggs[i] = newAgg()
		adds[i] = aggs[i].add
		if build {
			builders = append(builders, req.Index.NewBuilder())
		}
	}
	needs := aggs[0].needs()
	if build {
		needs |= audit.IndexedFields
	}
	stats, err := scanLinesWith(ctx, scanFn, req, req.Query.Filter.Compile(), needs, adds, builders, env)
	if err != nil {
		return nil, stats, nil, err
	}
	for _, o := range aggs[1:] {
		aggs[0].merge(o)
	}
	return aggs[0], stats, builders, nil
}

// scan feeds every record of src that matches m and lies in [req.From, req.To] to one of the
// adds (see scanLines).
func scan(ctx context.Context, src source.Source, req Request, m *query.Matcher, needs audit.Fields, adds []func(*audit.Record)) (Stats, error) {
	return scanLines(ctx, wholeSource(src, sourceRequest(req)), req, m, needs, adds)
}

// scanLines feeds every record scanFn yields that matches m and lies in [req.From, req.To] to
// one of the adds: with one add, in the source's goroutine; with several, lines are copied into
// batches and decoded by one worker goroutine per add (each add is only called from its
// worker).
func scanLines(ctx context.Context, scanFn scanFunc, req Request, m *query.Matcher, needs audit.Fields, adds []func(*audit.Record)) (Stats, error) {
	return scanLinesWith(ctx, scanFn, req, m, needs, adds, nil, nil)
}

func scanLinesWith(ctx context.Context, scanFn scanFunc, req Request, m *query.Matcher, needs audit.Fields, adds []func(*audit.Record), builders []*index.Builder, env *envelope.Unwrapper) (Stats, error) {
	sc := audit.NewScanner(needs | m.Needs())
	build := func(int) *index.Builder { return nil }
	if builders != nil {
		build = func(w int) *index.Builder { return builders[w] }
	}
	prefilter := builders == nil
	from, to := req.From, req.To
	// Every line of every source enters here: unwrapped once, in the source's goroutine (CRI
	// partial lines are joined in order); a line that is not an event yet (a partial) is skipped.
	if env == nil {
		env = envelope.New(req.Envelope)
	}
	if len(adds) == 1 {
		var rec audit.Record
		var st Stats
		bld := build(0)
		srcStats, err := scanFn(ctx, func(off int64, line []byte) error {
			off, line, ok := env.UnwrapAt(off, line)
			if ok && (!prefilter || m.MatchLine(line)) {
				decode(sc, m, from, to, line, off, &rec, &st, adds[0], bld)
			}
			return nil
		})
		st.Source = srcStats
		st.Malformed += env.Incomplete()
		return st, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	full := make(chan *batch, len(adds))
	empty := make(chan *batch, 2*len(adds))
	for range cap(empty) {
		empty <- &batch{buf: make([]byte, 0, batchBytes)}
	}
	stats := make([]Stats, len(adds))
	var wg sync.WaitGroup
	for w, add := range adds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rec audit.Record
			bld := build(w)
			for b := range full {
				start := 0
				for k, end := range b.ends {
					decode(sc, m, from, to, b.buf[start:end], b.offs[k], &rec, &stats[w], add, bld)
					start = end
				}
				b.buf, b.ends, b.offs = b.buf[:0], b.ends[:0], b.offs[:0]
				empty <- b
			}
		}()
	}
	send := func(b *batch) error {
		select {
		case full <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cur := <-empty
	srcStats, err := scanFn(ctx, func(off int64, line []byte) error {
		off, line, ok := env.UnwrapAt(off, line)
		if !ok || (prefilter && !m.MatchLine(line)) {
			return nil
		}
		if len(cur.ends) > 0 && len(cur.buf)+len(line) > batchBytes {
			if err := send(cur); err != nil {
				return err
			}
			select {
			case cur = <-empty:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		cur.buf = append(cur.buf, line...)
		cur.ends = append(cur.ends, len(cur.buf))
		cur.offs = append(cur.offs, off)
		return nil
	})
	if err == nil && len(cur.ends) > 0 {
		err = send(cur)
	}
	close(full)
	wg.Wait()
	var st Stats
	for _, s := range stats {
		st.add(s)
	}
	st.Source = srcStats
	st.Malformed += env.Incomplete()
	return st, err
}

// decode scans one line and hands it to add if it matches, and to bld (when not nil) whether
// it matches or not.
func decode(sc *audit.Scanner, m *query.Matcher, from, to time.Time, line []byte, off int64, rec *audit.Record, st *Stats, add func(*audit.Record), bld *index.Builder) {
	if sc.Scan(line, rec) != nil {
		st.Malformed++
		if bld != nil && !m.MatchLine(line) {
			st.Unsearched++
		}
		return
	}
	if bld != nil {
		bld.Add(rec, off)
	}
	st.First, st.Last = widen(st.First, st.Last, rec.Time, rec.Time)
	// While an index is built the line prefilter is off (every event is indexed): the text
	// search is then tested here, or it would be ignored.
	if rec.Time.Before(from) || rec.Time.After(to) || !m.Match(rec) || (bld != nil && !m.MatchLine(line)) {
		return
	}
	st.Matched++
	add(rec)
}

func sourceNotices(st Stats) []Notice {
	var out []Notice
	if st.Malformed > 0 {
		out = append(out, Notice{Warning, fmt.Sprintf("skipped %d lines that are not audit events (malformed or truncated JSON)", st.Malformed)})
	}
	for _, p := range st.Source.Problems {
		out = append(out, Notice{Warning, p})
	}
	if p := st.Segments.IndexProblem; p != "" {
		out = append(out, Notice{Info, "the column index could not be used (" + p + "); the query was answered from the audit files"})
	}
	if n := st.Segments.IndexDiscarded; n > 0 {
		out = append(out, Notice{Info, fmt.Sprintf("discarded %d damaged column index %s; rebuilt from the audit files", n, plural(n, "file", "files"))})
	}
	return out
}

// ValueCount is a value and how many requests had it.
type ValueCount struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// NewestNoticePrefix starts the info notice of a table read newest first (runNewest).
const NewestNoticePrefix = "read the newest "

// newestKeeper is an aggregator that keeps the newest N of what it is given (events,
// denied, object history), so that a source read newest first can stop early (runNewest)
// and an index can leave older rows unread (readBack).
type newestKeeper interface {
	aggregator
	// rows is where it keeps them.
	rows() rowKeep
	// keepsNewest is N when the rows it keeps are the newest N of every event its locator
	// wants (by stageTimestamp, ties by its own id), so that an index can leave the older
	// ones unread (readBack); 0 when it selects further.
	keepsNewest() int
}

// rowKeep is a table's largest, whatever its row type.
type rowKeep interface {
	// cut is the time (Unix ns) of the N-th kept row once N rows are kept; ok is false before.
	cut() (rank int64, ok bool)
	// counted is how many rows it was given; setTotal replaces it with the range's total.
	counted() int
	setTotal(n int)
}

func (n *largest[T]) cut() (int64, bool) {
	if n.limit <= 0 || len(n.items) < n.limit {
		return 0, false
	}
	return n.items[0].rank, true
}

func (n *largest[T]) counted() int   { return n.total }
func (n *largest[T]) setTotal(t int) { n.total = t }
func (d *denied) rows() rowKeep      { return &d.keep }
func (e *events) rows() rowKeep      { return &e.keep }
func (h *history) rows() rowKeep     { return &h.keep }
func (d *denied) keepsNewest() int   { return d.keep.limit }
func (h *history) keepsNewest() int  { return h.keep.limit }

// keepsNewest: events of a query's auditIDs are picked from the lines read, so every line is.
func (e *events) keepsNewest() int {
	if e.auditIDs != nil {
		return 0
	}
	return e.keep.limit
}

// newestApplies reports whether a query can be answered newest first (runNewest): a table of
// the newest N requests over a source that reads newest first and counts exactly what the
// table counts, so that the truncation notice's total is exact.
func newestApplies(src source.Source, req Request) (source.NewestScanner, source.Counter, bool) {
	q := req.Query
	ns, ok1 := src.(source.NewestScanner)
	c, ok2 := src.(source.Counter)
	if !ok1 || !ok2 || q.SourceMode == query.ModeRaw || q.Limit <= 0 || req.notBare || !filterToSource(req) {
		return nil, nil, false
	}
	if e := req.Envelope; e != envelope.Auto && !e.PushdownExact() {
		return nil, nil, false
	}
	switch q.QueryType {
	case query.TypeEvents:
		if len(q.AuditIDs) > 0 { // the total counts only these requests' events
			return nil, nil, false
		}
	case query.TypeDenied:
		// The filter's matches are the denied rows only when it keeps 401 and 403 alone.
		if len(q.Filter.Codes) == 0 {
			return nil, nil, false
		}
		for _, code := range q.Filter.Codes {
			if code != "401" && code != "403" {
				return nil, nil, false
			}
		}
	default:
		return nil, nil, false
	}
	if can, _ := c.CanCount(q.Filter, nil); !can {
		return nil, nil, false
	}
	return ns, c, true
}

// runNewest answers an events or denied table over a source that reads newest first: the
// range is read backward until the newest N rows kept cannot change (every line not read is
// older than the N-th row, by the source's bound between its time and stageTimestamp), and
// the total of the truncation notice is counted by the source in one metric query. The
// result is the full read's: rows, notices and "events matched". done is false when the
// query must be read in full after all (the lines not read may hold some that are not audit
// events, whose count the full read's notice gives; or the count disagrees with what was
// read).
func runNewest(ctx context.Context, src source.Source, req Request, newAgg func() aggregator) (res *Result, done bool, err error) {
	ns, c, ok := newestApplies(src, req)
	if !ok {
		return nil, false, nil
	}
	agg, ok := newAgg().(newestKeeper)
	if !ok {
		return nil, false, nil
	}
	kept := agg.rows()
	q := req.Query
	srcReq := sourceRequest(req)
	var unread *source.Window
	scanFn := func(ctx context.Context, fn source.LineAtFunc) (source.Stats, error) {
		st, w, err := ns.ScanNewest(ctx, srcReq, q.Limit, func(line []byte) error { return fn(-1, line) }, func(bound time.Time) bool {
			// Strictly older: a line at the N-th row's time may tie it and win on its id.
			rank, full := kept.cut()
			return full && bound.UnixNano() < rank
		})
		unread = w
		return st, err
	}
	// One add: the lines are decoded in the scan's goroutine, so agg is current at each page.
	stats, err := scanLines(ctx, scanFn, req, q.Filter.Compile(), agg.needs(), []func(*audit.Record){agg.add})
	if err != nil {
		return nil, false, err
	}
	pages := stats.Source.FilesScanned
	asked := fmt.Sprintf("%s%d rows newest first: asked the source for %d %s backward (%d lines)", NewestNoticePrefix, q.Limit, pages, plural(pages, "page", "pages"), stats.Source.LinesRead)
	var problems []string
	switch {
	case unread != nil:
		suspect, reqs, bytes, err := ns.SuspectLines(ctx, srcReq, *unread)
		if err != nil {
			return nil, false, err
		}
		if suspect != 0 {
			return nil, false, nil // the full read counts them in its notice
		}
		// One bucket, [From, To]: one metric query (instant pieces past max_query_length).
		cr, err := c.Count(ctx, source.CountRequest{From: req.From, To: req.To, Start: req.From, Step: req.To.Sub(req.From) + time.Nanosecond, N: 1, Filter: q.Filter})
		if err != nil {
			return nil, false, err
		}
		var total float64
		for _, s := range cr.Series {
			for _, n := range s.Counts {
				total += n
			}
		}
		if int(total) < kept.counted() || int64(total) < stats.Matched {
			return nil, false, nil // the count is not the read's: read in full
		}
		kept.setTotal(int(total))
		stats.Matched = int64(total)
		problems = cr.Problems
		reqs += cr.Requests
		bytes += cr.BytesScanned
		asked += fmt.Sprintf(", then checked the rest of the range and counted the total (%d) at the source in %d %s, %s scanned", int(total), reqs, plural(reqs, "request", "requests"), humanBytes(bytes))
	case len(stats.Source.Problems) == 0:
		asked += ", the whole range"
	default:
		asked += ", until it stopped (see the warnings)"
	}
	res = &Result{Stats: stats}
	agg.finish(res)
	if stats.Matched == 0 {
		if hint := q.Filter.SearchHint(); hint != "" {
			res.Notices = append(res.Notices, Notice{Info, hint})
		}
	}
	stats.Source.Problems = append(stats.Source.Problems, problems...)
	res.Stats = stats
	res.Notices = append(append([]Notice{{Info, asked}}, sourceNotices(stats)...), res.Notices...)
	return res, true, nil
}

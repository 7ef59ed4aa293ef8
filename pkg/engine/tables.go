package engine

import (
	"bytes"
	"container/heap"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// largest keeps the `limit` items of largest rank (ties broken by the larger id), counting all
// it saw: the newest rows (rank = time) or the slowest requests (rank = latency).
type largest[T any] struct {
	limit int
	total int
	items rankHeap[T]
}

type ranked[T any] struct {
	rank int64
	id   string
	item T
}

// rankHeap is a min-heap: the smallest kept item is at the root, ready to be evicted.
type rankHeap[T any] []ranked[T]

func (h rankHeap[T]) Len() int { return len(h) }
func (h rankHeap[T]) Less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].id < h[j].id
}
func (h rankHeap[T]) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *rankHeap[T]) Push(x any)   { *h = append(*h, x.(ranked[T])) }
func (h *rankHeap[T]) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// wants reports whether an item of this rank and id would be kept (and counts it).
func (n *largest[T]) wants(rank int64, id []byte) bool {
	n.total++
	if len(n.items) < n.limit {
		return true
	}
	least := n.items[0]
	return rank > least.rank || (rank == least.rank && string(id) > least.id)
}

func (n *largest[T]) push(rank int64, id string, item T) {
	heap.Push(&n.items, ranked[T]{rank, id, item})
	if len(n.items) > n.limit {
		heap.Pop(&n.items)
	}
}

// sorted returns the kept items, largest first.
func (n *largest[T]) sorted() []T {
	h := n.items
	sort.Slice(h, func(i, j int) bool { return h.Less(j, i) })
	out := make([]T, len(h))
	for i, x := range h {
		out[i] = x.item
	}
	return out
}

func truncNotice(kind string, kept, total int) Notice {
	return Notice{Warning, fmt.Sprintf("showing the newest %d of %d %s; narrow the filter or time range, or raise the limit", kept, total, kind)}
}

// DeniedRow is one 401/403 request.
type DeniedRow struct {
	Time                                              time.Time
	User, Groups, Verb, Resource, Namespace, Name     string
	Subresource, Reason, SourceIP, UserAgent, AuditID string
	Code                                              int
}

// DeniedResult lists denied requests, newest first.
type DeniedResult struct {
	Rows  []DeniedRow
	Total int
}

type denied struct {
	keep largest[DeniedRow]
}

func newDenied(q *query.Query) *denied { return &denied{keep: largest[DeniedRow]{limit: q.Limit}} }

func (d *denied) needs() audit.Fields {
	return audit.Fields(0).With(audit.FieldCode, audit.FieldUsername, audit.FieldGroups, audit.FieldVerb,
		audit.FieldResource, audit.FieldNamespace, audit.FieldName, audit.FieldSubresource,
		audit.FieldAnnotations, audit.FieldStatusMessage, audit.FieldStatusReason,
		audit.FieldSourceIPs, audit.FieldUserAgent)
}

func (d *denied) add(r *audit.Record) {
	if r.Code != 401 && r.Code != 403 {
		return
	}
	id := r.Str(audit.FieldAuditID)
	if !d.keep.wants(r.Time.UnixNano(), id) {
		return
	}
	d.keep.push(r.Time.UnixNano(), string(id), DeniedRow{
		Time: r.Time, User: string(r.Username()), Groups: strings.Join(r.Groups(), ","), Verb: string(r.Verb()),
		Resource: string(r.Resource()), Namespace: string(r.Str(audit.FieldNamespace)), Name: string(r.Str(audit.FieldName)),
		Subresource: string(r.Subresource()), Code: r.Code, Reason: string(r.Reason()),
		SourceIP: string(r.SourceIP()), UserAgent: string(r.Str(audit.FieldUserAgent)), AuditID: string(id),
	})
}

func (d *denied) finish(res *Result) {
	res.Denied = &DeniedResult{Rows: d.keep.sorted(), Total: d.keep.total}
	if d.keep.total > len(res.Denied.Rows) {
		res.Notices = append(res.Notices, truncNotice("denied requests", len(res.Denied.Rows), d.keep.total))
	}
}

// MatrixResult counts requests by two dimensions.
type MatrixResult struct {
	RowDim, ColDim string
	Rows, Cols     []string
	Cells          [][]int64 // Cells[row][col]
	RowTotals      []int64
}

type matrix struct {
	q          *query.Query
	rows, cols *keyer
	counts     map[string]map[string]int64
}

func newMatrix(q *query.Query) *matrix {
	return &matrix{q: q, rows: newKeyer([]string{q.Rows}), cols: newKeyer([]string{q.Columns}), counts: map[string]map[string]int64{}}
}

func (m *matrix) needs() audit.Fields { return m.rows.needs() | m.cols.needs() }

func (m *matrix) add(r *audit.Record) {
	m.rows.each(r, func(rk []byte) {
		row, ok := m.counts[string(rk)]
		if !ok {
			row = map[string]int64{}
			m.counts[string(rk)] = row
		}
		m.cols.each(r, func(ck []byte) { row[string(ck)]++ })
	})
}

func (m *matrix) finish(res *Result) {
	rowTotals := map[string]int64{}
	colTotals := map[string]int64{}
	for rk, row := range m.counts {
		for ck, n := range row {
			rowTotals[rk] += n
			colTotals[ck] += n
		}
	}
	weight := func(n int64) float64 { return float64(n) }
	topRows, restRows := topKeys(rowTotals, weight, m.q.Limit)
	topCols, restCols := topKeys(colTotals, weight, m.q.Limit)
	colIndex := map[string]int{}
	out := &MatrixResult{RowDim: m.q.Rows, ColDim: m.q.Columns}
	for i, c := range topCols {
		colIndex[c] = i
		out.Cols = append(out.Cols, display(c))
	}
	if len(restCols) > 0 {
		out.Cols = append(out.Cols, Other)
	}
	addRow := func(name string, keys []string) {
		cells := make([]int64, len(out.Cols))
		var total int64
		for _, rk := range keys {
			for ck, n := range m.counts[rk] {
				j, ok := colIndex[ck]
				if !ok {
					j = len(out.Cols) - 1
				}
				cells[j] += n
				total += n
			}
		}
		out.Rows = append(out.Rows, name)
		out.Cells = append(out.Cells, cells)
		out.RowTotals = append(out.RowTotals, total)
	}
	for _, rk := range topRows {
		addRow(display(rk), []string{rk})
	}
	if len(restRows) > 0 {
		addRow(Other, restRows)
	}
	if len(restRows)+len(restCols) > 0 {
		res.Notices = append(res.Notices, Notice{Info, fmt.Sprintf("showing the top %d of %d rows and %d of %d columns; the rest are summed as %q",
			len(topRows), len(rowTotals), len(topCols), len(colTotals), Other)})
	}
	res.Matrix = out
}

func display(v string) string {
	if v == "" {
		return None
	}
	return v
}

// TopNRow is one value of the groupBy dimensions with its request statistics.
type TopNRow struct {
	Values                   []string
	Requests, Errors, Denied int64
	P99                      float64
	HasP99                   bool
}

// TopNResult is the top values by the query's sortBy (request count by default).
type TopNResult struct {
	Dims []string
	Rows []TopNRow
}

type topn struct {
	q     *query.Query
	k     *keyer
	stats map[string]*topStats
}

type topStats struct {
	requests, errors, denied int64
	latencies                samples
}

func newTopN(q *query.Query) *topn {
	return &topn{q: q, k: newKeyer(q.GroupBy), stats: map[string]*topStats{}}
}

func (t *topn) needs() audit.Fields { return t.k.needs() | latencyNeeds.With(audit.FieldCode) }

func (t *topn) add(r *audit.Record) {
	sec, hasLatency := latencySample(t.q, r)
	t.k.each(r, func(key []byte) {
		s, ok := t.stats[string(key)]
		if !ok {
			s = &topStats{}
			t.stats[string(key)] = s
		}
		s.requests++
		if r.Code >= 400 {
			s.errors++
		}
		if r.Code == 401 || r.Code == 403 {
			s.denied++
		}
		if hasLatency {
			s.latencies.add(sec)
		}
	})
}

func (t *topn) finish(res *Result) {
	top, rest := topNOrder(t.stats, t.q.SortBy, t.q.Limit) // type_topn.go
	out := &TopNResult{Dims: t.k.dimNames()}
	sketched := 0
	for _, key := range top {
		s := t.stats[key]
		row := TopNRow{Requests: s.requests, Errors: s.errors, Denied: s.denied}
		for _, l := range t.k.labels(key) {
			row.Values = append(row.Values, l.Value)
		}
		row.P99, row.HasP99 = s.latencies.quantile(0.99)
		if s.latencies.sketched() {
			sketched++
		}
		out.Rows = append(out.Rows, row)
	}
	if sketched > 0 {
		res.Notices = append(res.Notices, sketchNotice(sketched, "row"))
	}
	if len(rest) > 0 {
		by := ""
		if t.q.SortBy != "" && t.q.SortBy != query.SortRequests {
			by = " by " + t.q.SortBy
		}
		res.Notices = append(res.Notices, Notice{Info, fmt.Sprintf("showing the top %d of %d values%s", len(top), len(top)+len(rest), by)})
	}
	res.TopN = out
}

func (k *keyer) dimNames() []string {
	out := make([]string, len(k.dims))
	for i, d := range k.dims {
		out[i] = d.Name
	}
	return out
}

// EventsResult holds the newest matching events, each decoded with every field (its Line is
// the whole event).
type EventsResult struct {
	Events []*audit.Record
	Total  int
}

type events struct {
	keep     largest[[]byte]
	id       []byte
	auditIDs map[string]bool // the query's auditIDs; nil selects every event
}

func newEvents(q *query.Query) *events {
	e := &events{keep: largest[[]byte]{limit: q.Limit}}
	if len(q.AuditIDs) > 0 {
		e.auditIDs = make(map[string]bool, len(q.AuditIDs))
		for _, id := range q.AuditIDs {
			e.auditIDs[id] = true
		}
	}
	return e
}

func (e *events) needs() audit.Fields { return 0 }

func (e *events) add(r *audit.Record) {
	if e.auditIDs != nil && !e.auditIDs[string(r.Str(audit.FieldAuditID))] {
		return
	}
	// Ties on time keep a stable order: auditID then stage.
	e.id = append(append(append(e.id[:0], r.Str(audit.FieldAuditID)...), '/'), r.Stage()...)
	if !e.keep.wants(r.Time.UnixNano(), e.id) {
		return
	}
	e.keep.push(r.Time.UnixNano(), string(e.id), bytes.Clone(r.Line))
}

func (e *events) finish(res *Result) {
	lines := e.keep.sorted()
	out := &EventsResult{Total: e.keep.total}
	for _, l := range lines {
		ev, err := audit.Decode(l)
		if err != nil {
			continue // the aggregation's scan accepted it; a full scan failing is counted below
		}
		out.Events = append(out.Events, ev)
	}
	if bad := len(lines) - len(out.Events); bad > 0 {
		res.Notices = append(res.Notices, Notice{Warning, fmt.Sprintf("%d events could not be fully decoded and are not shown", bad)})
	}
	if e.keep.total > len(lines) {
		res.Notices = append(res.Notices, truncNotice("events", len(lines), e.keep.total))
	}
	res.Events = out
}

package engine

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// Operational insights: where the time of slow requests goes, and who uses deprecated APIs.

// breakdownOther is the part of a request's total that no component accounts for.
const breakdownOther = "other"

// breakdownNames are the series of a latency breakdown, in stacking order.
var breakdownNames = append(slices.Clone(audit.LatencyComponents), breakdownOther)

var breakdownIndex = func() map[string]int {
	m := map[string]int{}
	for i, n := range breakdownNames {
		m[n] = i
	}
	return m
}()

// breakdown holds one request's apiserver.latency.k8s.io durations in seconds, indexed like
// breakdownNames, and its total.
type breakdown struct {
	parts [11]float64
	total float64
}

// readBreakdown reads a record's latency annotations; ok is false without a total, and for
// long-running requests (watches, exec, port-forward...) unless the query includes them: their
// "latency" is how long the stream stayed open, as in latency queries.
func readBreakdown(q *query.Query, r *audit.Record) (b breakdown, ok bool) {
	if !q.IncludeLongRunning && r.LongRunning() {
		return b, false
	}
	var sum float64
	r.EachLatency(func(name []byte, d time.Duration) {
		if string(name) == audit.LatencyTotal {
			b.total, ok = d.Seconds(), true
			return
		}
		if i, known := breakdownIndex[string(name)]; known && i < len(audit.LatencyComponents) {
			b.parts[i] += d.Seconds()
			sum += d.Seconds()
		}
	})
	b.parts[breakdownIndex[breakdownOther]] = math.Max(0, b.total-sum)
	return b, ok
}

var breakdownNeeds = audit.Fields(0).With(audit.FieldAnnotations, audit.FieldVerb, audit.FieldSubresource)

// breakdownSeries is the mean time per slow request spent in each component, per interval.
type breakdownSeries struct {
	q     *query.Query
	b     *buckets
	sums  [][]float64 // [component][bucket]
	count []float64   // slow requests per bucket
}

func newBreakdownSeries(q *query.Query, b *buckets) *breakdownSeries {
	sums := make([][]float64, len(breakdownNames))
	for i := range sums {
		sums[i] = make([]float64, b.n)
	}
	return &breakdownSeries{q: q, b: b, sums: sums, count: make([]float64, b.n)}
}

func (s *breakdownSeries) needs() audit.Fields { return breakdownNeeds }

func (s *breakdownSeries) add(r *audit.Record) {
	i := s.b.index(r.Time)
	if i < 0 {
		return
	}
	bd, ok := readBreakdown(s.q, r)
	if !ok {
		return
	}
	s.count[i]++
	for c, v := range bd.parts {
		s.sums[c][i] += v
	}
}

func (s *breakdownSeries) merge(other aggregator) {
	o := other.(*breakdownSeries)
	addFloats(s.count, o.count)
	for c := range s.sums {
		addFloats(s.sums[c], o.sums[c])
	}
}

func (s *breakdownSeries) finish(res *Result) {
	out := &SeriesResult{Times: s.b.times(), Step: s.b.step, Unit: "s"}
	var requests float64
	for c, name := range breakdownNames {
		vals := make([]float64, s.b.n)
		for i := range vals {
			if s.count[i] == 0 {
				vals[i] = math.NaN()
			} else {
				vals[i] = s.sums[c][i] / s.count[i]
			}
		}
		out.Series = append(out.Series, Series{Name: name, Labels: []Label{{"component", name}}, Values: vals})
	}
	for _, n := range s.count {
		requests += n
	}
	res.Series = out
	if requests == 0 {
		res.Notices = append(res.Notices, noBreakdownNotice)
	}
}

var noBreakdownNotice = Notice{Info, "no request in this range carries apiserver.latency.k8s.io annotations: kube-apiserver writes them " +
	"since Kubernetes 1.24, only for requests slower than 500 ms and never for watch (1.34 before its fix writes none)"}

// SlowRequest is one slow request with its latency breakdown (seconds, indexed like
// BreakdownNames; NaN where the cluster wrote no such tracker).
type SlowRequest struct {
	Time                                                        time.Time
	Verb, Resource, Subresource, Namespace, Name, User, AuditID string
	Code                                                        int
	Total                                                       float64
	Parts                                                       []float64
}

// BreakdownNames names the components of SlowRequest.Parts.
func BreakdownNames() []string { return breakdownNames }

// SlowestResult lists the slowest requests, slowest first.
type SlowestResult struct {
	Rows  []SlowRequest
	Total int // slow requests with a breakdown in the range
}

type slowest struct {
	q    *query.Query
	keep largest[SlowRequest]
}

func newSlowest(q *query.Query) *slowest {
	return &slowest{q: q, keep: largest[SlowRequest]{limit: q.Limit}}
}

func (s *slowest) needs() audit.Fields {
	return breakdownNeeds.With(audit.FieldVerb, audit.FieldResource, audit.FieldSubresource, audit.FieldNamespace,
		audit.FieldName, audit.FieldUsername, audit.FieldCode)
}

func (s *slowest) add(r *audit.Record) {
	bd, ok := readBreakdown(s.q, r)
	if !ok {
		return
	}
	rank := int64(bd.total * 1e9)
	id := r.Str(audit.FieldAuditID)
	if !s.keep.wants(rank, id) {
		return
	}
	parts := make([]float64, len(breakdownNames))
	seen := [len(breakdown{}.parts)]bool{}
	r.EachLatency(func(name []byte, _ time.Duration) {
		if i, known := breakdownIndex[string(name)]; known {
			seen[i] = true
		}
	})
	for i := range parts {
		parts[i] = bd.parts[i]
		if !seen[i] && breakdownNames[i] != breakdownOther {
			parts[i] = math.NaN()
		}
	}
	s.keep.push(rank, string(id), SlowRequest{
		Time: r.Time, Verb: string(r.Verb()), Resource: string(r.Resource()), Subresource: string(r.Subresource()),
		Namespace: string(r.Str(audit.FieldNamespace)), Name: string(r.Str(audit.FieldName)), User: string(r.Username()),
		AuditID: string(id), Code: r.Code, Total: bd.total, Parts: parts,
	})
}

func (s *slowest) merge(other aggregator) { s.keep.merge(&other.(*slowest).keep) }

func (s *slowest) finish(res *Result) {
	res.Slowest = &SlowestResult{Rows: s.keep.sorted(), Total: s.keep.total}
	if s.keep.total == 0 {
		res.Notices = append(res.Notices, noBreakdownNotice)
	} else if s.keep.total > len(res.Slowest.Rows) {
		res.Notices = append(res.Notices, Notice{Info, fmt.Sprintf("showing the slowest %d of %d requests with a latency breakdown", len(res.Slowest.Rows), s.keep.total)})
	}
}

// DeprecatedRow is one combination of groupBy values using a deprecated API.
type DeprecatedRow struct {
	Values         []string
	RemovedRelease string
	Requests       int64
	LastSeen       time.Time
}

// DeprecatedResult lists deprecated API use, most requests first.
type DeprecatedResult struct {
	Dims []string
	Rows []DeprecatedRow
}

type deprecated struct {
	q    *query.Query
	k    *keyer
	rows map[string]*deprecatedStats
}

type deprecatedStats struct {
	requests int64
	lastSeen time.Time
}

func newDeprecated(q *query.Query) *deprecated {
	return &deprecated{q: q, k: newKeyer(q.GroupBy), rows: map[string]*deprecatedStats{}}
}

func (d *deprecated) needs() audit.Fields { return d.k.needs().With(audit.FieldAnnotations) }

func (d *deprecated) add(r *audit.Record) {
	if v, ok := r.Annotation(audit.AnnotationDeprecated); !ok || string(v) != "true" {
		return
	}
	removed, _ := r.Annotation(audit.AnnotationRemovedRelease)
	d.k.each(r, func(key []byte) {
		// The removal release is part of the row: one API version has one.
		full := string(key) + string(keySep) + string(removed)
		s, ok := d.rows[full]
		if !ok {
			s = &deprecatedStats{}
			d.rows[full] = s
		}
		s.requests++
		if r.Time.After(s.lastSeen) {
			s.lastSeen = r.Time
		}
	})
}

func (d *deprecated) merge(other aggregator) {
	mergeInto(d.rows, other.(*deprecated).rows, func(mine, theirs *deprecatedStats) {
		mine.requests += theirs.requests
		if theirs.lastSeen.After(mine.lastSeen) {
			mine.lastSeen = theirs.lastSeen
		}
	})
}

func (d *deprecated) finish(res *Result) {
	top, rest := topKeys(d.rows, func(s *deprecatedStats) float64 { return float64(s.requests) }, d.q.Limit)
	out := &DeprecatedResult{Dims: d.k.dimNames()}
	for _, full := range top {
		s := d.rows[full]
		cut := len(full) - 1
		for cut >= 0 && full[cut] != keySep {
			cut--
		}
		row := DeprecatedRow{RemovedRelease: full[cut+1:], Requests: s.requests, LastSeen: s.lastSeen}
		for _, l := range d.k.labels(full[:cut]) {
			row.Values = append(row.Values, l.Value)
		}
		out.Rows = append(out.Rows, row)
	}
	if len(rest) > 0 {
		res.Notices = append(res.Notices, Notice{Info, fmt.Sprintf("showing the top %d of %d rows", len(top), len(top)+len(rest))})
	}
	res.Deprecated = out
}

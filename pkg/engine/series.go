package engine

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// SeriesResult is a set of series over the same times (a wide time series).
type SeriesResult struct {
	Times  []time.Time
	Step   time.Duration
	Series []Series
	Unit   string // "" for counts, "s" for latency, "reqps" for rates
}

// Series is one named, labelled series. NaN values are missing (no data in that interval).
type Series struct {
	Name   string
	Labels []Label
	Values []float64
}

// timeseries counts requests per interval and series.
type timeseries struct {
	q      *query.Query
	b      *buckets
	k      *keyer
	series map[string][]float64
}

func newTimeSeries(q *query.Query, b *buckets) *timeseries {
	return &timeseries{q: q, b: b, k: newKeyer(q.GroupBy), series: map[string][]float64{}}
}

func (t *timeseries) needs() audit.Fields { return t.k.needs() }

func (t *timeseries) add(r *audit.Record) {
	i := t.b.index(r.Time)
	if i < 0 {
		return
	}
	t.k.each(r, func(key []byte) {
		vals, ok := t.series[string(key)]
		if !ok {
			vals = make([]float64, t.b.n)
			t.series[string(key)] = vals
		}
		vals[i]++
	})
}

func (t *timeseries) finish(res *Result) {
	out := &SeriesResult{Times: t.b.times(), Step: t.b.step}
	name := query.MetricCount
	scale := 1.0
	if t.q.Metric == query.MetricRate {
		name, scale, out.Unit = query.MetricRate, 1/t.b.step.Seconds(), "reqps"
	}
	top, rest := topKeys(t.series, sum, t.q.Limit)
	for _, key := range top {
		out.Series = append(out.Series, Series{Name: name, Labels: t.k.labels(key), Values: scaled(t.series[key], scale)})
	}
	if len(rest) > 0 {
		other := make([]float64, t.b.n)
		for _, key := range rest {
			for i, v := range t.series[key] {
				other[i] += v
			}
		}
		out.Series = append(out.Series, Series{Name: name, Labels: t.k.otherLabels(), Values: scaled(other, scale)})
		res.Notices = append(res.Notices, Notice{Info, fmt.Sprintf("showing the top %d of %d series; the other %d are summed as %q", len(top), len(top)+len(rest), len(rest), Other)})
	}
	if len(out.Series) == 0 && len(t.k.dims) == 0 {
		out.Series = []Series{{Name: name, Values: make([]float64, t.b.n)}}
	}
	res.Series = out
}

func sum(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

func scaled(v []float64, f float64) []float64 {
	if f != 1 {
		for i := range v {
			v[i] *= f
		}
	}
	return v
}

// latencySample reports the latency in seconds of a record latency queries count.
func latencySample(q *query.Query, r *audit.Record) (float64, bool) {
	if !q.IncludeLongRunning && r.LongRunning() {
		return 0, false
	}
	d, ok := r.Latency()
	if !ok {
		return 0, false
	}
	return d.Seconds(), true
}

var latencyNeeds = audit.Fields(0).With(audit.FieldRequestReceived, audit.FieldVerb, audit.FieldSubresource)

// latency computes latency quantiles per interval and series.
type latency struct {
	q      *query.Query
	b      *buckets
	k      *keyer
	series map[string]*latencySeries
}

type latencySeries struct {
	n       int
	samples []samples // per bucket
}

func newLatency(q *query.Query, b *buckets) *latency {
	return &latency{q: q, b: b, k: newKeyer(q.GroupBy), series: map[string]*latencySeries{}}
}

func (l *latency) needs() audit.Fields { return l.k.needs() | latencyNeeds }

func (l *latency) add(r *audit.Record) {
	i := l.b.index(r.Time)
	if i < 0 {
		return
	}
	sec, ok := latencySample(l.q, r)
	if !ok {
		return
	}
	l.k.each(r, func(key []byte) {
		s, ok := l.series[string(key)]
		if !ok {
			s = &latencySeries{samples: make([]samples, l.b.n)}
			l.series[string(key)] = s
		}
		s.n++
		s.samples[i].add(sec)
	})
}

// QuantileName names a quantile's series: p50, p99, p99.9.
func QuantileName(q float64) string {
	return "p" + strconv.FormatFloat(q*100, 'f', -1, 64)
}

func (l *latency) finish(res *Result) {
	out := &SeriesResult{Times: l.b.times(), Step: l.b.step, Unit: "s"}
	top, rest := topKeys(l.series, func(s *latencySeries) float64 { return float64(s.n) }, l.q.Limit)
	sketched := 0
	emit := func(labels []Label, cells []samples) {
		for i := range cells {
			if cells[i].sketched() {
				sketched++
			}
		}
		for _, qt := range l.q.Quantiles {
			vals := make([]float64, l.b.n)
			for i := range cells {
				v, ok := cells[i].quantile(qt)
				if !ok {
					v = math.NaN()
				}
				vals[i] = v
			}
			lb := append(slices.Clone(labels), Label{"quantile", strconv.FormatFloat(qt, 'f', -1, 64)})
			out.Series = append(out.Series, Series{Name: QuantileName(qt), Labels: lb, Values: vals})
		}
	}
	for _, key := range top {
		emit(l.k.labels(key), l.series[key].samples)
	}
	if len(rest) > 0 {
		merged := make([]samples, l.b.n)
		for _, key := range rest {
			for i := range l.series[key].samples {
				merged[i].merge(&l.series[key].samples[i])
			}
		}
		emit(l.k.otherLabels(), merged)
		res.Notices = append(res.Notices, Notice{Info, fmt.Sprintf("showing the top %d of %d series by request count; the other %d are merged as %q", len(top), len(top)+len(rest), len(rest), Other)})
	}
	if len(l.series) == 0 && len(l.k.dims) == 0 {
		emit(nil, make([]samples, l.b.n))
	}
	if sketched > 0 {
		res.Notices = append(res.Notices, sketchNotice(sketched, "bucket"))
	}
	res.Series = out
}

// HeatmapBounds are the upper bounds (seconds) of the latency heatmap's buckets; the last
// bucket is +Inf.
var HeatmapBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, math.Inf(1)}

// HeatmapResult counts requests per interval (rows) and latency bucket (columns).
type HeatmapResult struct {
	Times  []time.Time
	Step   time.Duration
	Bounds []float64
	Counts [][]float64 // Counts[bucket][interval]
}

type heatmap struct {
	q      *query.Query
	b      *buckets
	counts [][]float64
}

func newHeatmap(q *query.Query, b *buckets) *heatmap {
	counts := make([][]float64, len(HeatmapBounds))
	for i := range counts {
		counts[i] = make([]float64, b.n)
	}
	return &heatmap{q: q, b: b, counts: counts}
}

func (h *heatmap) needs() audit.Fields { return latencyNeeds }

func (h *heatmap) add(r *audit.Record) {
	i := h.b.index(r.Time)
	if i < 0 {
		return
	}
	sec, ok := latencySample(h.q, r)
	if !ok {
		return
	}
	j, _ := slices.BinarySearch(HeatmapBounds, sec) // first bound >= sec
	h.counts[j][i]++
}

func (h *heatmap) finish(res *Result) {
	res.Heatmap = &HeatmapResult{Times: h.b.times(), Step: h.b.step, Bounds: HeatmapBounds, Counts: h.counts}
}

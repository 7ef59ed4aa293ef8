package engine

import (
	"maps"
	"reflect"
	"unsafe"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// Partial aggregates: what an aggregator computed over one segment, kept in the Cache and added
// to the aggregators of later queries with absorb. absorb is merge that leaves its argument
// unchanged (merge may move the other's maps and slices into the receiver) and that moves
// bucketed values to the receiver's buckets: a kept partial was built for an earlier time range
// whose buckets start elsewhere, on the same step (the step is part of the cache key). A
// partial is used only for a range that holds the same events of its segment as the range it
// was built for (partial.fits), so every non-empty bucket maps into the receiver's range too.

// partialAgg is an aggregator whose state over a segment can be kept.
type partialAgg interface {
	aggregator
	// absorb adds p, an aggregator of the same query and step, without changing p.
	absorb(p aggregator)
	// cost is about how many bytes the aggregator holds.
	cost() int
}

// segmentAbsorber is a partialAgg whose result depends on the segment each partial came from,
// which a partial does not know (a rotation renames a cached segment): pipelineHealth's
// origin. The query's aggregator absorbs each partial as seg's (addPartial).
type segmentAbsorber interface {
	absorbSegment(seg source.Segment, p aggregator)
}

// unwrapCounter is a partialAgg that also keeps what the read of its segment counted besides
// its events: the lines by envelope format and the lines that were not events (scanSegment).
// It needs every line read, so no column index answers it (planIndex).
type unwrapCounter interface {
	unwrapped(lines formatLines, malformed int64)
}

var (
	_ partialAgg = (*timeseries)(nil)
	_ partialAgg = (*latency)(nil)
	_ partialAgg = (*heatmap)(nil)
	_ partialAgg = (*denied)(nil)
	_ partialAgg = (*matrix)(nil)
	_ partialAgg = (*topn)(nil)
	_ partialAgg = (*events)(nil)
	_ partialAgg = (*slowest)(nil)
	_ partialAgg = (*breakdownSeries)(nil)
	_ partialAgg = (*deprecated)(nil)
	_ partialAgg = (*history)(nil)
	_ partialAgg = (*detections)(nil)
)

// shift is how many buckets src's first bucket lies after dst's (both have the same step).
func shift(src, dst *buckets) int {
	return int(src.start.Sub(dst.start) / dst.step)
}

// addShifted adds src[i] to dst[i+off] for the non-zero values that fall inside dst.
func addShifted(dst, src []float64, off int) {
	for i, v := range src {
		if j := i + off; v != 0 && j >= 0 && j < len(dst) {
			dst[j] += v
		}
	}
}

const (
	floatBytes = 8
	mapEntry   = 48 // a map entry's overhead, about
)

func (t *timeseries) absorb(p aggregator) {
	o := p.(*timeseries)
	off := shift(o.b, t.b)
	for key, vals := range o.series {
		mine, ok := t.series[key]
		if !ok {
			mine = make([]float64, t.b.n)
			t.series[key] = mine
		}
		addShifted(mine, vals, off)
	}
}

func (t *timeseries) cost() int {
	c := 0
	for k, v := range t.series {
		c += mapEntry + len(k) + len(v)*floatBytes
	}
	return c
}

func (l *latency) absorb(p aggregator) {
	o := p.(*latency)
	off := shift(o.b, l.b)
	for key, theirs := range o.series {
		mine, ok := l.series[key]
		if !ok {
			mine = &latencySeries{samples: make([]samples, l.b.n)}
			l.series[key] = mine
		}
		mine.n += theirs.n
		for i := range theirs.samples {
			if j := i + off; theirs.samples[i].count() > 0 && j >= 0 && j < l.b.n {
				mine.samples[j].merge(&theirs.samples[i])
			}
		}
	}
}

func (l *latency) cost() int {
	c := 0
	for k, s := range l.series {
		c += mapEntry + len(k) + len(s.samples)*int(unsafe.Sizeof(samples{}))
		for i := range s.samples {
			c += s.samples[i].cost()
		}
	}
	return c
}

func (h *heatmap) absorb(p aggregator) {
	o := p.(*heatmap)
	off := shift(o.b, h.b)
	for j, row := range o.counts {
		addShifted(h.counts[j], row, off)
	}
}

func (h *heatmap) cost() int { return len(h.counts) * h.b.n * floatBytes }

func (s *breakdownSeries) absorb(p aggregator) {
	o := p.(*breakdownSeries)
	off := shift(o.b, s.b)
	addShifted(s.count, o.count, off)
	for c := range s.sums {
		addShifted(s.sums[c], o.sums[c], off)
	}
}

func (s *breakdownSeries) cost() int { return (len(s.sums) + 1) * s.b.n * floatBytes }

// The kept rows of tables are values that are never changed once kept (finish sorts the
// receiver's own heap), so largest.merge already leaves its argument unchanged.

func (d *denied) absorb(p aggregator) { d.keep.merge(&p.(*denied).keep) }
func (d *denied) cost() int {
	c := 0
	for _, r := range d.keep.items {
		c += int(unsafe.Sizeof(r)) + len(r.id) + len(r.item.User) + len(r.item.Groups) + len(r.item.Reason) + len(r.item.UserAgent) + 64
	}
	return c
}

func (e *events) absorb(p aggregator) { e.keep.merge(&p.(*events).keep) }
func (e *events) cost() int {
	c := 0
	for _, r := range e.keep.items {
		c += int(unsafe.Sizeof(r)) + len(r.id) + len(r.item)
	}
	return c
}

func (s *slowest) absorb(p aggregator) { s.keep.merge(&p.(*slowest).keep) }
func (s *slowest) cost() int {
	return len(s.keep.items) * (int(unsafe.Sizeof(ranked[SlowRequest]{})) + 11*floatBytes + 128)
}

func (h *history) absorb(p aggregator) { h.keep.merge(&p.(*history).keep) }
func (h *history) cost() int {
	c := 0
	for _, r := range h.keep.items {
		c += int(unsafe.Sizeof(r)) + len(r.id) + len(r.item.request) + len(r.item.response) + 128
	}
	return c
}

func (m *matrix) absorb(p aggregator) {
	for rk, theirs := range p.(*matrix).counts {
		mine, ok := m.counts[rk]
		if !ok {
			m.counts[rk] = maps.Clone(theirs)
			continue
		}
		for ck, n := range theirs {
			mine[ck] += n
		}
	}
}

func (m *matrix) cost() int {
	c := 0
	for rk, row := range m.counts {
		c += mapEntry + len(rk)
		for ck := range row {
			c += mapEntry + len(ck) + 8
		}
	}
	return c
}

func (t *topn) absorb(p aggregator) {
	for key, theirs := range p.(*topn).stats {
		mine, ok := t.stats[key]
		if !ok {
			mine = &topStats{}
			t.stats[key] = mine
		}
		mine.requests += theirs.requests
		mine.errors += theirs.errors
		mine.denied += theirs.denied
		mine.latencies.merge(&theirs.latencies)
	}
}

func (t *topn) cost() int {
	c := 0
	for k, s := range t.stats {
		c += mapEntry + len(k) + 48 + s.latencies.cost()
	}
	return c
}

func (d *deprecated) absorb(p aggregator) {
	for key, theirs := range p.(*deprecated).rows {
		mine, ok := d.rows[key]
		if !ok {
			mine = &deprecatedStats{}
			d.rows[key] = mine
		}
		mine.requests += theirs.requests
		if theirs.lastSeen.After(mine.lastSeen) {
			mine.lastSeen = theirs.lastSeen
		}
	}
}

func (d *deprecated) cost() int { return len(d.rows) * (mapEntry + 64) }

// Aggregators that read only indexed fields (audit.IndexedFields) and neither the line nor the
// auditID can be answered from a column index; columnar marks them. Tables that keep rows
// (denied, events, history, slowest) read the auditID or the line and are answered from JSON.

func (t *timeseries) columnar()      {}
func (l *latency) columnar()         {}
func (h *heatmap) columnar()         {}
func (m *matrix) columnar()          {}
func (t *topn) columnar()            {}
func (s *breakdownSeries) columnar() {}
func (d *deprecated) columnar()      {}

// Detections keep their state in a detect.Detector, whose Merge copies what it takes and
// leaves the other unchanged. Its buckets (timeseries format) are only used by finish, so
// there is nothing to move. The RBAC look-back history is read by Finish from the receiver's
// configuration, which is the current query's: a kept partial does not depend on it.
func (d *detections) absorb(p aggregator) { d.det.Merge(p.(*detections).det) }

func (d *detections) cost() int { return deepSize(reflect.ValueOf(d.det), map[uintptr]bool{}) }

// settle drops the detector's per-record scratch before the partial is kept or shared (it
// points at the last record and its line buffer).
func (d *detections) settle() { d.det.Release() }

// settle lets an aggregator drop what it only needs while adding, once a partial is formed.
func settle(a aggregator) {
	if s, ok := a.(interface{ settle() }); ok {
		s.settle()
	}
}

// deepSize is about how many bytes v holds, following pointers, slices, maps and strings once
// each (funcs and channels count as a word).
func deepSize(v reflect.Value, seen map[uintptr]bool) int {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return int(unsafe.Sizeof(uintptr(0)))
		}
		seen[v.Pointer()] = true
		return int(unsafe.Sizeof(uintptr(0))) + deepSize(v.Elem(), seen)
	case reflect.Interface:
		if v.IsNil() {
			return 16
		}
		return 16 + deepSize(v.Elem(), seen)
	case reflect.Struct:
		n := 0
		for i := range v.NumField() {
			n += deepSize(v.Field(i), seen)
		}
		return n
	case reflect.Array:
		n := 0
		for i := range v.Len() {
			n += deepSize(v.Index(i), seen)
		}
		return n
	case reflect.Slice:
		if v.IsNil() || seen[v.Pointer()] {
			return 24
		}
		seen[v.Pointer()] = true
		n := 24 + (v.Cap()-v.Len())*int(v.Type().Elem().Size())
		for i := range v.Len() {
			n += deepSize(v.Index(i), seen)
		}
		return n
	case reflect.Map:
		if v.IsNil() || seen[v.Pointer()] {
			return 8
		}
		seen[v.Pointer()] = true
		n := 48
		it := v.MapRange()
		for it.Next() {
			n += mapEntry + deepSize(it.Key(), seen) + deepSize(it.Value(), seen)
		}
		return n
	case reflect.String:
		return 16 + v.Len()
	default:
		return int(v.Type().Size())
	}
}

// Tables that keep rows read fields the index does not hold (the auditID, the line, bodies);
// wants says, from indexed fields alone, which events the table could keep, so that the index
// finds them and only their lines are read back from the file (see readBack).
type locator interface {
	wants(r *audit.Record) bool
}

func (d *denied) wants(r *audit.Record) bool  { return r.Code == 401 || r.Code == 403 }
func (h *history) wants(*audit.Record) bool   { return true }
func (e *events) wants(*audit.Record) bool    { return true }
func (s *slowest) wants(r *audit.Record) bool { _, ok := readBreakdown(s.q, r); return ok }

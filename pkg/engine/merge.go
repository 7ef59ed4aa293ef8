package engine

import "container/heap"

// Merges of per-worker aggregators. Results are independent of how lines were split among
// workers: sums are exact, samples are sorted before quantiles, and kept rows are ordered by
// (time, id).

func (t *timeseries) merge(other aggregator) {
	for key, vals := range other.(*timeseries).series {
		mine, ok := t.series[key]
		if !ok {
			t.series[key] = vals
			continue
		}
		for i, v := range vals {
			mine[i] += v
		}
	}
}

func (l *latency) merge(other aggregator) {
	for key, s := range other.(*latency).series {
		mine, ok := l.series[key]
		if !ok {
			l.series[key] = s
			continue
		}
		mine.n += s.n
		for i, sm := range s.samples {
			mine.samples[i] = append(mine.samples[i], sm...)
		}
	}
}

func (h *heatmap) merge(other aggregator) {
	for j, row := range other.(*heatmap).counts {
		for i, v := range row {
			h.counts[j][i] += v
		}
	}
}

func (n *newest[T]) merge(o *newest[T]) {
	n.total += o.total
	for _, x := range o.items {
		heap.Push(&n.items, x)
		if len(n.items) > n.limit {
			heap.Pop(&n.items)
		}
	}
}

func (d *denied) merge(other aggregator) { d.keep.merge(&other.(*denied).keep) }

func (e *events) merge(other aggregator) { e.keep.merge(&other.(*events).keep) }

func (m *matrix) merge(other aggregator) {
	for rk, row := range other.(*matrix).counts {
		mine, ok := m.counts[rk]
		if !ok {
			m.counts[rk] = row
			continue
		}
		for ck, n := range row {
			mine[ck] += n
		}
	}
}

func (t *topn) merge(other aggregator) {
	for key, s := range other.(*topn).stats {
		mine, ok := t.stats[key]
		if !ok {
			t.stats[key] = s
			continue
		}
		mine.requests += s.requests
		mine.errors += s.errors
		mine.denied += s.denied
		mine.latencies = append(mine.latencies, s.latencies...)
	}
}

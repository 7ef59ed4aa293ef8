package engine

import "container/heap"

// Merges of per-worker aggregators. Results are independent of how lines were split among
// workers: sums are exact, samples are sorted before quantiles, and kept rows are ordered by
// (time, id).

// mergeInto moves the entries of src that dst lacks and combines the others with add, which
// must update mine in place.
func mergeInto[V any](dst, src map[string]V, add func(mine, theirs V)) {
	for key, theirs := range src {
		if mine, ok := dst[key]; ok {
			add(mine, theirs)
		} else {
			dst[key] = theirs
		}
	}
}

func addFloats(mine, theirs []float64) {
	for i, v := range theirs {
		mine[i] += v
	}
}

func (t *timeseries) merge(other aggregator) {
	mergeInto(t.series, other.(*timeseries).series, addFloats)
}

func (l *latency) merge(other aggregator) {
	mergeInto(l.series, other.(*latency).series, func(mine, theirs *latencySeries) {
		mine.n += theirs.n
		for i := range theirs.samples {
			mine.samples[i].merge(&theirs.samples[i])
		}
	})
}

func (h *heatmap) merge(other aggregator) {
	for j, row := range other.(*heatmap).counts {
		addFloats(h.counts[j], row)
	}
}

func (n *largest[T]) merge(o *largest[T]) {
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
	mergeInto(m.counts, other.(*matrix).counts, func(mine, theirs map[string]int64) {
		for col, n := range theirs {
			mine[col] += n
		}
	})
}

func (t *topn) merge(other aggregator) {
	mergeInto(t.stats, other.(*topn).stats, func(mine, theirs *topStats) {
		mine.requests += theirs.requests
		mine.errors += theirs.errors
		mine.denied += theirs.denied
		mine.latencies.merge(&theirs.latencies)
	})
}

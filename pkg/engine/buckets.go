package engine

import (
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// niceSteps are the intervals series are bucketed by.
var niceSteps = []time.Duration{
	time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// maxBuckets bounds the buckets of one series whatever the request asks.
const maxBuckets = 11000

// buckets maps times to interval indexes.
type buckets struct {
	start    time.Time
	step     time.Duration
	n        int
	from, to time.Time
}

// Step picks the bucket interval: the panel's interval widened so the range holds at most
// maxDataPoints buckets, rounded up to a nice step.
func Step(from, to time.Time, interval time.Duration, maxDataPoints int64) time.Duration {
	if maxDataPoints <= 0 || maxDataPoints > maxBuckets {
		maxDataPoints = maxBuckets
	}
	span := to.Sub(from)
	want := max(interval, time.Duration(math.Ceil(float64(span)/float64(maxDataPoints))))
	for _, s := range niceSteps {
		if s >= want {
			return s
		}
	}
	days := (want + 24*time.Hour - 1) / (24 * time.Hour)
	return days * 24 * time.Hour
}

func newBuckets(req Request) *buckets {
	step := Step(req.From, req.To, req.Interval, req.MaxDataPoints)
	start := time.Unix(0, req.From.UnixNano()-mod(req.From.UnixNano(), int64(step))).UTC()
	n := int(req.To.Sub(start)/step) + 1
	return &buckets{start: start, step: step, n: n, from: req.From, to: req.To}
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

func (b *buckets) index(t time.Time) int {
	i := int(t.Sub(b.start) / b.step)
	if i < 0 || i >= b.n {
		return -1
	}
	return i
}

func (b *buckets) times() []time.Time {
	ts := make([]time.Time, b.n)
	for i := range ts {
		ts[i] = b.start.Add(time.Duration(i) * b.step)
	}
	return ts
}

// keyer builds series keys from groupBy dimensions. Keys join the values with a separator that
// cannot occur in them; multi-valued dimensions (user.groups) give one key per value.
type keyer struct {
	dims    []*query.Dimension
	buf     []byte
	scratch [16]byte
}

const keySep = '\x1f'

func newKeyer(names []string) *keyer {
	k := &keyer{}
	for _, n := range names {
		d, _ := query.LookupDimension(n)
		k.dims = append(k.dims, d)
	}
	return k
}

func (k *keyer) needs() audit.Fields {
	var f audit.Fields
	for _, d := range k.dims {
		f |= d.Needs
	}
	return f
}

// each calls fn with every key of r; the key is valid only during the call.
func (k *keyer) each(r *audit.Record, fn func(key []byte)) {
	k.buf = k.buf[:0]
	k.walk(r, 0, fn)
}

func (k *keyer) walk(r *audit.Record, i int, fn func([]byte)) {
	if i == len(k.dims) {
		fn(k.buf)
		return
	}
	mark := len(k.buf)
	k.dims[i].Each(r, k.scratch[:], func(v []byte) {
		k.buf = k.buf[:mark]
		if i > 0 {
			k.buf = append(k.buf, keySep)
		}
		k.buf = append(k.buf, v...)
		k.walk(r, i+1, fn)
	})
	k.buf = k.buf[:mark]
}

// Label is one dimension's value in a series.
type Label struct{ Name, Value string }

// None is shown for an empty dimension value.
const None = "(none)"

// Other names the series or axis value that sums everything beyond the limit.
const Other = "other"

func (k *keyer) labels(key string) []Label {
	if len(k.dims) == 0 {
		return nil
	}
	parts := strings.Split(key, string(keySep))
	out := make([]Label, len(k.dims))
	for i, d := range k.dims {
		v := parts[i]
		if v == "" {
			v = None
		}
		out[i] = Label{d.Name, v}
	}
	return out
}

func (k *keyer) otherLabels() []Label {
	out := make([]Label, len(k.dims))
	for i, d := range k.dims {
		out[i] = Label{d.Name, Other}
	}
	return out
}

// topKeys orders keys by weight descending, ties by key, and splits at limit.
func topKeys[V any](m map[string]V, weight func(V) float64, limit int) (top, rest []string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		wi, wj := weight(m[keys[i]]), weight(m[keys[j]])
		if wi != wj {
			return wi > wj
		}
		return keys[i] < keys[j]
	})
	if limit > 0 && len(keys) > limit {
		return keys[:limit], keys[limit:]
	}
	return keys, nil
}

func topValues(counts map[string]int64, limit int) []ValueCount {
	top, _ := topKeys(counts, func(c int64) float64 { return float64(c) }, limit)
	out := make([]ValueCount, len(top))
	for i, k := range top {
		out[i] = ValueCount{k, counts[k]}
	}
	return out
}

// quantile returns the nearest-rank quantile of sorted values: the smallest value v with at
// least q·n values <= v.
func quantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	rank := int(math.Ceil(q*float64(n) - 1e-9))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// Quantile is the nearest-rank quantile of values (sorted in place). ok is false for none.
func Quantile(values []float64, q float64) (float64, bool) {
	if len(values) == 0 {
		return 0, false
	}
	if !slices.IsSorted(values) {
		slices.Sort(values)
	}
	return quantile(values, q), true
}

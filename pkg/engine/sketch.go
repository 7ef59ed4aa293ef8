package engine

import (
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// ExactSamples is how many latency samples one cell (a series' bucket, a topn group) keeps
// exactly. Up to that count its quantiles are exact nearest-rank values; past it the cell
// becomes a DDSketch with SketchAccuracy relative error, so a query's memory is bounded by
// its cells, not by how many requests its range holds.
const ExactSamples = 4096

// SketchAccuracy is the relative error of a cell's quantiles once it holds more than
// ExactSamples samples: the value reported lies within 1 % of the exact nearest-rank value.
const SketchAccuracy = 0.01

// samples holds one cell's latencies: exactly while there are at most ExactSamples of them,
// then as a DDSketch. The switch depends only on the cell's count, and a sketch's bins do not
// depend on the order values arrive in, so merging the partials of a range's segments gives
// the same answer as one scan of the range.
type samples struct {
	exact  []float64
	sketch *ddsketch.DDSketch
}

// newSketch is a DDSketch of SketchAccuracy whose bins are found without a logarithm (the
// cubically interpolated mapping: the same accuracy guarantee, with a few more bins than the
// logarithmic one), since merging a day of cached cells adds every exact sample of each into
// the merged sketch.
func newSketch() *ddsketch.DDSketch {
	m, err := mapping.NewCubicallyInterpolatedMapping(SketchAccuracy)
	if err != nil { // only for an accuracy outside (0, 1)
		panic(err)
	}
	return ddsketch.NewDDSketch(m, store.NewDenseStore(), store.NewDenseStore())
}

// add records one latency (seconds, ≥ 0).
func (s *samples) add(v float64) {
	if s.sketch != nil {
		_ = s.sketch.Add(v) // errors only for values past the mapping's range (~1e300 s)
		return
	}
	s.exact = append(s.exact, v)
	if len(s.exact) > ExactSamples {
		s.toSketch()
	}
}

func (s *samples) toSketch() {
	s.sketch = newSketch()
	for _, v := range s.exact {
		_ = s.sketch.Add(v)
	}
	s.exact = nil
}

// standFor makes s the one sample v in place of a cell of n samples whose quantile is v's: held
// exactly up to ExactSamples, as such a cell is, else in a sketch, whose answer is v's bin.
func (s *samples) standFor(v float64, n int) {
	if n > ExactSamples {
		s.sketch, s.exact = newSketch(), nil
		_ = s.sketch.Add(v)
		return
	}
	s.sketch, s.exact = nil, []float64{v}
}

// merge adds o's samples; o is not changed.
func (s *samples) merge(o *samples) {
	switch {
	case o.sketch != nil && s.sketch == nil:
		exact := s.exact
		s.sketch, s.exact = o.sketch.Copy(), nil
		for _, v := range exact {
			_ = s.sketch.Add(v)
		}
	case o.sketch != nil:
		_ = s.sketch.MergeWith(o.sketch)
	default:
		for _, v := range o.exact {
			s.add(v)
		}
	}
}

// count is the number of samples.
func (s *samples) count() int {
	if s.sketch != nil {
		return int(s.sketch.GetCount())
	}
	return len(s.exact)
}

// sketched reports whether the cell's quantiles are estimates.
func (s *samples) sketched() bool { return s.sketch != nil }

// quantile is the nearest-rank q-quantile: exact, or within SketchAccuracy of it once the
// cell is a sketch. ok is false when the cell is empty.
func (s *samples) quantile(q float64) (float64, bool) {
	if s.sketch == nil {
		return Quantile(s.exact, q)
	}
	n := s.sketch.GetCount()
	if n == 0 {
		return 0, false
	}
	// DDSketch answers for the element at 0-based rank q·(n−1); ask for the element that
	// the nearest-rank definition picks, ⌈q·n⌉ (1-based), aiming at the middle of its rank
	// so rounding cannot land on a neighbour.
	rank := min(max(math.Ceil(q*n-1e-9), 1), n) - 1
	at := 0.0
	if n > 1 {
		at = min((rank+0.5)/(n-1), 1)
	}
	v, err := s.sketch.GetValueAtQuantile(at)
	if err != nil {
		return 0, false
	}
	return v, true
}

// cost estimates the cell's memory in bytes.
func (s *samples) cost() int {
	if s.sketch == nil {
		return cap(s.exact) * floatBytes
	}
	bins := 0
	if st := s.sketch.GetPositiveValueStore(); !st.IsEmpty() {
		lo, _ := st.MinIndex()
		hi, _ := st.MaxIndex()
		bins = hi - lo + 1
	}
	return 128 + bins*floatBytes
}

// sketchNotice says how many cells' quantiles are estimates.
func sketchNotice(cells int, what string) Notice {
	plural := "s"
	if cells == 1 {
		plural = ""
	}
	return Notice{Info, fmt.Sprintf("quantiles of %d %s%s are estimated within %g %% (DDSketch): each held more than %d latency samples, the count kept exactly",
		cells, what, plural, SketchAccuracy*100, ExactSamples)}
}

package engine

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestOneSampleCellEqualsRaw: the cell topNRankP99 builds from the latency at p99Rank (the one
// sample, or that sample in a sketch past ExactSamples) answers the p99 the raw cell of every
// latency answers, for counts around the sketch switch, ties, zeros and a long tail.
func TestOneSampleCellEqualsRaw(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 99, 100, 101, 199, 1000, 4095, 4096, 4097, 5000, 12345} {
		for trial := range 4 {
			lats := make([]time.Duration, n)
			for i := range lats {
				switch trial {
				case 0: // microseconds, few distinct values: ties
					lats[i] = time.Duration(rng.IntN(50)) * time.Millisecond
				case 1: // a long tail
					lats[i] = time.Duration(rng.ExpFloat64() * float64(20*time.Millisecond))
				case 2: // zeros and nanoseconds
					lats[i] = time.Duration(rng.IntN(3))
				default:
					lats[i] = time.Duration(rng.Int64N(int64(time.Minute)))
				}
			}
			var raw samples
			for _, l := range lats {
				raw.add(l.Seconds())
			}
			want, _ := raw.quantile(topNQuantile)
			sorted := slices.Clone(lats)
			slices.Sort(sorted)
			at := sorted[p99Rank(n)]
			var one samples
			if n > ExactSamples {
				one.sketch = newSketch()
				_ = one.sketch.Add(at.Seconds())
			} else {
				one.exact = []float64{at.Seconds()}
			}
			got, _ := one.quantile(topNQuantile)
			if got != want || one.sketched() != raw.sketched() {
				t.Errorf("n=%d trial %d: one-sample cell %v (sketched %v), raw %v (sketched %v)", n, trial, got, one.sketched(), want, raw.sketched())
			}
		}
	}
}

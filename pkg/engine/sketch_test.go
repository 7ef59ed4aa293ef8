package engine

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// lognormal latencies, as API servers show them: most requests take milliseconds, a tail
// takes seconds.
func latencies(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Exp(r.NormFloat64()*1.5 - 4)
	}
	return out
}

func nearestRank(values []float64, q float64) float64 {
	s := slices.Clone(values)
	slices.Sort(s)
	return quantile(s, q)
}

var testQuantiles = []float64{0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1}

func TestSamplesExactUpToTheLimit(t *testing.T) {
	values := latencies(ExactSamples, 7)
	var s samples
	for _, v := range values {
		s.add(v)
	}
	if s.sketched() {
		t.Fatalf("%d samples became a sketch; the limit is %d", ExactSamples, ExactSamples)
	}
	for _, q := range testQuantiles {
		got, ok := s.quantile(q)
		if want := nearestRank(values, q); !ok || got != want {
			t.Errorf("q%g = %v, want exactly %v", q, got, want)
		}
	}
	s.add(0.5)
	if !s.sketched() || s.count() != ExactSamples+1 {
		t.Fatalf("one more sample: sketched=%v count=%d", s.sketched(), s.count())
	}
}

func TestSketchWithinItsAccuracy(t *testing.T) {
	for _, n := range []int{ExactSamples + 1, 10_000, 200_000} {
		values := latencies(n, uint64(n))
		values[0] = 0 // a zero latency (the same second) is a sample too
		var s samples
		for _, v := range values {
			s.add(v)
		}
		if !s.sketched() {
			t.Fatalf("n=%d: not a sketch", n)
		}
		for _, q := range testQuantiles {
			got, _ := s.quantile(q)
			want := nearestRank(values, q)
			if err := math.Abs(got-want) / want; err > SketchAccuracy {
				t.Errorf("n=%d q%g = %v, exact %v: relative error %.4f > %g", n, q, got, want, err, SketchAccuracy)
			}
		}
		if c := s.cost(); c > 64<<10 {
			t.Errorf("n=%d: a sketch costs %d bytes", n, c)
		}
	}
}

// The cells of a range split across segments, merged in any order, answer as one cell that
// saw every value: exact below the limit, the same sketch above it.
func TestSamplesMergeAsOneScan(t *testing.T) {
	for _, n := range []int{3000, 6000, 50_000} {
		values := latencies(n, 3)
		var whole samples
		for _, v := range values {
			whole.add(v)
		}
		cuts := []int{0, n / 7, n / 3, n / 2, n - 1, n}
		parts := make([]samples, len(cuts)-1)
		for i := range parts {
			for _, v := range values[cuts[i]:cuts[i+1]] {
				parts[i].add(v)
			}
		}
		for _, order := range [][]int{{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 0, 4, 1, 3}} {
			var merged samples
			for _, i := range order {
				before := parts[i].count()
				merged.merge(&parts[i])
				if parts[i].count() != before {
					t.Fatal("merge changed its argument")
				}
			}
			if merged.count() != n || merged.sketched() != whole.sketched() {
				t.Fatalf("n=%d: merged count %d sketched %v, want %d %v", n, merged.count(), merged.sketched(), n, whole.sketched())
			}
			for _, q := range testQuantiles {
				a, _ := merged.quantile(q)
				b, _ := whole.quantile(q)
				if a != b {
					t.Errorf("n=%d order %v q%g: merged %v, one scan %v", n, order, q, a, b)
				}
			}
		}
	}
}

func TestEmptySamples(t *testing.T) {
	var s samples
	if _, ok := s.quantile(0.5); ok {
		t.Error("an empty cell has a quantile")
	}
	var big samples
	for _, v := range latencies(ExactSamples+10, 1) {
		big.add(v)
	}
	s.merge(&big)
	if !s.sketched() || s.count() != ExactSamples+10 {
		t.Errorf("merging a sketch into an empty cell: %v %d", s.sketched(), s.count())
	}
}

// BenchmarkSamplesAdd measures recording one latency, exact and once a sketch.
func BenchmarkSamplesAdd(b *testing.B) {
	values := latencies(1<<16, 9)
	b.Run("exact", func(b *testing.B) {
		var s samples
		for i := 0; b.Loop(); i++ {
			if i%ExactSamples == 0 {
				s = samples{}
			}
			s.add(values[i&(1<<16-1)])
		}
	})
	b.Run("sketch", func(b *testing.B) {
		var s samples
		for _, v := range values[:ExactSamples+1] {
			s.add(v)
		}
		for i := 0; b.Loop(); i++ {
			s.add(values[i&(1<<16-1)])
		}
	})
}

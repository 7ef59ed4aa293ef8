package engine

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
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

// rankingLines counts by verb and code and ranks latencies by verb, the way Loki does at the
// source: independently of the engine, by decoding its lines with encoding/json. inexact makes
// LatencyAtRank refuse.
type rankingLines struct {
	lines
	inexact string
	ranked  int // calls to LatencyAtRank
}

type rankEvent struct {
	Verb, Stage                              string
	StageTimestamp, RequestReceivedTimestamp time.Time
	ResponseStatus                           struct{ Code int }
}

func (c *rankingLines) events(req source.CountRequest) []rankEvent {
	var out []rankEvent
	for _, l := range c.lines {
		var e rankEvent
		if json.Unmarshal([]byte(l), &e) == nil && (e.Stage == "ResponseComplete" || e.Stage == "Panic") &&
			!e.StageTimestamp.Before(req.From) && !e.StageTimestamp.After(req.To) {
			out = append(out, e)
		}
	}
	return out
}

func (c *rankingLines) CanCount(_ query.Filter, groupBy []string) (bool, string) {
	return slices.Equal(groupBy, []string{"verb", "responseStatus.code"}), "only verb"
}

func (c *rankingLines) PreferCount(context.Context, source.CountRequest) bool { return true }

func (c *rankingLines) Count(_ context.Context, req source.CountRequest) (*source.CountResult, error) {
	n := map[[2]string]float64{}
	for _, e := range c.events(req) {
		n[[2]string{e.Verb, strconv.Itoa(e.ResponseStatus.Code)}]++
	}
	res := &source.CountResult{}
	for k, v := range n {
		counts := make([]float64, req.N)
		counts[0] = v
		res.Series = append(res.Series, source.CountSeries{Values: k[:], Counts: counts})
	}
	return res, nil
}

func (c *rankingLines) LatencyAtRank(_ context.Context, req source.CountRequest, _ bool, groups [][]string, rank func(int) int) (*source.LatencyRanks, error) {
	c.ranked++
	res := &source.LatencyRanks{N: make([]int, len(groups)), At: make([]time.Duration, len(groups)), Requests: 1, Inexact: c.inexact}
	for i, g := range groups {
		var lats []time.Duration
		for _, e := range c.events(req) {
			if d := e.StageTimestamp.Sub(e.RequestReceivedTimestamp); e.Verb == g[0] && e.Verb != "watch" && d >= 0 {
				lats = append(lats, d)
			}
		}
		slices.Sort(lats)
		if res.N[i] = len(lats); len(lats) > 0 {
			res.At[i] = lats[rank(len(lats))]
		}
	}
	return res, nil
}

// TestTopNRankedEqualsRaw: a counted topn takes its p99 column from a source.LatencyRanker
// and equals the raw answer; when the ranker cannot answer exactly, the p99 comes from raw
// lines with a notice saying why, and still equals the raw answer.
func TestTopNRankedEqualsRaw(t *testing.T) {
	var ls lines
	for i := range 300 {
		verb := []string{"get", "list", "watch", "delete"}[i%4]
		ls = append(ls, ev{at: time.Duration(i) * 7 * time.Second, latency: time.Duration(i%37) * time.Millisecond, verb: verb, user: "u", code: []int{200, 403, 500}[i%3]}.line())
	}
	for _, inexact := range []string{"", "a timestamp LogQL may misread"} {
		src := &rankingLines{lines: ls, inexact: inexact}
		const js = `"queryType":"topn","groupBy":["verb"],"limit":3`
		pushed := run(t, src, `{`+js+`,"sourceMode":"pushdown"}`, time.Minute)
		raw := run(t, src, `{`+js+`,"sourceMode":"raw"}`, time.Minute)
		if diff := cmp.Diff(raw.TopN, pushed.TopN); diff != "" {
			t.Errorf("inexact %q: pushdown != raw (-raw +pushdown):\n%s", inexact, diff)
		}
		if !slices.ContainsFunc(raw.TopN.Rows, func(r TopNRow) bool { return r.HasP99 && r.P99 > 0 }) {
			t.Fatalf("no p99 in %+v", raw.TopN.Rows)
		}
		if src.ranked != 1 {
			t.Errorf("inexact %q: LatencyAtRank called %d times", inexact, src.ranked)
		}
		fellBack := slices.ContainsFunc(pushed.Notices, func(n Notice) bool { return n.Text == "the p99 latency is computed from raw lines: "+inexact })
		byRanker := slices.ContainsFunc(pushed.Notices, func(n Notice) bool { return strings.Contains(n.Text, "p99 latency by the source") })
		if fellBack != (inexact != "") || byRanker != (inexact == "") {
			t.Errorf("inexact %q: notices %v", inexact, pushed.Notices)
		}
		if inexact == "" && pushed.Stats.Source.LinesRead != 0 {
			t.Errorf("ranked, yet %d raw lines read", pushed.Stats.Source.LinesRead)
		}
	}
}

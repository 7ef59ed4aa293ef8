package engine_test

import (
	"cmp"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
)

// TestSegmentsTopNSortBy: a topn query sorted by p99, errors or denied keeps the top N of every
// group by that order, not the N busiest re-sorted, and it is the same raw, through the segment
// cache (partials of each rotated file merged) and through the column index.
func TestSegmentsTopNSortBy(t *testing.T) {
	r := indexedRunner(t)
	from, to := segStart.Add(-time.Minute), segStart.Add(4*time.Hour)
	const group = `"groupBy":["verb","objectRef.resource"]`

	// Every group, by requests: the reference the sorted answers are checked against.
	all := r.run(`{"queryType":"topn",`+group+`,"limit":1000}`, from, to, nil).TopN.Rows
	if len(all) < 40 {
		t.Fatalf("only %d groups", len(all))
	}
	key := func(row engine.TopNRow) string { return strings.Join(row.Values, "/") }
	weights := map[string]func(engine.TopNRow) float64{
		"p99": func(row engine.TopNRow) float64 {
			if !row.HasP99 {
				return math.Inf(-1)
			}
			return row.P99
		},
		"errors": func(row engine.TopNRow) float64 { return float64(row.Errors) },
		"denied": func(row engine.TopNRow) float64 { return float64(row.Denied) },
	}
	const limit = 10
	for sortBy, w := range weights {
		want := slices.Clone(all)
		slices.SortFunc(want, func(a, b engine.TopNRow) int {
			return cmp.Or(cmp.Compare(w(b), w(a)), cmp.Compare(b.Requests, a.Requests), strings.Compare(key(a), key(b)))
		})
		want = want[:limit]

		raw := `{"queryType":"topn",` + group + `,"sortBy":"` + sortBy + `","limit":10}`
		got := r.run(raw, from, to, nil)
		if d := diffRows(want, got.TopN.Rows); d != "" {
			t.Errorf("%s raw: %s", sortBy, d)
		}
		if !slices.ContainsFunc(got.Notices, func(n engine.Notice) bool { return strings.HasSuffix(n.Text, "values by "+sortBy) }) {
			t.Errorf("%s: no notice naming the order: %v", sortBy, got.Notices)
		}
		cold := r.run(raw, from, to, r.cache)
		warm := r.run(raw, from, to, r.cache)
		resultsEqual(t, sortBy+" cold", got, cold)
		resultsEqual(t, sortBy+" warm", got, warm)
		if warm.Stats.Segments.Total < 5 || warm.Stats.Segments.Cached+warm.Stats.Segments.Indexed != warm.Stats.Segments.Total {
			t.Errorf("%s warm: want every segment from the cache or the index: %+v", sortBy, warm.Stats.Segments)
		}
	}

	// The point of sorting before the cut: the slowest kinds are not all among the busiest.
	busiest := map[string]bool{}
	for _, row := range all[:limit] {
		busiest[key(row)] = true
	}
	slowest := r.run(`{"queryType":"topn",`+group+`,"sortBy":"p99","limit":10}`, from, to, nil).TopN.Rows
	if !slices.ContainsFunc(slowest, func(row engine.TopNRow) bool { return !busiest[key(row)] }) {
		t.Errorf("the 10 slowest kinds are the 10 busiest: the log does not tell the orders apart")
	}
}

func diffRows(want, got []engine.TopNRow) string {
	if len(want) != len(got) {
		return fmt.Sprintf("got %d rows, want %d", len(got), len(want))
	}
	var b strings.Builder
	for i := range want {
		if w, g := want[i], got[i]; !reflect.DeepEqual(w, g) {
			fmt.Fprintf(&b, "\n row %d: got %+v, want %+v", i, g, w)
		}
	}
	return b.String()
}

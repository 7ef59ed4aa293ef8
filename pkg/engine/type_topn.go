package engine

import (
	"cmp"
	"math"
	"slices"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// topn: the top groups by requests, errors, denials or p99 (the query's sortBy).
func init() {
	registerType(query.TypeTopN, &typeEngine{
		plan: aggregate(func(req Request) func() aggregator {
			return func() aggregator { return newTopN(req.Query) }
		}),
	})
}

// topNOrder ranks every group of a topn query by sortBy, the highest first, and splits the
// ranking at limit. Ties go to the group with more requests, then to the smaller key. By p99,
// groups without a latency (only long-running requests) come last. It ranks the merged state of
// all segments, which holds every group, so the top N is the same however the range was split.
func topNOrder(stats map[string]*topStats, sortBy string, limit int) (top, rest []string) {
	weight := func(s *topStats) float64 {
		switch sortBy {
		case query.SortErrors:
			return float64(s.errors)
		case query.SortDenied:
			return float64(s.denied)
		case query.SortP99:
			if p, ok := s.latencies.quantile(0.99); ok {
				return p
			}
			return math.Inf(-1)
		}
		return float64(s.requests)
	}
	type ranked struct {
		key      string
		w        float64
		requests int64
	}
	rs := make([]ranked, 0, len(stats))
	for k, s := range stats {
		rs = append(rs, ranked{k, weight(s), s.requests})
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(b.w, a.w), cmp.Compare(b.requests, a.requests), cmp.Compare(a.key, b.key))
	})
	keys := make([]string, len(rs))
	for i, r := range rs {
		keys[i] = r.key
	}
	if limit > 0 && len(keys) > limit {
		return keys[:limit], keys[limit:]
	}
	return keys, nil
}

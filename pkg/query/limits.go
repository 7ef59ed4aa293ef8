package query

import "fmt"

// ModelLimits bound what one query may ask, whatever its type, so that a crafted or mistaken
// query is an error naming the numbers before anything is allocated for it. GET /schema
// serves them. The per-type limit on rows, series or findings is TypeSpec.Limits.
type ModelLimits struct {
	// MaxQueryBytes bounds the query's JSON.
	MaxQueryBytes int `json:"maxQueryBytes"`
	// MaxQuantiles bounds the quantiles of a latency query (one series each per group).
	MaxQuantiles int `json:"maxQuantiles"`
	// MaxGroupBy bounds the dimensions of groupBy (keys multiply with each).
	MaxGroupBy int `json:"maxGroupBy"`
	// MaxFilterValues bounds the values of each filter list and allow-list (a variable's
	// All of a large cluster's namespaces fits).
	MaxFilterValues int `json:"maxFilterValues"`
	// MaxBuckets bounds the intervals of a series: the interval is widened (as Grafana
	// widens it to maxDataPoints) so the range holds at most this many (the engine's bound).
	MaxBuckets int `json:"maxBuckets"`
}

// QueryLimits are the limits Parse enforces.
var QueryLimits = ModelLimits{
	MaxQueryBytes:   1 << 20,
	MaxQuantiles:    16,
	MaxGroupBy:      5,
	MaxFilterValues: 10_000,
	MaxBuckets:      11_000,
}

func tooMany(what string, n, maxN int) error {
	return errorf("%s: %d is more than the maximum of %d", what, n, maxN)
}

// checkSize rejects a query JSON above MaxQueryBytes, before it is decoded.
func checkSize(raw []byte) error {
	if n := len(raw); n > QueryLimits.MaxQueryBytes {
		return errorf("query JSON is %d bytes, more than the maximum of %d (%s)", n, QueryLimits.MaxQueryBytes, formatBytes(QueryLimits.MaxQueryBytes))
	}
	return nil
}

// checkLists rejects lists longer than the limits: groupBy, each filter field, the
// detections' rules, severities and allow-lists.
func (q *Query) checkLists() error {
	if n := len(q.GroupBy); n > QueryLimits.MaxGroupBy {
		return tooMany("groupBy dimensions", n, QueryLimits.MaxGroupBy)
	}
	for _, ff := range FilterFields {
		if n := len(ff.Values(&q.Filter)); n > QueryLimits.MaxFilterValues {
			return tooMany("filter."+ff.Key+" values", n, QueryLimits.MaxFilterValues)
		}
	}
	lists := []struct {
		name string
		l    StringList
	}{{"rules", q.Rules}, {"severities", q.Severities}}
	if a := q.Allow; a != nil {
		lists = append(lists, []struct {
			name string
			l    StringList
		}{{"allow.users", a.Users}, {"allow.groups", a.Groups}, {"allow.namespaces", a.Namespaces}, {"allow.images", a.Images}, {"allow.sourceNetworks", a.SourceNetworks}}...)
	}
	for _, l := range lists {
		if len(l.l) > QueryLimits.MaxFilterValues {
			return tooMany(l.name+" values", len(l.l), QueryLimits.MaxFilterValues)
		}
	}
	return nil
}

func formatBytes(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

package engine

import "github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"

// latencyBreakdown: the slowest requests (table), or the mean time per component per bucket.
func init() {
	registerType(query.TypeLatencyBreakdown, &typeEngine{
		plan: aggregate(func(req Request) func() aggregator {
			q := req.Query
			if q.Format == query.FormatTable {
				return func() aggregator { return newSlowest(q) }
			}
			b := newBuckets(req)
			return func() aggregator { return newBreakdownSeries(q, b) }
		}),
		bucketed: notTable,
	})
}

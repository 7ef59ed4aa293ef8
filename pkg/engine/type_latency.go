package engine

import "github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"

// latency: exact quantiles per bucket, or a heatmap of latency buckets.
func init() {
	registerType(query.TypeLatency, &typeEngine{
		plan: aggregate(func(req Request) func() aggregator {
			q, b := req.Query, newBuckets(req)
			if q.Format == query.FormatHeatmap {
				return func() aggregator { return newHeatmap(q, b) }
			}
			return func() aggregator { return newLatency(q, b) }
		}),
		bucketed: always,
	})
}

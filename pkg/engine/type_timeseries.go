package engine

import "github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"

// timeseries: counts per bucket and series (sources that count may answer it first, see
// pushdown).
func init() {
	registerType(query.TypeTimeSeries, &typeEngine{
		plan: aggregate(func(req Request) func() aggregator {
			b := newBuckets(req)
			return func() aggregator { return newTimeSeries(req.Query, b) }
		}),
		bucketed: always,
	})
}

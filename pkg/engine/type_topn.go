package engine

import "github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"

// topn: the top groups by requests.
func init() {
	registerType(query.TypeTopN, &typeEngine{
		plan: aggregate(func(req Request) func() aggregator {
			return func() aggregator { return newTopN(req.Query) }
		}),
	})
}

package engine

import "github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"

// denied: every 401/403 request, newest first.
func init() {
	registerType(query.TypeDenied, &typeEngine{
		plan: aggregate(func(req Request) func() aggregator {
			return func() aggregator { return newDenied(req.Query) }
		}),
	})
}

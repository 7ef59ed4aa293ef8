package engine

import "github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"

// matrix: request counts of rows against columns.
func init() {
	registerType(query.TypeMatrix, &typeEngine{
		plan: aggregate(func(req Request) func() aggregator {
			return func() aggregator { return newMatrix(req.Query) }
		}),
	})
}

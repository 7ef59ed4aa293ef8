package engine

import "github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"

// objectHistory: the actions on an object, with what they changed.
func init() {
	registerType(query.TypeObjectHistory, &typeEngine{
		plan: aggregate(func(req Request) func() aggregator {
			return func() aggregator { return newHistory(req.Query) }
		}),
	})
}

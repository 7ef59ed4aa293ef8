package engine

import "github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"

// events: the newest matching events.
func init() {
	registerType(query.TypeEvents, &typeEngine{
		plan: aggregate(func(req Request) func() aggregator {
			return func() aggregator { return newEvents(req.Query) }
		}),
	})
}

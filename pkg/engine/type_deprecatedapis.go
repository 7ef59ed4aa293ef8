package engine

import "github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"

// deprecatedApis: requests to deprecated APIs per group.
func init() {
	registerType(query.TypeDeprecatedAPIs, &typeEngine{
		plan: aggregate(func(req Request) func() aggregator {
			return func() aggregator { return newDeprecated(req.Query) }
		}),
	})
}

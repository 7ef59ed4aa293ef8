package engine

import "github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"

// pipelineHealth: events per origin; it reads the source itself (see runPipeline).
func init() {
	registerType(query.TypePipelineHealth, &typeEngine{run: runPipeline})
}

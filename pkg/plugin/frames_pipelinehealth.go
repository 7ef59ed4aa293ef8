package plugin

import (
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// pipelineHealth: a table per origin, or events per second per origin.
func init() {
	registerFrames(query.TypePipelineHealth, func(_ *query.Query, r *engine.Result) *data.Frame {
		if r.Pipeline != nil {
			return pipelineFrame(r.Pipeline)
		}
		return labelledSeries(r)
	})
}

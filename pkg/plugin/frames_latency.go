package plugin

import (
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// latency: percentiles as a wide time series, or a heatmap-rows frame of latency buckets.
func init() {
	registerFrames(query.TypeLatency, func(_ *query.Query, r *engine.Result) *data.Frame {
		if r.Heatmap != nil {
			return heatmapFrame(r.Heatmap)
		}
		return labelledSeries(r)
	})
}

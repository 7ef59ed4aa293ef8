package plugin

import (
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// latencyBreakdown: the mean time per component as a wide time series, or the slowest requests.
func init() {
	registerFrames(query.TypeLatencyBreakdown, func(_ *query.Query, r *engine.Result) *data.Frame {
		if r.Slowest != nil {
			return slowestFrame(r.Slowest)
		}
		return labelledSeries(r)
	})
}

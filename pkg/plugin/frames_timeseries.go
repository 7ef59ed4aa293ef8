package plugin

import (
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// timeseries: one wide frame of counts or rates, a field per series, each with its legend.
func init() {
	registerFrames(query.TypeTimeSeries, func(_ *query.Query, r *engine.Result) *data.Frame {
		return labelledSeries(r)
	})
}

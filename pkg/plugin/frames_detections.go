package plugin

import (
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// detections: a table of findings, or findings per interval as a wide time series.
func init() {
	registerFrames(query.TypeDetections, func(_ *query.Query, r *engine.Result) *data.Frame {
		if r.Detections != nil {
			return findingsFrame(r.Detections)
		}
		return series(r)
	})
}

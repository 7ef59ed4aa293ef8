package plugin

import (
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// topn: a table, one row per group, by requests.
func init() {
	registerFrames(query.TypeTopN, func(_ *query.Query, r *engine.Result) *data.Frame {
		if r.TopN == nil {
			return nil
		}
		return topNFrame(r.TopN)
	})
}

package plugin

import (
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// objectHistory: a table of the actions on an object, oldest first.
func init() {
	registerFrames(query.TypeObjectHistory, func(_ *query.Query, r *engine.Result) *data.Frame {
		if r.History == nil {
			return nil
		}
		return historyFrame(r.History)
	})
}

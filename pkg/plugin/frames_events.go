package plugin

import (
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// events: log lines (logs format) or a table of typed columns (table format).
func init() {
	registerFrames(query.TypeEvents, func(q *query.Query, r *engine.Result) *data.Frame {
		switch {
		case r.Events == nil:
			return nil
		case q.Format == query.FormatTable:
			return eventsTableFrame(r.Events)
		}
		return logsFrame(r.Events)
	})
}

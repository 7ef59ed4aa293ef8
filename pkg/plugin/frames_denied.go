package plugin

import (
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// denied: a table of 401/403 requests, newest first.
func init() {
	registerFrames(query.TypeDenied, func(_ *query.Query, r *engine.Result) *data.Frame {
		if r.Denied == nil {
			return nil
		}
		return deniedFrame(r.Denied)
	})
}

package plugin

import (
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// deprecatedApis: a table of deprecated API calls per group.
func init() {
	registerFrames(query.TypeDeprecatedAPIs, func(_ *query.Query, r *engine.Result) *data.Frame {
		if r.Deprecated == nil {
			return nil
		}
		return deprecatedFrame(r.Deprecated)
	})
}

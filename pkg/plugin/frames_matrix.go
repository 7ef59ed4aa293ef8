package plugin

import (
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// matrix: a table of the rows dimension against the columns dimension.
func init() {
	registerFrames(query.TypeMatrix, func(_ *query.Query, r *engine.Result) *data.Frame {
		if r.Matrix == nil {
			return nil
		}
		return matrixFrame(r.Matrix)
	})
}

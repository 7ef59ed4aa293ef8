package plugin

import (
	"fmt"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// frameBuilder turns the result of one query type into its frame (docs/query-model.md); nil
// when the result holds nothing the type answers with.
type frameBuilder func(q *query.Query, r *engine.Result) *data.Frame

// frameBuilders holds the builder of each query type, registered from its file
// (frames_<name>.go).
var frameBuilders = map[query.Type]frameBuilder{}

func registerFrames(t query.Type, b frameBuilder) {
	if _, dup := frameBuilders[t]; dup {
		panic(fmt.Sprintf("plugin: frames of query type %q registered twice", t))
	}
	frameBuilders[t] = b
}

// buildFrame is the frame of a result: the query type's, or an empty frame.
func buildFrame(q *query.Query, r *engine.Result) *data.Frame {
	if b, ok := frameBuilders[q.QueryType]; ok {
		if f := b(q, r); f != nil {
			return f
		}
	}
	return data.NewFrame("")
}

// series is the wide time-series frame of r, nil without one: the timeseries format of every
// type that has it.
func series(r *engine.Result) *data.Frame {
	if r.Series == nil {
		return nil
	}
	return seriesFrame(r.Series)
}

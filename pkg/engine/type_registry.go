package engine

import (
	"context"
	"fmt"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// typeEngine is how the engine answers one query type. Each type registers its own from its
// file, type_<name>.go; Run looks it up by the query's type.
type typeEngine struct {
	// plan prepares a query for the scan: the constructor of its aggregators (one per scan
	// worker) and notices about what was read to prepare it (shown after the source's).
	plan func(ctx context.Context, src source.Source, req Request) (newAgg func() aggregator, notices []Notice, err error)
	// run, when set, answers the query itself instead of plan and the scan (pipelineHealth
	// over sources without segments: it needs each line's origin).
	run func(ctx context.Context, src source.Source, req Request) (*Result, error)
	// runs, when set beside run, says whether run answers req over src; plan and the scan
	// answer the others (pipelineHealth over the segments of files).
	runs func(src source.Source, req Request) bool
	// bucketed reports whether the type's aggregator counts per time bucket, so that its
	// partials depend on the bucket step (nil: never).
	bucketed func(q *query.Query) bool
}

var typeEngines = map[query.Type]*typeEngine{}

// registerType adds the engine of a query type; it is called from the type files' init
// functions.
func registerType(t query.Type, e *typeEngine) {
	if _, dup := typeEngines[t]; dup {
		panic(fmt.Sprintf("engine: query type %q registered twice", t))
	}
	typeEngines[t] = e
}

// lookupType returns the engine of the query's type.
func lookupType(t query.Type) (*typeEngine, error) {
	e, ok := typeEngines[t]
	if !ok {
		return nil, &query.Error{Msg: fmt.Sprintf("unknown query type %q", t)}
	}
	return e, nil
}

// aggregate is the plan of types whose aggregators need nothing read beforehand: newAgg
// makes the constructor from the request.
func aggregate(newAgg func(req Request) func() aggregator) func(context.Context, source.Source, Request) (func() aggregator, []Notice, error) {
	return func(_ context.Context, _ source.Source, req Request) (func() aggregator, []Notice, error) {
		return newAgg(req), nil, nil
	}
}

// always and notTable are bucketed properties.
func always(*query.Query) bool { return true }

func notTable(q *query.Query) bool { return q.Format != query.FormatTable }

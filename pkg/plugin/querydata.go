package plugin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"
	"github.com/grafana/grafana-plugin-sdk-go/backend/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/models"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
)

// maxConcurrentQueries bounds the queries of one request that run at once (the SDK's
// experimental/concurrent caps at the same 10). Each query's scan is parallel itself.
const maxConcurrentQueries = 10

// QueryData answers each query on its own, up to maxConcurrentQueries at once: one bad query
// fails alone, and a panic fails only its own query (query recovers it). Responses are keyed
// by RefID; of queries sharing a RefID, the last one's answer is kept, as when they ran one
// after another.
//
// A small semaphore rather than the SDK's experimental/concurrent or errgroup: both need
// golang.org/x/sync, which the module does not require.
func (d *Datasource) QueryData(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	resp := backend.NewQueryDataResponse()
	if len(req.Queries) == 1 {
		q := req.Queries[0]
		resp.Responses[q.RefID] = d.query(ctx, q)
		return resp, nil
	}
	results := make([]backend.DataResponse, len(req.Queries))
	slots := make(chan struct{}, maxConcurrentQueries)
	var wg sync.WaitGroup
	for i, q := range req.Queries {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			results[i] = d.query(ctx, q)
		}()
	}
	wg.Wait()
	for i, q := range req.Queries {
		resp.Responses[q.RefID] = results[i]
	}
	return resp, nil
}

// query answers one query within the datasource's queryTimeout, in a tracing span, with a
// debug log line of its refId, type, duration and bytes read.
func (d *Datasource) query(ctx context.Context, dq backend.DataQuery) (res backend.DataResponse) {
	start := time.Now()
	ctx, span := tracing.DefaultTracer().Start(ctx, "auditlogs.query", trace.WithAttributes(
		attribute.String("refId", dq.RefID), attribute.String("source", d.sourceKind())))
	defer span.End()
	qtype := dq.QueryType // the parsed query's once parsed
	var stats *engine.Stats
	defer func() {
		logger := log.DefaultLogger.FromContext(ctx)
		if r := recover(); r != nil {
			logger.Error("query panicked", "refId", dq.RefID, "panic", r)
			res = backend.ErrDataResponseWithSource(backend.StatusInternal, backend.ErrorSourcePlugin, "internal error while running the query; see the plugin log")
		}
		span.SetAttributes(attribute.String("queryType", qtype))
		args := []any{"refId", dq.RefID, "queryType", qtype, "source", d.sourceKind(), "duration", time.Since(start)}
		if stats != nil {
			span.SetAttributes(attribute.Int64("bytesRead", stats.Source.BytesRead), attribute.Int64("linesRead", stats.Source.LinesRead),
				attribute.Int64("matched", stats.Matched))
			args = append(args, "bytesRead", stats.Source.BytesRead, "linesRead", stats.Source.LinesRead, "matched", stats.Matched)
		}
		if res.Error != nil {
			tracing.Error(span, res.Error)
			args = append(args, "status", int(res.Status), "errorSource", string(res.ErrorSource), "error", res.Error.Error())
		}
		logger.Debug("query done", args...)
	}()
	ctx, cancel := context.WithTimeoutCause(ctx, d.queryTimeout(), errQueryTimeout)
	defer cancel()
	q, result, res := d.run(ctx, dq)
	if q != nil {
		qtype = string(q.QueryType)
	}
	if result != nil {
		stats = &result.Stats
	}
	if res.Error != nil && errors.Is(context.Cause(ctx), errQueryTimeout) {
		return downstream(backend.StatusTimeout, res.Error, fmt.Sprintf(
			"query timed out after %s (the datasource's queryTimeout setting): narrow the time range or the filter, or raise queryTimeout", d.queryTimeout()))
	}
	return res
}

// checkBuckets rejects, before anything is allocated, a query whose series could not be held
// in query.QueryLimits.MaxBuckets intervals. The interval is widened for a long range, as
// Grafana widens it to maxDataPoints (alert rules send 1s intervals over hours), so this fails
// only for a range too long to measure (about 292 years).
func checkBuckets(dq backend.DataQuery) error {
	from, to := dq.TimeRange.From.UTC(), dq.TimeRange.To.UTC()
	if !to.After(from) {
		return nil // the engine names the empty range
	}
	span := to.Sub(from)
	maxB := int64(query.QueryLimits.MaxBuckets)
	if !from.Add(span).Equal(to) {
		return &query.Error{Msg: fmt.Sprintf("the time range from %s to %s is too long: at most %d intervals of at most a few years each can be counted",
			from.Format(time.RFC3339), to.Format(time.RFC3339), maxB)}
	}
	step := engine.Step(from, to, dq.Interval, dq.MaxDataPoints)
	if n := int64(span/step) + 2; n > maxB+2 { // +2: the partial first and last intervals
		return &query.Error{Msg: fmt.Sprintf("interval %s over %s gives %d intervals, more than the maximum of %d", step, span, n, maxB)}
	}
	return nil
}

// errQueryTimeout is the cause of a query's context when queryTimeout expires.
var errQueryTimeout = errors.New("queryTimeout expired")

// queryTimeout is the datasource's queryTimeout, or its default when the settings are invalid.
func (d *Datasource) queryTimeout() time.Duration {
	if d.settings == nil || d.settings.Timeout <= 0 {
		return models.DefaultQueryTimeout
	}
	return d.settings.Timeout
}

// sourceKind is file, loki or cloudwatch; empty when the settings are invalid.
func (d *Datasource) sourceKind() string {
	if d.settings == nil {
		return ""
	}
	return d.settings.Source
}

// run parses and runs one query; the query is nil unless it parsed, the result unless the
// engine ran.
func (d *Datasource) run(ctx context.Context, dq backend.DataQuery) (*query.Query, *engine.Result, backend.DataResponse) {
	if d.configErr != nil {
		return nil, nil, backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, d.configErr.Error())
	}
	q, err := query.Parse(dq.JSON, dq.QueryType)
	if err != nil {
		return nil, nil, backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, err.Error())
	}
	if q.QueryType == query.TypeDetections && d.detectErr != nil {
		return q, nil, backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream,
			"the datasource's detections settings are invalid: "+d.detectErr.Error())
	}
	if err := checkBuckets(dq); err != nil {
		return q, nil, errorResponse(err)
	}
	result, err := engine.Run(ctx, d.src, engine.Request{
		Query: q, From: dq.TimeRange.From.UTC(), To: dq.TimeRange.To.UTC(),
		Interval: dq.Interval, MaxDataPoints: dq.MaxDataPoints, Detect: d.detect, Roles: d.roles,
		Cache: d.cache, Index: d.index, Envelope: d.lineFormat(),
	})
	if err != nil {
		return q, result, errorResponse(err)
	}
	return q, result, backend.DataResponse{Frames: withLinks(q, toFrames(q, result), d.uid)}
}

// errorResponse says whose fault err is. Downstream (the user's or the environment's): the
// query (query.Error), cancellation and deadlines (Grafana's), remote sources (source.StatusError,
// with the remote HTTP status kept), unreadable files and network failures. Everything else
// is the plugin's: a bug or an internal failure (backend.PluginError, HTTP 500). Typed errors
// only (errors.As, errors.Is), never message text.
func errorResponse(err error) backend.DataResponse {
	var (
		qe *query.Error
		se source.StatusError
		ue *file.UnreadableError
	)
	switch {
	case errors.As(err, &qe):
		return downstream(backend.StatusBadRequest, err, err.Error())
	case errors.Is(err, context.Canceled):
		return downstream(backend.StatusBadRequest, err, "query cancelled")
	case errors.As(err, &se) && se.HTTPStatus() >= 400:
		// Before deadlines: a remote source's own timeout (504) keeps its message.
		return downstream(backend.Status(se.HTTPStatus()), err, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return downstream(backend.StatusTimeout, err, "query timed out: narrow the time range or the filter")
	case errors.As(err, &ue), errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist):
		// The configured paths or the deployment (permissions): the user's to fix.
		return downstream(backend.StatusBadGateway, err, err.Error())
	case backend.IsDownstreamHTTPError(err):
		// Already marked downstream, or a network failure (reset, refused, DNS, TLS, timeout).
		return downstream(backend.StatusBadGateway, err, err.Error())
	}
	return backend.DataResponse{
		Error:       backend.PluginError(fmt.Errorf("internal error: %w", err)),
		ErrorSource: backend.ErrorSourcePlugin,
		Status:      backend.StatusInternal,
	}
}

// downstream is an error response whose source is downstream; msg is what the user reads.
func downstream(status backend.Status, err error, msg string) backend.DataResponse {
	return backend.DataResponse{
		Error:       backend.DownstreamError(&messageError{msg: msg, err: err}),
		ErrorSource: backend.ErrorSourceDownstream,
		Status:      status,
	}
}

// messageError shows msg and unwraps to the error it describes.
type messageError struct {
	msg string
	err error
}

func (e *messageError) Error() string { return e.msg }
func (e *messageError) Unwrap() error { return e.err }

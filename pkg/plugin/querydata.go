package plugin

import (
	"context"
	"errors"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// QueryData answers each query on its own: one bad query fails alone.
func (d *Datasource) QueryData(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	resp := backend.NewQueryDataResponse()
	for _, q := range req.Queries {
		resp.Responses[q.RefID] = d.query(ctx, q)
	}
	return resp, nil
}

func (d *Datasource) query(ctx context.Context, dq backend.DataQuery) (res backend.DataResponse) {
	defer func() {
		if r := recover(); r != nil {
			log.DefaultLogger.FromContext(ctx).Error("query panicked", "refId", dq.RefID, "panic", r)
			res = backend.ErrDataResponseWithSource(backend.StatusInternal, backend.ErrorSourcePlugin, "internal error while running the query; see the plugin log")
		}
	}()
	if d.configErr != nil {
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, d.configErr.Error())
	}
	q, err := query.Parse(dq.JSON, dq.QueryType)
	if err != nil {
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, err.Error())
	}
	if q.QueryType == query.TypeDetections && d.detectErr != nil {
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream,
			"the datasource's detections settings are invalid: "+d.detectErr.Error())
	}
	result, err := engine.Run(ctx, d.src, engine.Request{
		Query: q, From: dq.TimeRange.From.UTC(), To: dq.TimeRange.To.UTC(),
		Interval: dq.Interval, MaxDataPoints: dq.MaxDataPoints, Detect: d.detect, Roles: d.roles,
		Cache: d.cache, Index: d.index,
	})
	if err != nil {
		return errorResponse(err)
	}
	return backend.DataResponse{Frames: toFrames(q, result)}
}

func errorResponse(err error) backend.DataResponse {
	var qe *query.Error
	switch {
	case errors.As(err, &qe):
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, err.Error())
	case errors.Is(err, context.Canceled):
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, "query cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return backend.ErrDataResponseWithSource(backend.StatusTimeout, backend.ErrorSourceDownstream, "query timed out: narrow the time range or the filter")
	}
	var se source.StatusError
	if errors.As(err, &se) && se.HTTPStatus() >= 400 {
		return backend.ErrDataResponseWithSource(backend.Status(se.HTTPStatus()), backend.ErrorSourceDownstream, err.Error())
	}
	// Source errors (unreadable files, configuration) are the user's or the environment's.
	return backend.ErrDataResponseWithSource(backend.StatusBadGateway, backend.ErrorSourceDownstream, err.Error())
}

package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// CheckHealth does one cheap real check of the source, within the datasource's queryTimeout and
// in a tracing span. It always returns a result, never an error: an error would hide the
// message from the user.
func (d *Datasource) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	if d.configErr != nil {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: d.configErr.Error()}, nil
	}
	ctx, span := tracing.DefaultTracer().Start(ctx, "auditlogs.checkHealth", trace.WithAttributes(attribute.String("source", d.sourceKind())))
	defer span.End()
	ctx, cancel := context.WithTimeoutCause(ctx, d.queryTimeout(), errQueryTimeout)
	defer cancel()
	h := d.src.Health(ctx)
	if !h.OK && errors.Is(context.Cause(ctx), errQueryTimeout) {
		h.Message += fmt.Sprintf(" (the check was stopped after %s, the datasource's queryTimeout)", d.queryTimeout())
	}
	span.SetAttributes(attribute.Bool("ok", h.OK))
	status := backend.HealthStatusOk
	if !h.OK {
		status = backend.HealthStatusError
	}
	msg := h.Message
	if h.OK {
		msg += d.indexHealth()
	}
	if d.detectErr != nil {
		status = backend.HealthStatusError
		msg += "; but the detections settings are invalid, so detections queries fail: " + d.detectErr.Error()
	}
	return &backend.CheckHealthResult{Status: status, Message: msg}, nil
}

// indexHealth says where the column index lives and how full it is, or why it is off.
func (d *Datasource) indexHealth() string {
	switch {
	case d.index != nil:
		files, bytes := d.index.Usage()
		return fmt.Sprintf("; column index in %s (%d files, %.1f of %d MiB)", d.index.Dir(), files, float64(bytes)/(1<<20), d.settings.File.IndexBytes()>>20)
	case d.indexErr != nil:
		return "; the column index is off (" + d.indexErr.Error() + "): queries the cache cannot answer read the audit files"
	}
	return ""
}

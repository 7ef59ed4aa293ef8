package file

import (
	"context"
	"errors"

	"github.com/grafana/grafana-plugin-sdk-go/backend/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// startSpan starts the tracing span of one read of the files, with the SDK's tracer (Grafana
// shows it under the query's span when tracing is on).
func startSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return tracing.DefaultTracer().Start(ctx, name, trace.WithAttributes(attrs...))
}

// endSpan records what a read did and ends its span. A cancelled or expired context is not
// the read's failure: it is recorded as an attribute, not an error.
func endSpan(span trace.Span, st source.Stats, err error) {
	span.SetAttributes(
		attribute.Int64("bytesRead", st.BytesRead),
		attribute.Int64("linesRead", st.LinesRead),
		attribute.Int64("linesTooLong", st.LinesTooLong),
		attribute.Int("filesScanned", st.FilesScanned),
		attribute.Int("filesSkipped", st.FilesSkipped),
		attribute.Int("problems", len(st.Problems)),
	)
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		span.SetAttributes(attribute.String("stopped", err.Error()))
	case err != nil:
		tracing.Error(span, err)
	}
	span.End()
}

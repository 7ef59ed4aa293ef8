package plugin

import (
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/grafana/grafana-plugin-sdk-go/backend/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracedAWSClient gives each CloudWatch Logs call a client span of the SDK's tracer, named by
// its operation (cloudwatchlogs.FilterLogEvents...), as the SDK's HTTP client middleware does
// for Loki. No header is recorded: they carry the request's signature.
type tracedAWSClient struct {
	next cloudwatchlogs.HTTPClient
}

// traceCloudWatch wraps the CloudWatch Logs client's HTTP client (a cloudwatch.Options
// ClientOptions function).
func traceCloudWatch(o *cloudwatchlogs.Options) {
	if o.HTTPClient != nil {
		o.HTTPClient = tracedAWSClient{next: o.HTTPClient}
	}
}

func (c tracedAWSClient) Do(req *http.Request) (*http.Response, error) {
	op := req.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}
	ctx, span := tracing.DefaultTracer().Start(req.Context(), "cloudwatchlogs."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("aws.operation", op), attribute.String("http.method", req.Method), attribute.String("server.address", req.URL.Host)))
	defer span.End()
	resp, err := c.next.Do(req.WithContext(ctx))
	if err != nil {
		tracing.Error(span, err)
		return resp, err
	}
	span.SetAttributes(attribute.Int("http.status_code", resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, resp.Status)
	}
	return resp, nil
}

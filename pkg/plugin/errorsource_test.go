package plugin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/httpclient"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// TestErrorSourceMapping: each class of error is downstream (the user's query, settings,
// environment or a remote source, with its HTTP status) or the plugin's (a bug or an internal
// failure), decided by its type, whatever its message says.
func TestErrorSourceMapping(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	plugin, down := backend.ErrorSourcePlugin, backend.ErrorSourceDownstream
	for _, c := range []struct {
		name   string
		err    error
		source backend.ErrorSource
		status backend.Status
	}{
		{"query error", &query.Error{Msg: "unknown query type"}, down, backend.StatusBadRequest},
		{"wrapped query error", fmt.Errorf("run: %w", &query.Error{Msg: "bad interval"}), down, backend.StatusBadRequest},
		{"cancelled by Grafana", fmt.Errorf("scan: %w", context.Canceled), down, backend.StatusBadRequest},
		{"deadline", fmt.Errorf("scan: %w", context.DeadlineExceeded), down, backend.StatusTimeout},
		{"Loki 401", &loki.APIError{Status: http.StatusUnauthorized, Path: "/loki/api/v1/query_range", Message: "no org id"}, down, backend.StatusUnauthorized},
		{"Loki 429", &loki.APIError{Status: http.StatusTooManyRequests, Path: "/loki/api/v1/query_range"}, down, backend.StatusTooManyRequests},
		{"Loki 500", &loki.APIError{Status: http.StatusInternalServerError, Path: "/loki/api/v1/query_range"}, down, backend.StatusInternal},
		{"Loki 503", fmt.Errorf("page: %w", &loki.APIError{Status: http.StatusServiceUnavailable}), down, backend.Status(http.StatusServiceUnavailable)},
		{"Loki timeout", &loki.TimeoutError{Path: "/loki/api/v1/query_range", Timeout: time.Second}, down, backend.StatusTimeout},
		{"Loki timeout wrapping a deadline", &loki.RemoteError{Msg: "x", Err: context.DeadlineExceeded, Status: http.StatusGatewayTimeout}, down, backend.StatusTimeout},
		{"Loki unreachable", &loki.RemoteError{Msg: "cannot reach Loki at http://127.0.0.1:1", Err: refused}, down, backend.StatusBadGateway},
		{"Loki metric selector", &loki.RemoteError{Msg: "loki answered a \"matrix\" result", Status: http.StatusBadRequest}, down, backend.StatusBadRequest},
		{"CloudWatch throttled", &cloudwatch.Error{Kind: cloudwatch.KindThrottled, Msg: "throttled"}, down, backend.StatusTooManyRequests},
		{"CloudWatch access denied", &cloudwatch.Error{Kind: cloudwatch.KindAccessDenied, Msg: "denied"}, down, backend.StatusForbidden},
		{"CloudWatch credentials", &cloudwatch.Error{Kind: cloudwatch.KindCredentials, Msg: "expired"}, down, backend.StatusUnauthorized},
		{"CloudWatch other", &cloudwatch.Error{Kind: cloudwatch.KindOther, Msg: "odd"}, down, backend.StatusBadGateway},
		{"unreadable files", &file.UnreadableError{Problems: []string{"cannot read /var/log/audit.log: permission denied"}, Errs: []error{fs.ErrPermission}}, down, backend.StatusBadGateway},
		{"permission denied", &fs.PathError{Op: "open", Path: "/var/log/kubernetes/audit.log", Err: fs.ErrPermission}, down, backend.StatusBadGateway},
		{"network failure", fmt.Errorf("fetch: %w", refused), down, backend.StatusBadGateway},
		{"marked downstream", backend.DownstreamError(errors.New("remote said no")), down, backend.StatusBadGateway},
		{"plain error", errors.New("index out of range in the aggregator"), plugin, backend.StatusInternal},
		// The message names a downstream cause, the type does not: still the plugin's.
		{"message mentions a timeout", errors.New("context deadline exceeded while merging (not really)"), plugin, backend.StatusInternal},
		{"wrapped plain error", fmt.Errorf("engine: %w", errors.New("nil series")), plugin, backend.StatusInternal},
		{"status below 400", fmt.Errorf("odd: %w", &loki.APIError{Status: http.StatusFound}), plugin, backend.StatusInternal},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := errorResponse(c.err)
			if r.ErrorSource != c.source || r.Status != c.status {
				t.Errorf("source %q status %d, want %q %d (error %v)", r.ErrorSource, r.Status, c.source, c.status, r.Error)
			}
			// The SDK's own view of the error agrees with ErrorSource.
			if c.source == plugin && (!backend.IsPluginError(r.Error) || backend.IsDownstreamError(r.Error)) {
				t.Errorf("error %v is not marked a plugin error", r.Error)
			}
			if c.source == down && !backend.IsDownstreamError(r.Error) {
				t.Errorf("error %v is not marked downstream", r.Error)
			}
			if r.Error == nil || r.Error.Error() == "" {
				t.Fatal("no message")
			}
			// The original error stays reachable for logs and middleware.
			if !errors.Is(r.Error, c.err) {
				t.Errorf("response error %v does not wrap %v", r.Error, c.err)
			}
		})
	}
}

// fakeSource fails every scan with err, or panics.
type fakeSource struct {
	err   error
	panic bool
}

func (f fakeSource) Scan(context.Context, source.Request, source.LineFunc) (source.Stats, error) {
	if f.panic {
		var m map[string]int
		m["boom"]++ // a nil map write: a plugin bug
	}
	return source.Stats{}, f.err
}
func (f fakeSource) Health(context.Context) source.Health { return source.Health{} }

// TestErrorSourceThroughQueryData: the mapping holds for errors that come out of a real query:
// an invalid query, a real Loki that cannot be reached, a Loki that refuses, a plain error of the
// source (the plugin's) and a panic.
func TestErrorSourceThroughQueryData(t *testing.T) {
	run := func(t *testing.T, src source.Source, js string) backend.DataResponse {
		t.Helper()
		ds := &Datasource{src: src, roles: &engine.RoleIndex{}}
		resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{
			RefID: "A", JSON: []byte(js), TimeRange: allTime, Interval: time.Minute, MaxDataPoints: 100,
		}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Responses["A"]
	}
	check := func(t *testing.T, r backend.DataResponse, src backend.ErrorSource, status backend.Status, words string) {
		t.Helper()
		if r.Error == nil || r.ErrorSource != src || r.Status != status || !strings.Contains(r.Error.Error(), words) {
			t.Errorf("error %v source %q status %d, want %q %d saying %q", r.Error, r.ErrorSource, r.Status, src, status, words)
		}
	}
	t.Run("invalid query", func(t *testing.T) {
		check(t, run(t, fakeSource{}, `{"queryType":"nope"}`), backend.ErrorSourceDownstream, backend.StatusBadRequest, "unknown query type")
	})
	t.Run("Loki unreachable", func(t *testing.T) {
		srv := lokitest.New()
		url := srv.URL
		srv.Close()
		lk, err := loki.New(loki.Config{URL: url, Selector: `{job="audit"}`, Retries: -1,
			HTTP: httpclient.Options{Timeouts: &httpclient.TimeoutOptions{Timeout: 5 * time.Second}}})
		if err != nil {
			t.Fatal(err)
		}
		check(t, run(t, lk, `{"queryType":"events"}`), backend.ErrorSourceDownstream, backend.StatusBadGateway, "cannot reach Loki")
	})
	t.Run("Loki refuses the credentials", func(t *testing.T) {
		srv := lokitest.New()
		defer srv.Close()
		srv.Bearer = "expected-token"
		lk, err := loki.New(loki.Config{URL: srv.URL, Selector: `{job="audit"}`,
			HTTP: httpclient.Options{Timeouts: &httpclient.TimeoutOptions{Timeout: 5 * time.Second}}})
		if err != nil {
			t.Fatal(err)
		}
		check(t, run(t, lk, `{"queryType":"events"}`), backend.ErrorSourceDownstream, backend.StatusUnauthorized, "refused the credentials")
	})
	t.Run("plain source error", func(t *testing.T) {
		check(t, run(t, fakeSource{err: errors.New("decoder state corrupt")}, `{"queryType":"events"}`), backend.ErrorSourcePlugin, backend.StatusInternal, "decoder state corrupt")
	})
	t.Run("panic", func(t *testing.T) {
		r := run(t, fakeSource{panic: true}, `{"queryType":"events"}`)
		check(t, r, backend.ErrorSourcePlugin, backend.StatusInternal, "internal error")
	})
}

package loki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// The plugin returns these errors' HTTP status with the query's error, as downstream errors.
var (
	_ source.StatusError = (*APIError)(nil)
	_ source.StatusError = (*TimeoutError)(nil)
	_ source.StatusError = (*RemoteError)(nil)
)

// APIError is an error answer of Loki's HTTP API.
type APIError struct {
	Status  int    // HTTP status
	Path    string // API path, e.g. /loki/api/v1/query_range
	Message string // Loki's message (plain text or the "error" of a JSON body)
}

func (e *APIError) Error() string {
	var what string
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		what = "Loki refused the credentials"
	case e.Status == http.StatusBadRequest:
		what = "Loki rejected the query"
	case e.Status == http.StatusTooManyRequests:
		what = "Loki is rate limiting the plugin (429) and retries did not help"
	case e.Status >= 500:
		what = "Loki failed"
	default:
		what = "unexpected answer from Loki"
	}
	msg := strings.TrimSpace(e.Message)
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return fmt.Sprintf("%s (HTTP %d on %s): %s", what, e.Status, e.Path, msg)
}

// HTTPStatus implements source.StatusError.
func (e *APIError) HTTPStatus() int { return e.Status }

// Is matches source.ErrTooManyGroups when Loki refused a metric query for returning more
// series than its max_query_series.
func (e *APIError) Is(target error) bool {
	return target == source.ErrTooManyGroups && e.Status == http.StatusBadRequest && strings.Contains(e.Message, "maximum number of series")
}

// Retryable reports whether a retry may succeed.

func (e *APIError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusBadGateway ||
		e.Status == http.StatusServiceUnavailable || e.Status == http.StatusGatewayTimeout ||
		e.Status == http.StatusInternalServerError
}

// RemoteError is a failure of Loki, or of the way to it, without an HTTP status of its own:
// Loki cannot be reached, or its answer is not what its API promises (an undecodable body, a
// result of the wrong type, a bad timestamp). It is the remote side's fault, or the settings'
// (a metric query as stream selector): HTTPStatus is Status, by default 502.
type RemoteError struct {
	Msg    string
	Err    error // may be nil
	Status int   // 0: 502
}

func (e *RemoteError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the underlying error.
func (e *RemoteError) Unwrap() error { return e.Err }

// HTTPStatus implements source.StatusError.
func (e *RemoteError) HTTPStatus() int {
	if e.Status == 0 {
		return http.StatusBadGateway
	}
	return e.Status
}

// remoteErr is a RemoteError with a formatted message.
func remoteErr(err error, format string, args ...any) *RemoteError {
	return &RemoteError{Msg: fmt.Sprintf(format, args...), Err: err}
}

// TimeoutError says that Loki did not answer in time.
type TimeoutError struct {
	Path    string
	Timeout time.Duration
}

// HTTPStatus implements source.StatusError.
func (e *TimeoutError) HTTPStatus() int { return http.StatusGatewayTimeout }

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("Loki did not answer %s within %s: narrow the time range or the filter, or raise the timeout", e.Path, e.Timeout)
}

// maxTimeoutRetries is how often a request that timed out is tried again.
const maxTimeoutRetries = 1

// client does GET requests on Loki's API with retries.
type client struct {
	base      string
	http      *http.Client
	timeout   time.Duration
	retries   int
	retryBase time.Duration
}

// get calls path with params and decodes the JSON answer into out. 429 and 5xx answers,
// connection errors and truncated or undecodable bodies are retried with exponential backoff
// and jitter (Retry-After honoured). A request that times out is retried once: a single slow
// answer (a stalled querier) should not fail a query, but a query too heavy for the timeout
// should not run five times either.
func (c *client) get(ctx context.Context, path string, params url.Values, out any) error {
	u := c.base + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	var last error
	timeouts := 0
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			wait := c.backoff(attempt, last)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		retry, err := c.do(ctx, path, u, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last = err
		var te *TimeoutError
		if errors.As(err, &te) {
			timeouts++
			retry = timeouts <= maxTimeoutRetries
		}
		if !retry || attempt >= c.retries {
			return err
		}
	}
}

func (c *client) backoff(attempt int, last error) time.Duration {
	var ra retryAfterError
	if errors.As(last, &ra) && ra.after > 0 {
		return min(ra.after, 30*time.Second)
	}
	d := c.retryBase << (attempt - 1)
	d = min(d, 10*time.Second)
	return d/2 + rand.N(d/2+1)
}

// isTimeout reports an HTTP timeout (the request's context is still alive). Transport timeouts
// match context.DeadlineExceeded with errors.Is even when a middleware's wrapper hides their
// Timeout method, so both are checked.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

type retryAfterError struct {
	*APIError
	after time.Duration
}

func (e retryAfterError) Unwrap() error { return e.APIError }

func (c *client) do(ctx context.Context, path, u string, out any) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if isTimeout(err) {
			return false, &TimeoutError{Path: path, Timeout: c.timeout}
		}
		return true, remoteErr(err, "cannot reach Loki at %s", c.base)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		ae := &APIError{Status: resp.StatusCode, Path: path, Message: errorMessage(body)}
		if ae.Retryable() {
			if s, e := strconv.Atoi(resp.Header.Get("Retry-After")); e == nil && s > 0 {
				return true, retryAfterError{ae, time.Duration(s) * time.Second}
			}
			return true, ae
		}
		return false, ae
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if isTimeout(err) {
			return false, &TimeoutError{Path: path, Timeout: c.timeout}
		}
		return true, remoteErr(err, "cannot decode Loki's answer on %s", path)
	}
	return false, nil
}

// errorMessage extracts Loki's message: newer versions answer {"status":"error","error":"..."},
// older ones plain text.
func errorMessage(body []byte) string {
	var j struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &j) == nil {
		if j.Error != "" {
			return j.Error
		}
		if j.Message != "" {
			return j.Message
		}
	}
	return strings.TrimSpace(string(body))
}

// --- response types (Loki's HTTP API v1) -------------------------------------------------

// queryResponse is the answer of query and query_range.
type queryResponse struct {
	Status   string   `json:"status"`
	Warnings []string `json:"warnings,omitempty"`
	Data     struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
		Stats      struct {
			Summary struct {
				TotalBytesProcessed int64 `json:"totalBytesProcessed"`
			} `json:"summary"`
		} `json:"stats"`
	} `json:"data"`
}

// stream is one stream of a "streams" result: values are [ "<ns>", "<line>" ].
type stream struct {
	Stream map[string]string `json:"stream"`
	Values [][2]string       `json:"values"`
}

// matrixSeries is one series of a "matrix" result: values are [ <seconds float>, "<value>" ].
type matrixSeries struct {
	Metric map[string]string    `json:"metric"`
	Values [][2]json.RawMessage `json:"values"`
}

// vectorSample is one sample of a "vector" result.
type vectorSample struct {
	Metric map[string]string  `json:"metric"`
	Value  [2]json.RawMessage `json:"value"`
}

// parseSample decodes a [<seconds float>, "<value>"] pair.
func parseSample(p [2]json.RawMessage) (sec float64, v float64, err error) {
	if sec, err = strconv.ParseFloat(strings.Trim(string(p[0]), `"`), 64); err != nil {
		return 0, 0, remoteErr(nil, "bad sample time %s", p[0])
	}
	var s string
	if err = json.Unmarshal(p[1], &s); err != nil {
		return 0, 0, remoteErr(nil, "bad sample value %s", p[1])
	}
	if v, err = strconv.ParseFloat(s, 64); err != nil {
		return 0, 0, remoteErr(nil, "bad sample value %q", s)
	}
	return sec, v, nil
}

func nanos(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

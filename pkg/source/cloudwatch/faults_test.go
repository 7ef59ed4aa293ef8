package cloudwatch_test

// Faults of CloudWatch Logs, injected by cwtest (a local endpoint that speaks the service's
// JSON 1.1 protocol: AWS cannot be reached from the tests). The real AWS SDK client runs with the
// retryer exactly as production configures it (no fastRetries here): its own retryable errors,
// backoff and attempts. Each case ends in the exact result after retries, or in a result flagged
// partial with a problem (a warning notice) — never a silently short or doubled count.

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch/cwtest"
)

// faultCallTimeout is the per-attempt timeout of the fault tests: far above what a page takes
// even on a loaded machine, far below a slow fault's delay.
const faultCallTimeout = 3 * time.Second

// prodSource is a source with the production client: the retryer of LoadAWSConfig, only the
// call timeout shortened.
func prodSource(t *testing.T, srv *cwtest.Server) *cloudwatch.Source {
	t.Helper()
	src, err := cloudwatch.New(context.Background(), testConfig(srv), cloudwatch.Options{
		PageLimit:   100,
		CallTimeout: faultCallTimeout,
		// Insights polling, not retries: polls are not what is under test.
		PollInterval: time.Millisecond, MaxPollInterval: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// on faults calls n of op for which pick(n) is true.
func on(op string, pick func(n int) bool, f cwtest.Fault) func(string, int) *cwtest.Fault {
	return func(o string, n int) *cwtest.Fault {
		if o == op && pick(n) {
			return &f
		}
		return nil
	}
}

func calls(ns ...int) func(int) bool { return func(n int) bool { return slices.Contains(ns, n) } }
func from(n0 int) func(int) bool     { return func(n int) bool { return n >= n0 } }

func TestFaults(t *testing.T) {
	fx := loadFixtures(t)
	all, st, err := scanAll(t, prodSource(t, newServer(t, fx)), time.Unix(0, 0), time.Now())
	if err != nil || len(st.Problems) > 0 || len(all) != len(fx) {
		t.Fatalf("reference scan: %d lines of %d, problems %q, err %v", len(all), len(fx), st.Problems, err)
	}
	const fle = "FilterLogEvents"
	slow := 10 * time.Minute // ended by the call timeout, never waited for
	cases := []struct {
		name  string
		fault func(string, int) *cwtest.Fault
		exact bool   // every event once; otherwise a prefix flagged partial with a problem saying why
		why   string // for partial results
	}{
		{name: "429 with Retry-After", exact: true,
			fault: on(fle, calls(4), cwtest.Fault{Status: http.StatusTooManyRequests, Code: "ThrottlingException", Message: "Rate exceeded", RetryAfter: "1"})},
		{name: "429 from a proxy (no AWS error body)", exact: true,
			fault: on(fle, calls(4), cwtest.Fault{Status: http.StatusTooManyRequests, Body: "Too Many Requests", RetryAfter: "1"})},
		{name: "500 mid-paging", exact: true,
			fault: on(fle, calls(4, 5), cwtest.Fault{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: "internal error"})},
		{name: "503 mid-paging until retries give up", why: "unavailable",
			fault: on(fle, from(4), cwtest.Fault{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailableException", Message: "try later"})},
		{name: "connection reset", exact: true,
			fault: on(fle, calls(4, 5), cwtest.Fault{Kind: cwtest.FaultReset})},
		{name: "connection reset until retries give up", why: "cannot reach CloudWatch Logs",
			fault: on(fle, from(4), cwtest.Fault{Kind: cwtest.FaultReset})},
		{name: "slow answer past the timeout", exact: true,
			fault: on(fle, calls(4), cwtest.Fault{Kind: cwtest.FaultSlow, Delay: slow})},
		{name: "truncated JSON body", exact: true,
			fault: on(fle, calls(4, 5), cwtest.Fault{Kind: cwtest.FaultTruncate})},
		{name: "a page repeats its events", exact: true,
			fault: on(fle, calls(4), cwtest.Fault{Kind: cwtest.FaultRepeat})},
		{name: "every page repeats its events", exact: true,
			fault: on(fle, from(1), cwtest.Fault{Kind: cwtest.FaultRepeat})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, fx)
			srv.Fault = c.fault
			got, st, err := scanAll(t, prodSource(t, srv), time.Unix(0, 0), time.Now())
			if err != nil {
				t.Fatalf("error %v after %d events: a fault after some pages must not lose them", err, len(got))
			}
			if srv.Calls(fle) <= 4 {
				t.Fatalf("%d calls: the fault was never injected", srv.Calls(fle))
			}
			if c.exact {
				if len(st.Problems) > 0 {
					t.Errorf("problems %q, want none after retries", st.Problems)
				}
				if !slices.Equal(got, all) {
					t.Errorf("%d events, want each of the %d exactly once", len(got), len(all))
				}
				return
			}
			if len(got) == 0 || len(got) >= len(all) || !slices.Equal(got, all[:len(got)]) {
				t.Errorf("%d events of %d: want a strict prefix of the result, each event once", len(got), len(all))
			}
			if len(st.Problems) != 1 || !strings.HasPrefix(st.Problems[0], "partial result") || !strings.Contains(st.Problems[0], c.why) {
				t.Errorf("problems %q: want one partial-result problem saying %q", st.Problems, c.why)
			}
			if n := srv.Calls(fle); n != 3+cloudwatch.MaxRetryAttempts {
				t.Errorf("%d calls, want 3 pages + %d attempts", n, cloudwatch.MaxRetryAttempts)
			}
		})
	}
}

// TestFaultsInsights: Logs Insights counts under faults of GetQueryResults and StartQuery are
// exactly the clean counts; a repeated result row is not added twice; a query whose results
// cannot be read is stopped.
func TestFaultsInsights(t *testing.T) {
	fx := loadFixtures(t)
	req := countReq(query.Filter{}, "verb")
	count := func(t *testing.T, srv *cwtest.Server) (*source.CountResult, error) {
		t.Helper()
		return prodSource(t, srv).Count(testCtx(t), req)
	}
	want, err := count(t, newServer(t, fx))
	if err != nil || len(want.Series) == 0 {
		t.Fatalf("reference count: %v, %v", want, err)
	}
	const gqr = "GetQueryResults"
	for _, c := range []struct {
		name  string
		fault func(string, int) *cwtest.Fault
	}{
		{"rows repeated", on(gqr, from(1), cwtest.Fault{Kind: cwtest.FaultRepeat})},
		{"500 while polling", on(gqr, calls(2, 3), cwtest.Fault{Status: http.StatusInternalServerError, Code: "InternalFailure"})},
		{"truncated answer", on(gqr, from(1), cwtest.Fault{Kind: cwtest.FaultTruncate})},
		{"429 with Retry-After on StartQuery", on("StartQuery", calls(1), cwtest.Fault{Status: http.StatusTooManyRequests, Body: "Too Many Requests", RetryAfter: "1"})},
		{"reset on StartQuery", on("StartQuery", calls(1), cwtest.Fault{Kind: cwtest.FaultReset})},
		{"slow StartQuery", on("StartQuery", calls(1), cwtest.Fault{Kind: cwtest.FaultSlow, Delay: 10 * time.Minute})},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, fx)
			srv.Fault = c.fault
			got, err := count(t, srv)
			if c.name == "truncated answer" {
				// Every answer truncated: the retries give up; an error, never a short count.
				wantKind(t, err, cloudwatch.KindOther, "GetQueryResults")
				if st := srv.Stopped(); len(st) != 1 {
					t.Errorf("StopQuery calls %v, want the unreadable query stopped", st)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got.Series, want.Series, func(a, b source.CountSeries) bool {
				return slices.Equal(a.Values, b.Values) && slices.Equal(a.Counts, b.Counts)
			}) || len(got.Problems) != len(want.Problems) {
				t.Errorf("counts differ from the clean ones:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestRetryAfterHonoured: a plain Retry-After (a proxy's 429, no x-amz-retry-after) is waited
// out before the retry, however short the SDK's own backoff would be.
func TestRetryAfterHonoured(t *testing.T) {
	fx := loadFixtures(t)
	srv := newServer(t, fx)
	srv.Fault = on("StartQuery", calls(1), cwtest.Fault{Status: http.StatusTooManyRequests, Body: "Too Many Requests", RetryAfter: "2"})
	began := time.Now()
	if _, err := prodSource(t, srv).Count(testCtx(t), countReq(query.Filter{}, "verb")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d < 2*time.Second {
		t.Errorf("retried after %v, before the 2 s Retry-After", d)
	}
}

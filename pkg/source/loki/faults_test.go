package loki_test

// Faults of a remote Loki, injected by lokitest (a local server that speaks Loki's HTTP API: no
// Loki binary can run here). Each case ends in the exact result after retries, or in a result
// flagged partial with a problem (a warning notice) — never a silently short or doubled count.

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend/httpclient"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

const queryRange = "/loki/api/v1/query_range"

// faultTimeout is the client timeout of the fault tests: far above what a page of 50 lines takes
// even on a loaded machine, far below a slow fault's delay.
const faultTimeout = 3 * time.Second

func faultSource(t *testing.T, srv *lokitest.Server) *loki.Source {
	return newSource(t, srv, func(c *loki.Config) {
		c.PageSize = 50
		c.HTTP.Timeouts = &httpclient.TimeoutOptions{Timeout: faultTimeout}
	})
}

func scanAll(t *testing.T, s *loki.Source) ([]string, source.Stats, error) {
	t.Helper()
	var got []string
	st, err := s.Scan(context.Background(), source.Request{From: genStart, To: genStart.Add(6 * time.Hour)}, func(l []byte) error {
		got = append(got, string(l))
		return nil
	})
	return got, st, err
}

func TestFaults(t *testing.T) {
	lines := generated(t)[:600]
	ref := lokitest.New()
	defer ref.Close()
	load(ref, lines, noLag)
	want, st, err := scanAll(t, faultSource(t, ref))
	if err != nil || len(st.Problems) > 0 || len(want) != len(lines) {
		t.Fatalf("reference scan: %d lines of %d, problems %q, err %v", len(want), len(lines), st.Problems, err)
	}
	pages := ref.Requests(queryRange)
	if pages < 10 {
		t.Fatalf("only %d pages: the faults would not be mid-paging", pages)
	}

	slow := 10 * time.Minute // ended by the client's timeout, never waited for
	cases := []struct {
		name  string
		fault lokitest.Fault
		// exact: every line once; otherwise a prefix flagged partial, with a problem containing why.
		exact bool
		why   string
		// minElapsed: the client must have waited at least this long (Retry-After).
		minElapsed time.Duration
	}{
		{name: "429 with Retry-After", exact: true, minElapsed: time.Second,
			fault: lokitest.Fault{Kind: lokitest.FaultStatus, Path: queryRange, After: 3, Status: http.StatusTooManyRequests, Body: "too many outstanding requests", RetryAfter: 1}},
		{name: "500 mid-paging", exact: true,
			fault: lokitest.Fault{Kind: lokitest.FaultStatus, Path: queryRange, After: 3, Times: 2, Status: http.StatusInternalServerError, Body: "rpc error: code = Unavailable"}},
		{name: "500 mid-paging until retries give up", why: "HTTP 500",
			fault: lokitest.Fault{Kind: lokitest.FaultStatus, Path: queryRange, After: 3, Times: -1, Status: http.StatusInternalServerError, Body: "rpc error: code = Unavailable"}},
		{name: "connection reset", exact: true,
			fault: lokitest.Fault{Kind: lokitest.FaultReset, Path: queryRange, After: 3, Times: 2}},
		{name: "connection reset until retries give up", why: "cannot reach Loki",
			fault: lokitest.Fault{Kind: lokitest.FaultReset, Path: queryRange, After: 3, Times: -1}},
		{name: "slow response past the timeout", exact: true,
			fault: lokitest.Fault{Kind: lokitest.FaultSlow, Path: queryRange, After: 3, Delay: slow}},
		{name: "every response slow after some pages", why: "did not answer",
			fault: lokitest.Fault{Kind: lokitest.FaultSlow, Path: queryRange, After: 3, Times: -1, Delay: slow}},
		{name: "truncated JSON body", exact: true,
			fault: lokitest.Fault{Kind: lokitest.FaultTruncate, Path: queryRange, After: 3, Times: 2}},
		{name: "truncated JSON until retries give up", why: "cannot decode",
			fault: lokitest.Fault{Kind: lokitest.FaultTruncate, Path: queryRange, After: 3, Times: -1}},
		{name: "a page repeats its entries", exact: true,
			fault: lokitest.Fault{Kind: lokitest.FaultRepeat, Path: queryRange, After: 3}},
		{name: "every page repeats its entries", exact: true,
			fault: lokitest.Fault{Kind: lokitest.FaultRepeat, Path: queryRange, Times: -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := lokitest.New()
			defer srv.Close()
			load(srv, lines, noLag)
			srv.Inject(c.fault)
			began := time.Now()
			got, st, err := scanAll(t, faultSource(t, srv))
			if err != nil {
				t.Fatalf("error %v after %d lines: a fault after some pages must not lose them", err, len(got))
			}
			if elapsed := time.Since(began); elapsed < c.minElapsed {
				t.Errorf("done in %s: Retry-After (%s) not honoured", elapsed, c.minElapsed)
			}
			if c.exact {
				if len(st.Problems) > 0 {
					t.Errorf("problems %q, want none after retries", st.Problems)
				}
				g, w := slices.Clone(got), slices.Clone(want)
				slices.Sort(g)
				slices.Sort(w)
				if !slices.Equal(g, w) {
					t.Errorf("%d lines, want each of the %d exactly once", len(got), len(want))
				}
				return
			}
			if len(got) == 0 || len(got) >= len(want) || !slices.Equal(got, want[:len(got)]) {
				t.Errorf("%d lines of %d: want a strict prefix of the result, each line once", len(got), len(want))
			}
			if len(st.Problems) != 1 || !strings.HasPrefix(st.Problems[0], "partial result") || !strings.Contains(st.Problems[0], c.why) {
				t.Errorf("problems %q: want one partial-result problem saying %q", st.Problems, c.why)
			}
		})
	}
}

// TestFaultOnFirstPage: a fault that lasts from the first request is an error of its own type
// (HTTP status kept), not an empty result.
func TestFaultOnFirstPage(t *testing.T) {
	lines := generated(t)[:100]
	t.Run("500", func(t *testing.T) {
		srv := lokitest.New()
		defer srv.Close()
		load(srv, lines, noLag)
		srv.Inject(lokitest.Fault{Kind: lokitest.FaultStatus, Status: http.StatusInternalServerError, Body: "boom", Times: -1})
		_, _, err := scanAll(t, faultSource(t, srv))
		var se source.StatusError
		if !errors.As(err, &se) || se.HTTPStatus() != http.StatusInternalServerError {
			t.Errorf("err %v, want a status error 500", err)
		}
	})
	t.Run("slow", func(t *testing.T) {
		srv := lokitest.New()
		defer srv.Close()
		load(srv, lines, noLag)
		srv.Inject(lokitest.Fault{Kind: lokitest.FaultSlow, Delay: 10 * time.Minute, Times: -1})
		s := newSource(t, srv, func(c *loki.Config) { c.HTTP.Timeouts = &httpclient.TimeoutOptions{Timeout: 200 * time.Millisecond} })
		_, _, err := scanAll(t, s)
		var te *loki.TimeoutError
		if !errors.As(err, &te) || te.HTTPStatus() != http.StatusGatewayTimeout {
			t.Errorf("err %v, want a TimeoutError", err)
		}
		if n := srv.Requests(queryRange); n != 2 {
			t.Errorf("%d requests, want 2: a timeout is retried once", n)
		}
	})
	t.Run("reset", func(t *testing.T) {
		srv := lokitest.New()
		defer srv.Close()
		load(srv, lines, noLag)
		srv.Inject(lokitest.Fault{Kind: lokitest.FaultReset, Times: -1})
		_, _, err := scanAll(t, faultSource(t, srv))
		if err == nil || !strings.Contains(err.Error(), "cannot reach Loki") {
			t.Errorf("err %v", err)
		}
	})
}

// TestFaultsPushdown: LogQL metric queries (pushdown counts) under the same faults count
// exactly what a clean Loki counts; a repeated series is not added twice.
func TestFaultsPushdown(t *testing.T) {
	lines := generated(t)[:1000]
	js := `{"queryType":"timeseries","sourceMode":"pushdown","groupBy":["verb"],"limit":50}`
	from, to := genStart.Add(-90*time.Second), genStart.Add(6*time.Hour+90*time.Second) // partial first and last buckets: instant queries too
	run := func(t *testing.T, srv *lokitest.Server) *engine.Result {
		t.Helper()
		res, err := engine.Run(context.Background(), faultSource(t, srv), engine.Request{Query: parse(t, js), From: from, To: to, Interval: 5 * time.Minute, MaxDataPoints: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	ref := lokitest.New()
	defer ref.Close()
	load(ref, lines, noLag)
	want := run(t, ref)
	if ref.Requests("/loki/api/v1/query") == 0 {
		t.Fatal("no instant query: the partial buckets are not exercised")
	}
	for _, f := range []lokitest.Fault{
		{Kind: lokitest.FaultRepeat, Times: -1},
		{Kind: lokitest.FaultTruncate, Times: 2},
		{Kind: lokitest.FaultReset, Times: 2},
		{Kind: lokitest.FaultStatus, Status: http.StatusTooManyRequests, Times: 2},
		{Kind: lokitest.FaultStatus, Status: http.StatusBadGateway, Path: "/loki/api/v1/query", Times: 1},
	} {
		srv := lokitest.New()
		load(srv, lines, noLag)
		srv.Inject(f)
		got := run(t, srv)
		srv.Close()
		if d := diffResults(got, want); d != "" {
			t.Errorf("fault %+v: counts differ (-clean +faulty):\n%.2000s", f, d)
		}
	}
}

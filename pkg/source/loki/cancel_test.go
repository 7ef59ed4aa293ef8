package loki_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend/httpclient"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// cancelServer holds 3000 lines, paged 100 at a time.
func cancelServer(t *testing.T) *lokitest.Server {
	t.Helper()
	srv := lokitest.New()
	t.Cleanup(srv.Close)
	for i := range 3000 {
		srv.Push(map[string]string{"job": "kubernetes-audit"}, genStart.Add(time.Duration(i)*time.Second), `{"n":`+strconv.Itoa(i)+`}`)
	}
	return srv
}

// TestScanCancelStopsPaging: a scan cancelled while it delivers a page returns
// context.Canceled without asking for another page, and without delivering the rest of a
// large page.
func TestScanCancelStopsPaging(t *testing.T) {
	srv := cancelServer(t)
	s := newSource(t, srv, func(c *loki.Config) { c.PageSize = 1000 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n int
	_, err := s.Scan(ctx, source.Request{From: genStart, To: genStart.Add(2 * time.Hour)}, func([]byte) error {
		if n++; n == 1200 { // on the second page
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if got := srv.Requests(queryRange); got != 2 {
		t.Errorf("%d pages asked, want 2: paging went on after the cancel", got)
	}
	if n >= 2000 {
		t.Errorf("%d lines delivered: the rest of the page after the cancel was delivered too", n)
	}
}

// TestScanCancelAbortsRequest: a scan cancelled while Loki has not answered a page (it would
// take an hour) returns at once with context.Canceled, and asks nothing more.
func TestScanCancelAbortsRequest(t *testing.T) {
	srv := cancelServer(t)
	srv.Inject(lokitest.Fault{Kind: lokitest.FaultSlow, Path: queryRange, After: 1, Delay: time.Hour})
	started := make(chan struct{}, 8)
	var sent atomic.Int32
	signal := httpclient.NamedMiddlewareFunc("signal", func(_ httpclient.Options, next http.RoundTripper) http.RoundTripper {
		return httpclient.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
			sent.Add(1)
			started <- struct{}{}
			return next.RoundTrip(r)
		})
	})
	s := newSource(t, srv, func(c *loki.Config) {
		c.PageSize = 100
		c.HTTP.Middlewares = []httpclient.Middleware{signal}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Scan(ctx, source.Request{From: genStart, To: genStart.Add(2 * time.Hour)}, func([]byte) error { return nil })
		done <- err
	}()
	<-started // page 1
	<-started // page 2: held by the server for an hour
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if n := sent.Load(); n != 2 {
		t.Errorf("%d requests sent, want 2", n)
	}
}

// TestCountCancelAbortsRequest: the same for a metric query (pushdown).
func TestCountCancelAbortsRequest(t *testing.T) {
	srv := cancelServer(t)
	srv.Inject(lokitest.Fault{Kind: lokitest.FaultSlow, Delay: time.Hour, Times: -1})
	started := make(chan struct{}, 8)
	signal := httpclient.NamedMiddlewareFunc("signal", func(_ httpclient.Options, next http.RoundTripper) http.RoundTripper {
		return httpclient.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
			started <- struct{}{}
			return next.RoundTrip(r)
		})
	})
	s := newSource(t, srv, func(c *loki.Config) { c.HTTP.Middlewares = []httpclient.Middleware{signal}; c.Parallelism = 1 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		from := genStart.Add(90 * time.Second)
		_, err := s.Count(ctx, source.CountRequest{From: from, To: genStart.Add(time.Hour), Start: genStart, Step: time.Minute, N: 61, Filter: query.Filter{}})
		done <- err
	}()
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if n := len(started); n != 0 {
		t.Errorf("%d more requests after the cancel", n)
	}
}

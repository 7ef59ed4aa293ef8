package cloudwatch_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/smithy-go/middleware"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch/cwtest"
)

// TestCountCancelStopsQuery: a count cancelled while it polls a running Insights query returns
// context.Canceled, polls no more, and stops the query (StopQuery with its id).
func TestCountCancelStopsQuery(t *testing.T) {
	srv := newServer(t, loadFixtures(t)[:50])
	srv.RunningPolls = 1 << 30
	polled := make(chan struct{}, 1)
	srv.Fault = func(op string, n int) *cwtest.Fault {
		if op == "GetQueryResults" && n == 3 {
			polled <- struct{}{}
		}
		return nil
	}
	src := newSource(t, srv, nil, cloudwatch.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := src.Count(ctx, countReq(query.Filter{}))
		done <- err
	}()
	<-polled
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if n := srv.Calls("GetQueryResults"); n != 3 {
		t.Errorf("%d GetQueryResults calls, want 3: polling went on after the cancel", n)
	}
	if st := srv.Stopped(); len(st) != 1 || st[0] == "" {
		t.Errorf("StopQuery calls: %v, want one with the query's id", st)
	}
}

// TestCountCancelDuringPollWait: a count cancelled while it waits between polls (an hour
// here) returns at once and stops the query.
func TestCountCancelDuringPollWait(t *testing.T) {
	srv := newServer(t, loadFixtures(t)[:50])
	srv.RunningPolls = 1 << 30
	started := make(chan string, 1)
	signal := func(o *cloudwatchlogs.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("signal-started",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleInitialize(ctx, in)
					if res, ok := out.Result.(*cloudwatchlogs.StartQueryOutput); ok && err == nil {
						started <- *res.QueryId
					}
					return out, md, err
				}), middleware.After)
		})
	}
	src := newSource(t, srv, nil, cloudwatch.Options{PollInterval: time.Hour, MaxPollInterval: time.Hour, ClientOptions: []func(*cloudwatchlogs.Options){signal}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := src.Count(ctx, countReq(query.Filter{}))
		done <- err
	}()
	id := <-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if n := srv.Calls("GetQueryResults"); n != 0 {
		t.Errorf("%d GetQueryResults calls during an hour's wait", n)
	}
	if st := srv.Stopped(); !slices.Equal(st, []string{id}) {
		t.Errorf("StopQuery calls %v, want [%s]", st, id)
	}
}

package loki_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

var tailLabels = map[string]string{"job": "kubernetes-audit", "host": "cp-1"}

// tailRun runs Source.Tail in the background.
type tailRun struct {
	lines     chan string
	connected chan struct{}
	done      chan error
	mu        sync.Mutex
	problems  []string
}

func startTail(t *testing.T, s *loki.Source, cur *loki.TailCursor) *tailRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &tailRun{lines: make(chan string, 10_000), connected: make(chan struct{}, 16), done: make(chan error, 1)}
	go func() {
		r.done <- s.Tail(ctx, loki.TailOptions{
			Cursor:    cur,
			RetryBase: time.Millisecond,
			Connected: func() { r.connected <- struct{}{} },
			Problem:   func(m string) { r.mu.Lock(); r.problems = append(r.problems, m); r.mu.Unlock() },
		}, func(_ string, _ time.Time, line []byte) error {
			r.lines <- string(line)
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *tailRun) waitConnected(t *testing.T) {
	t.Helper()
	select {
	case <-r.connected:
	case err := <-r.done:
		t.Fatalf("tail ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the tail never connected")
	}
}

// expect receives want, in order, and nothing else before them.
func (r *tailRun) expect(t *testing.T, want []string) {
	t.Helper()
	for i, w := range want {
		select {
		case got := <-r.lines:
			if got != w {
				t.Fatalf("entry %d is %s, want %s (lost, repeated or out of order)", i, got, w)
			}
		case err := <-r.done:
			t.Fatalf("tail ended: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatalf("entry %d (%s) never arrived", i, w)
		}
	}
}

func push(srv *lokitest.Server, prefix string, n int) []string {
	var out []string
	for i := range n {
		line := fmt.Sprintf(`{"auditID":"%s-%03d","stage":"ResponseComplete","verb":"get"}`, prefix, i)
		srv.Push(tailLabels, time.Now(), line)
		out = append(out, line)
	}
	return out
}

// TestTailReconnectsWithoutLossOrRepeat drops the tail WebSocket twice, once with entries
// pushed while no tail is connected: every entry arrives once, in order.
func TestTailReconnectsWithoutLossOrRepeat(t *testing.T) {
	srv := lokitest.New()
	defer srv.Close()
	push(srv, "before", 3) // older than the tail's start: not delivered
	// A page of 10: Loki replays at most that many entries from a tail's start, fewer than
	// were pushed while the tail was away; query_range reads the rest.
	s := newSource(t, srv, func(c *loki.Config) { c.PageSize = 10 })
	cur := &loki.TailCursor{}
	r := startTail(t, s, cur)
	r.waitConnected(t)

	want := push(srv, "a", 50)
	r.expect(t, want)
	srv.DropTails()
	b := push(srv, "b", 50) // while reconnecting
	r.waitConnected(t)
	r.expect(t, b)
	c := push(srv, "c", 20)
	r.expect(t, c)
	srv.DropTails()
	r.waitConnected(t)
	d := push(srv, "d", 5)
	r.expect(t, d)
	marker := push(srv, "end", 1)
	r.expect(t, marker) // nothing was repeated before it
	if n := srv.TailsOpened(); n != 3 {
		t.Errorf("%d tail connections, want 3", n)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.problems) != 2 {
		t.Errorf("problems %v: want the two lost connections", r.problems)
	}
}

// TestTailResumesFromCursor: a new tail with the cursor of a stopped one delivers what was
// pushed in between, and nothing it had delivered.
func TestTailResumesFromCursor(t *testing.T) {
	srv := lokitest.New()
	defer srv.Close()
	s := newSource(t, srv, nil)
	cur := &loki.TailCursor{}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 100)
	connected := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- s.Tail(ctx, loki.TailOptions{Cursor: cur, Connected: func() { connected <- struct{}{} }},
			func(_ string, _ time.Time, line []byte) error { got <- string(line); return nil })
	}()
	<-connected
	first := push(srv, "a", 10)
	for range first {
		<-got
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Tail returned %v, want context.Canceled", err)
	}
	between := push(srv, "b", 7)
	r := startTail(t, s, cur)
	r.expect(t, between)
	r.expect(t, push(srv, "c", 1))
}

// TestTailRefusedCredentialsEndsTail: a 401 is final, not retried forever.
func TestTailRefusedCredentialsEndsTail(t *testing.T) {
	srv := lokitest.New()
	defer srv.Close()
	srv.BasicUser, srv.BasicPass = "loki", "secret"
	s := newSource(t, srv, nil)
	err := s.Tail(context.Background(), loki.TailOptions{Cursor: &loki.TailCursor{}}, func(string, time.Time, []byte) error { return nil })
	var ae *loki.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Path != loki.TailPath {
		t.Fatalf("Tail returned %v, want a 401 APIError on %s", err, loki.TailPath)
	}
}

// TestTailFullReplayFillsTheGap: more than limit entries came after the catch-up read and
// before the tail connected (here the read ends 10 s in the past, by the source's clock), so
// Loki's replay of the newest limit entries leaves older ones out: they are read with
// query_range, and every entry arrives once, in order.
func TestTailFullReplayFillsTheGap(t *testing.T) {
	srv := lokitest.New()
	defer srv.Close()
	now := time.Now()
	var want []string
	for i := range 30 {
		line := fmt.Sprintf(`{"auditID":"gap-%03d","stage":"ResponseComplete","verb":"get"}`, i)
		srv.Push(tailLabels, now.Add(-5*time.Second+time.Duration(i)*time.Millisecond), line)
		want = append(want, line)
	}
	s := newSource(t, srv, func(c *loki.Config) {
		c.PageSize = 10
		c.Now = func() time.Time { return now.Add(-10 * time.Second) }
	})
	resumed := now.Add(-20 * time.Second).UnixNano()
	r := startTail(t, s, &loki.TailCursor{Start: resumed, Last: resumed})
	r.waitConnected(t)
	r.expect(t, want)
	marker := push(srv, "end", 1)
	r.expect(t, marker) // nothing was repeated before it
}

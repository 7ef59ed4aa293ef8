package cloudwatch_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch/cwtest"
)

// cwTail runs Source.Tail in the background and collects what it delivers.
type cwTail struct {
	mu     sync.Mutex
	got    []string
	probs  []string
	polled chan struct{}
	done   chan error
}

func startCWTail(t *testing.T, src *cloudwatch.Source) *cwTail {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &cwTail{polled: make(chan struct{}, 1), done: make(chan error, 1)}
	go func() {
		r.done <- src.Tail(ctx, cloudwatch.TailOptions{
			Cursor: &cloudwatch.TailCursor{}, Every: time.Millisecond, Lookback: time.Minute,
			Problem: func(m string) { r.mu.Lock(); r.probs = append(r.probs, m); r.mu.Unlock() },
			Polled: func() {
				select {
				case r.polled <- struct{}{}:
				default:
				}
			},
		}, func(_ string, _ time.Time, line []byte) error {
			r.mu.Lock()
			r.got = append(r.got, string(line))
			r.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// rounds waits until a whole round of polls began after everything added so far.
func (r *cwTail) rounds(t *testing.T) []string {
	t.Helper()
	for range 2 {
		select {
		case <-r.polled:
		default:
		}
		select {
		case <-r.polled:
		case err := <-r.done:
			t.Fatalf("tail ended: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("no poll for 30 s")
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func cwLine(id string) string {
	return fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"%s","stage":"ResponseComplete","verb":"get"}`, id)
}

// TestTailPollingBoundary: events sharing the millisecond of events already delivered, and
// events delivered late (older than the newest seen), arrive exactly once; nothing before the
// tail's start does; paging by nextToken inside a poll.
func TestTailPollingBoundary(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	srv := cwtest.New()
	t.Cleanup(srv.Close)
	srv.AddGroup(testGroup)
	add := func(stream string, ts time.Time, ids ...string) []string {
		var lines []string
		for _, id := range ids {
			srv.Add(testGroup, stream, cwtest.Event{Timestamp: ts.UnixMilli(), Message: cwLine(id)})
			lines = append(lines, cwLine(id))
		}
		return lines
	}
	add(auditStreams[0], now.Add(-time.Second), "old-1", "old-2")
	src := newSource(t, srv, nil, cloudwatch.Options{PageLimit: 2, Now: func() time.Time { return now }})
	r := startCWTail(t, src)
	r.rounds(t)

	var want []string
	want = append(want, add(auditStreams[0], now.Add(100*time.Millisecond), "a-1", "a-2", "a-3")...)
	check := func() {
		t.Helper()
		got := r.rounds(t)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("delivered %d events:\n%v\nwant %d:\n%v", len(got), got, len(want), want)
		}
	}
	check()
	// The same millisecond as a-1..a-3, from another stream: polling from last+1 would lose them.
	want = append(want, add(auditStreams[1], now.Add(100*time.Millisecond), "b-1", "b-2")...)
	want = append(want, add(auditStreams[0], now.Add(200*time.Millisecond), "c-1")...)
	check()
	// Delivered late: older than the newest event seen, within the look-back.
	want = append(want, add(auditStreams[2], now.Add(50*time.Millisecond), "late-1")...)
	check()
	check() // more polls repeat nothing
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.probs) > 0 {
		t.Errorf("problems: %v", r.probs)
	}
}

// TestTailMissingGroupEndsTail: a missing log group is final.
func TestTailMissingGroupEndsTail(t *testing.T) {
	srv := cwtest.New()
	t.Cleanup(srv.Close)
	src := newSource(t, srv, nil, cloudwatch.Options{})
	err := src.Tail(testCtx(t), cloudwatch.TailOptions{Cursor: &cloudwatch.TailCursor{}, Every: time.Millisecond},
		func(string, time.Time, []byte) error { return nil })
	var cwErr *cloudwatch.Error
	if !errors.As(err, &cwErr) || cwErr.Kind != cloudwatch.KindNotFound {
		t.Fatalf("Tail returned %v, want a not-found *Error", err)
	}
}

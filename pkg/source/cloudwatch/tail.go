package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// Live tail by polling FilterLogEvents. CloudWatch's own StartLiveTail is an event stream
// over HTTP/2 (application/vnd.amazon.eventstream) that the local test server cannot speak
// realistically, so the tail polls instead, with raw mode's rules: it pages by nextToken, and
// a poll starts at an earlier event's timestamp (never last+1) with a seen-set of eventIds,
// so that events sharing a millisecond, and events delivered late, are neither lost nor
// repeated.
const (
	// DefaultTailEvery is how often each log group is polled (FilterLogEvents: 5 requests/s
	// per account and region, shared with queries).
	DefaultTailEvery = 5 * time.Second
	// DefaultTailLookback is how far before the newest event seen each poll starts again:
	// EKS delivers audit events late and not in order; an event older than this when it is
	// delivered is missed.
	DefaultTailLookback = 2 * time.Minute
	// tailSeenMax bounds the eventIds remembered per group.
	tailSeenMax = 500_000
)

// TailCursor is where a tail stands per log group: the newest timestamp seen and the
// eventIds seen within the look-back. The zero value starts at the current time.
type TailCursor struct {
	Start  int64 // Unix ms; nothing older is delivered
	groups map[string]*groupCursor
}

type groupCursor struct {
	high int64            // newest timestamp delivered (ms)
	seen map[string]int64 // eventId → timestamp, within the look-back
}

// TailOptions configure Tail.
type TailOptions struct {
	Filter *query.Filter // its exact parts become a filter pattern
	Cursor *TailCursor   // required; updated with every event delivered
	// Every and Lookback: see DefaultTailEvery and DefaultTailLookback.
	Every, Lookback time.Duration
	// Problem receives what a poll could not read (throttled, unavailable); the tail goes on.
	Problem func(msg string)
	// Polled is called after each round of polls (tests use it to know a round ended).
	Polled func()
}

// Tail polls the configured log groups for new audit events and calls fn with each one's
// log stream, timestamp and message, until ctx is done (returns ctx.Err()) or fn fails. A
// missing log group, refused credentials or an invalid request end the tail with an *Error;
// throttling and outages are reported to Problem and the next poll tries again.
func (s *Source) Tail(ctx context.Context, opts TailOptions, fn func(stream string, ts time.Time, line []byte) error) error {
	every, back := opts.Every, opts.Lookback
	if every <= 0 {
		every = DefaultTailEvery
	}
	if back <= 0 {
		back = DefaultTailLookback
	}
	problem := opts.Problem
	if problem == nil {
		problem = func(string) {}
	}
	cur := opts.Cursor
	if cur.Start == 0 {
		cur.Start = ms(s.now())
	}
	if cur.groups == nil {
		cur.groups = map[string]*groupCursor{}
	}
	pattern := ""
	if opts.Filter != nil {
		pattern = FilterPattern(*opts.Filter)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		for _, g := range s.cfg.LogGroups {
			gc := cur.groups[g]
			if gc == nil {
				gc = &groupCursor{high: cur.Start, seen: map[string]int64{}}
				cur.groups[g] = gc
			}
			err := s.pollGroup(ctx, g, pattern, max(cur.Start, gc.high-back.Milliseconds()), gc, fn)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var cwErr *Error
			switch {
			case err == nil:
			case errors.Is(err, errTailFn):
				return errors.Unwrap(err)
			case errors.As(err, &cwErr) && (cwErr.Kind == KindAccessDenied || cwErr.Kind == KindCredentials ||
				cwErr.Kind == KindNotFound || cwErr.Kind == KindInvalid):
				return err
			default:
				problem(fmt.Sprintf("a poll of log group %s failed (%v): the next one reads what it missed", g, err))
			}
			gc.prune(back.Milliseconds())
		}
		if opts.Polled != nil {
			opts.Polled()
		}
		timer.Reset(every)
	}
}

var errTailFn = errors.New("tail function failed")

type tailFnError struct{ err error }

func (e tailFnError) Error() string        { return e.err.Error() }
func (e tailFnError) Unwrap() error        { return e.err }
func (e tailFnError) Is(target error) bool { return target == errTailFn }

// pollGroup reads group's events from start on, following nextToken, and delivers those not
// seen yet.
func (s *Source) pollGroup(ctx context.Context, group, pattern string, start int64, gc *groupCursor,
	fn func(string, time.Time, []byte) error) error {
	in := &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName:        aws.String(group),
		LogStreamNamePrefix: aws.String(s.cfg.StreamPrefix),
		StartTime:           aws.Int64(start),
	}
	if pattern != "" {
		in.FilterPattern = aws.String(pattern)
	}
	if s.pageLim > 0 {
		in.Limit = aws.Int32(s.pageLim)
	}
	for {
		if err := s.wait(ctx); err != nil {
			return err
		}
		out, err := s.client.FilterLogEvents(ctx, in)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return classify(err, "FilterLogEvents", group)
		}
		for _, e := range out.Events {
			id, ts := aws.ToString(e.EventId), aws.ToInt64(e.Timestamp)
			if _, dup := gc.seen[id]; dup || id == "" || ts < start {
				continue
			}
			gc.seen[id] = ts
			gc.high = max(gc.high, ts)
			msg := aws.ToString(e.Message)
			if msg == "" {
				continue
			}
			if err := fn(aws.ToString(e.LogStreamName), time.UnixMilli(ts).UTC(), []byte(msg)); err != nil {
				return tailFnError{err}
			}
		}
		next := aws.ToString(out.NextToken)
		if next == "" {
			return nil
		}
		in.NextToken = aws.String(next)
	}
}

// prune forgets the eventIds older than the look-back (they cannot come again), and the
// oldest ones past tailSeenMax.
func (gc *groupCursor) prune(back int64) {
	for id, ts := range gc.seen {
		if ts < gc.high-back {
			delete(gc.seen, id)
		}
	}
	for id := range gc.seen {
		if len(gc.seen) <= tailSeenMax {
			break
		}
		delete(gc.seen, id)
	}
}

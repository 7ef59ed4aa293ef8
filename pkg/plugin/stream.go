package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

var _ backend.StreamHandler = (*Datasource)(nil)

// Live tail: Grafana Live channels ds/<uid>/tail/<key>, one per distinct query (the frontend
// picks the key from a hash of the query), with the query in the subscribe request's data.
// RunStream runs once per channel however many viewers share it, and stops when the last
// one leaves. See docs/live.md.
const tailPathPrefix = "tail/"

// Live tail tunables.
const (
	// tailFlushEvery is how often new events are sent; detections are judged every
	// tailDetectEvery over a window of recent lines.
	tailFlushEvery  = 250 * time.Millisecond
	tailDetectEvery = time.Second
	// tailQueueBytes and tailQueueLines bound the lines waiting to be sent per subscription:
	// past them, lines are dropped and counted (a slow client never grows a queue).
	tailQueueBytes = 32 << 20
	tailQueueLines = 200_000
	// tailResumeWithin: a channel run again within this long after it stopped continues
	// from where it stopped (file position, last Loki or CloudWatch timestamp); later it
	// starts at the end of the log.
	tailResumeWithin = 5 * time.Minute
)

// SubscribeStream accepts subscriptions to tail/<key> whose data is an events or detections
// query the plugin can run.
func (d *Datasource) SubscribeStream(ctx context.Context, req *backend.SubscribeStreamRequest) (*backend.SubscribeStreamResponse, error) {
	if !strings.HasPrefix(req.Path, tailPathPrefix) || len(req.Path) == len(tailPathPrefix) {
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusNotFound}, nil
	}
	if _, err := d.tailQuery(req.Data); err != nil {
		// Accepted all the same: RunStream sends the error as a notice the user sees, where a
		// refused subscription would only say "not found".
		log.DefaultLogger.FromContext(ctx).Debug("live tail of an invalid query", "path", req.Path, "error", err.Error())
	}
	return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusOK}, nil
}

// PublishStream refuses: viewers only read a tail.
func (d *Datasource) PublishStream(context.Context, *backend.PublishStreamRequest) (*backend.PublishStreamResponse, error) {
	return &backend.PublishStreamResponse{Status: backend.PublishStreamStatusPermissionDenied}, nil
}

// RunStream tails the datasource's source and sends, every tailFlushEvery, a frame of the new
// events that match the query (events: the logs or table frame of an events query), or of
// the new findings (detections: the findings table). It returns when Grafana cancels ctx (no
// viewer left). A query or source that cannot be tailed is reported once as a frame notice.
func (d *Datasource) RunStream(ctx context.Context, req *backend.RunStreamRequest, sender *backend.StreamSender) error {
	q, err := d.tailQuery(req.Data)
	var ts tailSource
	if err == nil {
		ts, err = d.tailSource()
	}
	if err != nil {
		return sendTailError(ctx, sender, err)
	}
	live := d.newLive(q)
	cur := d.tails.cursor(req.Path)
	defer d.tails.stopped(req.Path, cur)

	queue := newLineQueue(tailQueueBytes, tailQueueLines)
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	// The source narrows what it sends by the filter (Loki line filters, CloudWatch filter
	// patterns) only where the event's JSON is in the line as it is, as for queries. Under the
	// automatic line format a remote source's lines may be in an envelope that escapes the
	// event, and a tail cannot check its future lines first (engine.resolveAuto): no filter.
	var filter *query.Filter
	_, remote := d.src.(source.BareChecker)
	if f := d.lineFormat(); (f == envelope.Auto && !remote) || f.LiteralFiltersExact() {
		filter = &q.Filter
	}
	go func() { done <- ts.tail(tctx, cur, filter, queue) }()

	ticker := time.NewTicker(tailFlushEvery)
	defer ticker.Stop()
	running := done // nil once the tail returned
	for {
		select {
		case <-ctx.Done():
			if running != nil {
				_ = <-done // the tail's ctx.Err(): Grafana ended the stream
			}
			return nil
		case err := <-running:
			running = nil
			if err != nil && ctx.Err() == nil {
				queue.problem("the live tail stopped: " + err.Error())
			}
		case <-ticker.C:
		}
		f, err := live.frame(ctx, queue.take())
		if err != nil {
			return sendTailError(ctx, sender, err)
		}
		if f != nil {
			if err := sender.SendFrame(f, data.IncludeAll); err != nil {
				return err
			}
		}
	}
}

// sendTailError sends err as the notice of an empty frame and waits for Grafana to end the
// stream (returning at once would make Grafana run it again and again).
func sendTailError(ctx context.Context, sender *backend.StreamSender, err error) error {
	f := data.NewFrame("error")
	f.AppendNotices(data.Notice{Severity: data.NoticeSeverityError, Text: err.Error()})
	if serr := sender.SendFrame(f, data.IncludeAll); serr != nil {
		return serr
	}
	<-ctx.Done()
	return nil
}

// tailQuery parses a live query: an events or detections query of the query model.
func (d *Datasource) tailQuery(raw json.RawMessage) (*query.Query, error) {
	if d.configErr != nil {
		return nil, d.configErr
	}
	q, err := query.Parse(raw, "")
	if err != nil {
		return nil, err
	}
	switch q.QueryType {
	case query.TypeEvents:
	case query.TypeDetections:
		if d.detectErr != nil {
			return nil, errors.New("the datasource's detections settings are invalid: " + d.detectErr.Error())
		}
	default:
		return nil, &query.Error{Msg: fmt.Sprintf("live tail runs events and detections queries, not %s", q.QueryType)}
	}
	return q, nil
}

// tailCursors remember where each channel's tail stood when it stopped. The zero value is
// ready to use.
type tailCursors struct {
	mu sync.Mutex
	m  map[string]*tailCursor
}

// cursor is the channel's cursor to resume from, or a new one.
func (c *tailCursors) cursor(path string) *tailCursor {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.m[path]; ok && time.Since(cur.stoppedAt) <= tailResumeWithin {
		delete(c.m, path)
		return cur
	}
	return &tailCursor{}
}

// stopped keeps cur for a channel that may run again soon, and forgets old ones.
func (c *tailCursors) stopped(path string, cur *tailCursor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*tailCursor{}
	}
	now := time.Now()
	for p, old := range c.m {
		if now.Sub(old.stoppedAt) > tailResumeWithin {
			delete(c.m, p)
		}
	}
	cur.stoppedAt = now
	c.m[path] = cur
}

// lineQueue holds the lines read but not sent yet, within bounds: past them lines are dropped
// and counted. Safe for concurrent use.
type lineQueue struct {
	mu                 sync.Mutex
	lines              [][]byte
	bytes              int
	maxBytes, maxLines int
	dropped            int64
	problems           []string
	infos              []string
}

func newLineQueue(maxBytes, maxLines int) *lineQueue {
	return &lineQueue{maxBytes: maxBytes, maxLines: maxLines}
}

// emit queues a copy of line, or counts it as dropped when the queue is full.
func (q *lineQueue) emit(line []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.lines) >= q.maxLines || q.bytes+len(line) > q.maxBytes {
		q.dropped++
		return
	}
	q.lines = append(q.lines, append([]byte(nil), line...))
	q.bytes += len(line)
}

// problem queues a sentence for the next frame's notices (repeats are kept once).
func (q *lineQueue) problem(msg string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range q.problems {
		if p == msg {
			return
		}
	}
	q.problems = append(q.problems, msg)
}

// ready queues an informational sentence (what the tail follows) for the next frame.
func (q *lineQueue) ready(msg string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.infos = append(q.infos, msg)
}

// tailBatch is what the queue held at one flush.
type tailBatch struct {
	lines    [][]byte
	dropped  int64
	problems []string
	infos    []string
}

func (q *lineQueue) take() tailBatch {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := tailBatch{lines: q.lines, dropped: q.dropped, problems: q.problems, infos: q.infos}
	q.lines, q.bytes, q.dropped, q.problems, q.infos = nil, 0, 0, nil, nil
	return b
}

func (b *tailBatch) add(o tailBatch) {
	b.lines = append(b.lines, o.lines...)
	b.dropped += o.dropped
	b.problems = append(b.problems, o.problems...)
	b.infos = append(b.infos, o.infos...)
}

func (b tailBatch) empty() bool {
	return len(b.lines) == 0 && b.dropped == 0 && len(b.problems) == 0 && len(b.infos) == 0
}

// notices are the batch's own notices: dropped lines and the source's problems.
func (b tailBatch) notices() []data.Notice {
	var out []data.Notice
	for _, m := range b.infos {
		out = append(out, data.Notice{Severity: data.NoticeSeverityInfo, Text: m})
	}
	if b.dropped > 0 {
		out = append(out, data.Notice{Severity: data.NoticeSeverityWarning, Text: fmt.Sprintf(
			"dropped %d %s: the viewer read more slowly than the log was written (at most %d lines or %d MiB wait per live query)",
			b.dropped, plural(b.dropped, "event", "events"), tailQueueLines, tailQueueBytes>>20)})
	}
	for _, p := range b.problems {
		out = append(out, data.Notice{Severity: data.NoticeSeverityWarning, Text: p})
	}
	return out
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

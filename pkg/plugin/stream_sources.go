package plugin

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
)

// tailSource follows a source: it calls sink.emit for every new line until ctx is done,
// keeping cur up to date so that a later run resumes where this one stopped, says once what
// it follows (sink.ready) and reports what it could not read (sink.problem); both become frame
// notices. It returns ctx.Err() or a failure that ends the tail.
type tailSource interface {
	tail(ctx context.Context, cur *tailCursor, filter *query.Filter, sink tailSink) error
}

// tailSink receives what a tailSource reads.
type tailSink interface {
	emit(line []byte)
	problem(msg string)
	ready(msg string)
}

// tailCursor is where a channel's tail stands, per source.
type tailCursor struct {
	mu        sync.Mutex
	stoppedAt time.Time
	files     map[string]file.Position // file: by active file path
	loki      loki.TailCursor
	cw        cloudwatch.TailCursor
}

// tailSource is the datasource's source as a tailSource.
func (d *Datasource) tailSource() (tailSource, error) {
	switch s := d.src.(type) {
	case *file.Source:
		return fileTail{s}, nil
	case *loki.Source:
		return lokiTail{s}, nil
	case *cloudwatch.Source:
		return cloudWatchTail{s}, nil
	}
	return nil, fmt.Errorf("live tail is not available for this source (%T)", d.src)
}

// fileTail follows the active audit files (file.Source.Follow).
type fileTail struct{ s *file.Source }

func (t fileTail) tail(ctx context.Context, cur *tailCursor, _ *query.Filter, sink tailSink) error {
	cur.mu.Lock()
	from := make(map[string]file.Position, len(cur.files))
	for p, pos := range cur.files {
		from[p] = pos
	}
	if cur.files == nil {
		cur.files = map[string]file.Position{}
	}
	cur.mu.Unlock()
	opts := file.FollowOptions{From: from, Problem: sink.problem, Started: func(paths []string) {
		if len(paths) == 0 {
			sink.ready("live tail: no active audit file (audit.log) yet; following the configured paths for one")
			return
		}
		sink.ready("live tail: following " + strings.Join(paths, ", "))
	}}
	return t.s.Follow(ctx, opts, func(pos file.Position, line []byte) error {
		sink.emit(line)
		cur.mu.Lock()
		cur.files[pos.Path] = pos
		cur.mu.Unlock()
		return nil
	})
}

// lokiTail follows the stream selector over Loki's tail WebSocket (loki.Source.Tail), with
// the query filter's exact line filters. The cursor is only used by one run at a time.
type lokiTail struct{ s *loki.Source }

func (t lokiTail) tail(ctx context.Context, cur *tailCursor, filter *query.Filter, sink tailSink) error {
	return t.s.Tail(ctx, loki.TailOptions{Filter: filter, Cursor: &cur.loki, Problem: sink.problem,
		Connected: readyOnce(sink, "live tail: following Loki's tail of the audit stream selector")},
		func(_ string, _ time.Time, line []byte) error { sink.emit(line); return nil })
}

// readyOnce is a callback that says msg the first time it is called.
func readyOnce(sink tailSink, msg string) func() {
	var once sync.Once
	return func() { once.Do(func() { sink.ready(msg) }) }
}

// cloudWatchTail polls the log groups with FilterLogEvents (cloudwatch.Source.Tail; see there
// why not StartLiveTail).
type cloudWatchTail struct{ s *cloudwatch.Source }

func (t cloudWatchTail) tail(ctx context.Context, cur *tailCursor, filter *query.Filter, sink tailSink) error {
	return t.s.Tail(ctx, cloudwatch.TailOptions{Filter: filter, Cursor: &cur.cw, Problem: sink.problem,
		Polled: readyOnce(sink, fmt.Sprintf("live tail: polling the audit log streams every %s (CloudWatch Logs FilterLogEvents; events delivered more than %s late are missed)",
			cloudwatch.DefaultTailEvery, cloudwatch.DefaultTailLookback))},
		func(_ string, _ time.Time, line []byte) error { sink.emit(line); return nil })
}

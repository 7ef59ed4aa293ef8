package plugin

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// liveQuery turns the lines of one flush into the frame to send, or nil when there is nothing
// to say.
type liveQuery interface {
	frame(ctx context.Context, b tailBatch) (*data.Frame, error)
}

func (d *Datasource) newLive(q *query.Query) liveQuery {
	if q.QueryType == query.TypeDetections {
		return newLiveDetections(q, d)
	}
	return newLiveEvents(q, d.lineFormat())
}

// liveEvents sends the new events that match the query's filter, in the order the source
// delivered them, as the frame an events query gives (logs or table).
// Lines are unwrapped from their envelope (the datasource's line format) first, as every
// line entering the engine is.
type liveEvents struct {
	q   *query.Query
	m   *query.Matcher
	sc  *audit.Scanner
	env *envelope.Unwrapper
	rec audit.Record
}

func newLiveEvents(q *query.Query, format envelope.Format) *liveEvents {
	m := q.Filter.Compile()
	return &liveEvents{q: q, m: m, sc: audit.NewScanner(m.Needs()), env: envelope.New(format)}
}

func (l *liveEvents) frame(_ context.Context, b tailBatch) (*data.Frame, error) {
	var out engine.EventsResult // whatever audit.Decode gives, as the events query keeps it
	var malformed int64
	var bytesRead int64
	for _, raw := range b.lines {
		bytesRead += int64(len(raw))
		line, ok := l.env.Unwrap(raw)
		if !ok {
			continue // a CRI partial line: the event comes with the line that ends it
		}
		line = bytes.Clone(line) // the event may be in the unwrapper's buffer; Decode keeps it
		if !l.m.MatchLine(line) {
			continue
		}
		if err := l.sc.Scan(line, &l.rec); err != nil {
			malformed++
			continue
		}
		if !l.m.Match(&l.rec) {
			continue
		}
		ev, err := audit.Decode(line)
		if err != nil {
			malformed++
			continue
		}
		out.Events = append(out.Events, ev)
	}
	out.Total = len(out.Events)
	notices := b.notices()
	if malformed > 0 {
		notices = append(notices, malformedNotice(malformed))
	}
	if out.Total == 0 && len(notices) == 0 {
		return nil, nil
	}
	res := &engine.Result{
		Events: &out,
		Stats: engine.Stats{Source: source.Stats{LinesRead: int64(len(b.lines)), BytesRead: bytesRead},
			Malformed: malformed, Matched: int64(out.Total)},
	}
	return liveFrame(l.q, res, notices), nil
}

func malformedNotice(n int64) data.Notice {
	return data.Notice{Severity: data.NoticeSeverityWarning,
		Text: fmt.Sprintf("skipped %d %s", n, plural(n, "line that is not an audit event", "lines that are not audit events"))}
}

// liveFrame is the query's frame for res, with the notices of the flush.
func liveFrame(q *query.Query, res *engine.Result, notices []data.Notice) *data.Frame {
	f := toFrames(q, res)[0]
	f.AppendNotices(notices...)
	return f
}

// Detections live: the rules judge a window of the most recent lines (at most these many),
// so that window rules (bursts, sweeps, sequences) see the events before the flush too. A
// finding is sent once; a group of repeats or a burst that grows is sent again with its new
// count.
const (
	liveWindowLines = 20_000
	liveWindowBytes = 64 << 20
	liveSeenMax     = 100_000
)

// liveDetections sends the new findings of the query's rules.
type liveDetections struct {
	q       *query.Query
	d       *Datasource
	window  [][]byte
	bytes   int
	seen    map[string]struct{}
	order   []string             // seen keys, oldest first (to bound seen)
	latest  map[string]time.Time // newest occurrence sent, by what a finding is about
	noticed map[string]struct{}
	pending tailBatch // lines and notices not judged yet (detections run every tailDetectEvery)
	last    time.Time
}

func newLiveDetections(q *query.Query, d *Datasource) *liveDetections {
	lq := *q
	lq.Format = query.FormatTable
	lq.Limit = liveSeenMax
	return &liveDetections{q: &lq, d: d, seen: map[string]struct{}{}, latest: map[string]time.Time{}, noticed: map[string]struct{}{}}
}

func (l *liveDetections) frame(ctx context.Context, b tailBatch) (*data.Frame, error) {
	l.pending.add(b)
	if time.Since(l.last) < tailDetectEvery && len(l.pending.infos) == 0 {
		return nil, nil
	}
	l.last = time.Now()
	b, l.pending = l.pending, tailBatch{}
	if b.empty() {
		return nil, nil
	}
	for _, line := range b.lines {
		l.window = append(l.window, line)
		l.bytes += len(line)
	}
	drop := 0
	for len(l.window)-drop > liveWindowLines || l.bytes > liveWindowBytes && drop < len(l.window) {
		l.bytes -= len(l.window[drop])
		drop++
	}
	l.window = append(l.window[:0:0], l.window[drop:]...)

	res, err := engine.Run(ctx, windowSource(l.window), engine.Request{
		Query: l.q, From: time.Unix(0, 0).UTC(), To: time.Now().UTC().Add(100 * 365 * 24 * time.Hour),
		Workers: 1, Detect: l.d.detect, Envelope: l.d.lineFormat(),
	})
	if err != nil {
		return nil, err
	}
	notices := b.notices()
	for _, n := range res.Notices {
		if _, ok := l.noticed[n.Text]; ok {
			continue
		}
		l.noticed[n.Text] = struct{}{}
		sev := data.NoticeSeverityInfo
		if n.Severity == engine.Warning {
			sev = data.NoticeSeverityWarning
		}
		notices = append(notices, data.Notice{Severity: sev, Text: n.Text})
	}
	out := &engine.DetectionsResult{}
	if res.Detections != nil {
		for i := len(res.Detections.Findings) - 1; i >= 0; i-- { // oldest first
			f := res.Detections.Findings[i]
			// A finding (or a group of repeats, a burst) is known by what it is about; it
			// is sent again only when a newer occurrence (another auditID, not older)
			// extends it, with its new count.
			what := strings.Join([]string{f.RuleID, f.User, f.SourceIP, f.Verb, f.Resource, f.Namespace, f.Name}, "\x00")
			key := what + "\x00" + f.AuditID
			if _, ok := l.seen[key]; ok || f.Time.Before(l.latest[what]) {
				continue
			}
			l.remember(key)
			l.latest[what] = f.Time
			out.Findings = append(out.Findings, f)
		}
	}
	out.Total = len(out.Findings)
	if out.Total == 0 && len(notices) == 0 {
		return nil, nil
	}
	return liveFrame(l.q, &engine.Result{Detections: out, Stats: res.Stats}, notices), nil
}

func (l *liveDetections) remember(key string) {
	l.seen[key] = struct{}{}
	l.order = append(l.order, key)
	if len(l.order) > liveSeenMax {
		n := len(l.order) - liveSeenMax
		for _, k := range l.order[:n] {
			delete(l.seen, k)
		}
		if len(l.latest) > liveSeenMax {
			clear(l.latest) // at worst a finding is sent once more
		}
		l.order = append(l.order[:0:0], l.order[n:]...)
	}
}

// windowSource is a source over lines in memory: the detections window.
type windowSource [][]byte

func (w windowSource) Scan(ctx context.Context, _ source.Request, fn source.LineFunc) (source.Stats, error) {
	var st source.Stats
	for _, line := range w {
		if err := fn(line); err != nil {
			return st, err
		}
		st.LinesRead++
		st.BytesRead += int64(len(line))
	}
	return st, ctx.Err()
}

func (w windowSource) Health(context.Context) source.Health { return source.Health{OK: true} }

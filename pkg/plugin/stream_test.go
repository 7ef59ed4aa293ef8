package plugin

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

func streamLine(id, verb, extra string) string {
	ts := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC).Format(time.RFC3339Nano)
	return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + id + `","stage":"ResponseComplete",` +
		`"requestURI":"/api/v1/namespaces/default/pods/web-1` + extra + `","verb":"` + verb + `","user":{"username":"alice@example.com","groups":["system:authenticated"]},` +
		`"sourceIPs":["10.1.2.3"],"objectRef":{"resource":"pods","namespace":"default","name":"web-1","apiVersion":"v1"},` +
		`"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"` + ts + `","stageTimestamp":"` + ts + `"}`
}

func noticeTexts(f *data.Frame) []string {
	if f == nil || f.Meta == nil {
		return nil
	}
	var out []string
	for _, n := range f.Meta.Notices {
		out = append(out, n.Text)
	}
	return out
}

// A slow viewer never grows the queue past its bounds: the rest is dropped and counted in the
// next frame's notice.
func TestLineQueueDropsPastItsBounds(t *testing.T) {
	q := newLineQueue(1<<20, 3)
	for i := range 5 {
		q.emit([]byte(streamLine("id-"+string(rune('a'+i)), "get", "")))
	}
	b := q.take()
	if len(b.lines) != 3 || b.dropped != 2 {
		t.Fatalf("queued %d, dropped %d; want 3 and 2", len(b.lines), b.dropped)
	}
	f, err := newLiveEvents(mustParse(t, `{"queryType":"events"}`), envelope.Auto).frame(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Rows() != 3 || !strings.HasPrefix(strings.Join(noticeTexts(f), "|"), "dropped 2 events") {
		t.Fatalf("frame: %d rows, notices %q", f.Rows(), noticeTexts(f))
	}
	if b := q.take(); len(b.lines) != 0 || b.dropped != 0 {
		t.Fatalf("take did not empty the queue: %+v", b)
	}

	q = newLineQueue(100, 1000) // bytes bound
	q.emit(make([]byte, 60))
	q.emit(make([]byte, 60))
	if b := q.take(); len(b.lines) != 1 || b.dropped != 1 {
		t.Fatalf("bytes bound: queued %d, dropped %d", len(b.lines), b.dropped)
	}
}

func mustParse(t *testing.T, js string) *query.Query {
	t.Helper()
	q, err := query.Parse([]byte(js), "")
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// Live events keep the source's order, apply the filter and count what is not an event.
func TestLiveEventsFilterAndOrder(t *testing.T) {
	l := newLiveEvents(mustParse(t, `{"queryType":"events","filter":{"verbs":["delete","get"]}}`), envelope.Auto)
	b := tailBatch{lines: [][]byte{
		[]byte(streamLine("z-last-id-first", "get", "")), []byte(streamLine("skip", "list", "")),
		[]byte(`not json`), []byte(streamLine("a-second", "delete", "")),
	}}
	f, err := l.frame(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	id := f.Fields[3]
	if f.Rows() != 2 || id.At(0) != "z-last-id-first/ResponseComplete" || id.At(1) != "a-second/ResponseComplete" {
		t.Fatalf("rows %d: %v, %v", f.Rows(), id.At(0), id.At(min(1, f.Rows()-1)))
	}
	if n := noticeTexts(f); len(n) != 1 || n[0] != "skipped 1 line that is not an audit event" {
		t.Fatalf("notices %q", n)
	}
	if f, _ := l.frame(context.Background(), tailBatch{}); f != nil {
		t.Fatal("an empty flush sent a frame")
	}
}

// A finding is sent once, though the window it came from is judged again at every flush.
func TestLiveDetectionsSendEachFindingOnce(t *testing.T) {
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":["/nonexistent"]}}`)
	l := newLiveDetections(mustParse(t, `{"queryType":"detections","rules":["exec-into-pod"]}`), ds)
	exec := strings.NewReplacer(`"verb":"get"`, `"verb":"create"`, `"name":"web-1"`, `"name":"web-1","subresource":"exec"`).
		Replace(streamLine("exec-1", "get", "/exec?command=sh&stdin=true&tty=true"))
	rows := func(b tailBatch) int {
		t.Helper()
		l.last = time.Time{} // judge now
		f, err := l.frame(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		if f == nil {
			return 0
		}
		return f.Rows()
	}
	if n := rows(tailBatch{lines: [][]byte{[]byte(exec)}}); n != 1 {
		t.Fatalf("first flush: %d findings, want 1", n)
	}
	if n := rows(tailBatch{lines: [][]byte{[]byte(streamLine("get-1", "get", ""))}}); n != 0 {
		t.Fatalf("second flush: %d findings, want none (the exec was sent)", n)
	}
	if n := rows(tailBatch{lines: [][]byte{[]byte(strings.NewReplacer("exec-1", "exec-2", "T10:00:00Z", "T10:00:05Z").Replace(exec))}}); n != 1 {
		t.Fatalf("third flush: %d findings, want the new exec", n)
	}
}

func TestTailCursorsResumeRecentOnly(t *testing.T) {
	var c tailCursors
	cur := c.cursor("tail/a")
	cur.loki.Last = 42
	c.stopped("tail/a", cur)
	if got := c.cursor("tail/a"); got != cur {
		t.Fatal("a channel run again at once did not resume")
	}
	cur.stoppedAt = time.Now().Add(-2 * tailResumeWithin)
	c.m["tail/a"] = cur
	if got := c.cursor("tail/a"); got == cur || got.loki.Last != 0 {
		t.Fatal("a channel stopped long ago resumed")
	}
}

// packets collects what RunStream sends.
type packets chan json.RawMessage

func (p packets) Send(pkt *backend.StreamPacket) error { p <- pkt.Data; return nil }

// RunStream returns when Grafana cancels it (the last viewer left), and a query it cannot
// tail is one error notice.
func TestRunStreamEndsWithItsContext(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), []byte(streamLine("old", "get", "")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+dir+`"]}}`)
	for _, tc := range []struct{ query, want string }{
		{`{"queryType":"events"}`, "live tail: following " + filepath.Join(dir, "audit.log")},
		{`{"queryType":"matrix"}`, "live tail runs events and detections queries, not matrix"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		out := make(packets, 16)
		done := make(chan error, 1)
		go func() {
			done <- ds.RunStream(ctx, &backend.RunStreamRequest{Path: "tail/x", Data: json.RawMessage(tc.query)}, backend.NewStreamSender(out))
		}()
		var f data.Frame
		select {
		case raw := <-out:
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no frame")
		}
		if n := noticeTexts(&f); len(n) != 1 || n[0] != tc.want {
			t.Errorf("%s: notices %q, want %q", tc.query, n, tc.want)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: RunStream returned %v", tc.query, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("RunStream did not return after its context was cancelled")
		}
	}
}

// A panel query that streams (stream: true, docs/live.md) still runs as a query where
// Grafana runs it in the backend (alerting, a panel without Live): the key is accepted.
func TestStreamOptionIsAQueryKey(t *testing.T) {
	if _, err := query.Parse([]byte(`{"refId":"A","queryType":"events","stream":true}`), ""); err != nil {
		t.Fatalf("a query with stream: true is rejected: %v", err)
	}
}

// A tail that fails for good (Loki refuses the credentials) is one warning notice; the stream
// then waits for Grafana to end it.
func TestRunStreamReportsAFailedTail(t *testing.T) {
	srv := lokitest.New()
	defer srv.Close()
	srv.BasicUser, srv.BasicPass = "loki", "not-sent"
	ds := newTestDatasource(t, `{"source":"loki","loki":{"url":"`+srv.URL+`","selector":"{job=\"kubernetes-audit\"}"}}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(packets, 16)
	done := make(chan error, 1)
	go func() {
		done <- ds.RunStream(ctx, &backend.RunStreamRequest{Path: "tail/x", Data: json.RawMessage(`{"queryType":"events"}`)}, backend.NewStreamSender(out))
	}()
	select {
	case raw := <-out:
		var f data.Frame
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		n := noticeTexts(&f)
		if len(n) != 1 || !strings.HasPrefix(n[0], "the live tail stopped: Loki refused the credentials (HTTP 401") {
			t.Fatalf("notices %q", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no frame")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunStream returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("RunStream did not return after its context was cancelled")
	}
	if len(out) != 0 {
		t.Errorf("%d more frames after the failure, want none", len(out))
	}
}

// Live events are unwrapped like every line of a query: a CRI line split in two partial lines
// is one event.
func TestLiveEventsUnwrapEnvelopes(t *testing.T) {
	l := newLiveEvents(mustParse(t, `{"queryType":"events"}`), envelope.Auto)
	ev := streamLine("cri-1", "get", "")
	half := len(ev) / 2
	b := tailBatch{lines: [][]byte{
		[]byte("2025-05-01T10:00:00.000000001Z stdout P " + ev[:half]),
		[]byte("2025-05-01T10:00:00.000000002Z stdout F " + ev[half:]),
		[]byte(`{"log":` + strconv.Quote(streamLine("docker-1", "get", "")+"\n") + `,"stream":"stdout","time":"2025-05-01T10:00:00Z"}`),
	}}
	f, err := l.frame(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Rows() != 2 || f.Fields[3].At(0) != "cri-1/ResponseComplete" || f.Fields[3].At(1) != "docker-1/ResponseComplete" {
		t.Fatalf("%d rows, notices %q", f.Rows(), noticeTexts(f))
	}
}

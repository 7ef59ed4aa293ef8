package e2e

// Live tail through the plugin protocol: the built plugin binary, Grafana's stream calls
// (SubscribeStream, then RunStream's server stream of frames), and a writer that appends to
// audit.log and rotates it both ways while the tail runs.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch/cwtest"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// tailLine is a complete kube-apiserver audit event whose auditID is id.
func tailLine(id string, ts time.Time) string {
	return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + id +
		`","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods/web-1","verb":"get",` +
		`"user":{"username":"alice@example.com","groups":["system:authenticated"]},"sourceIPs":["10.1.2.3"],` +
		`"userAgent":"kubectl/v1.31.0 (linux/amd64) kubernetes/9a1d2f6","objectRef":{"resource":"pods","namespace":"default","name":"web-1","apiVersion":"v1"},` +
		`"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"` + ts.Add(-2*time.Millisecond).UTC().Format(time.RFC3339Nano) +
		`","stageTimestamp":"` + ts.UTC().Format(time.RFC3339Nano) + `","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}`
}

// liveTail is one RunStream call: its frames, decoded, arrive on frames.
type liveTail struct {
	frames chan *data.Frame
	errs   chan error
}

// runStream subscribes to path with query and runs the stream until the test ends.
func (h *host) runStream(t *testing.T, pc *pluginv2.PluginContext, path string, query map[string]any) *liveTail {
	t.Helper()
	body, err := json.Marshal(query)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := h.stream.SubscribeStream(callCtx(t), &pluginv2.SubscribeStreamRequest{
		PluginContext: pc, Path: path, Data: body,
	})
	if err != nil {
		t.Fatalf("SubscribeStream: %v", err)
	}
	if sub.GetStatus() != pluginv2.SubscribeStreamResponse_OK {
		t.Fatalf("SubscribeStream %s: status %v", path, sub.GetStatus())
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rs, err := h.stream.RunStream(ctx, &pluginv2.RunStreamRequest{PluginContext: pc, Path: path, Data: body})
	if err != nil {
		t.Fatalf("RunStream: %v", err)
	}
	lt := &liveTail{frames: make(chan *data.Frame, 1024), errs: make(chan error, 1)}
	go func() {
		for {
			pkt, err := rs.Recv()
			if err != nil {
				lt.errs <- err
				return
			}
			f := &data.Frame{}
			if err := json.Unmarshal(pkt.GetData(), f); err != nil {
				lt.errs <- fmt.Errorf("decode frame: %w", err)
				return
			}
			select {
			case lt.frames <- f:
			case <-ctx.Done():
				return
			}
		}
	}()
	return lt
}

// next is the next frame, or a test failure after a minute without one.
func (lt *liveTail) next(t *testing.T) *data.Frame {
	t.Helper()
	select {
	case f := <-lt.frames:
		return f
	case err := <-lt.errs:
		t.Fatalf("stream ended: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("no frame for a minute")
	}
	return nil
}

// waitReady reads frames until the one whose notice says what the tail follows.
func (lt *liveTail) waitReady(t *testing.T) {
	t.Helper()
	for {
		f := lt.next(t)
		if f.Meta != nil {
			for _, n := range f.Meta.Notices {
				if n.Severity == data.NoticeSeverityInfo && strings.HasPrefix(n.Text, "live tail: ") {
					return
				}
				if n.Severity == data.NoticeSeverityError {
					t.Fatalf("stream error: %s", n.Text)
				}
			}
		}
	}
}

// auditIDs are the auditIDs of a logs frame's rows, in order.
func auditIDs(t *testing.T, f *data.Frame) []string {
	t.Helper()
	if f.Meta != nil {
		for _, n := range f.Meta.Notices {
			if n.Severity != data.NoticeSeverityInfo {
				t.Errorf("notice: %s", n.Text)
			}
		}
	}
	idx := -1
	for i, fl := range f.Fields {
		if fl.Name == "id" {
			idx = i
		}
	}
	if idx < 0 {
		if f.Rows() > 0 {
			t.Fatalf("frame %q has no id field", f.Name)
		}
		return nil
	}
	out := make([]string, f.Rows())
	for i := range out {
		id, _ := f.Fields[idx].ConcreteAt(i)
		s, _ := id.(string)
		out[i], _, _ = strings.Cut(s, "/")
	}
	return out
}

// tailWriter appends numbered events to audit.log and rotates it.
type tailWriter struct {
	t      *testing.T
	dir    string
	active string
	n      int
	fh     *os.File
	copies int
}

func newTailWriter(t *testing.T, dir string) *tailWriter {
	w := &tailWriter{t: t, dir: dir, active: filepath.Join(dir, activeName)}
	w.open()
	t.Cleanup(func() { w.fh.Close() })
	return w
}

func (w *tailWriter) open() {
	fh, err := os.OpenFile(w.active, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		w.t.Fatal(err)
	}
	w.fh = fh
}

// write appends n events and returns their ids.
func (w *tailWriter) write(n int) []string {
	var b strings.Builder
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("tail-%08d", w.n)
		b.WriteString(tailLine(ids[i], time.Now()))
		b.WriteByte('\n')
		w.n++
	}
	if _, err := w.fh.WriteString(b.String()); err != nil {
		w.t.Fatal(err)
	}
	return ids
}

// rename rotates as kube-apiserver (lumberjack) does: rename to a timestamped name, then
// create a new audit.log.
func (w *tailWriter) rename() {
	w.fh.Close()
	name := "audit-" + time.Now().UTC().Format("2006-01-02T15-04-05.000") + ".log"
	if err := os.Rename(w.active, filepath.Join(w.dir, name)); err != nil {
		w.t.Fatal(err)
	}
	w.open()
}

// copytruncate rotates as logrotate's copytruncate does: older copies shift (.1 → .2), the
// file is copied to audit.log.1 and truncated in place; the writer keeps its descriptor.
func (w *tailWriter) copytruncate() {
	for j := w.copies; j >= 1; j-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", w.active, j), fmt.Sprintf("%s.%d", w.active, j+1)); err != nil {
			w.t.Fatal(err)
		}
	}
	content, err := os.ReadFile(w.active)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(w.active+".1", content, 0o600); err != nil {
		w.t.Fatal(err)
	}
	if err := w.fh.Truncate(0); err != nil {
		w.t.Fatal(err)
	}
	w.copies++
}

// receive reads frames until want's ids all arrived, and fails on any id lost, repeated or
// out of order.
func receive(t *testing.T, lt *liveTail, got *[]string, want []string) {
	t.Helper()
	for len(*got) < len(want) {
		for _, id := range auditIDs(t, lt.next(t)) {
			i := len(*got)
			if i >= len(want) || id != want[i] {
				exp := "nothing more"
				if i < len(want) {
					exp = want[i]
				}
				t.Fatalf("event %d is %s, want %s (lost, repeated or out of order)", i, id, exp)
			}
			*got = append(*got, id)
		}
	}
}

// TestLiveTailFileRotations streams audit.log through the plugin while it is appended to
// and rotated by rename-and-create and by copytruncate: every line arrives exactly once, in
// order. K8SAUDIT_TAIL_SECONDS (default 3) is how long the writer writes 10,000 lines/s.
func TestLiveTailFileRotations(t *testing.T) {
	seconds := 3
	if v := os.Getenv("K8SAUDIT_TAIL_SECONDS"); v != "" {
		if _, err := fmt.Sscan(v, &seconds); err != nil || seconds <= 0 {
			t.Fatalf("K8SAUDIT_TAIL_SECONDS=%q: want a positive number", v)
		}
	}
	const perSecond, perTick = 10_000, 100
	dir := t.TempDir()
	w := newTailWriter(t, dir)
	w.write(5) // before the tail: not streamed
	h := startPlugin(t)
	ds := fileDatasource(801, "tail-file", dir)
	lt := h.runStream(t, ds.pluginContext(t), "tail/e2e-file", map[string]any{"refId": "A", "queryType": "events", "format": "logs"})
	lt.waitReady(t)

	var want, got []string
	start := time.Now()
	tick := time.NewTicker(time.Second / (perSecond / perTick))
	defer tick.Stop()
	for i := 0; i < seconds*perSecond/perTick; i++ {
		<-tick.C // paces the writer only; nothing is asserted on time
		want = append(want, w.write(perTick)...)
		switch k := i + 1; {
		case k%(perSecond/perTick) == 0 && k/(perSecond/perTick)%2 == 1:
			w.rename()
		case k%(perSecond/perTick) == 0:
			w.copytruncate()
		}
		// Read as we go so that the frames channel never fills.
		for drained := false; !drained; {
			select {
			case f := <-lt.frames:
				for _, id := range auditIDs(t, f) {
					if n := len(got); n >= len(want) || id != want[n] {
						t.Fatalf("event %d is %s, want %s (lost, repeated or out of order)", n, id, want[min(n, len(want)-1)])
					}
					got = append(got, id)
				}
			default:
				drained = true
			}
		}
	}
	written := time.Since(start)
	receive(t, lt, &got, want)
	t.Logf("%d events written in %s (%d rotations), all received once and in order %s after the first write",
		len(want), written.Round(time.Millisecond), seconds, time.Since(start).Round(time.Millisecond))
	// Nothing more: a last marker is the next event to arrive.
	marker := w.write(1)
	receive(t, lt, &got, append(want, marker...))
}

// TestLiveTailFilterAndDetections: the tail applies the query's filter, and a detections
// tail sends each finding once.
func TestLiveTailFilterAndDetections(t *testing.T) {
	dir := t.TempDir()
	w := newTailWriter(t, dir)
	h := startPlugin(t)
	ds := fileDatasource(802, "tail-detect", dir)
	events := h.runStream(t, ds.pluginContext(t), "tail/e2e-filter", map[string]any{"refId": "A", "queryType": "events",
		"filter": map[string]any{"verbs": []string{"delete"}}})
	findings := h.runStream(t, ds.pluginContext(t), "tail/e2e-detect", map[string]any{"refId": "B", "queryType": "detections",
		"rules": []string{"exec-into-pod"}})
	events.waitReady(t)
	findings.waitReady(t)

	w.write(3) // gets: filtered out
	del := strings.Replace(tailLine("del-1", time.Now()), `"verb":"get"`, `"verb":"delete"`, 1)
	exec := strings.NewReplacer(`"verb":"get"`, `"verb":"create"`, `"name":"web-1"`, `"name":"web-1","subresource":"exec"`,
		`pods/web-1"`, `pods/web-1/exec?command=sh&container=web&stdin=true&tty=true"`).Replace(tailLine("exec-1", time.Now()))
	if _, err := w.fh.WriteString(del + "\n" + exec + "\n"); err != nil {
		t.Fatal(err)
	}
	var got []string
	receive(t, events, &got, []string{"del-1"})

	for {
		f := findings.next(t)
		if f.Rows() == 0 {
			continue
		}
		var rule, id string
		for _, fl := range f.Fields {
			v, _ := fl.ConcreteAt(0)
			switch fl.Name {
			case "rule", "ruleId":
				rule, _ = v.(string)
			case "auditID":
				id, _ = v.(string)
			}
		}
		if f.Rows() != 1 || rule != "exec-into-pod" || id != "exec-1" {
			t.Fatalf("findings frame: %d rows, rule %q, auditID %q; want one exec-into-pod finding of exec-1", f.Rows(), rule, id)
		}
		break
	}
}

// TestLiveTailRejectsOtherQueries: a query type that cannot be tailed is a notice, not a
// crash or a silent stream.
func TestLiveTailRejectsOtherQueries(t *testing.T) {
	dir := t.TempDir()
	newTailWriter(t, dir)
	h := startPlugin(t)
	ds := fileDatasource(803, "tail-bad", dir)
	lt := h.runStream(t, ds.pluginContext(t), "tail/e2e-bad", map[string]any{"refId": "A", "queryType": "timeseries"})
	f := lt.next(t)
	if f.Meta == nil || len(f.Meta.Notices) != 1 || f.Meta.Notices[0].Severity != data.NoticeSeverityError ||
		!strings.Contains(f.Meta.Notices[0].Text, "events and detections") {
		t.Fatalf("want one error notice about the query type, got %+v", f.Meta)
	}
	sub, err := h.stream.SubscribeStream(callCtx(t), &pluginv2.SubscribeStreamRequest{PluginContext: ds.pluginContext(t), Path: "other/x"})
	if err != nil || sub.GetStatus() != pluginv2.SubscribeStreamResponse_NOT_FOUND {
		t.Fatalf("subscribe to an unknown path: %v, %v; want NOT_FOUND", sub.GetStatus(), err)
	}
}

// TestLiveTailLokiReconnect tails a Loki datasource through the plugin while lokitest drops
// the tail WebSocket, with entries pushed while it reconnects: every event arrives once, in
// order, and the reconnect is a notice.
func TestLiveTailLokiReconnect(t *testing.T) {
	srv := lokitest.New()
	t.Cleanup(srv.Close)
	srv.Tenant = "audit"
	labels := map[string]string{"job": "kubernetes-audit", "host": "master-1"}
	h := startPlugin(t)
	ds := lokiDatasource(804, "tail-loki", srv.URL)
	lt := h.runStream(t, ds.pluginContext(t), "tail/e2e-loki", map[string]any{"refId": "A", "queryType": "events"})
	lt.waitReady(t)

	n := 0
	pushN := func(k int) []string {
		var ids []string
		for range k {
			id := fmt.Sprintf("loki-%05d", n)
			n++
			srv.Push(labels, time.Now(), tailLine(id, time.Now()))
			ids = append(ids, id)
		}
		return ids
	}
	var got, want []string
	want = append(want, pushN(200)...)
	receiveLoki(t, lt, &got, want)
	srv.DropTails()
	want = append(want, pushN(200)...) // pushed while the plugin reconnects
	receiveLoki(t, lt, &got, want)
	want = append(want, pushN(10)...)
	receiveLoki(t, lt, &got, want)
	if srv.TailsOpened() != 2 {
		t.Errorf("%d tail connections, want 2", srv.TailsOpened())
	}
}

// receiveLoki is receive that allows the reconnect's warning notice.
func receiveLoki(t *testing.T, lt *liveTail, got *[]string, want []string) {
	t.Helper()
	for len(*got) < len(want) {
		f := lt.next(t)
		if f.Meta != nil {
			kept := f.Meta.Notices[:0]
			for _, n := range f.Meta.Notices {
				if !strings.HasPrefix(n.Text, "the Loki tail connection was lost") {
					kept = append(kept, n)
				}
			}
			f.Meta.Notices = kept
		}
		for _, id := range auditIDs(t, f) {
			i := len(*got)
			if i >= len(want) || id != want[i] {
				t.Fatalf("event %d is %s, want %s (lost, repeated or out of order)", i, id, want[min(i, len(want)-1)])
			}
			*got = append(*got, id)
		}
	}
}

// TestLiveTailCloudWatchPolling tails a CloudWatch datasource through the plugin (polling
// FilterLogEvents against cwtest): events sharing a millisecond across streams, and an event
// delivered late, arrive once each; the fixtures, older than the tail, do not.
func TestLiveTailCloudWatchPolling(t *testing.T) {
	srv, ds := newCloudWatch(t, 805, cwCluster)
	group := "/aws/eks/" + cwCluster + "/cluster"
	h := startPlugin(t)
	lt := h.runStream(t, ds.pluginContext(t), "tail/e2e-cw", map[string]any{"refId": "A", "queryType": "events"})
	lt.waitReady(t)
	add := func(stream string, ts time.Time, ids ...string) []string {
		for _, id := range ids {
			srv.Add(group, stream, cwtest.Event{Timestamp: ts.UnixMilli(), Message: tailLine(id, ts)})
		}
		return ids
	}
	// After the tail's start (the late event too, which must not be older than the tail).
	now := time.Now().Add(time.Second)
	var got, want []string
	want = append(want, add(cwAuditStreams[0], now, "cw-1", "cw-2")...)
	receive(t, lt, &got, want)
	// Same millisecond, another stream, after cw-1 and cw-2 were delivered.
	want = append(want, add(cwAuditStreams[1], now, "cw-3")...)
	receive(t, lt, &got, want)
	// Late: older than the newest event seen.
	want = append(want, add(cwAuditStreams[0], now.Add(-500*time.Millisecond), "cw-late")...)
	receive(t, lt, &got, want)
	want = append(want, add(cwAuditStreams[0], now.Add(time.Millisecond), "cw-end")...)
	receive(t, lt, &got, want) // nothing repeated before it
}

package plugin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch/cwtest"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// recordedSpans holds the spans of traces the tests start as sampled (tracedContext); every
// other span is dropped by the sampler. The SDK's default tracer (tracing.DefaultTracer) goes
// through the global provider, so setting it here, before any span starts, reaches it.
var recordedSpans = tracetest.NewSpanRecorder()

func init() {
	otel.SetTracerProvider(sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())),
		sdktrace.WithSpanProcessor(recordedSpans)))
}

// tracedContext is a context under a sampled remote parent, as Grafana sends when tracing is
// on, and the trace's id.
func tracedContext(t *testing.T) (context.Context, trace.TraceID) {
	t.Helper()
	var tid trace.TraceID
	var sid trace.SpanID
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	return trace.ContextWithRemoteSpanContext(context.Background(), sc), tid
}

func spansOf(tid trace.TraceID) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range recordedSpans.Ended() {
		if s.SpanContext().TraceID() == tid {
			out = append(out, s)
		}
	}
	return out
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// childrenOf are the spans of spans whose parent is p, by name.
func childrenOf(spans []sdktrace.ReadOnlySpan, p sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Parent().SpanID() == p.SpanContext().SpanID() && s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// generatedLines are an hour of a generated cluster's audit lines from start.
func generatedLines(t *testing.T, start time.Time) []string {
	t.Helper()
	var lines bytes.Buffer
	if _, err := auditgen.Write(&lines, auditgen.Options{Seed: 5, Start: start, Duration: time.Hour, Requests: 300}); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(lines.String()), "\n")
}

var opsStart = time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)

func lokiWith(t *testing.T, lines []string) *lokitest.Server {
	t.Helper()
	srv := lokitest.New()
	t.Cleanup(srv.Close)
	for i, l := range lines {
		srv.Push(map[string]string{"job": "kubernetes-audit"}, opsStart.Add(time.Duration(i+1)*time.Second), l)
	}
	return srv
}

func lokiSettings(url, extra string) string {
	return `{"source":"loki","loki":{"url":"` + url + `","selector":"{job=\"kubernetes-audit\"}"}` + extra + `}`
}

const cwGroup = "/aws/eks/ops/cluster"

func cloudWatchWith(t *testing.T, lines []string) *cwtest.Server {
	t.Helper()
	srv := cwtest.New()
	t.Cleanup(srv.Close)
	for i, l := range lines {
		srv.Add(cwGroup, "kube-apiserver-audit-0123456789abcdef0123456789abcdef", cwtest.Event{Timestamp: opsStart.Add(time.Duration(i) * time.Second).UnixMilli(), Message: l})
	}
	return srv
}

func cloudWatchSettings(url, extra string) string {
	return `{"source":"cloudwatch","cloudwatch":{"authType":"keys","defaultRegion":"` + cwtest.Region + `","endpoint":"` + url +
		`","clusterName":"ops","requestsPerSecond":1000}` + extra + `}`
}

func newSecureDatasource(t *testing.T, jsonData string, secure map[string]string) *Datasource {
	t.Helper()
	inst, err := NewDatasource(context.Background(), backend.DataSourceInstanceSettings{JSONData: []byte(jsonData), DecryptedSecureJSONData: secure})
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*Datasource)
}

var cwKeys = map[string]string{"accessKey": cwtest.AccessKey, "secretKey": "secret-key", "sessionToken": "session"}

func queryOne(ctx context.Context, t *testing.T, ds *Datasource, js string) backend.DataResponse {
	t.Helper()
	resp, err := ds.QueryData(ctx, &backend.QueryDataRequest{Queries: []backend.DataQuery{{
		RefID: "A", QueryType: "timeseries", JSON: []byte(js), TimeRange: backend.TimeRange{From: opsStart, To: opsStart.Add(time.Hour)},
		Interval: time.Minute, MaxDataPoints: 100,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Responses["A"]
}

// queryTimeout bounds every query of every source: a source slower than it fails the query
// with an error naming the setting (downstream, 504), whatever the source.
func TestQueryTimeoutEverySource(t *testing.T) {
	check := func(t *testing.T, r backend.DataResponse, timeout string) {
		t.Helper()
		if r.Error == nil || r.Status != backend.StatusTimeout || r.ErrorSource != backend.ErrorSourceDownstream ||
			!strings.Contains(r.Error.Error(), "timed out after "+timeout) || !strings.Contains(r.Error.Error(), "queryTimeout") {
			t.Errorf("error %v status %d source %q, want a timeout naming queryTimeout", r.Error, r.Status, r.ErrorSource)
		}
	}
	t.Run("file", func(t *testing.T) {
		// 1ns has expired before the files are listed: deterministic without a slow disk.
		ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+fixtureDir(t)+`"]},"queryTimeout":"1ns"}`)
		check(t, queryOne(context.Background(), t, ds, `{"queryType":"timeseries"}`), "1ns")
	})
	t.Run("loki", func(t *testing.T) {
		srv := lokiWith(t, nil)
		srv.Inject(lokitest.Fault{Kind: lokitest.FaultSlow, Delay: time.Hour, Times: -1}) // answers after the client gives up
		ds := newTestDatasource(t, lokiSettings(srv.URL, `,"queryTimeout":"1s"`))
		check(t, queryOne(context.Background(), t, ds, `{"queryType":"events"}`), "1s")
	})
	t.Run("cloudwatch", func(t *testing.T) {
		srv := cloudWatchWith(t, nil)
		srv.Fault = func(string, int) *cwtest.Fault { return &cwtest.Fault{Kind: cwtest.FaultSlow, Delay: time.Hour} }
		ds := newSecureDatasource(t, cloudWatchSettings(srv.URL, `,"queryTimeout":"1s"`), cwKeys)
		check(t, queryOne(context.Background(), t, ds, `{"queryType":"events"}`), "1s")
	})
	t.Run("Grafana's own deadline keeps its message", func(t *testing.T) {
		ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+fixtureDir(t)+`"]}}`)
		ctx, cancel := context.WithTimeout(context.Background(), 0)
		defer cancel()
		r := queryOne(ctx, t, ds, `{"queryType":"timeseries"}`)
		if r.Error == nil || strings.Contains(r.Error.Error(), "queryTimeout") {
			t.Errorf("error %v: Grafana's deadline is not the datasource's queryTimeout", r.Error)
		}
	})
}

// Each query is a span (refId, query type, source, bytes read) with the scans of files and
// the calls to Loki and CloudWatch under it.
func TestTracingSpans(t *testing.T) {
	lines := generatedLines(t, opsStart)
	querySpan := func(t *testing.T, spans []sdktrace.ReadOnlySpan, source string) sdktrace.ReadOnlySpan {
		t.Helper()
		var q []sdktrace.ReadOnlySpan
		for _, s := range spans {
			if s.Name() == "auditlogs.query" {
				q = append(q, s)
			}
		}
		if len(q) != 1 {
			t.Fatalf("%d query spans among %d", len(q), len(spans))
		}
		for key, want := range map[string]string{"refId": "A", "queryType": "timeseries", "source": source} {
			if v, ok := spanAttr(q[0], key); !ok || v.AsString() != want {
				t.Errorf("query span %s = %v, want %q", key, v.Emit(), want)
			}
		}
		return q[0]
	}
	for _, cache := range []bool{false, true} {
		name := map[bool]string{false: "file, read whole", true: "file, by segment"}[cache]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeLines(t, dir, lines)
			js := `{"source":"file","file":{"paths":["` + dir + `"],"index":false,"cache":` + map[bool]string{false: "false", true: "true"}[cache] + `}}`
			ctx, tid := tracedContext(t)
			if r := queryOne(ctx, t, newTestDatasource(t, js), `{"queryType":"timeseries","groupBy":["verb"]}`); r.Error != nil {
				t.Fatal(r.Error)
			}
			spans := spansOf(tid)
			q := querySpan(t, spans, "file")
			scanName := map[bool]string{false: "file.scan", true: "file.scanSegment"}[cache]
			scans := childrenOf(spans, q, scanName)
			if len(scans) == 0 {
				t.Fatalf("no %s span under the query: %d spans", scanName, len(spans))
			}
			var scanned int64
			for _, s := range scans {
				v, _ := spanAttr(s, "bytesRead")
				scanned += v.AsInt64()
			}
			total, _ := spanAttr(q, "bytesRead")
			if scanned == 0 || total.AsInt64() != scanned {
				t.Errorf("query read %d bytes, its scans %d", total.AsInt64(), scanned)
			}
		})
	}
	t.Run("loki", func(t *testing.T) {
		ctx, tid := tracedContext(t)
		if r := queryOne(ctx, t, newTestDatasource(t, lokiSettings(lokiWith(t, lines).URL, "")), `{"queryType":"timeseries","sourceMode":"raw"}`); r.Error != nil {
			t.Fatal(r.Error)
		}
		spans := spansOf(tid)
		q := querySpan(t, spans, "loki")
		var calls int
		for _, s := range spans {
			if s.Name() == "HTTP Outgoing Request" && s.SpanKind() == trace.SpanKindClient {
				calls++
				if url, _ := spanAttr(s, "http.url"); !strings.Contains(url.AsString(), "/loki/api/v1/") {
					t.Errorf("Loki call span url %q", url.AsString())
				}
			}
		}
		if calls == 0 {
			t.Errorf("no Loki call span under query span %s: %d spans", q.Name(), len(spans))
		}
	})
	t.Run("cloudwatch", func(t *testing.T) {
		ctx, tid := tracedContext(t)
		srv := cloudWatchWith(t, lines)
		if r := queryOne(ctx, t, newSecureDatasource(t, cloudWatchSettings(srv.URL, ""), cwKeys), `{"queryType":"timeseries","sourceMode":"raw"}`); r.Error != nil {
			t.Fatal(r.Error)
		}
		spans := spansOf(tid)
		querySpan(t, spans, "cloudwatch")
		calls := 0
		for _, s := range spans {
			if s.Name() == "cloudwatchlogs.FilterLogEvents" {
				calls++
				if code, _ := spanAttr(s, "http.status_code"); code.AsInt64() != 200 {
					t.Errorf("FilterLogEvents span status %v", code.Emit())
				}
			}
		}
		if calls == 0 || calls != srv.Calls("FilterLogEvents") {
			t.Errorf("%d FilterLogEvents spans for %d calls", calls, srv.Calls("FilterLogEvents"))
		}
	})
}

// writeLines writes lines as dir/audit.log.
func writeLines(t *testing.T, dir string, lines []string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Each query logs at debug level its refId, query type, source, duration and bytes read; a
// failed one also its error and whose fault it is.
func TestDebugLogOfEachQuery(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	old := log.DefaultLogger
	log.DefaultLogger = recordingLogger{mu: &mu, buf: &buf}
	defer func() { log.DefaultLogger = old }()
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+fixtureDir(t)+`"]}}`)
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{
		{RefID: "good", JSON: []byte(`{"queryType":"timeseries"}`), TimeRange: allTime, Interval: time.Hour, MaxDataPoints: 100},
		{RefID: "bad", JSON: []byte(`{"queryType":"nope"}`), TimeRange: allTime},
	}})
	if err != nil || resp.Responses["good"].Error != nil {
		t.Fatal(err, resp.Responses["good"].Error)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	var good, bad string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "debug query done ") {
			continue
		}
		switch {
		case strings.Contains(l, `"good"`):
			good = l
		case strings.Contains(l, `"bad"`):
			bad = l
		}
	}
	for _, want := range []string{"refId", "queryType", `"timeseries"`, "source", `"file"`, "duration", "bytesRead"} {
		if !strings.Contains(good, want) {
			t.Errorf("the good query's line lacks %q: %q", want, good)
		}
	}
	for _, want := range []string{"refId", "duration", "errorSource", `"downstream"`, "unknown query type"} {
		if !strings.Contains(bad, want) {
			t.Errorf("the bad query's line lacks %q: %q", want, bad)
		}
	}
}

// A tiny interval over a long range, or a huge maxDataPoints, never makes more than
// query.QueryLimits.MaxBuckets intervals: the interval is widened (alert rules send 1s
// intervals with maxDataPoints 43200). A range too long to measure is an error naming it.
func TestBucketsBounded(t *testing.T) {
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+fixtureDir(t)+`"],"index":false}}`)
	run := func(tr backend.TimeRange, interval time.Duration, maxDataPoints int64) backend.DataResponse {
		t.Helper()
		resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{
			RefID: "A", JSON: []byte(`{"queryType":"timeseries"}`), TimeRange: tr, Interval: interval, MaxDataPoints: maxDataPoints,
		}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Responses["A"]
	}
	for _, tc := range []struct {
		name          string
		interval      time.Duration
		maxDataPoints int64
	}{{"1ms interval", time.Millisecond, 1000}, {"maxDataPoints 1e12", time.Second, 1e12}, {"negative maxDataPoints", 0, -5}} {
		r := run(allTime, tc.interval, tc.maxDataPoints)
		if r.Error != nil || len(r.Frames) == 0 {
			t.Fatalf("%s: %v", tc.name, r.Error)
		}
		if n := r.Frames[0].Rows(); n == 0 || n > query.QueryLimits.MaxBuckets+2 {
			t.Errorf("%s: %d intervals over 8 years", tc.name, n)
		}
	}
	r := run(backend.TimeRange{From: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, time.Second, 100)
	if r.Error == nil || r.ErrorSource != backend.ErrorSourceDownstream || !strings.Contains(r.Error.Error(), "is too long") ||
		!strings.Contains(r.Error.Error(), "0001-01-01T00:00:00Z") {
		t.Errorf("a 9998-year range: %v", r.Error)
	}
}

// GET /schema serves the limits of every query beside the per-type ones.
func TestSchemaServesQueryLimits(t *testing.T) {
	status, body := callResource(t, newTestDatasource(t, `{}`), "schema")
	var got struct {
		Limits query.ModelLimits `json:"limits"`
	}
	if err := json.Unmarshal(body, &got); status != 200 || err != nil || got.Limits != query.QueryLimits {
		t.Errorf("status %d, limits %+v (%v), want %+v", status, got.Limits, err, query.QueryLimits)
	}
}

// The health check is bounded by queryTimeout too, and says so when it was stopped.
func TestHealthWithinQueryTimeout(t *testing.T) {
	srv := lokiWith(t, nil)
	srv.Inject(lokitest.Fault{Kind: lokitest.FaultSlow, Delay: time.Hour, Times: -1})
	ds := newTestDatasource(t, lokiSettings(srv.URL, `,"queryTimeout":"1s"`))
	ctx, tid := tracedContext(t)
	h, err := ds.CheckHealth(ctx, &backend.CheckHealthRequest{})
	if err != nil || h.Status != backend.HealthStatusError || !strings.Contains(h.Message, "stopped after 1s, the datasource's queryTimeout") {
		t.Errorf("health %+v, %v", h, err)
	}
	found := false
	for _, s := range spansOf(tid) {
		found = found || s.Name() == "auditlogs.checkHealth"
	}
	if !found {
		t.Error("no auditlogs.checkHealth span")
	}
}

// signalSource is a file source whose first line hands over to the test and waits for the
// query's context to end, as when Grafana cancels a query mid-scan; it keeps what the scan read.
type signalSource struct {
	*file.Source
	started chan struct{}
	once    sync.Once
	read    atomic.Int64
}

func (s *signalSource) Scan(ctx context.Context, req source.Request, fn source.LineFunc) (source.Stats, error) {
	st, err := s.Source.Scan(ctx, req, func(l []byte) error {
		s.once.Do(func() { close(s.started); <-ctx.Done() })
		return fn(l)
	})
	s.read.Store(st.BytesRead)
	return st, err
}

// A query Grafana cancels while its file is being read stops reading: QueryData answers
// "query cancelled" and the scan has read a small part of the 64 MB file.
func TestQueryCancelledMidScan(t *testing.T) {
	dir := t.TempDir()
	line := generatedLines(t, opsStart)[0] + "\n"
	n := (64 << 20) / len(line)
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), []byte(strings.Repeat(line, n)), 0o600); err != nil {
		t.Fatal(err)
	}
	fs, err := file.New(file.Config{Paths: []string{dir}}, file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := &signalSource{Source: fs, started: make(chan struct{})}
	ds := &Datasource{src: src, roles: &engine.RoleIndex{}} // no cache or index: the engine scans
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan backend.DataResponse, 1)
	go func() { done <- queryOne(ctx, t, ds, `{"queryType":"timeseries","groupBy":["verb"]}`) }()
	<-src.started
	cancelled := time.Now()
	cancel()
	select {
	case r := <-done:
		if r.Error == nil || !strings.Contains(r.Error.Error(), "query cancelled") || r.ErrorSource != backend.ErrorSourceDownstream {
			t.Errorf("error %v source %q", r.Error, r.ErrorSource)
		}
		t.Logf("answered %v after the cancel, having read %d of %d bytes", time.Since(cancelled), src.read.Load(), n*len(line))
	case <-time.After(30 * time.Second): // generous: the bytes read are the measure
		t.Fatal("QueryData did not return after the cancel")
	}
	if read := src.read.Load(); read > 4<<20 {
		t.Errorf("read %d bytes of %d after the cancel", read, n*len(line))
	}
}

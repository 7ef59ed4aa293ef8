package plugin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/experimental"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// update rewrites the golden files: go test ./pkg/plugin -run TestGolden -update
var update = flag.Bool("update", false, "update golden files")

// fixtureDir copies the real audit events of testdata/audit into one audit.log, as
// kube-apiserver would have written them, plus a malformed line.
func fixtureDir(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("../../testdata/audit/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			all = append(all, '\n')
		}
	}
	all = append(all, []byte("{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metad\n")...)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), all, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newTestDatasource(t *testing.T, jsonData string) *Datasource {
	t.Helper()
	inst, err := NewDatasource(context.Background(), backend.DataSourceInstanceSettings{JSONData: []byte(jsonData)})
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*Datasource)
}

// allTime covers every fixture event (2017–2024).
var allTime = backend.TimeRange{From: time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}

// TestGolden runs each query in testdata/queries over the real fixtures and compares the
// frames with testdata/golden. Review changes to golden files like code.
func TestGolden(t *testing.T) {
	// No column index: the frames' stats then say what each query read, whatever ran before.
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+fixtureDir(t)+`"],"index":false}}`)
	queries, _ := filepath.Glob("testdata/queries/*.json")
	if len(queries) == 0 {
		t.Fatal("no queries")
	}
	for _, qf := range queries {
		name := strings.TrimSuffix(filepath.Base(qf), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(qf)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{
				RefID: "A", JSON: raw, TimeRange: allTime, MaxDataPoints: 100, Interval: time.Minute,
			}}})
			if err != nil {
				t.Fatal(err)
			}
			dr := resp.Responses["A"]
			if dr.Error != nil {
				t.Fatalf("query error: %v", dr.Error)
			}
			experimental.CheckGoldenJSONResponse(t, "testdata/golden", name, &dr, *update)
		})
	}
}

func TestBadQueryFailsAlone(t *testing.T) {
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+fixtureDir(t)+`"]}}`)
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{
		{RefID: "bad", JSON: []byte(`{"queryType":"nope"}`), TimeRange: allTime},
		{RefID: "badjson", JSON: []byte(`{"queryType":`), TimeRange: allTime},
		{RefID: "good", JSON: []byte(`{"queryType":"denied"}`), TimeRange: allTime},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bad", "badjson"} {
		r := resp.Responses[id]
		if r.Error == nil || r.ErrorSource != backend.ErrorSourceDownstream || r.Status != backend.StatusBadRequest {
			t.Errorf("%s: error %v source %v status %v", id, r.Error, r.ErrorSource, r.Status)
		}
	}
	if !strings.Contains(resp.Responses["bad"].Error.Error(), `unknown query type "nope"`) {
		t.Errorf("message: %v", resp.Responses["bad"].Error)
	}
	if g := resp.Responses["good"]; g.Error != nil || len(g.Frames) != 1 || g.Frames[0].Rows() == 0 {
		t.Errorf("good query: %+v", g)
	}
}

func TestInvalidSettingsReportedByHealthAndQueries(t *testing.T) {
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":[]}}`)
	h, err := ds.CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	if err != nil || h.Status != backend.HealthStatusError || !strings.Contains(h.Message, "no audit log paths configured") {
		t.Errorf("health %+v err %v", h, err)
	}
	resp, _ := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{RefID: "A", JSON: []byte(`{}`), TimeRange: allTime}}})
	if resp.Responses["A"].Error == nil {
		t.Error("a query on a datasource without paths must fail")
	}
	ds = newTestDatasource(t, `{"source":"file","file":{"paths":["relative/dir"]}}`)
	h, _ = ds.CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	if h.Status != backend.HealthStatusError {
		t.Errorf("relative path: %+v", h)
	}
}

func TestHealthOK(t *testing.T) {
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+fixtureDir(t)+`"]}}`)
	h, err := ds.CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	if err != nil || h.Status != backend.HealthStatusOk {
		t.Fatalf("health %+v err %v", h, err)
	}
	if !strings.Contains(h.Message, "1 audit file") {
		t.Errorf("message should count files: %q", h.Message)
	}
}

type statusErr struct{ status int }

func (e statusErr) Error() string   { return "remote said no" }
func (e statusErr) HTTPStatus() int { return e.status }

func TestErrorStatusFromSource(t *testing.T) {
	down, plugin := backend.ErrorSourceDownstream, backend.ErrorSourcePlugin
	for _, tc := range []struct {
		err        error
		want       backend.Status
		wantSource backend.ErrorSource
	}{
		{fmt.Errorf("scan: %w", statusErr{429}), backend.StatusTooManyRequests, down},
		{statusErr{401}, backend.StatusUnauthorized, down},
		{statusErr{504}, backend.StatusTimeout, down},
		// An untyped error is no remote source's: the plugin's (errorsource_test.go has the rest).
		{errors.New("disk on fire"), backend.StatusInternal, plugin},
		{context.DeadlineExceeded, backend.StatusTimeout, down},
	} {
		r := errorResponse(tc.err)
		if r.Status != tc.want || r.ErrorSource != tc.wantSource {
			t.Errorf("%v: status %v source %v, want %v %v", tc.err, r.Status, r.ErrorSource, tc.want, tc.wantSource)
		}
	}
}

// The datasource's allow-lists apply to every detections query; the query's add to them.
func TestDetectionAllowListsFromSettings(t *testing.T) {
	run := func(jsonData, q string) int {
		t.Helper()
		ds := newTestDatasource(t, jsonData)
		resp, _ := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{RefID: "A", JSON: []byte(q), TimeRange: allTime}}})
		r := resp.Responses["A"]
		if r.Error != nil {
			t.Fatal(r.Error)
		}
		return r.Frames[0].Rows()
	}
	dir := fixtureDir(t)
	q := `{"queryType":"detections","rules":["exec-into-pod"]}`
	all := run(`{"file":{"paths":["`+dir+`"]}}`, q)
	if all == 0 {
		t.Fatal("no exec findings in the fixtures")
	}
	if n := run(`{"file":{"paths":["`+dir+`"]},"detections":{"rules":{"exec-into-pod":{"allow":{"users":["minikube-user"]}}}}}`, q); n != 0 {
		t.Errorf("per-rule allow-list from settings: %d findings left", n)
	}
	if n := run(`{"file":{"paths":["`+dir+`"]}}`, `{"queryType":"detections","rules":["exec-into-pod"],"allow":{"namespaces":["default"]}}`); n != 0 {
		t.Errorf("query allow-list: %d findings left", n)
	}
}

// latchSource's scans wait until want of them are in flight at once (then every scan goes
// through): a request whose queries ran one after another would never get there.
type latchSource struct {
	want     int32
	inflight atomic.Int32
	max      atomic.Int32
	scans    atomic.Int32
	once     sync.Once
	open     chan struct{}
}

func (l *latchSource) Scan(ctx context.Context, _ source.Request, fn source.LineFunc) (source.Stats, error) {
	l.scans.Add(1)
	n := l.inflight.Add(1)
	defer l.inflight.Add(-1)
	for m := l.max.Load(); n > m && !l.max.CompareAndSwap(m, n); m = l.max.Load() {
	}
	if n >= l.want {
		l.once.Do(func() { close(l.open) })
	}
	t := time.NewTimer(30 * time.Second) // an upper bound only: the latch opens at once when concurrent
	defer t.Stop()
	select {
	case <-l.open:
	case <-ctx.Done():
		return source.Stats{}, ctx.Err()
	case <-t.C:
		return source.Stats{}, fmt.Errorf("only %d scans ever ran at once, want %d", l.max.Load(), l.want)
	}
	line := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2020-01-01T00:00:00.000000Z","stageTimestamp":"2020-01-01T00:00:00.001000Z"}`
	return source.Stats{LinesRead: 1}, fn([]byte(line))
}

func (l *latchSource) Health(context.Context) source.Health { return source.Health{OK: true} }

// TestQueriesRunConcurrently: the 20 queries of one request run up to maxConcurrentQueries at
// once, never more, and each answers under its own RefID.
func TestQueriesRunConcurrently(t *testing.T) {
	src := &latchSource{want: maxConcurrentQueries, open: make(chan struct{})}
	ds := &Datasource{src: src, roles: &engine.RoleIndex{}}
	var qs []backend.DataQuery
	for i := range 20 {
		qs = append(qs, backend.DataQuery{RefID: fmt.Sprintf("Q%d", i), JSON: []byte(`{"queryType":"events","limit":10}`), TimeRange: allTime})
	}
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: qs})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		r, ok := resp.Responses[q.RefID]
		if !ok || r.Error != nil || len(r.Frames) == 0 || r.Frames[0].Rows() != 1 {
			t.Errorf("%s: present %v, error %v, frames %d", q.RefID, ok, r.Error, len(r.Frames))
		}
	}
	if n := src.scans.Load(); n != 20 {
		t.Errorf("%d scans, want 20", n)
	}
	if m := src.max.Load(); m != maxConcurrentQueries {
		t.Errorf("at most %d scans at once, want exactly %d", m, maxConcurrentQueries)
	}
}

// TestConcurrentQueriesNoLeak: 20 mixed queries in one request over the real fixtures (two of
// them invalid, failing alone) all answer, and the goroutines return to where they were.
func TestConcurrentQueriesNoLeak(t *testing.T) {
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+fixtureDir(t)+`"]}}`)
	kinds := []string{
		`{"queryType":"timeseries","groupBy":["verb"]}`,
		`{"queryType":"latency","quantiles":[0.5,0.99]}`,
		`{"queryType":"denied"}`,
		`{"queryType":"topn","groupBy":["user.username"]}`,
		`{"queryType":"events","limit":50}`,
		`{"queryType":"matrix","rows":"user.username","columns":"verb"}`,
		`{"queryType":"detections"}`,
		`{"queryType":"deprecatedApis"}`,
		`{"queryType":"latencyBreakdown"}`,
		`{"queryType":"nope"}`, // invalid: fails alone
	}
	var qs []backend.DataQuery
	for i := range 20 {
		qs = append(qs, backend.DataQuery{RefID: fmt.Sprintf("R%d", i), JSON: []byte(kinds[i%len(kinds)]),
			TimeRange: allTime, Interval: time.Hour, MaxDataPoints: 500})
	}
	req := &backend.QueryDataRequest{Queries: qs}
	// Warm up: lazily started goroutines (caches, pools) belong to the baseline.
	if _, err := ds.QueryData(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	base := waitGoroutines(t, runtime.NumGoroutine())
	resp, err := ds.QueryData(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range qs {
		r := resp.Responses[q.RefID]
		if i%len(kinds) == len(kinds)-1 {
			if r.Error == nil || r.ErrorSource != backend.ErrorSourceDownstream {
				t.Errorf("%s: the invalid query answered %v", q.RefID, r.Error)
			}
			continue
		}
		if r.Error != nil || len(r.Frames) == 0 {
			t.Errorf("%s (%s): error %v, %d frames", q.RefID, qs[i].JSON, r.Error, len(r.Frames))
		}
	}
	if n := waitGoroutines(t, base); n > base {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after the request, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

// waitGoroutines polls until at most want goroutines run, or 20 s pass (an upper bound: they
// end as soon as their queries do), and returns the last count.
func waitGoroutines(t *testing.T, want int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}

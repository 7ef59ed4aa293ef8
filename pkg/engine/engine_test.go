package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// lines is a source.Source over lines held in memory: the engine's contract with sources is
// only "deliver lines", so the file, Loki and CloudWatch sources are tested on their own.
type lines []string

func (l lines) Scan(ctx context.Context, _ source.Request, fn source.LineFunc) (source.Stats, error) {
	var st source.Stats
	for _, s := range l {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		st.LinesRead++
		if err := fn([]byte(s)); err != nil {
			return st, err
		}
	}
	return st, nil
}

func (l lines) Health(context.Context) source.Health { return source.Health{OK: true} }

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// ev describes one audit event; line() writes it as kube-apiserver would.
type ev struct {
	at        time.Duration // stageTimestamp offset from t0
	latency   time.Duration
	id        string
	stage     string
	verb      string
	user      string
	groups    []string
	resource  string
	sub       string
	ns        string
	name      string
	code      int
	decision  string
	reason    string
	message   string
	ip        string
	userAgent string
	ann       map[string]string
}

func (e ev) line() string {
	if e.stage == "" {
		e.stage = "ResponseComplete"
	}
	if e.id == "" {
		e.id = fmt.Sprintf("id-%d-%s-%s", e.at, e.verb, e.user)
	}
	m := map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": e.id, "stage": e.stage,
		"requestURI": "/api/v1/" + e.resource, "verb": e.verb,
		"user":                     map[string]any{"username": e.user, "groups": e.groups},
		"sourceIPs":                []string{e.ip},
		"userAgent":                e.userAgent,
		"objectRef":                map[string]any{"resource": e.resource, "subresource": e.sub, "namespace": e.ns, "name": e.name, "apiVersion": "v1"},
		"requestReceivedTimestamp": t0.Add(e.at - e.latency).Format("2006-01-02T15:04:05.000000Z"),
		"stageTimestamp":           t0.Add(e.at).Format("2006-01-02T15:04:05.000000Z"),
	}
	if e.code != 0 {
		m["responseStatus"] = map[string]any{"metadata": map[string]any{}, "code": e.code, "message": e.message}
	}
	ann := map[string]string{}
	for k, v := range e.ann {
		ann[k] = v
	}
	if e.decision != "" {
		ann["authorization.k8s.io/decision"] = e.decision
	}
	if e.reason != "" {
		ann["authorization.k8s.io/reason"] = e.reason
	}
	m["annotations"] = ann
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func run(t *testing.T, src source.Source, rawQuery string, interval time.Duration) *Result {
	t.Helper()
	q, err := query.Parse([]byte(rawQuery), "")
	if err != nil {
		t.Fatalf("parse %s: %v", rawQuery, err)
	}
	res, err := Run(context.Background(), src, Request{Query: q, From: t0, To: t0.Add(time.Hour), Interval: interval, MaxDataPoints: 1000})
	if err != nil {
		t.Fatalf("run %s: %v", rawQuery, err)
	}
	return res
}

func seriesByLabel(t *testing.T, s *SeriesResult, label string) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for _, ser := range s.Series {
		key := ""
		for _, l := range ser.Labels {
			if l.Name == label {
				key = l.Value
			}
		}
		out[key] = ser.Values
	}
	return out
}

func TestTimeSeriesCountsRequestsOncePerInterval(t *testing.T) {
	src := lines{
		ev{at: 10 * time.Second, verb: "get", user: "alice", code: 200}.line(),
		ev{at: 10 * time.Second, stage: "RequestReceived", verb: "get", user: "alice"}.line(), // not terminal
		ev{at: 70 * time.Second, verb: "get", user: "bob", code: 200}.line(),
		ev{at: 80 * time.Second, verb: "list", user: "bob", code: 200}.line(),
		ev{at: 2 * time.Hour, verb: "list", user: "bob", code: 200}.line(), // outside the range
		`{"kind":"Event","verb":"get"`,                                     // truncated
	}
	res := run(t, src, `{"queryType":"timeseries","groupBy":["verb"]}`, time.Minute)
	if res.Series.Step != time.Minute || len(res.Series.Times) != 61 {
		t.Fatalf("step %v, %d times; want 1m and 61", res.Series.Step, len(res.Series.Times))
	}
	got := seriesByLabel(t, res.Series, "verb")
	if got["get"][0] != 1 || got["get"][1] != 1 || got["list"][1] != 1 || sum(got["get"]) != 2 || sum(got["list"]) != 1 {
		t.Errorf("unexpected counts: get=%v list=%v", got["get"][:3], got["list"][:3])
	}
	if res.Stats.Malformed != 1 {
		t.Errorf("malformed = %d, want 1", res.Stats.Malformed)
	}
	if len(res.Notices) == 0 || !strings.Contains(res.Notices[0].Text, "skipped 1 lines") {
		t.Errorf("want a skipped-lines notice, got %+v", res.Notices)
	}
}

func TestTimeSeriesRateAndOther(t *testing.T) {
	var src lines
	for i, u := range []string{"a", "a", "a", "b", "b", "c", "d"} {
		src = append(src, ev{at: time.Duration(i) * time.Second, verb: "get", user: u, code: 200}.line())
	}
	res := run(t, src, `{"queryType":"timeseries","groupBy":["user.username"],"limit":2,"metric":"rate"}`, time.Minute)
	got := seriesByLabel(t, res.Series, "user.username")
	if len(got) != 3 {
		t.Fatalf("want a, b and other, got %v", got)
	}
	if got["a"][0] != 3.0/60 || got["b"][0] != 2.0/60 || got[Other][0] != 2.0/60 {
		t.Errorf("rates a=%v b=%v other=%v", got["a"][0], got["b"][0], got[Other][0])
	}
	if res.Series.Unit != "reqps" {
		t.Errorf("unit %q", res.Series.Unit)
	}
}

func TestTimeSeriesGroupsFanOut(t *testing.T) {
	src := lines{ev{at: time.Second, verb: "get", user: "a", groups: []string{"g1", "g2"}, code: 200}.line()}
	res := run(t, src, `{"queryType":"timeseries","groupBy":["user.groups"]}`, time.Minute)
	got := seriesByLabel(t, res.Series, "user.groups")
	if sum(got["g1"]) != 1 || sum(got["g2"]) != 1 {
		t.Errorf("each group counts the request: %v", got)
	}
}

func TestLatencyQuantilesNearestRank(t *testing.T) {
	var src lines
	for i := 1; i <= 100; i++ {
		src = append(src, ev{at: time.Duration(i) * 100 * time.Millisecond, latency: time.Duration(i) * time.Millisecond, verb: "get", user: "a", code: 200}.line())
	}
	// Long-running requests are excluded by default.
	src = append(src, ev{at: time.Second, latency: 5 * time.Minute, verb: "watch", user: "a", code: 200}.line())
	res := run(t, src, `{"queryType":"latency","quantiles":[0.5,0.99,1]}`, time.Hour)
	want := map[string]float64{"p50": 0.050, "p99": 0.099, "p100": 0.100}
	for _, s := range res.Series.Series {
		if w, ok := want[s.Name]; !ok || math.Abs(s.Values[0]-w) > 1e-9 {
			t.Errorf("%s = %v, want %v", s.Name, s.Values[0], w)
		}
	}
	if len(res.Series.Series) != 3 || res.Series.Unit != "s" {
		t.Fatalf("series %d unit %q", len(res.Series.Series), res.Series.Unit)
	}
	res = run(t, src, `{"queryType":"latency","quantiles":[1],"includeLongRunning":true}`, time.Hour)
	if v := res.Series.Series[0].Values[0]; v != 300 {
		t.Errorf("with long-running, max = %v, want 300", v)
	}
}

func TestLatencyEmptyIntervalIsNaN(t *testing.T) {
	src := lines{ev{at: time.Second, latency: time.Millisecond, verb: "get", user: "a", code: 200}.line()}
	res := run(t, src, `{"queryType":"latency","quantiles":[0.5]}`, time.Minute)
	v := res.Series.Series[0].Values
	if v[0] != 0.001 || !math.IsNaN(v[1]) {
		t.Errorf("values %v %v", v[0], v[1])
	}
}

func TestLatencyHeatmapBuckets(t *testing.T) {
	src := lines{
		ev{at: time.Second, latency: 5 * time.Millisecond, verb: "get", user: "a", code: 200}.line(), // <= 0.005
		ev{at: time.Second, latency: 6 * time.Millisecond, verb: "get", user: "a", code: 200}.line(), // <= 0.01
		ev{at: time.Second, latency: 90 * time.Second, verb: "list", user: "a", code: 200}.line(),    // +Inf
		ev{at: time.Second, latency: time.Millisecond, verb: "watch", user: "a", code: 200}.line(),   // long-running
	}
	res := run(t, src, `{"queryType":"latency","format":"heatmap"}`, time.Minute)
	h := res.Heatmap
	if h.Counts[0][0] != 1 || h.Counts[1][0] != 1 || h.Counts[len(h.Bounds)-1][0] != 1 {
		t.Errorf("counts %v %v %v", h.Counts[0][0], h.Counts[1][0], h.Counts[len(h.Bounds)-1][0])
	}
	total := 0.0
	for _, c := range h.Counts {
		total += sum(c)
	}
	if total != 3 {
		t.Errorf("total %v, want 3", total)
	}
}

func TestDeniedNewestFirstWithReason(t *testing.T) {
	src := lines{
		ev{at: 1 * time.Second, verb: "get", user: "alice", resource: "secrets", ns: "kube-system", code: 403, decision: "forbid", reason: "", message: `secrets is forbidden: User "alice" cannot get resource "secrets"`, ip: "10.0.0.1"}.line(),
		ev{at: 3 * time.Second, verb: "list", user: "", resource: "pods", code: 401, message: "Unauthorized", ip: "203.0.113.9"}.line(),
		ev{at: 2 * time.Second, verb: "get", user: "bob", resource: "pods", code: 200, decision: "allow"}.line(),
		ev{at: 4 * time.Second, verb: "delete", user: "carol", resource: "pods", code: 403, decision: "forbid", reason: "no RBAC policy matched"}.line(),
	}
	res := run(t, src, `{"queryType":"denied","limit":2}`, 0)
	rows := res.Denied.Rows
	if len(rows) != 2 || res.Denied.Total != 3 {
		t.Fatalf("rows %d total %d", len(rows), res.Denied.Total)
	}
	if rows[0].User != "carol" || rows[0].Reason != "no RBAC policy matched" || rows[1].Code != 401 || rows[1].Reason != "Unauthorized" || rows[1].SourceIP != "203.0.113.9" {
		t.Errorf("rows %+v", rows)
	}
	if !strings.Contains(res.Notices[len(res.Notices)-1].Text, "newest 2 of 3") {
		t.Errorf("want a truncation notice, got %+v", res.Notices)
	}
	res = run(t, src, `{"queryType":"denied","filter":{"users":["alice"]}}`, 0)
	if len(res.Denied.Rows) != 1 || !strings.Contains(res.Denied.Rows[0].Reason, "forbidden") {
		t.Errorf("alice's denial should use the status message: %+v", res.Denied.Rows)
	}
}

func TestMatrixTopAndOther(t *testing.T) {
	var src lines
	add := func(user, res string, n int) {
		for i := 0; i < n; i++ {
			src = append(src, ev{at: time.Duration(len(src)) * time.Second, verb: "get", user: user, resource: res, code: 200}.line())
		}
	}
	add("a", "pods", 5)
	add("a", "secrets", 1)
	add("b", "pods", 2)
	add("c", "configmaps", 1)
	res := run(t, src, `{"queryType":"matrix","limit":2}`, 0)
	m := res.Matrix
	if strings.Join(m.Rows, ",") != "a,b,other" || strings.Join(m.Cols, ",") != "pods,configmaps,other" {
		t.Fatalf("rows %v cols %v", m.Rows, m.Cols)
	}
	// secrets and configmaps tie at 1: ties go by name, so secrets falls into "other".
	want := [][]int64{{5, 0, 1}, {2, 0, 0}, {0, 1, 0}}
	for i := range want {
		for j := range want[i] {
			if m.Cells[i][j] != want[i][j] {
				t.Errorf("cell %s/%s = %d, want %d", m.Rows[i], m.Cols[j], m.Cells[i][j], want[i][j])
			}
		}
	}
	if m.RowTotals[0] != 6 {
		t.Errorf("total a = %d", m.RowTotals[0])
	}
}

func TestTopNStats(t *testing.T) {
	src := lines{
		ev{at: 1 * time.Second, latency: 10 * time.Millisecond, verb: "get", user: "a", code: 200}.line(),
		ev{at: 2 * time.Second, latency: 30 * time.Millisecond, verb: "get", user: "a", code: 403, decision: "forbid"}.line(),
		ev{at: 3 * time.Second, latency: 20 * time.Millisecond, verb: "get", user: "a", code: 500}.line(),
		ev{at: 4 * time.Second, latency: 1 * time.Millisecond, verb: "get", user: "b", code: 200}.line(),
	}
	res := run(t, src, `{"queryType":"topn","groupBy":["user.username"]}`, 0)
	r := res.TopN.Rows
	if len(r) != 2 || r[0].Values[0] != "a" || r[0].Requests != 3 || r[0].Errors != 2 || r[0].Denied != 1 || r[0].P99 != 0.03 || !r[0].HasP99 {
		t.Errorf("rows %+v", r)
	}
}

func TestEventsNewestFirst(t *testing.T) {
	src := lines{
		ev{at: 1 * time.Second, verb: "get", user: "a", code: 200, id: "1"}.line(),
		ev{at: 3 * time.Second, verb: "get", user: "b", code: 200, id: "3"}.line(),
		ev{at: 2 * time.Second, verb: "get", user: "c", code: 200, id: "2"}.line(),
	}
	res := run(t, src, `{"queryType":"events","limit":2}`, 0)
	if len(res.Events.Events) != 2 || string(res.Events.Events[0].Str(audit.FieldAuditID)) != "3" || string(res.Events.Events[1].Str(audit.FieldAuditID)) != "2" || res.Events.Total != 3 {
		t.Errorf("events %+v", res.Events)
	}
}

func TestEmptyRangeIsAQueryError(t *testing.T) {
	q, _ := query.Parse([]byte(`{}`), "")
	_, err := Run(context.Background(), lines{}, Request{Query: q, From: t0, To: t0})
	var qe *query.Error
	if err == nil || !strings.Contains(err.Error(), "empty time range") {
		t.Fatalf("err = %v", err)
	}
	if !errorsAs(err, &qe) {
		t.Errorf("want a *query.Error")
	}
}

func TestCancelledScanReturnsContextError(t *testing.T) {
	q, _ := query.Parse([]byte(`{}`), "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, lines{ev{at: time.Second, verb: "get", user: "a", code: 200}.line()}, Request{Query: q, From: t0, To: t0.Add(time.Hour)})
	if err != context.Canceled {
		t.Fatalf("err = %v", err)
	}
}

func TestStep(t *testing.T) {
	for _, tc := range []struct {
		span     time.Duration
		interval time.Duration
		points   int64
		want     time.Duration
	}{
		{time.Hour, 0, 1000, 5 * time.Second},
		{time.Hour, time.Minute, 1000, time.Minute},
		{24 * time.Hour, 15 * time.Second, 100, 15 * time.Minute},
		{30 * 24 * time.Hour, 0, 10, 3 * 24 * time.Hour},
		{time.Hour, 0, 0, time.Second},
	} {
		if got := Step(t0, t0.Add(tc.span), tc.interval, tc.points); got != tc.want {
			t.Errorf("Step(%v, %v, %d) = %v, want %v", tc.span, tc.interval, tc.points, got, tc.want)
		}
	}
}

func TestValues(t *testing.T) {
	src := lines{
		ev{at: 1 * time.Second, verb: "get", user: "a", code: 200}.line(),
		ev{at: 2 * time.Second, verb: "get", user: "b", code: 200}.line(),
		ev{at: 3 * time.Second, verb: "list", user: "b", code: 200}.line(),
	}
	dim, _ := query.LookupDimension("verb")
	vals, _, err := Values(context.Background(), src, Request{}, dim, query.Filter{}, t0, t0.Add(time.Hour), 10)
	if err != nil || len(vals) != 2 || vals[0] != (ValueCount{"get", 2}) || vals[1] != (ValueCount{"list", 1}) {
		t.Errorf("values %v err %v", vals, err)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// kube-apiserver audits a failed authentication as a single ResponseStarted event with code 401
// (WithFailedAuthenticationAudit): the default stage filter must count it once.
func TestFailedAuthenticationCountsOnce(t *testing.T) {
	src := lines{
		ev{at: time.Second, stage: "ResponseStarted", verb: "list", resource: "pods", code: 401, message: "Authentication failed, attempted: bearer"}.line(),
		ev{at: 2 * time.Second, stage: "ResponseStarted", verb: "watch", user: "a", resource: "pods", code: 200}.line(),
		ev{at: 3 * time.Second, verb: "watch", user: "a", resource: "pods", code: 200}.line(),
	}
	res := run(t, src, `{"queryType":"timeseries"}`, time.Hour)
	if got := sum(res.Series.Series[0].Values); got != 2 {
		t.Errorf("requests = %v, want 2 (the 401 and the completed watch)", got)
	}
	res = run(t, src, `{"queryType":"denied"}`, 0)
	if len(res.Denied.Rows) != 1 || res.Denied.Rows[0].Reason != "Authentication failed, attempted: bearer" {
		t.Errorf("denied %+v", res.Denied.Rows)
	}
}

func parseQuery(raw string) (*query.Query, error) { return query.Parse([]byte(raw), "") }

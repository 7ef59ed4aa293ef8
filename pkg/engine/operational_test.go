package engine

import (
	"math"
	"strings"
	"testing"
	"time"
)

func lat(total, etcd string, more ...string) map[string]string {
	m := map[string]string{"apiserver.latency.k8s.io/total": total, "apiserver.latency.k8s.io/etcd": etcd}
	for i := 0; i+1 < len(more); i += 2 {
		m["apiserver.latency.k8s.io/"+more[i]] = more[i+1]
	}
	return m
}

func TestLatencyBreakdownMeans(t *testing.T) {
	src := lines{
		ev{at: 10 * time.Second, verb: "list", user: "a", code: 200, ann: lat("1s", "400ms", "mutating-webhook", "100ms")}.line(),
		ev{at: 20 * time.Second, verb: "list", user: "a", code: 200, ann: lat("600ms", "200ms", "apf-queue-wait", "28.677µs")}.line(),
		ev{at: 30 * time.Second, verb: "get", user: "a", code: 200}.line(), // fast: no breakdown
	}
	res := run(t, src, `{"queryType":"latencyBreakdown"}`, time.Minute)
	got := seriesByLabel(t, res.Series, "component")
	near := func(name string, want float64) {
		t.Helper()
		if v := got[name][0]; math.Abs(v-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	near("etcd", 0.3)
	near("mutating-webhook", 0.05)
	near("apf-queue-wait", 0.000028677/2)
	near("other", (0.5+(0.4-0.000028677))/2)
	near("authentication", 0)
	if !math.IsNaN(got["etcd"][1]) {
		t.Errorf("an interval without slow requests is NaN, got %v", got["etcd"][1])
	}
	if res.Series.Unit != "s" || len(res.Notices) != 0 {
		t.Errorf("unit %q notices %+v", res.Series.Unit, res.Notices)
	}
}

func TestLatencyBreakdownNoticeWithoutAnnotations(t *testing.T) {
	src := lines{ev{at: time.Second, verb: "get", user: "a", code: 200}.line()}
	for _, format := range []string{"timeseries", "table"} {
		res := run(t, src, `{"queryType":"latencyBreakdown","format":"`+format+`"}`, time.Minute)
		if len(res.Notices) != 1 || !strings.Contains(res.Notices[0].Text, "slower than 500 ms") {
			t.Errorf("%s: notices %+v", format, res.Notices)
		}
	}
}

func TestSlowestRequests(t *testing.T) {
	src := lines{
		ev{at: 1 * time.Second, verb: "list", resource: "pods", user: "a", code: 200, id: "x", ann: lat("2s", "1.5s")}.line(),
		ev{at: 2 * time.Second, verb: "list", resource: "secrets", user: "b", code: 200, id: "y", ann: lat("1m0.003963671s", "59s")}.line(),
		ev{at: 3 * time.Second, verb: "get", resource: "pods", user: "c", code: 200, id: "z", ann: lat("700ms", "600ms")}.line(),
	}
	res := run(t, src, `{"queryType":"latencyBreakdown","format":"table","limit":2}`, 0)
	rows := res.Slowest.Rows
	if len(rows) != 2 || rows[0].AuditID != "y" || rows[1].AuditID != "x" || res.Slowest.Total != 3 {
		t.Fatalf("rows %+v total %d", rows, res.Slowest.Total)
	}
	names := BreakdownNames()
	for i, n := range names {
		v := rows[0].Parts[i]
		switch n {
		case "etcd":
			if v != 59 {
				t.Errorf("etcd %v", v)
			}
		case "other":
			if math.Abs(v-1.003963671) > 1e-9 {
				t.Errorf("other %v", v)
			}
		default:
			if !math.IsNaN(v) {
				t.Errorf("%s = %v, want NaN (not written by the cluster)", n, v)
			}
		}
	}
	if !strings.Contains(res.Notices[0].Text, "slowest 2 of 3") {
		t.Errorf("notices %+v", res.Notices)
	}
}

func TestDeprecatedAPIs(t *testing.T) {
	dep := map[string]string{"k8s.io/deprecated": "true", "k8s.io/removed-release": "1.25"}
	src := lines{
		ev{at: 1 * time.Second, verb: "list", resource: "podsecuritypolicies", user: "a", userAgent: "helm/3", code: 200, ann: dep}.line(),
		ev{at: 5 * time.Second, verb: "watch", resource: "podsecuritypolicies", user: "a", userAgent: "helm/3", code: 200, ann: dep}.line(),
		ev{at: 3 * time.Second, verb: "get", resource: "flowschemas", user: "b", userAgent: "kubectl", code: 200, ann: map[string]string{"k8s.io/deprecated": "true"}}.line(),
		ev{at: 4 * time.Second, verb: "get", resource: "pods", user: "a", userAgent: "helm/3", code: 200}.line(),
	}
	res := run(t, src, `{"queryType":"deprecatedApis","groupBy":["userAgent","objectRef.resource"]}`, 0)
	rows := res.Deprecated.Rows
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	r := rows[0]
	if strings.Join(r.Values, ",") != "helm/3,podsecuritypolicies" || r.RemovedRelease != "1.25" || r.Requests != 2 || !r.LastSeen.Equal(t0.Add(5*time.Second)) {
		t.Errorf("row 0 %+v", r)
	}
	if rows[1].RemovedRelease != "" || rows[1].Values[0] != "kubectl" {
		t.Errorf("row 1 %+v", rows[1])
	}
}

// A port-forward's "latency" is how long the tunnel stayed open: kube-apiserver still writes
// latency annotations for it (seen in the events recorded from kube-apiserver v1.37.2), and
// latencyBreakdown leaves it out like latency queries do, unless includeLongRunning.
func TestLatencyBreakdownLeavesOutLongRunning(t *testing.T) {
	src := lines{
		ev{at: 10 * time.Second, verb: "create", resource: "pods", sub: "portforward", user: "a", code: 101, ann: lat("605.795953ms", "0s")}.line(),
		ev{at: 20 * time.Second, verb: "watch", resource: "pods", user: "a", code: 200, ann: lat("5m0s", "0s")}.line(),
		ev{at: 30 * time.Second, verb: "list", resource: "pods", user: "a", code: 200, ann: lat("1s", "400ms")}.line(),
	}
	for _, tc := range []struct {
		query string
		rows  int
	}{
		{`{"queryType":"latencyBreakdown","format":"table"}`, 1},
		{`{"queryType":"latencyBreakdown","format":"table","includeLongRunning":true}`, 3},
	} {
		res := run(t, src, tc.query, time.Minute)
		if len(res.Slowest.Rows) != tc.rows {
			t.Errorf("%s: %d slow requests, want %d", tc.query, len(res.Slowest.Rows), tc.rows)
		}
	}
	got := seriesByLabel(t, run(t, src, `{"queryType":"latencyBreakdown"}`, time.Minute).Series, "component")
	if v := got["etcd"][0]; math.Abs(v-0.4) > 1e-9 {
		t.Errorf("etcd mean %v, want 0.4 (the list alone)", v)
	}
}

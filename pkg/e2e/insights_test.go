package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestInsightsQueryTypes runs the security and operational query types through the plugin
// binary over the real fixtures and checks them against facts read from the fixture lines with
// encoding/json.
func TestInsightsQueryTypes(t *testing.T) {
	prepare(t)
	h := startPlugin(t)

	// Independent facts: exec/attach streams started, and deprecated API requests.
	var streams, deprecated int
	for _, l := range fixtures {
		var e struct {
			Stage          string
			ObjectRef      struct{ Resource, Subresource string }
			Annotations    map[string]string
			StageTimestamp string
		}
		if json.Unmarshal([]byte(l), &e) != nil || e.StageTimestamp == "" {
			continue
		}
		if e.ObjectRef.Resource == "pods" && (e.ObjectRef.Subresource == "exec" || e.ObjectRef.Subresource == "attach") && e.Stage == "ResponseStarted" {
			streams++
		}
		if e.Annotations["k8s.io/deprecated"] == "true" && (e.Stage == "ResponseComplete" || e.Stage == "Panic") {
			deprecated++
		}
	}
	if streams == 0 || deprecated == 0 {
		t.Fatalf("fixtures lack exec streams (%d) or deprecated API use (%d)", streams, deprecated)
	}

	responses := h.queryData(t, testDatasource(), rangeFrom, rangeTo,
		newQuery("det", map[string]any{"queryType": "detections", "limit": 1000}),
		newQuery("det-exec", map[string]any{"queryType": "detections", "rules": []string{"exec-into-pod"}}),
		newQuery("det-ts", map[string]any{"queryType": "detections", "format": "timeseries", "severities": []string{"medium"}}),
		newQuery("det-bad", map[string]any{"queryType": "detections", "rules": []string{"no-such-rule"}}),
		newQuery("breakdown", map[string]any{"queryType": "latencyBreakdown"}),
		newQuery("slowest", map[string]any{"queryType": "latencyBreakdown", "format": "table"}),
		newQuery("deprecated", map[string]any{"queryType": "deprecatedApis"}),
	)

	exec := oneFrame(t, frames(t, responses["det-exec"]))
	if rowLen(exec) != streams {
		t.Errorf("exec-into-pod findings: %d, want %d (one per started stream)", rowLen(exec), streams)
	}
	for i := range rowLen(exec) {
		if rule := stringAt(t, field(t, exec, "rule"), i); rule != "exec-into-pod" {
			t.Errorf("row %d rule %q", i, rule)
		}
	}
	all := oneFrame(t, frames(t, responses["det"]))
	rules := map[string]bool{}
	for i := range rowLen(all) {
		rules[stringAt(t, field(t, all, "rule"), i)] = true
	}
	for _, want := range []string{"exec-into-pod", "privileged-workload", "binding-privileged", "role-dangerous", "anonymous-allowed", "configmap-credentials"} {
		if !rules[want] {
			t.Errorf("no %s finding over the fixtures (got %v)", want, rules)
		}
	}
	ts := oneFrame(t, frames(t, responses["det-ts"]))
	wantTimeseriesWide(t, ts)
	for _, f := range valueFields(ts) {
		if f.Labels["severity"] != "medium" {
			t.Errorf("severity filter let %v through", f.Labels)
		}
	}
	if r := responses["det-bad"]; r.Error == "" || !strings.Contains(r.Error, "unknown detection rule") {
		t.Errorf("unknown rule: %q", r.Error)
	}

	// No fixture carries apiserver.latency.k8s.io annotations: both formats say why they are empty.
	for _, id := range []string{"breakdown", "slowest"} {
		fs := frames(t, responses[id])
		if !slices.ContainsFunc(notices(fs), func(n string) bool { return strings.Contains(n, "slower than 500 ms") }) {
			t.Errorf("%s: notices %v", id, notices(fs))
		}
	}
	dep := oneFrame(t, frames(t, responses["deprecated"]))
	var total float64
	for i := range rowLen(dep) {
		v, _ := floatAt(t, field(t, dep, "requests"), i)
		total += v
	}
	if int(total) != deprecated {
		t.Errorf("deprecated API requests %v, want %d", total, deprecated)
	}
}

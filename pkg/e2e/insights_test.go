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
	var streams, deprecated, clusterroleActions, timedEvents int
	for _, l := range fixtures {
		var e struct {
			Stage          string
			ObjectRef      struct{ Resource, Subresource string }
			Annotations    map[string]string
			StageTimestamp string
			Timestamp      string
			Metadata       struct{ CreationTimestamp string }
		}
		if json.Unmarshal([]byte(l), &e) != nil {
			continue
		}
		// Old events carry their time in timestamp or metadata.creationTimestamp.
		if e.StageTimestamp != "" || e.Timestamp != "" || e.Metadata.CreationTimestamp != "" {
			timedEvents++
		}
		if e.StageTimestamp == "" {
			continue
		}
		if e.ObjectRef.Resource == "clusterroles" && (e.Stage == "ResponseComplete" || e.Stage == "Panic") {
			clusterroleActions++
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
		newQuery("history", map[string]any{"queryType": "objectHistory",
			"filter": map[string]any{"resources": []string{"clusterroles"}, "namespaces": []string{"*"}}}),
		newQuery("pipeline", map[string]any{"queryType": "pipelineHealth"}),
	)

	exec := oneFrame(t, frames(t, responses["det-exec"]))
	found := 0 // a row folds repeats: its count says how many
	for i := range rowLen(exec) {
		n, _ := floatAt(t, field(t, exec, "count"), i)
		found += int(n)
	}
	if found != streams {
		t.Errorf("exec-into-pod findings: %d in %d rows, want %d (one per started stream)", found, rowLen(exec), streams)
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

	// Only long-running requests (a recorded port-forward) carry apiserver.latency.k8s.io
	// annotations among the fixtures, and latencyBreakdown leaves those out: both formats say why
	// they are empty.
	for _, id := range []string{"breakdown", "slowest"} {
		fs := frames(t, responses[id])
		if !slices.ContainsFunc(notices(fs), func(n string) bool { return strings.Contains(n, "slower than 500 ms") }) {
			t.Errorf("%s: notices %v", id, notices(fs))
		}
	}
	// objectHistory: every clusterrole action, oldest first, with what the writes changed.
	hist := oneFrame(t, frames(t, responses["history"]))
	if rowLen(hist) != clusterroleActions {
		t.Errorf("clusterrole history: %d rows, want %d", rowLen(hist), clusterroleActions)
	}
	for i := 1; i < rowLen(hist); i++ {
		if timeAt(t, field(t, hist, "time"), i).Before(timeAt(t, field(t, hist, "time"), i-1)) {
			t.Errorf("history not oldest first at row %d", i)
		}
	}
	// pipelineHealth: the two files of the log directory, with every event counted.
	pipe := oneFrame(t, frames(t, responses["pipeline"]))
	var events float64
	for i := range rowLen(pipe) {
		v, _ := floatAt(t, field(t, pipe, "events"), i)
		events += v
	}
	if rowLen(pipe) != 2 || int(events) != timedEvents {
		t.Errorf("pipeline: %d origins, %v events; want 2 and %d", rowLen(pipe), events, timedEvents)
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

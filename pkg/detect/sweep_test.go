package detect

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

var sweepResources = []string{"pods", "services", "configmaps", "secrets", "deployments", "daemonsets", "nodes",
	"namespaces", "serviceaccounts", "roles", "rolebindings", "clusterroles"}

// sweep reads each resource type once, every step from start; the types in forbidden get 403.
func sweep(user string, start, step time.Duration, forbidden ...string) [][]byte {
	var lines [][]byte
	for i, res := range sweepResources {
		code := 200
		if slices.Contains(forbidden, res) {
			code = 403
		}
		lines = append(lines, ev(start+time.Duration(i)*step, "ResponseComplete", "list", user, res, "", "team-a", "", code,
			map[string]any{"auditID": fmt.Sprintf("%s-%s-%d", user, res, start)}))
	}
	return lines
}

func sweeps(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.RuleID == "permission-enumeration" && strings.HasPrefix(f.Detail, "read ") {
			out = append(out, f)
		}
	}
	return out
}

func TestPermissionSweep(t *testing.T) {
	mixed := sweep("mallory", 0, 5*time.Second, "secrets", "nodes", "clusterroles", "roles", "rolebindings")
	fs, _ := observe(t, Config{}, mixed...)
	got := sweeps(fs)
	if len(got) != 1 {
		t.Fatalf("sweep findings %+v", got)
	}
	f := got[0]
	want := "read 12 resource types within 55s: 5 forbidden (clusterroles, nodes, rolebindings, roles, secrets), 7 allowed (configmaps, daemonsets, deployments, namespaces, pods, serviceaccounts, … 1 more)"
	if f.User != "mallory" || f.Resource != "clusterroles" || f.Detail != want {
		t.Errorf("finding %+v\nwant detail %s", f, want)
	}

	cases := []struct {
		name  string
		lines [][]byte
	}{
		{"an operator allowed everything", sweep("system:serviceaccount:argocd:argocd-application-controller", 0, time.Second)},
		{"everything forbidden (a denied burst, not a sweep)", sweep("mallory", 0, time.Second, sweepResources...)},
		{"two forbidden types only", sweep("alice", 0, time.Second, "secrets", "nodes")},
		{"spread over hours", sweep("mallory", 0, 20*time.Minute, "secrets", "nodes", "clusterroles", "roles")},
		{"kube-system controller", sweep("system:serviceaccount:kube-system:generic-garbage-collector", 0, time.Second, "secrets", "nodes", "roles")},
		{"a node", sweep("system:node:ip-10-0-0-1", 0, time.Second, "secrets", "nodes", "roles")},
	}
	for _, c := range cases {
		fs, _ := observe(t, Config{}, c.lines...)
		if got := sweeps(fs); len(got) != 0 {
			t.Errorf("%s: %+v", c.name, got)
		}
	}

	// A sweep straddling a window edge is seen whole; a lower threshold finds smaller sweeps;
	// two sweeps an hour apart are two findings.
	edge := sweep("mallory", 5*time.Minute-30*time.Second, 5*time.Second, "secrets", "nodes", "roles")
	if got := sweeps(first(observe(t, Config{}, edge...))); len(got) != 1 {
		t.Errorf("edge: %+v", got)
	}
	small := sweep("alice", 0, time.Second, "secrets", "services", "pods")[:6]
	if got := sweeps(first(observe(t, Config{SweepThreshold: 6}, small...))); len(got) != 1 || !strings.Contains(got[0].Detail, "read 6 resource types") {
		t.Errorf("threshold 6: %+v", got)
	}
	twice := append(sweep("mallory", 0, time.Second, "secrets", "nodes", "roles"), sweep("mallory", time.Hour, time.Second, "secrets", "nodes", "roles")...)
	if got := sweeps(first(observe(t, Config{}, twice...))); len(got) != 2 {
		t.Errorf("two sweeps: %+v", got)
	}
}

// TestPermissionSweepAcrossWorkers: the engine splits lines between workers at arbitrary
// points; the merged summary finds the same sweep as one detector.
func TestPermissionSweepAcrossWorkers(t *testing.T) {
	lines := sweep("mallory", 0, 5*time.Second, "secrets", "nodes", "clusterroles")
	whole := sweeps(first(observe(t, Config{}, lines...)))
	sc := audit.NewScanner(Needs)
	a, b := New(Rules(), Config{}), New(Rules(), Config{})
	for i, l := range lines {
		var r audit.Record
		if err := sc.Scan(l, &r); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			a.Observe(&r)
		} else {
			b.Observe(&r)
		}
	}
	a.Merge(b)
	fs, _ := a.Finish()
	if split := sweeps(fs); len(whole) != 1 || len(split) != 1 || split[0].Detail != whole[0].Detail || split[0].AuditID != whole[0].AuditID {
		t.Errorf("whole %+v\nsplit %+v", whole, split)
	}
}

func first(fs []Finding, _ []string) []Finding { return fs }

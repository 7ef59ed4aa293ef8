package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// observe feeds lines to a detector with every rule and returns the findings and notices.
func observe(t *testing.T, cfg Config, lines ...[]byte) ([]Finding, []string) {
	t.Helper()
	sc := audit.NewScanner(Needs)
	d := New(Rules(), cfg)
	for _, l := range lines {
		var r audit.Record
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		if err := sc.Scan(l, &r); err != nil {
			t.Fatalf("scan %.80s: %v", l, err)
		}
		d.Observe(&r)
	}
	return d.Finish()
}

func ruleIDs(fs []Finding) []string {
	var ids []string
	for _, f := range fs {
		if !slices.Contains(ids, f.RuleID) {
			ids = append(ids, f.RuleID)
		}
	}
	slices.Sort(ids)
	return ids
}

// TestRulesOnRealEvents runs every rule over each real fixture (Falco's test traces, Panther's
// rule tests, EKS and Kubernetes documentation samples, audit2rbac's demo, and the scenarios
// tools/recordaudit recorded from kube-apiserver v1.37.2) and lists the rules each must
// trigger; every other rule must stay silent on it. The expectations follow what each fixture
// was written to show (its file name and SOURCES.md), not this package's output.
func TestRulesOnRealEvents(t *testing.T) {
	want := map[string][]string{
		"anonymous_creates_namespace_foo":                                   {"anonymous-allowed"},
		"attach_cluster_admin_role":                                         {"binding-privileged"},
		"attach_pod":                                                        {"exec-into-pod"},
		"exec_pod":                                                          {"exec-into-pod", "risky-exec-command"},
		"create_cluster_role_pod_exec":                                      {"role-dangerous"},
		"create_cluster_role_wildcard_resources":                            {"role-dangerous"},
		"create_cluster_role_wildcard_verbs":                                {"role-dangerous"},
		"create_configmap_sensitive_values":                                 {"configmap-credentials"},
		"create_nginx_pod_hostnetwork":                                      {"privileged-workload"},
		"create_nginx_pod_privileged":                                       {"privileged-workload"},
		"create_nginx_pod_privileged_2nd_container":                         {"privileged-workload"},
		"create_nginx_pod_no_secctx_1st_container_privileged_2nd_container": {"privileged-workload"},
		"create_nginx_pod_sensitive_mount":                                  {"privileged-workload"},
		"create_nginx_pod_sensitive_mount_2nd_container":                    {"privileged-workload"},
		"create_nginx_service_nodeport":                                     {"nodeport-service"},
		"create_pod_kube_public_namespace":                                  {"system-namespace-workload"},
		"create_serviceaccount_kube_public_namespace":                       {"system-namespace-workload"},
		"create_serviceaccount_kube_system_namespace":                       {"system-namespace-workload"},
		"delete_cluster_role_kube_aggregator":                               {"system-role-modified"},
		"modify_cluster_role_node_problem_detector":                         {"system-role-modified"},
		"rules_aws_eks_rules_anonymous_api_access":                          {"anonymous-allowed"},
		"rules_kubernetes_rules_k8s_anonymous_api_access":                   {"anonymous-allowed"},
		"rules_aws_eks_rules_system_namespace_public_ip":                    {"system-identity-public-ip"},
		"rules_aws_eks_rules_source_ip_multiple_403":                        {"system-identity-public-ip"},
		"rules_kubernetes_rules_k8s_multiple_403_public_ip":                 {"system-identity-public-ip"},
		"rules_kubernetes_rules_k8s_privileged_pod_created":                 {"privileged-workload"},

		// Recorded by tools/recordaudit (kube-apiserver v1.37.2, real kubectl and client-go).
		"port-forward":                       {"port-forward"},
		"ephemeral-container":                {"ephemeral-container"},
		"exec-read-token":                    {"exec-into-pod", "risky-exec-command"},
		"attach":                             {"exec-into-pod"},
		"nodes-proxy-kubelet-api":            {"node-proxy"}, // /pods, /configz, /logs/, a container log; the WebSocket exec the kubelet refused is audited as 101
		"nodes-proxy-run":                    {"node-proxy"},
		"secret-get-by-user":                 {"secret-read-unexpected"},
		"secret-read-by-serviceaccount-curl": {"secret-read-unexpected"},
		"secrets-list-all-namespaces":        {"secret-read-unexpected", "secrets-list-wide"},
		"secrets-list-kube-system":           {"secret-read-unexpected", "secrets-list-wide"},
		"secrets-harvest":                    {"many-secrets-read", "secret-read-unexpected"},
		"impersonate-system-masters":         {"impersonation-privileged"},
		"validating-webhook-created":         {"admission-or-auth-config-change"},
		"mutating-webhook-changed":           {"admission-or-auth-config-change"},
		"aws-auth-configmap-changed":         {"admission-or-auth-config-change"},
		"coredns-configmap-changed":          {"admission-or-auth-config-change"},
		"token-request-by-user":              {"token-or-csr"},
		"csr-created-and-approved":           {"token-or-csr"},
		"events-deleted":                     {"events-deleted"},
		"events-deletecollection":            {"events-deleted"},
		"can-i-loop":                         {"permission-enumeration"},
		"rakkess-access-matrix":              {"permission-enumeration"},
		"list-sweep":                         {"denied-burst", "permission-enumeration"}, // 13 of 20 types forbidden
		"wildcard-clusterrole-and-binding":   {"binding-to-wildcard-role", "role-dangerous"},
		"wildcard-clusterrole-created":       {"role-dangerous"},
		"forbidden-burst":                    {"denied-burst"},
		// kubectl auth can-i --list: one SelfSubjectRulesReview answers every permission at once.
		"can-i-list": {"permission-enumeration"},
		// node-1's credentials used with kubectl GET a secret that a pod of node-1 mounts (200).
		"secret-read-with-node-credentials": {"secret-read-unexpected"},
	}
	// Negative twins: the same kind of request without the risk.
	silent := []string{
		"create_nginx_pod_nohostnetwork", "create_nginx_pod_unprivileged", "create_nginx_pod_unsensitive_mount",
		"create_nginx_service_nonodeport", "create_configmap_no_sensitive_values", "create_configmap",
		"create_clusterrole", "create_clusterrolebinding", "create_deployment", "create_secret", "delete_clusterrole",
		"create_pod_kube_system_namespace", // created by kube-system's replicaset controller
		"minikube_creates_namespace_foo", "some-user_creates_namespace_foo",
		// Recorded by tools/recordaudit.
		"pod-get", "pod-patch", "nodes-proxy-metrics-scrape", "impersonate-user", "configmap-changed", "events-list",
		"secrets-controller-manager", // shared informer list+watch of all secrets, a bootstrap-token get
		"secret-kubelet-watch",       // the kubelet's watch of the one secret a pod mounts
		"token-request-by-node",      // the kubelet's TokenRequest for a pod's service account, bound to the pod
		"single-ssar",
		"anonymous-probe",            // /version, /healthz, /readyz allowed; 3 denials
		"wildcard-clusterrole-bound", // the role was written before the range: see TestRecordedWildcardRoleThenBinding
	}
	files, err := filepath.Glob("../../testdata/audit/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatal("no fixtures")
	}
	seen := map[string]bool{}
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		base = strings.TrimPrefix(base, "falcosecurity__falco__test_trace_files_k8s_audit_")
		base = strings.TrimPrefix(base, "panther-labs__panther-analysis__")
		base = strings.TrimSuffix(base, ".yml.events")
		base = strings.TrimPrefix(base, recordedPrefix)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fs, _ := observe(t, Config{}, bytes.Split(b, []byte("\n"))...)
		exp := want[base]
		if got := ruleIDs(fs); !slices.Equal(got, exp) && !(len(got) == 0 && len(exp) == 0) {
			t.Errorf("%s: rules %v, want %v", base, got, exp)
		}
		seen[base] = true
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("fixture %s is missing", name)
		}
	}
	for _, name := range silent {
		if !seen[name] {
			t.Errorf("fixture %s is missing", name)
		}
		if len(want[name]) > 0 {
			t.Errorf("%s is both positive and silent", name)
		}
	}
}

// recordedPrefix starts the names of the fixtures tools/recordaudit recorded.
const recordedPrefix = "kubernetes__kubernetes__kube-apiserver-v1.37.2__"

// recorded reads the lines of a fixture recorded by tools/recordaudit.
func recorded(t *testing.T, scenario string) [][]byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/audit/" + recordedPrefix + scenario + ".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(b, []byte("\n"))
}

// TestRecordedWildcardRoleThenBinding: tools/recordaudit recorded a ClusterRole with wildcards
// and, seconds later, a binding to it as two files. Queried alone, the binding cannot be judged
// (a notice says so); with the role's write from before the range (the RBAC look-back), it is a
// binding to a wildcard role.
func TestRecordedWildcardRoleThenBinding(t *testing.T) {
	binding := recorded(t, "wildcard-clusterrole-bound")
	fs, notices := observe(t, Config{}, binding...)
	if slices.Contains(ruleIDs(fs), RoleRule) {
		t.Errorf("binding alone: %+v", fs)
	}
	if !strings.Contains(strings.Join(notices, "\n"), "ClusterRole break-glass") {
		t.Errorf("binding alone: notices %q", notices)
	}
	var hist []RoleWrite
	sc := audit.NewScanner(RoleNeeds)
	for _, l := range recorded(t, "wildcard-clusterrole-created") {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var r audit.Record
		if err := sc.Scan(l, &r); err != nil {
			t.Fatal(err)
		}
		if w, ok := RoleWriteOf(&r); ok {
			hist = append(hist, w)
		}
	}
	if len(hist) != 1 || hist[0].Key != "ClusterRole//break-glass" || !hist[0].Wild {
		t.Fatalf("role writes %+v", hist)
	}
	fs, _ = observe(t, Config{RoleHistory: hist, RoleLookback: time.Hour}, binding...)
	var hits []string
	for _, f := range fs {
		if f.RuleID == RoleRule {
			hits = append(hits, f.User+" "+f.Name)
		}
	}
	if !slices.Equal(hits, []string{"ops-admin break-glass-mallory"}) {
		t.Errorf("binding with the role's write as history: %v", hits)
	}
}

var base = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// ev writes one audit event as kube-apiserver would.
func ev(at time.Duration, stage, verb, user, resource, sub, ns, name string, code int, extra map[string]any) []byte {
	m := map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Request", "stage": stage,
		"auditID": fmt.Sprintf("%s-%s-%d", verb, name, at), "verb": verb,
		"user":      map[string]any{"username": user, "groups": []string{"system:authenticated"}},
		"sourceIPs": []string{"10.1.2.3"}, "userAgent": "kubectl/v1.31.0",
		"objectRef":                map[string]any{"resource": resource, "subresource": sub, "namespace": ns, "name": name},
		"requestReceivedTimestamp": base.Add(at).Format(time.RFC3339Nano),
		"stageTimestamp":           base.Add(at).Format(time.RFC3339Nano),
	}
	if code != 0 {
		m["responseStatus"] = map[string]any{"code": code}
	}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

func TestExecJudgedOncePerRequest(t *testing.T) {
	uri := "/api/v1/namespaces/prod/pods/web/exec?command=cat&command=%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken&container=app"
	extra := map[string]any{"requestURI": uri, "auditID": "alice-exec"} // one request: its stages share the auditID
	fs, _ := observe(t, Config{},
		ev(0, "RequestReceived", "create", "alice", "pods", "exec", "prod", "web", 0, extra),
		ev(0, "ResponseStarted", "create", "alice", "pods", "exec", "prod", "web", 101, extra),
		ev(time.Minute, "ResponseComplete", "create", "alice", "pods", "exec", "prod", "web", 101, extra),
		// A denied exec never starts a stream: judged on its final event.
		ev(2*time.Minute, "ResponseComplete", "create", "bob", "pods", "exec", "prod", "web", 403, map[string]any{"requestURI": uri}),
	)
	if got := ruleIDs(fs); !slices.Equal(got, []string{"exec-into-pod", "risky-exec-command"}) || len(fs) != 4 {
		t.Fatalf("findings %+v", fs)
	}
	if fs[0].User != "bob" || !strings.Contains(fs[0].Detail, "failed with 403") {
		t.Errorf("newest finding %+v", fs[0])
	}
	if !strings.Contains(fs[len(fs)-1].Detail+fs[len(fs)-2].Detail, "reads the service-account token") {
		t.Errorf("details %q %q", fs[len(fs)-1].Detail, fs[len(fs)-2].Detail)
	}
}

func TestDeniedBurst(t *testing.T) {
	var lines [][]byte
	for i := range 12 {
		l := ev(time.Duration(i)*10*time.Second, "ResponseComplete", "list", "", "secrets", "", "", "", 401, map[string]any{
			"sourceIPs": []string{"8.8.4.4"}, "user": map[string]any{}, "auditID": fmt.Sprintf("a%d", i)})
		lines = append(lines, l)
	}
	// Spread out: never 10 within 5 minutes; two runs of 6 a minute apart, half an hour apart.
	for i := range 12 {
		at := time.Duration(i%6)*time.Minute + time.Duration(i/6)*30*time.Minute
		lines = append(lines, ev(at, "ResponseComplete", "get", "carol", "pods", "", "x", "p", 403,
			map[string]any{"auditID": fmt.Sprintf("c%d", i)}))
	}
	fs, _ := observe(t, Config{BurstThreshold: 10, BurstWindow: 5 * time.Minute}, lines...)
	var burst []Finding
	for _, f := range fs {
		if f.RuleID == "denied-burst" {
			burst = append(burst, f)
		}
	}
	// One finding per burst, however long it goes on.
	if len(burst) != 1 || burst[0].Detail != "12 denied requests from 8.8.4.4 within 1m50s (public IP)" {
		t.Fatalf("burst findings %+v", burst)
	}
	fs, _ = observe(t, Config{BurstThreshold: 5, BurstWindow: 5 * time.Minute}, lines...)
	users := 0
	for _, f := range fs {
		if f.RuleID == "denied-burst" && f.User == "carol" {
			users++
		}
	}
	if users != 2 {
		t.Errorf("carol: %d bursts of at least 5 in 5m, want 2 (one per run)", users)
	}
}

func TestManySecretsAndRBACSequence(t *testing.T) {
	var lines [][]byte
	for i := range 10 {
		lines = append(lines, ev(time.Duration(i)*time.Second, "ResponseComplete", "get", "mallory", "secrets", "", "ns", fmt.Sprintf("s%d", i%10), 200, nil))
	}
	// The same secret read again and again is not harvesting.
	for i := range 20 {
		lines = append(lines, ev(time.Duration(i)*time.Second, "ResponseComplete", "get", "dave", "secrets", "", "ns", "one", 200, nil))
	}
	lines = append(lines,
		ev(time.Minute, "ResponseComplete", "create", "mallory", "clusterrolebindings", "", "", "mine", 201, nil),
		ev(3*time.Minute, "ResponseComplete", "create", "mallory", "daemonsets", "", "kube-system", "miner", 201, nil),
		ev(30*time.Minute, "ResponseComplete", "create", "mallory", "deployments", "", "default", "later", 201, nil),
	)
	fs, notices := observe(t, Config{}, lines...)
	count := map[string]int{}
	for _, f := range fs {
		count[f.RuleID+" "+f.User]++
	}
	if count["many-secrets-read mallory"] != 1 || count["many-secrets-read dave"] != 0 {
		t.Errorf("many secrets: %v", count)
	}
	if count["rbac-then-workload mallory"] != 1 {
		t.Errorf("sequence: %v", count)
	}
	// The bodies of the binding and the workloads were not audited (Metadata-like events).
	if len(notices) == 0 || !strings.Contains(strings.Join(notices, "\n"), "needs Request level for clusterrolebindings") {
		t.Errorf("notices %v", notices)
	}
}

func TestAllowLists(t *testing.T) {
	extra := map[string]any{"requestURI": "/api/v1/namespaces/prod/pods/web/exec?command=sh"}
	l := ev(0, "ResponseStarted", "create", "ci-bot", "pods", "exec", "prod", "web", 101, extra)
	if fs, _ := observe(t, Config{AllowUsers: []string{"ci-*"}}, l); len(fs) != 0 {
		t.Errorf("allowed user: %+v", fs)
	}
	if fs, _ := observe(t, Config{AllowNamespaces: []string{"prod"}}, l); len(fs) != 0 {
		t.Errorf("allowed namespace: %+v", fs)
	}
	if fs, _ := observe(t, Config{AllowNetworks: []string{"10.0.0.0/8"}}, l); len(fs) != 0 {
		t.Errorf("allowed network: %+v", fs)
	}
	if fs, _ := observe(t, Config{AllowGroups: []string{"system:authenticated"}}, l); len(fs) != 0 {
		t.Errorf("allowed group: %+v", fs)
	}
	if fs, _ := observe(t, Config{AllowUsers: []string{"someone"}}, l); len(fs) != 2 {
		t.Errorf("not allowed: %+v", fs)
	}
	// Per rule: ci-bot may exec, but a shell still counts as risky.
	fs, _ := observe(t, Config{RuleAllow: map[string]Allow{"exec-into-pod": {Users: []string{"ci-bot"}}}}, l)
	if got := ruleIDs(fs); !slices.Equal(got, []string{"risky-exec-command"}) {
		t.Errorf("per-rule allow: %v", got)
	}
}

func TestSelect(t *testing.T) {
	if got := Select([]string{"exec-*"}, nil); len(got) != 1 || got[0].ID != "exec-into-pod" {
		t.Errorf("glob: %v", got)
	}
	for _, r := range Select(nil, []string{"critical"}) {
		if r.Severity != Critical {
			t.Errorf("severity filter let %s through", r.ID)
		}
	}
	ids := map[string]bool{}
	for _, r := range Rules() {
		if ids[r.ID] || r.Title == "" || r.Description == "" || len(r.Fields) == 0 || !slices.Contains(Severities, r.Severity) {
			t.Errorf("rule %+v is incomplete or duplicated", r.ID)
		}
		ids[r.ID] = true
	}
}

func TestMonitoringIsNotAFinding(t *testing.T) {
	fs, _ := observe(t, Config{},
		// Prometheus scraping cAdvisor through the API server.
		ev(0, "ResponseComplete", "get", "system:serviceaccount:monitoring:prometheus", "nodes", "proxy", "", "node-1", 200,
			map[string]any{"requestURI": "/api/v1/nodes/node-1/proxy/metrics/cadvisor"}),
		// A kubelet watching the one secret a pod mounts.
		ev(time.Second, "ResponseComplete", "watch", "system:node:node-1", "secrets", "", "kube-system", "", 200,
			map[string]any{"requestURI": "/api/v1/namespaces/kube-system/secrets?fieldSelector=metadata.name%3Dkube-proxy-env&watch=true",
				"userAgent": "kubelet/v1.31.0 (linux/amd64) kubernetes/9e0d6e1"}),
	)
	if len(fs) != 0 {
		t.Errorf("findings %+v", fs)
	}
	fs, _ = observe(t, Config{},
		ev(0, "ResponseComplete", "create", "mallory", "nodes", "proxy", "", "node-1", 200,
			map[string]any{"requestURI": "/api/v1/nodes/node-1/proxy/run/default/web/app"}),
		ev(time.Second, "ResponseComplete", "list", "mallory", "secrets", "", "kube-system", "", 200,
			map[string]any{"requestURI": "/api/v1/namespaces/kube-system/secrets"}),
	)
	if got := ruleIDs(fs); !slices.Contains(got, "node-proxy") || !slices.Contains(got, "secrets-list-wide") {
		t.Errorf("rules %v", got)
	}
}

func TestBindingToWildcardRole(t *testing.T) {
	roleBody := map[string]any{"requestObject": map[string]any{"metadata": map[string]any{"name": "do-anything"},
		"rules": []any{map[string]any{"apiGroups": []string{""}, "resources": []string{"*"}, "verbs": []string{"get"}}}}}
	tameBody := map[string]any{"requestObject": map[string]any{"metadata": map[string]any{"name": "read-pods"},
		"rules": []any{map[string]any{"apiGroups": []string{""}, "resources": []string{"pods"}, "verbs": []string{"get"}}}}}
	bind := func(name, roleKind, role string) map[string]any {
		return map[string]any{"requestObject": map[string]any{"metadata": map[string]any{"name": name},
			"roleRef":  map[string]any{"kind": roleKind, "name": role, "apiGroup": "rbac.authorization.k8s.io"},
			"subjects": []any{map[string]any{"kind": "User", "name": "eve"}}}}
	}
	fs, _ := observe(t, Config{},
		// The binding may come before the role is (re)written: order does not matter.
		ev(0, "ResponseComplete", "create", "mallory", "clusterrolebindings", "", "", "b1", 201, bind("b1", "ClusterRole", "do-anything")),
		ev(time.Minute, "ResponseComplete", "create", "mallory", "clusterroles", "", "", "do-anything", 201, roleBody),
		ev(2*time.Minute, "ResponseComplete", "create", "mallory", "clusterroles", "", "", "read-pods", 201, tameBody),
		ev(3*time.Minute, "ResponseComplete", "create", "mallory", "rolebindings", "", "team", "b2", 201, bind("b2", "ClusterRole", "read-pods")),
		// A Role of the same name in a namespace is another role.
		ev(4*time.Minute, "ResponseComplete", "create", "mallory", "rolebindings", "", "team", "b3", 201, bind("b3", "Role", "do-anything")),
	)
	var hits []string
	for _, f := range fs {
		if f.RuleID == "binding-to-wildcard-role" {
			hits = append(hits, f.Name)
		}
	}
	if !slices.Equal(hits, []string{"b1"}) {
		t.Errorf("bindings to wildcard roles: %v", hits)
	}
}

// TestEditorKnowsEveryRule keeps the query editor's rule suggestions
// (src/components/editor/model.ts) in step with the catalogue.
func TestEditorKnowsEveryRule(t *testing.T) {
	b, err := os.ReadFile("../../src/components/editor/model.ts")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	for _, r := range Rules() {
		want := fmt.Sprintf("{ id: '%s', severity: '%s' }", r.ID, r.Severity)
		if !strings.Contains(src, want) {
			t.Errorf("src/components/editor/model.ts lacks %s", want)
		}
	}
	_, rules, ok := strings.Cut(src, "DETECTION_RULES")
	if !ok {
		t.Fatal("src/components/editor/model.ts has no DETECTION_RULES")
	}
	if got, want := strings.Count(rules, "{ id: '"), len(Rules()); got != want {
		t.Errorf("the editor suggests %d rules, the catalogue has %d", got, want)
	}
}

package detect

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// withIP sets an event line's source IP and user agent.
func withIP(extra map[string]any, ip, ua string) map[string]any {
	out := map[string]any{"sourceIPs": []string{ip}, "userAgent": ua}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func byRule(fs []Finding, id string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.RuleID == id {
			out = append(out, f)
		}
	}
	return out
}

// TestGroupRepeats: kube-state-metrics listing every secret every 30 s for an hour is one row
// with its count and first and last time; what differs (another detail, another user) stays
// apart; the rows are newest first and carry the newest request's auditID.
func TestGroupRepeats(t *testing.T) {
	ksm := "system:serviceaccount:monitoring:kube-state-metrics"
	var lines [][]byte
	for i := 0; i < 120; i++ {
		lines = append(lines, ev(time.Duration(i)*30*time.Second, "ResponseComplete", "list", ksm, "secrets", "", "", "", 200, nil))
	}
	lines = append(lines,
		ev(10*time.Minute, "ResponseComplete", "watch", ksm, "secrets", "", "", "", 200, nil),
		ev(20*time.Minute, "ResponseComplete", "list", "alice", "secrets", "", "", "", 200, nil))
	fs, _ := observe(t, Config{}, lines...)
	wide := byRule(fs, "secrets-list-wide")
	if len(wide) != 122 {
		t.Fatalf("%d secrets-list-wide findings before grouping, want 122", len(wide))
	}
	g := byRule(Group(fs), "secrets-list-wide")
	if len(g) != 3 {
		t.Fatalf("grouped: %d rows, want 3 (ksm list, ksm watch, alice): %+v", len(g), g)
	}
	top := g[0]
	if top.User != ksm || top.Verb != "list" || top.Count != 120 {
		t.Fatalf("newest row %+v", top)
	}
	if !top.FirstSeen.Equal(base) || !top.LastSeen.Equal(base.Add(119*30*time.Second)) || !top.Time.Equal(top.LastSeen) {
		t.Errorf("first %v last %v time %v", top.FirstSeen, top.LastSeen, top.Time)
	}
	if top.AuditID != fmt.Sprintf("list--%d", 119*30*time.Second) {
		t.Errorf("auditID %q, want the newest request's", top.AuditID)
	}
	for _, f := range g[1:] {
		if f.Count != 1 || !f.FirstSeen.Equal(f.LastSeen) {
			t.Errorf("single finding %+v", f)
		}
	}
	if !slices.IsSortedFunc(g, func(a, b Finding) int { return b.Time.Compare(a.Time) }) {
		t.Errorf("not newest first")
	}
	// Grouping twice changes nothing, and findings already counted add up.
	if again := Group(g); !slices.EqualFunc(again, g, func(a, b Finding) bool { return a.Count == b.Count && a.AuditID == b.AuditID }) {
		t.Errorf("grouping grouped findings: %+v", again)
	}
}

// kubeProxyPod is the body of a pod the DaemonSet controller creates for kube-proxy on EKS
// (generateName, no name), with image.
func kubeProxyPod(image string) map[string]any {
	return map[string]any{
		"kind": "Pod", "apiVersion": "v1",
		"metadata": map[string]any{"generateName": "kube-proxy-", "namespace": "kube-system"},
		"spec": map[string]any{"hostNetwork": true, "containers": []any{map[string]any{
			"name": "kube-proxy", "image": image, "securityContext": map[string]any{"privileged": true}}}},
	}
}

// TestKnownGoodProfile: the profile leaves out what clusters do by design, counts it in a
// notice, and keeps what only looks like it: a kube-proxy pod with another image, the
// incident's privileged DaemonSet, secrets listed by anyone else. It is off by default.
func TestKnownGoodProfile(t *testing.T) {
	dsc := "system:serviceaccount:kube-system:daemon-set-controller"
	ecr := "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.31.0-minimal-eksbuild.2"
	lines := [][]byte{
		ev(0, "ResponseComplete", "list", "system:serviceaccount:monitoring:kube-state-metrics", "secrets", "", "", "", 200, nil),
		ev(time.Second, "ResponseComplete", "watch", "system:serviceaccount:kube-system:kube-state-metrics", "secrets", "", "", "", 200, nil),
		ev(2*time.Second, "ResponseComplete", "list", "system:serviceaccount:monitoring:kube-state-metricz", "secrets", "", "", "", 200, nil),
		ev(3*time.Second, "ResponseComplete", "create", dsc, "pods", "", "kube-system", "", 201, map[string]any{"requestObject": kubeProxyPod(ecr)}),
		ev(4*time.Second, "ResponseComplete", "create", dsc, "pods", "", "kube-system", "", 201,
			map[string]any{"requestObject": kubeProxyPod("ghcr.io/example/kube-proxy-debug:1.0")}),
		ev(5*time.Second, "ResponseComplete", "create", "alice", "pods", "", "default", "", 201, map[string]any{"requestObject": kubeProxyPod(ecr)}),
	}
	// EKS's addon manager calls from an AWS address (Panther's EKS sample).
	lines = append(lines, fixture(t, "rules_aws_eks_rules_system_namespace_public_ip")...)
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 3, Start: base, Duration: time.Hour, Requests: 3000, Incident: true}); err != nil {
		t.Fatal(err)
	}
	lines = append(lines, bytes.Split(buf.Bytes(), []byte("\n"))...)

	off, offNotes := observe(t, Config{}, lines...)
	on, notes := observe(t, Config{Profile: ProfileKnownGood}, lines...)
	key := func(f Finding) string { return f.RuleID + " " + f.User + " " + strings.Join(f.Images, ",") }
	gone := map[string]int{}
	for _, f := range off {
		gone[key(f)]++
	}
	for _, f := range on {
		gone[key(f)]--
	}
	var left []string
	for k, n := range gone {
		if n > 0 {
			left = append(left, k)
		}
	}
	slices.Sort(left)
	want := []string{
		"privileged-workload " + dsc + " " + ecr,
		"secrets-list-wide system:serviceaccount:kube-system:kube-state-metrics ",
		"secrets-list-wide system:serviceaccount:monitoring:kube-state-metrics ",
		"system-identity-public-ip eks:addon-manager ",
	}
	var generated []string
	for _, k := range left {
		if !slices.Contains(want, k) {
			generated = append(generated, k)
		}
	}
	for _, w := range want {
		if !slices.Contains(left, w) {
			t.Errorf("the profile kept %q", w)
		}
	}
	// The generated cluster runs kube-state-metrics, kube-proxy and aws-node: the profile may
	// leave out their findings, nothing else.
	for _, k := range generated {
		if !strings.HasPrefix(k, "secrets-list-wide system:serviceaccount:monitoring:kube-state-metrics") &&
			!strings.Contains(k, "/eks/kube-proxy:") && !strings.Contains(k, "/amazon-k8s-cni:") {
			t.Errorf("the profile left out %q", k)
		}
	}
	attacker := false
	for _, f := range on {
		attacker = attacker || f.RuleID == "privileged-workload" && f.SourceIP == "203.0.113.66"
	}
	if !attacker {
		t.Errorf("the profile hid the incident's privileged DaemonSet")
	}
	if len(off)-len(on) < len(want) || !slices.ContainsFunc(notes, func(n string) bool {
		return strings.Contains(n, "knownGood profile") && strings.Contains(n, fmt.Sprintf("left out %d findings", len(off)-len(on)))
	}) {
		t.Errorf("notices %q (%d findings left out)", notes, len(off)-len(on))
	}
	if slices.ContainsFunc(offNotes, func(n string) bool { return strings.Contains(n, "profile") }) {
		t.Errorf("a profile notice without the profile: %q", offNotes)
	}
}

// fixture reads the lines of the one real fixture whose name contains name.
func fixture(t *testing.T, name string) [][]byte {
	t.Helper()
	files, _ := filepath.Glob("../../testdata/audit/*" + name + "*.jsonl")
	if len(files) == 1 {
		b, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Split(b, []byte("\n"))
	}
	t.Fatalf("no fixture %s", name)
	return nil
}

// TestWorkloadImages: workload findings carry the images of the request body, each once.
func TestWorkloadImages(t *testing.T) {
	pod := kubeProxyPod("registry.example.com/tool:1")
	pod["spec"].(map[string]any)["initContainers"] = []any{map[string]any{"name": "init", "image": "busybox:1.36"}}
	pod["spec"].(map[string]any)["containers"] = append(pod["spec"].(map[string]any)["containers"].([]any),
		map[string]any{"name": "side", "image": "registry.example.com/tool:1"})
	fs, _ := observe(t, Config{}, ev(0, "ResponseComplete", "create", "alice", "pods", "", "kube-system", "", 201, map[string]any{"requestObject": pod}))
	for _, id := range []string{"privileged-workload", "system-namespace-workload"} {
		got := byRule(fs, id)
		if len(got) != 1 || !slices.Equal(got[0].Images, []string{"busybox:1.36", "registry.example.com/tool:1"}) {
			t.Errorf("%s: %+v", id, got)
		}
	}
	// At Metadata level there is no body: no images, the finding stands.
	fs, _ = observe(t, Config{}, ev(0, "ResponseComplete", "create", "alice", "pods", "", "kube-system", "x", 201, nil))
	if got := byRule(fs, "system-namespace-workload"); len(got) != 1 || got[0].Images != nil {
		t.Errorf("without a body: %+v", got)
	}
}

// clusterNets are the generated cluster's networks: nodes and pods in 10.0.0.0/16, the
// control plane in 172.16.0.0/12.
var clusterNets = []string{"10.0.0.0/16", "172.16.0.0/12"}

// TestTokenOutsideCluster: a service-account or node credential used from outside the
// cluster networks is one finding per principal, address and run of use, with how many
// requests; inside, or a person, is none. Without cluster networks nothing is judged and a
// notice says what was not.
func TestTokenOutsideCluster(t *testing.T) {
	sa := "system:serviceaccount:checkout:default"
	node := "system:node:ip-10-0-1-20.ec2.internal"
	var lines [][]byte
	for i := 0; i < 30; i++ { // 30 requests over 6 minutes, then again an hour later
		at := time.Duration(i) * 12 * time.Second
		lines = append(lines, ev(at, "ResponseComplete", "list", sa, "pods", "", "checkout", "", 200, withIP(nil, "203.0.113.66", "kubectl/v1.31.0")))
		if i < 3 {
			lines = append(lines, ev(time.Hour+at, "ResponseComplete", "get", sa, "secrets", "", "checkout", "db", 403, withIP(nil, "203.0.113.66", "kubectl/v1.31.0")))
		}
	}
	lines = append(lines,
		ev(time.Minute, "ResponseComplete", "get", node, "pods", "", "", "", 200, withIP(nil, "198.51.100.7", "curl/8.5.0")),
		ev(time.Minute, "ResponseComplete", "get", node, "pods", "", "", "", 200, withIP(nil, "10.0.1.20", "kubelet/v1.31.0")),
		ev(time.Minute, "ResponseComplete", "get", sa, "pods", "", "", "", 200, withIP(nil, "::ffff:10.0.3.4", "app")),
		ev(time.Minute, "ResponseComplete", "get", sa, "pods", "", "", "", 200, withIP(nil, "::1", "app")), // loopback: inside
		ev(time.Minute, "ResponseComplete", "get", "alice", "pods", "", "", "", 200, withIP(nil, "203.0.113.10", "kubectl")))
	fs, notes := observe(t, Config{ClusterNetworks: clusterNets}, lines...)
	got := byRule(fs, TokenOutsideRule)
	if len(got) != 3 {
		t.Fatalf("%d findings, want 3 (two runs of the service account, one of the node): %+v", len(got), got)
	}
	for _, f := range got {
		switch {
		case f.User == sa && f.Count == 30:
			if !f.FirstSeen.Equal(base) || !f.LastSeen.Equal(base.Add(29*12*time.Second)) || f.Severity != High {
				t.Errorf("first run %+v", f)
			}
		case f.User == sa && f.Count == 3:
			if !strings.Contains(f.Detail, "every request denied") {
				t.Errorf("denied run: %q", f.Detail)
			}
		case f.User == node && f.Count == 1 && f.SourceIP == "198.51.100.7":
		default:
			t.Errorf("finding %+v", f)
		}
		if !strings.Contains(f.Detail, f.SourceIP+", outside the cluster networks") {
			t.Errorf("detail %q", f.Detail)
		}
	}
	if g := byRule(Group(fs), TokenOutsideRule); len(g) != 3 {
		t.Errorf("grouped: %+v", g) // the denied run's detail differs
	}
	for _, n := range notes {
		if strings.Contains(n, "clusterNetworks") {
			t.Errorf("notice with cluster networks: %q", n)
		}
	}
	// Split across workers and merged: the same.
	split, _ := observeSplit(t, Config{ClusterNetworks: clusterNets}, 3, lines)
	if s := byRule(split, TokenOutsideRule); !slices.EqualFunc(s, got, func(a, b Finding) bool {
		return a.User == b.User && a.Count == b.Count && a.AuditID == b.AuditID && a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen)
	}) {
		t.Errorf("split: %+v\nwhole: %+v", s, got)
	}

	fs, notes = observe(t, Config{}, lines...)
	if got := byRule(fs, TokenOutsideRule); len(got) != 0 {
		t.Errorf("without cluster networks: %+v", got)
	}
	if !slices.ContainsFunc(notes, func(n string) bool {
		return strings.Contains(n, "detections.clusterNetworks") && strings.Contains(n, ": 34 requests")
	}) {
		t.Errorf("notices %q", notes)
	}
}

// TestAnonymousOutsideCluster: anonymous requests from outside the cluster networks (Panther's
// EKS samples come from 8.8.8.8 and AWS addresses) are findings, one per address; from inside
// (127.0.0.1, 10.0.0.1) none.
func TestAnonymousOutsideCluster(t *testing.T) {
	var lines [][]byte
	for _, name := range []string{"rules_aws_eks_rules_anonymous_api_access", "rules_kubernetes_rules_k8s_anonymous_api_access", "anonymous-probe"} {
		lines = append(lines, fixture(t, name)...)
	}
	fs, _ := observe(t, Config{ClusterNetworks: []string{"10.0.0.0/8", "127.0.0.1"}}, lines...)
	var ips []string
	for _, f := range byRule(fs, AnonymousOutsideRule) {
		ips = append(ips, f.SourceIP)
		if f.Severity != Low || !strings.HasPrefix(f.Detail, "anonymous requests from "+f.SourceIP) {
			t.Errorf("finding %+v", f)
		}
	}
	slices.Sort(ips)
	ips = slices.Compact(ips)
	if !slices.Equal(ips, []string{"44.238.138.237", "8.216.81.10", "8.8.8.8"}) {
		t.Errorf("addresses %v", ips)
	}

	// A scan from many addresses within a run is one finding naming them, not one per address.
	var scan [][]byte
	for i := 0; i < 9; i++ {
		ip := fmt.Sprintf("198.51.100.%d", 10+i)
		scan = append(scan, ev(time.Duration(i)*10*time.Second, "ResponseComplete", "get", "system:anonymous", "", "", "", "", 403,
			withIP(map[string]any{"auditID": ip}, ip, "masscan/1.3")))
	}
	fs, _ = observe(t, Config{ClusterNetworks: clusterNets}, scan...)
	got := byRule(fs, AnonymousOutsideRule)
	if len(got) != 1 || got[0].Count != 9 || got[0].SourceIP != "198.51.100.10" ||
		got[0].Detail != "anonymous requests from 9 addresses outside the cluster networks: 198.51.100.10, 198.51.100.11, 198.51.100.12, "+
			"198.51.100.13, 198.51.100.14, 198.51.100.15, … 3 more (every request denied or failed)" {
		t.Errorf("scan: %+v", got)
	}
	split, _ := observeSplit(t, Config{ClusterNetworks: clusterNets}, 4, scan)
	if s := byRule(split, AnonymousOutsideRule); len(s) != 1 || s[0].Detail != got[0].Detail || s[0].Count != 9 {
		t.Errorf("split: %+v", s)
	}
}

// TestGeneratedIncidentOutside: with the generated cluster's networks, the incident's stolen
// token used from 203.0.113.66 is found, and so is the deployer's token it went on with.
func TestGeneratedIncidentOutside(t *testing.T) {
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 3, Start: base, Duration: time.Hour, Requests: 3000, Incident: true}); err != nil {
		t.Fatal(err)
	}
	fs, _ := observe(t, Config{ClusterNetworks: clusterNets}, bytes.Split(buf.Bytes(), []byte("\n"))...)
	users := map[string]int{}
	for _, f := range byRule(fs, TokenOutsideRule) {
		if f.SourceIP == "203.0.113.66" {
			users[f.User] += f.Count
		}
	}
	if users["system:serviceaccount:checkout:default"] < 17 || users["system:serviceaccount:checkout:checkout-api"] != 3 {
		t.Errorf("stolen tokens used from 203.0.113.66: %v", users)
	}
}

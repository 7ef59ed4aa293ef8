package auditgen

import (
	"net/url"
	"time"
)

// incidentAt is where in the range the scripted intrusion of Options.Incident starts.
const incidentAt = 0.4

// incident writes a scripted intrusion starting at at, the way one unfolds in a real audit log:
// the default service-account token of the first app's namespace, stolen from a pod, is used
// from a public address. It asks what it may do (kubectl auth can-i --list), sweeps through
// resource types (some allowed, most forbidden), execs into the app's pod to read the pod's own
// service-account token (the app's account, which was given RBAC write rights), and with that
// one creates a ClusterRole with wildcards, binds it to itself and starts a privileged DaemonSet
// in kube-system. Every step is a request kube-apiserver would audit, at the level the generated
// policy gives it.
func (g *gen) incident(at time.Time) {
	ap := &g.c.apps[0]
	ns := ap.ns
	stolen := &userInfo{username: "system:serviceaccount:" + ns + ":default", uid: uidFor("sa-default-" + ns),
		groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}
	deployer := &userInfo{username: "system:serviceaccount:" + ns + ":" + ap.sa, uid: uidFor("sa-" + ap.sa + "-" + ns),
		groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}
	const ip = "203.0.113.66"
	const kubectl = "kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc"
	t := at
	step := func(gap time.Duration, u *userInfo, ua string, build func(r *request)) {
		t = t.Add(gap)
		r := &request{}
		r.received = t
		r.as(u, ip, ua)
		r.level = levelRequestResponse
		r.huge = true // no random server trouble: the story stays as written
		build(r)
		g.rv++
		g.finish(r)
		g.emit(r)
		g.sum.Requests++
	}
	selfReview := func(r *request) {
		r.verb = "create"
		r.target("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "", "", "")
		r.writes = true
		r.reqObj = append(r.reqObj[:0], `{"kind":"SelfSubjectRulesReview","apiVersion":"authorization.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"namespace":"`+ns+`"},"status":{"resourceRules":null,"nonResourceRules":null,"incomplete":false}}`...)
	}
	step(0, stolen, kubectl, selfReview)

	// The sweep: what the token may list.
	sweep := []struct {
		group, resource string
		cluster, ok     bool
	}{
		{"", "pods", false, true}, {"", "services", false, true}, {"", "configmaps", false, true},
		{"", "endpoints", false, true}, {"", "events", false, true}, {"apps", "deployments", false, false},
		{"", "secrets", false, false}, {"", "secrets", true, false}, {"", "nodes", true, false},
		{"", "namespaces", true, false}, {"rbac.authorization.k8s.io", "clusterroles", true, false},
		{"rbac.authorization.k8s.io", "clusterrolebindings", true, false}, {"", "serviceaccounts", false, false},
		{"apps", "daemonsets", false, false}, {"batch", "cronjobs", false, false},
	}
	for _, s := range sweep {
		step(2*time.Second+time.Duration(g.rng.IntN(1500))*time.Millisecond, stolen, kubectl, func(r *request) {
			r.verb = "list"
			version := "v1"
			sns := ns
			if s.cluster {
				sns = ""
			}
			r.target(s.group, version, s.resource, sns, "", "")
			r.query("limit=500")
			if !s.ok {
				r.forbid()
			} else {
				r.azReason = `RBAC: allowed by RoleBinding "view/` + ns + `" of ClusterRole "view" to ServiceAccount "default/` + ns + `"`
			}
		})
	}

	// Exec into the app's pod to read its service-account token.
	step(40*time.Second, stolen, kubectl, func(r *request) {
		r.verb = "get"
		r.target("", "v1", "pods", ns, ap.pods[0], "exec")
		q := url.Values{}
		q["command"] = []string{"cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"}
		q.Set("container", "app")
		q.Set("stdout", "true")
		q.Set("stderr", "true")
		r.query(q.Encode())
		r.long = true
		r.startDly = 60 * time.Millisecond
		r.latency = 900 * time.Millisecond
		r.azReason = `RBAC: allowed by RoleBinding "debug/` + ns + `" of ClusterRole "edit" to ServiceAccount "default/` + ns + `"`
	})

	// With the app's token: a ClusterRole with wildcards, bound to itself, and a
	// privileged DaemonSet in kube-system.
	const role = "system-metrics-aggregator"
	py := "python-requests/2.31.0"
	step(3*time.Minute, deployer, py, func(r *request) {
		r.verb = "create"
		r.target("rbac.authorization.k8s.io", "v1", "clusterroles", "", "", "")
		r.ref.name = role
		r.writes = true
		r.reqObj = append(r.reqObj[:0], `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"`+role+`"},"rules":[{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}]}`...)
		r.azReason = `RBAC: allowed by ClusterRoleBinding "` + ap.sa + `-rbac-manager" of ClusterRole "rbac-manager" to ServiceAccount "` + ap.sa + `/` + ns + `"`
	})
	step(20*time.Second, deployer, py, func(r *request) {
		r.verb = "create"
		r.target("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "", "", "")
		r.ref.name = role
		r.writes = true
		r.reqObj = append(r.reqObj[:0], `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"`+role+`"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"`+role+`"},"subjects":[{"kind":"ServiceAccount","name":"`+ap.sa+`","namespace":"`+ns+`"}]}`...)
		r.azReason = `RBAC: allowed by ClusterRoleBinding "` + ap.sa + `-rbac-manager" of ClusterRole "rbac-manager" to ServiceAccount "` + ap.sa + `/` + ns + `"`
	})
	step(45*time.Second, deployer, py, func(r *request) {
		r.verb = "create"
		r.target("apps", "v1", "daemonsets", "kube-system", "", "")
		r.ref.name = "node-metrics"
		r.writes = true
		r.webhooks = true
		r.reqObj = append(r.reqObj[:0], `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"node-metrics","namespace":"kube-system"},"spec":{"selector":{"matchLabels":{"app":"node-metrics"}},"template":{"metadata":{"labels":{"app":"node-metrics"}},"spec":{"hostPID":true,"hostNetwork":true,"containers":[{"name":"agent","image":"ghcr.io/example/node-metrics:1.0","securityContext":{"privileged":true},"volumeMounts":[{"name":"host","mountPath":"/host"}]}],"volumes":[{"name":"host","hostPath":{"path":"/"}}]}}}}`...)
		r.azReason = `RBAC: allowed by ClusterRoleBinding "` + role + `" of ClusterRole "` + role + `" to ServiceAccount "` + ap.sa + `/` + ns + `"`
	})
}

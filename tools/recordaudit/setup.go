package main

import (
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// The secrets of the prod namespace (besides db-creds and web-tls): what a shop's services
// keep there. Enough of them for a harvesting loop to stand out.
var prodSecrets = []string{
	"payments-db", "orders-db", "redis-auth", "smtp-relay", "stripe-api", "sentry-dsn", "github-deploy-key",
	"registry-pull", "jwt-signing-key", "oauth-client", "s3-uploads", "datadog-api", "slack-webhook",
	"twilio-auth", "elastic-creds", "kafka-sasl", "rabbitmq-creds", "mongo-root", "postgres-replica",
	"grafana-admin", "vault-token", "pagerduty-key", "cdn-signing", "analytics-key", "search-api",
	"mailgun-key", "ldap-bind", "backup-gpg",
}

// saTokens holds the service-account tokens the setup obtained the way a kubelet does for a
// pod's projected volume (TokenRequest bound to the pod).
type saTokens struct {
	prometheus principal // monitoring/prometheus, in pod prometheus-0
	ciRunner   principal // ci/ci-runner, in pod runner-7c9f
}

// baseSetup creates what a small cluster has before anyone acts: namespaces, service accounts
// (the controller manager's job), node-1 with its kubelet at 127.0.0.21:10250, running pods,
// secrets, config maps, events and the RBAC of the people involved. None of it is recorded.
func (e *env) baseSetup() (saTokens, error) {
	var toks saTokens
	ctx := e.ctx
	cs := e.clientset(user("recordaudit-setup"), "recordaudit-setup/v0 (setup, not recorded)")
	kubelet := e.clientset(user("system:node:node-1"), uaKubelet)
	c := metav1.CreateOptions{}

	for _, ns := range []string{"prod", "monitoring", "ci"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Labels: map[string]string{"kubernetes.io/metadata.name": ns}}}, c); err != nil {
			return toks, err
		}
	}
	for _, sa := range [][2]string{{"default", "default"}, {"kube-system", "default"}, {"prod", "default"}, {"monitoring", "default"},
		{"ci", "default"}, {"prod", "web"}, {"prod", "deployer"}, {"monitoring", "prometheus"}, {"ci", "ci-runner"}} {
		if _, err := cs.CoreV1().ServiceAccounts(sa[0]).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa[1]}}, c); err != nil {
			return toks, fmt.Errorf("serviceaccount %v: %w", sa, err)
		}
	}

	// node-1 registers itself, as its kubelet does.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{
		"kubernetes.io/hostname": "node-1", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}}}
	if _, err := kubelet.CoreV1().Nodes().Create(ctx, node, c); err != nil {
		return toks, fmt.Errorf("node: %w", err)
	}
	node, err := kubelet.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{})
	if err != nil {
		return toks, err
	}
	now := metav1.Now()
	node.Status = corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP}, {Type: corev1.NodeHostName, Address: "node-1"}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: kubeletPort}},
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}},
		Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110")},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("15Gi"), corev1.ResourcePods: resource.MustParse("110")},
		NodeInfo: corev1.NodeSystemInfo{KubeletVersion: k8sVersion, ContainerRuntimeVersion: "containerd://2.1.4", OperatingSystem: "linux",
			Architecture: "amd64", OSImage: "Ubuntu 24.04.3 LTS", KernelVersion: "6.8.0-85-generic"},
	}
	if _, err := kubelet.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return toks, fmt.Errorf("node status: %w", err)
	}

	// Secrets and config maps.
	secret := func(ns, name string, typ corev1.SecretType, data map[string]string) error {
		_, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Type: typ, StringData: data}, c)
		return err
	}
	if err := secret("prod", "db-creds", corev1.SecretTypeOpaque, map[string]string{"username": "shop", "password": "s3cr3t-db-pass"}); err != nil {
		return toks, err
	}
	if err := secret("prod", "web-tls", corev1.SecretTypeTLS, map[string]string{"tls.crt": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "tls.key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}); err != nil {
		return toks, err
	}
	for _, n := range prodSecrets {
		if err := secret("prod", n, corev1.SecretTypeOpaque, map[string]string{"value": "v-" + n}); err != nil {
			return toks, err
		}
	}
	if err := secret("kube-system", "bootstrap-token-07401b", corev1.SecretType("bootstrap.kubernetes.io/token"), map[string]string{
		"token-id": "07401b", "token-secret": "f395accd246ae52d", "usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
		"auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token"}); err != nil {
		return toks, err
	}
	if err := secret("kube-system", "cloud-provider-credentials", corev1.SecretTypeOpaque, map[string]string{"cloud.conf": "[Global]\nauth-url=https://keystone.example.com/v3\n"}); err != nil {
		return toks, err
	}
	if err := secret("monitoring", "grafana-admin", corev1.SecretTypeOpaque, map[string]string{"admin-password": "grafana-pass"}); err != nil {
		return toks, err
	}
	cm := func(ns, name string, data map[string]string) error {
		_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}, c)
		return err
	}
	if err := cm("prod", "app-config", map[string]string{"LOG_LEVEL": "info", "FEATURE_CHECKOUT_V2": "false", "CACHE_TTL": "300"}); err != nil {
		return toks, err
	}
	if err := cm("kube-system", "coredns", map[string]string{"Corefile": corefile}); err != nil {
		return toks, err
	}
	if err := cm("kube-system", "aws-auth", map[string]string{"mapRoles": awsAuthRoles}); err != nil {
		return toks, err
	}

	// Pods on node-1, running.
	pods := []*corev1.Pod{
		pod("prod", "web", "web", "registry.example.com/shop/web:2.14.1", 8080, "db-creds"),
		pod("monitoring", "prometheus-0", "prometheus", "quay.io/prometheus/prometheus:v3.5.0", 9090, ""),
		pod("ci", "runner-7c9f", "ci-runner", "ghcr.io/actions/actions-runner:2.328.0", 0, ""),
	}
	var running []corev1.Pod
	for i, p := range pods {
		created, err := cs.CoreV1().Pods(p.Namespace).Create(ctx, p, c)
		if err != nil {
			return toks, fmt.Errorf("pod %s: %w", p.Name, err)
		}
		created.Status = runningStatus(created, fmt.Sprintf("10.244.1.%d", 11+i))
		st, err := kubelet.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{})
		if err != nil {
			return toks, fmt.Errorf("pod status %s: %w", p.Name, err)
		}
		running = append(running, *st)
	}
	e.kubelet.setPods(running...)

	// Tokens for the pods' service accounts, requested by the kubelet and bound to the pods.
	podToken := func(p corev1.Pod) (principal, error) {
		tr, err := kubelet.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, p.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3607)),
				BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID}},
		}, c)
		if err != nil {
			return principal{}, fmt.Errorf("token for %s/%s: %w", p.Namespace, p.Spec.ServiceAccountName, err)
		}
		return principal{name: "system:serviceaccount:" + p.Namespace + ":" + p.Spec.ServiceAccountName, token: tr.Status.Token}, nil
	}
	if toks.prometheus, err = podToken(running[1]); err != nil {
		return toks, err
	}
	if toks.ciRunner, err = podToken(running[2]); err != nil {
		return toks, err
	}

	// Events a scheduler and a kubelet wrote about web.
	for i, ev := range []struct{ reason, msg, comp string }{
		{"Scheduled", "Successfully assigned prod/web to node-1", "default-scheduler"},
		{"Pulled", "Container image \"registry.example.com/shop/web:2.14.1\" already present on machine", "kubelet"},
		{"Created", "Created container: app", "kubelet"},
		{"Started", "Started container app", "kubelet"},
		{"Unhealthy", "Readiness probe failed: Get \"http://10.244.1.11:8080/healthz\": dial tcp 10.244.1.11:8080: connect: connection refused", "kubelet"},
	} {
		t := metav1.NewTime(time.Now().Add(time.Duration(i-10) * time.Minute))
		typ := corev1.EventTypeNormal
		if ev.reason == "Unhealthy" {
			typ = corev1.EventTypeWarning
		}
		_, err := cs.CoreV1().Events("prod").Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("web.18a3f%07x", 0x2b41c0+i*7919)},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "prod", Name: "web", UID: running[0].UID, APIVersion: "v1"},
			Reason:         ev.reason, Message: ev.msg, Type: typ, Source: corev1.EventSource{Component: ev.comp, Host: "node-1"},
			FirstTimestamp: t, LastTimestamp: t, Count: 1, ReportingController: ev.comp, ReportingInstance: "node-1",
		}, c)
		if err != nil {
			return toks, fmt.Errorf("event: %w", err)
		}
	}

	// RBAC: alice edits prod (her team's binding of the built-in edit role); mallory, a contractor,
	// may read the app's objects in prod and node metrics (a monitoring-dashboard grant that
	// includes nodes/proxy); Prometheus has the usual cluster-wide scrape role; the CI runner
	// deploys to prod and reads its secrets.
	if err := e.rbac(cs); err != nil {
		return toks, err
	}
	return toks, e.aggregateClusterRoles(cs)
}

// aggregateClusterRoles does the job of kube-controller-manager's clusterrole-aggregation
// controller: admin, edit and view get the rules of the roles their aggregationRule selects.
func (e *env) aggregateClusterRoles(cs *kubernetes.Clientset) error {
	for range 3 { // admin aggregates edit, which aggregates view
		list, err := cs.RbacV1().ClusterRoles().List(e.ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, cr := range list.Items {
			if cr.AggregationRule == nil {
				continue
			}
			var rules []rbacv1.PolicyRule
			seen := map[string]bool{}
			for _, sel := range cr.AggregationRule.ClusterRoleSelectors {
				s, err := metav1.LabelSelectorAsSelector(&sel)
				if err != nil {
					return err
				}
				for _, other := range list.Items {
					if other.Name == cr.Name || !s.Matches(labels.Set(other.Labels)) {
						continue
					}
					for _, r := range other.Rules {
						if k := r.String(); !seen[k] {
							seen[k] = true
							rules = append(rules, r)
						}
					}
				}
			}
			if equality.Semantic.DeepEqual(rules, cr.Rules) {
				continue
			}
			cr.Rules = rules
			if _, err := cs.RbacV1().ClusterRoles().Update(e.ctx, &cr, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *env) rbac(cs *kubernetes.Clientset) error {
	ctx, c := e.ctx, metav1.CreateOptions{}
	rules := func(rs ...rbacv1.PolicyRule) []rbacv1.PolicyRule { return rs }
	rule := func(groups, resources, verbs []string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: groups, Resources: resources, Verbs: verbs}
	}
	read := []string{"get", "list", "watch"}
	roles := []*rbacv1.Role{
		{ObjectMeta: metav1.ObjectMeta{Name: "app-reader", Namespace: "prod"}, Rules: rules(
			rule([]string{""}, []string{"pods", "pods/log", "services", "endpoints", "configmaps", "events"}, read),
			rule([]string{"apps"}, []string{"deployments", "replicasets"}, read))},
		// kubectl debug needs more than edit: teams grant it separately.
		{ObjectMeta: metav1.ObjectMeta{Name: "pod-debugger", Namespace: "prod"}, Rules: rules(
			rule([]string{""}, []string{"pods/ephemeralcontainers"}, []string{"get", "patch", "update"}))},
		{ObjectMeta: metav1.ObjectMeta{Name: "ci-deploy", Namespace: "prod"}, Rules: rules(
			rule([]string{"apps"}, []string{"deployments"}, []string{"get", "list", "create", "update", "patch"}),
			rule([]string{""}, []string{"services", "configmaps"}, []string{"get", "list", "create", "update", "patch"}),
			rule([]string{""}, []string{"secrets"}, []string{"get"}))},
	}
	for _, r := range roles {
		if _, err := cs.RbacV1().Roles(r.Namespace).Create(ctx, r, c); err != nil {
			return err
		}
	}
	clusterRoles := []*rbacv1.ClusterRole{
		{ObjectMeta: metav1.ObjectMeta{Name: "node-metrics-reader"}, Rules: rules(
			rule([]string{""}, []string{"nodes"}, read),
			rule([]string{""}, []string{"nodes/proxy", "nodes/metrics", "nodes/stats"}, []string{"get"}))},
		{ObjectMeta: metav1.ObjectMeta{Name: "prometheus"}, Rules: rules(
			rule([]string{""}, []string{"nodes", "nodes/proxy", "nodes/metrics", "services", "endpoints", "pods"}, read),
			rule([]string{"discovery.k8s.io"}, []string{"endpointslices"}, read),
			rbacv1.PolicyRule{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}})},
	}
	for _, r := range clusterRoles {
		if _, err := cs.RbacV1().ClusterRoles().Create(ctx, r, c); err != nil {
			return err
		}
	}
	subj := func(kind, name, ns string) []rbacv1.Subject {
		s := rbacv1.Subject{Kind: kind, Name: name, Namespace: ns}
		if kind != "ServiceAccount" {
			s.APIGroup = "rbac.authorization.k8s.io"
		}
		return []rbacv1.Subject{s}
	}
	ref := func(kind, name string) rbacv1.RoleRef {
		return rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: kind, Name: name}
	}
	rbs := []*rbacv1.RoleBinding{
		{ObjectMeta: metav1.ObjectMeta{Name: "dev-team-edit", Namespace: "prod"}, RoleRef: ref("ClusterRole", "edit"), Subjects: subj("Group", "dev-team", "")},
		{ObjectMeta: metav1.ObjectMeta{Name: "dev-team-debug", Namespace: "prod"}, RoleRef: ref("Role", "pod-debugger"), Subjects: subj("Group", "dev-team", "")},
		{ObjectMeta: metav1.ObjectMeta{Name: "contractors-app-reader", Namespace: "prod"}, RoleRef: ref("Role", "app-reader"), Subjects: subj("Group", "contractors", "")},
		{ObjectMeta: metav1.ObjectMeta{Name: "ci-deploy", Namespace: "prod"}, RoleRef: ref("Role", "ci-deploy"), Subjects: subj("ServiceAccount", "ci-runner", "ci")},
	}
	for _, b := range rbs {
		if _, err := cs.RbacV1().RoleBindings(b.Namespace).Create(ctx, b, c); err != nil {
			return err
		}
	}
	crbs := []*rbacv1.ClusterRoleBinding{
		{ObjectMeta: metav1.ObjectMeta{Name: "mallory-node-metrics"}, RoleRef: ref("ClusterRole", "node-metrics-reader"), Subjects: subj("User", "mallory", "")},
		{ObjectMeta: metav1.ObjectMeta{Name: "prometheus"}, RoleRef: ref("ClusterRole", "prometheus"), Subjects: subj("ServiceAccount", "prometheus", "monitoring")},
	}
	for _, b := range crbs {
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, b, c); err != nil {
			return err
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func pod(ns, name, sa, image string, port int32, secretVolume string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeName:           "node-1",
			ServiceAccountName: sa,
			Containers: []corev1.Container{{Name: "app", Image: image,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}}}},
		},
	}
	if port != 0 {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: port}}
	}
	if secretVolume != "" {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secretVolume}}})
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "creds", MountPath: "/etc/creds", ReadOnly: true}}
		p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}}
	}
	return p
}

func runningStatus(p *corev1.Pod, ip string) corev1.PodStatus {
	start := metav1.NewTime(time.Now().Add(-2 * time.Hour).Truncate(time.Second))
	st := corev1.PodStatus{Phase: corev1.PodRunning, HostIP: nodeIP, HostIPs: []corev1.HostIP{{IP: nodeIP}}, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		StartTime: &start, QOSClass: corev1.PodQOSBurstable}
	for _, t := range []corev1.PodConditionType{corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: start})
	}
	for _, c := range p.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image + "@sha256:4f1d6a1b2c3e", Ready: true, Started: ptr(true),
			ContainerID: "containerd://" + fmt.Sprintf("%064x", len(c.Name)+len(p.Name)*131), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}}})
	}
	return st
}

const corefile = `.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
`

const awsAuthRoles = `- rolearn: arn:aws:iam::111122223333:role/eks-node-group-role
  username: system:node:{{EC2PrivateDNSName}}
  groups:
  - system:bootstrappers
  - system:nodes
`

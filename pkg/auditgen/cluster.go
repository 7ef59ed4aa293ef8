package auditgen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
)

// cluster is the fixed world the requests talk about: nodes, namespaces, workloads, identities.
type cluster struct {
	nodes     []node
	apps      []app
	humans    []*human
	cpIPs     []string
	apiserver *userInfo
	kcm       *userInfo
	sched     *userInfo
	anonymous *userInfo
	apiLeases []string
}

type node struct {
	name, ip, uid string
	user          *userInfo
}

type app struct {
	ns, name, rs, image, sa string
	pods, podUIDs           []string
	node                    []int // node index per pod
	privileged, hostPath    bool
	hostNetwork             bool
	psa                     string // pod-security enforce level of the namespace
}

type human struct {
	user   *userInfo
	ips    []string
	ua     string
	reason string // RBAC reason for allowed requests
	admin  bool
	nsOK   map[string]bool // namespaces where a non-admin may act
}

const podAlphabet = "bcdfghjklmnpqrstvwxz2456789"

func randUID(r *rand.Rand) string { return string(appendUUID(nil, r.Uint64(), r.Uint64())) }

func randAlnum(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = podAlphabet[r.IntN(len(podAlphabet))]
	}
	return string(b)
}

func newCluster(r *rand.Rand) *cluster {
	c := &cluster{}
	for i := 0; i < 24; i++ {
		a, b := 1+r.IntN(3)*16+r.IntN(4), 10+r.IntN(240)
		name := fmt.Sprintf("ip-10-0-%d-%d.ec2.internal", a, b)
		c.nodes = append(c.nodes, node{
			name: name, ip: fmt.Sprintf("10.0.%d.%d", a, b), uid: randUID(r),
			user: &userInfo{username: "system:node:" + name, groups: []string{"system:nodes", "system:authenticated"}},
		})
	}
	for i := 0; i < 3; i++ {
		c.cpIPs = append(c.cpIPs, fmt.Sprintf("172.16.%d.%d", 32+r.IntN(64), 2+r.IntN(250)))
		c.apiLeases = append(c.apiLeases, "apiserver-"+randAlnum(r, 26))
	}
	type spec struct {
		ns, name, image, psa string
		replicas             int
		priv, hostPath, hn   bool
	}
	specs := []spec{
		{"checkout", "checkout-api", "registry.example.com/checkout/api:2.14.1", "baseline", 4, false, false, false},
		{"checkout", "checkout-worker", "registry.example.com/checkout/worker:2.14.1", "baseline", 2, false, false, false},
		{"frontend", "web", "registry.example.com/frontend/web:5.3.0", "restricted", 6, false, false, false},
		{"payments", "payments-api", "registry.example.com/payments/api:1.9.7", "restricted", 3, false, false, false},
		{"payments", "ledger", "registry.example.com/payments/ledger:1.9.7", "restricted", 2, false, false, false},
		{"data", "redis", "docker.io/library/redis:7.2.5", "baseline", 3, false, false, false},
		{"data", "postgres", "docker.io/library/postgres:16.4", "baseline", 2, false, false, false},
		{"monitoring", "prometheus-k8s", "quay.io/prometheus/prometheus:v2.54.1", "privileged", 2, false, false, false},
		{"monitoring", "node-exporter", "quay.io/prometheus/node-exporter:v1.8.2", "privileged", 4, false, true, true},
		{"kube-system", "coredns", "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/coredns:v1.11.3-eksbuild.1", "privileged", 2, false, false, false},
		{"kube-system", "aws-node", "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni:v1.18.3-eksbuild.2", "privileged", 4, true, true, true},
		{"kube-system", "kube-proxy", "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1.31.0-minimal-eksbuild.2", "privileged", 4, true, true, true},
		{"cert-manager", "cert-manager", "quay.io/jetstack/cert-manager-controller:v1.15.3", "restricted", 1, false, false, false},
		{"argocd", "argocd-application-controller", "quay.io/argoproj/argocd:v2.12.3", "baseline", 1, false, false, false},
		{"ingress-nginx", "ingress-nginx-controller", "registry.k8s.io/ingress-nginx/controller:v1.11.2", "baseline", 2, false, false, false},
		{"default", "debug-toolbox", "docker.io/nicolaka/netshoot:v0.13", "privileged", 1, true, true, false},
	}
	for _, s := range specs {
		a := app{ns: s.ns, name: s.name, image: s.image, sa: s.name, privileged: s.priv, hostPath: s.hostPath, hostNetwork: s.hn, psa: s.psa}
		a.rs = randAlnum(r, 10)
		for j := 0; j < s.replicas; j++ {
			a.pods = append(a.pods, s.name+"-"+a.rs+"-"+randAlnum(r, 5))
			a.podUIDs = append(a.podUIDs, randUID(r))
			a.node = append(a.node, r.IntN(len(c.nodes)))
		}
		c.apps = append(c.apps, a)
	}
	authd := "system:authenticated"
	c.humans = []*human{
		{user: &userInfo{username: "alice@example.com", groups: []string{"platform-admins", authd}},
			ips: []string{"203.0.113.10"}, ua: "kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc", admin: true,
			reason: `RBAC: allowed by ClusterRoleBinding "platform-admins" of ClusterRole "cluster-admin" to Group "platform-admins"`},
		{user: &userInfo{username: "bob@example.com", groups: []string{"developers", authd}},
			ips: []string{"198.51.100.23"}, ua: "kubectl/v1.29.3 (darwin/arm64) kubernetes/6813625",
			nsOK: map[string]bool{"checkout": true, "frontend": true}},
		{user: &userInfo{username: "arn:aws:sts::111122223333:assumed-role/Developer/carol", groups: []string{"developers", authd},
			extra: []extraKV{
				{"accessKeyId", []string{"ASIAEXAMPLE7QXZ2KJ4M"}},
				{"arn", []string{"arn:aws:sts::111122223333:assumed-role/Developer/carol"}},
				{"canonicalArn", []string{"arn:aws:iam::111122223333:role/Developer"}},
				{"principalId", []string{"AROAEXAMPLEDEVROLE01"}},
				{"sessionName", []string{"carol"}},
				{"sigs.k8s.io/aws-iam-authenticator/principalId", []string{"AROAEXAMPLEDEVROLE01"}},
			}},
			ips: []string{"192.0.2.44", "10.0.48.9"}, ua: "kubectl/v1.30.4 (windows/amd64) kubernetes/a51b3b7",
			nsOK: map[string]bool{"payments": true, "data": true}},
		{user: &userInfo{username: "kubernetes-admin", groups: []string{"system:masters", authd},
			extra: []extraKV{{"authentication.kubernetes.io/credential-id", []string{"X509SHA256=4f1c2a9be07c52d4e1b38a4b3f8a0c6e2d5b7a9c1e3f5a7b9d0c2e4f6a8b0c1d"}}}},
			ips: []string{"10.0.0.5"}, ua: "kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc", admin: true},
	}
	c.apiserver = &userInfo{username: "system:apiserver", uid: randUID(r), groups: []string{"system:authenticated", "system:masters"}}
	c.kcm = &userInfo{username: "system:kube-controller-manager", groups: []string{authd}}
	c.sched = &userInfo{username: "system:kube-scheduler", groups: []string{authd}}
	c.anonymous = &userInfo{username: "system:anonymous", groups: []string{"system:unauthenticated"}}
	return c
}

// saUser builds a service account identity; in-pod tokens carry the bound-token extra.
func saUser(r *rand.Rand, ns, name string, pod *podRef) *userInfo {
	u := &userInfo{
		username: "system:serviceaccount:" + ns + ":" + name,
		uid:      randUID(r),
		groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
	if pod != nil {
		u.extra = []extraKV{
			{"authentication.kubernetes.io/credential-id", []string{"JTI=" + randUID(r)}},
			{"authentication.kubernetes.io/node-name", []string{pod.node}},
			{"authentication.kubernetes.io/node-uid", []string{pod.nodeUID}},
			{"authentication.kubernetes.io/pod-name", []string{pod.name}},
			{"authentication.kubernetes.io/pod-uid", []string{pod.uid}},
		}
	}
	return u
}

type podRef struct{ name, uid, node, nodeUID string }

func (c *cluster) podOf(a *app, i int) *podRef {
	n := c.nodes[a.node[i]]
	return &podRef{name: a.pods[i], uid: a.podUIDs[i], node: n.name, nodeUID: n.uid}
}

func (c *cluster) app(ns, name string) *app {
	for i := range c.apps {
		if c.apps[i].ns == ns && c.apps[i].name == name {
			return &c.apps[i]
		}
	}
	panic("auditgen: unknown app " + ns + "/" + name)
}

// versions of the emulated components.
type versions struct {
	kube, commit string
}

func kubeVersion(minor int) versions {
	if minor == 31 {
		return versions{"v1.31.4", "a78aa47"}
	}
	h := fmt.Sprintf("%07x", uint32(minor)*0x9e3779b1)
	return versions{"v1." + strconv.Itoa(minor) + ".2", h[:7]}
}

package auditgen

import (
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"
)

type template struct {
	name   string
	weight int
	fn     func(g *gen, r *request)
}

// actors are the service accounts and component identities of the cluster.
type actors struct {
	v                                         versions
	kubeletUA, kcmUA, schedUA, apiUA, proxyUA string
	ctrl                                      map[string]*userInfo
	certManager, argocd, karpenter, ksm, prom *userInfo
	coredns, kubeProxy, ci, metricsServer     *userInfo
	ddAgent                                   *userInfo
	eks                                       map[string]*userInfo
}

func newActors(c *cluster, r *rand.Rand, minor int) *actors {
	v := kubeVersion(minor)
	a := &actors{v: v}
	sys := " (linux/amd64) kubernetes/" + v.commit
	a.kubeletUA = "kubelet/" + v.kube + sys
	a.kcmUA = "kube-controller-manager/" + v.kube + sys
	a.schedUA = "kube-scheduler/" + v.kube + sys
	a.apiUA = "kube-apiserver/" + v.kube + sys
	a.proxyUA = "kube-proxy/" + v.kube + sys
	a.ctrl = map[string]*userInfo{}
	for _, n := range []string{"endpointslice-controller", "replicaset-controller", "deployment-controller", "generic-garbage-collector", "namespace-controller", "horizontal-pod-autoscaler", "job-controller", "node-controller"} {
		a.ctrl[n] = saUser(r, "kube-system", n, nil)
	}
	pod := func(ns, name string) *podRef { return c.podOf(c.app(ns, name), 0) }
	a.certManager = saUser(r, "cert-manager", "cert-manager", pod("cert-manager", "cert-manager"))
	a.argocd = saUser(r, "argocd", "argocd-application-controller", pod("argocd", "argocd-application-controller"))
	a.karpenter = saUser(r, "karpenter", "karpenter", nil)
	a.ksm = saUser(r, "monitoring", "kube-state-metrics", nil)
	a.prom = saUser(r, "monitoring", "prometheus-k8s", pod("monitoring", "prometheus-k8s"))
	a.coredns = saUser(r, "kube-system", "coredns", pod("kube-system", "coredns"))
	a.kubeProxy = saUser(r, "kube-system", "kube-proxy", pod("kube-system", "kube-proxy"))
	a.ci = saUser(r, "ci", "deployer", nil)
	a.metricsServer = saUser(r, "kube-system", "metrics-server", nil)
	a.ddAgent = saUser(r, "monitoring", "datadog-cluster-agent", nil)
	a.eks = map[string]*userInfo{}
	for _, n := range []string{"eks:k8s-metrics", "eks:certificate-controller", "eks:cloud-controller-manager", "eks:addon-manager", "eks:node-manager"} {
		a.eks[n] = &userInfo{username: n, groups: []string{"system:authenticated"}}
	}
	return a
}

// target sets objectRef and the request path.
func (r *request) target(group, version, resource, ns, name, sub string) {
	r.hasRef = true
	r.ref = objRef{resource: resource, namespace: ns, name: name, apiGroup: group, apiVersion: version, subresource: sub}
	var b strings.Builder
	if group == "" {
		b.WriteString("/api/")
	} else {
		b.WriteString("/apis/")
		b.WriteString(group)
		b.WriteByte('/')
	}
	b.WriteString(version)
	if ns != "" && resource != "namespaces" {
		b.WriteString("/namespaces/")
		b.WriteString(ns)
	}
	b.WriteByte('/')
	b.WriteString(resource)
	if name != "" {
		b.WriteByte('/')
		b.WriteString(name)
	}
	if sub != "" {
		b.WriteByte('/')
		b.WriteString(sub)
	}
	r.uri = b.String()
}

func (r *request) query(q string) {
	if q != "" {
		r.uri += "?" + q
	}
}

func (r *request) as(u *userInfo, ip, ua string) {
	r.user, r.ips, r.ua = u, []string{ip}, ua
}

func rbac(kind, binding, roleKind, role string, u *userInfo) string {
	subj := `User "` + u.username + `"`
	if rest, ok := strings.CutPrefix(u.username, "system:serviceaccount:"); ok {
		ns, name, _ := strings.Cut(rest, ":")
		subj = `ServiceAccount "` + name + `/` + ns + `"`
	}
	return `RBAC: allowed by ` + kind + ` "` + binding + `" of ` + roleKind + ` "` + role + `" to ` + subj
}

func crb(name string, u *userInfo) string {
	return rbac("ClusterRoleBinding", name, "ClusterRole", name, u)
}

func (g *gen) pickNode() *node { return &g.c.nodes[g.rng.IntN(len(g.c.nodes))] }
func (g *gen) pickApp() *app   { return &g.c.apps[g.rng.IntN(len(g.c.apps))] }
func (g *gen) cpIP() string    { return g.c.cpIPs[g.rng.IntN(len(g.c.cpIPs))] }

func (g *gen) getLat() time.Duration {
	if g.chance(0.004) {
		return g.lognormal(700*time.Millisecond, 0.5)
	}
	return g.lognormal(2500*time.Microsecond, 0.8)
}

func (g *gen) listLat(wide bool, r *request) time.Duration {
	d := g.lognormal(12*time.Millisecond, 0.9)
	if wide {
		d = g.lognormal(90*time.Millisecond, 1.1)
	}
	if d > 500*time.Millisecond {
		switch x := g.rng.IntN(10); {
		case x < 2:
			r.slow = "apf"
		case x < 4:
			r.slow = "serialize"
		default:
			r.slow = "etcd"
		}
	}
	return d
}

func (g *gen) writeLat(r *request) time.Duration {
	r.writes = true
	if r.webhooks {
		if g.chance(0.01) {
			r.slow = "webhook"
			return g.lognormal(1200*time.Millisecond, 0.6)
		}
		return g.lognormal(25*time.Millisecond, 0.8)
	}
	return g.lognormal(6*time.Millisecond, 0.7)
}

// watch makes r a watch with client-go's query and a 5-10 minute timeout.
func (g *gen) watch(r *request, extra string) {
	r.verb = "watch"
	secs := 300 + g.rng.IntN(300)
	q := "allowWatchBookmarks=true"
	if extra != "" {
		q += "&" + extra
	}
	q += "&resourceVersion=" + strconv.FormatInt(g.rv-int64(g.rng.IntN(5000)), 10) +
		"&timeout=" + (time.Duration(secs) * time.Second).String() + "&timeoutSeconds=" + strconv.Itoa(secs) + "&watch=true"
	r.query(q)
	r.long = true
	r.startDly = g.lognormal(1500*time.Microsecond, 0.5)
	r.latency = time.Duration(secs)*time.Second + g.lognormal(3*time.Millisecond, 0.5)
}

func (g *gen) templates() []template {
	c := g.c
	a := newActors(c, rand.New(rand.NewPCG(g.o.Seed^0x1234567, 77)), g.o.KubeMinor)
	ts := []template{
		{"kubelet lease", 150, func(g *gen, r *request) {
			n := g.pickNode()
			r.as(n.user, n.ip, a.kubeletUA)
			r.verb = "update"
			r.target("coordination.k8s.io", "v1", "leases", "kube-node-lease", n.name, "")
			r.query("timeout=10s")
			r.latency = g.writeLat(r)
			r.bodies = func(g *gen, r *request) {
				r.reqObj = g.leaseObject(r.reqObj[:0], "kube-node-lease", n.name, n.name, 40, r.received)
				r.respObj = g.leaseObject(r.respObj[:0], "kube-node-lease", n.name, n.name, 40, r.received)
			}
			if g.chance(0.004) {
				r.failure(409, "Conflict", `Operation cannot be fulfilled on leases.coordination.k8s.io "`+n.name+`": the object has been modified; please apply your changes to the latest version and try again`,
					`{"name":"`+n.name+`","group":"coordination.k8s.io","kind":"leases"}`)
			}
		}},
		{"kubelet node status", 25, func(g *gen, r *request) {
			n := g.pickNode()
			r.as(n.user, n.ip, a.kubeletUA)
			r.verb = "patch"
			r.target("", "v1", "nodes", "", n.name, "status")
			r.query("timeout=10s")
			r.latency = g.writeLat(r)
			r.bodies = func(g *gen, r *request) {
				r.reqObj = append(r.reqObj[:0], nodeStatusPatch(r.received)...)
				r.respObj = g.simpleObject(r.respObj[:0], "Node", "v1", "", n.name, r.received, `"spec":{"providerID":"aws:///us-east-1a/i-0`+n.uid[:16]+`"},"status":{"nodeInfo":{"kubeletVersion":"`+a.v.kube+`","containerRuntimeVersion":"containerd://1.7.22","osImage":"Amazon Linux 2023.5.20240916","architecture":"amd64"}}`)
			}
		}},
		{"kubelet get node", 20, func(g *gen, r *request) {
			n := g.pickNode()
			r.as(n.user, n.ip, a.kubeletUA)
			r.verb = "get"
			r.target("", "v1", "nodes", "", n.name, "")
			r.query("resourceVersion=0&timeout=10s")
			r.latency = g.getLat()
		}},
		{"kubelet watch configmap", 15, func(g *gen, r *request) {
			n := g.pickNode()
			ap := g.pickApp()
			r.as(n.user, n.ip, a.kubeletUA)
			name := "kube-root-ca.crt"
			res := "configmaps"
			if g.chance(0.3) {
				name, res = ap.name+"-env", "secrets"
			}
			r.target("", "v1", res, ap.ns, "", "")
			g.watch(r, "fieldSelector=metadata.name%3D"+name)
		}},
		{"kubelet token", 25, func(g *gen, r *request) {
			ap := g.pickApp()
			i := g.rng.IntN(len(ap.pods))
			p := c.podOf(ap, i)
			n := &c.nodes[ap.node[i]]
			r.as(n.user, n.ip, a.kubeletUA)
			r.verb = "create"
			r.target("", "v1", "serviceaccounts", ap.ns, ap.sa, "token")
			r.latency = g.writeLat(r)
			r.bodies = func(g *gen, r *request) {
				r.reqObj = tokenRequest(r.reqObj[:0], p, false, r.received)
				r.respObj = tokenRequest(r.respObj[:0], p, true, r.received)
			}
		}},
		{"kubelet pod status", 20, func(g *gen, r *request) {
			ap := g.pickApp()
			i := g.rng.IntN(len(ap.pods))
			n := &c.nodes[ap.node[i]]
			r.as(n.user, n.ip, a.kubeletUA)
			r.verb = "patch"
			r.target("", "v1", "pods", ap.ns, ap.pods[i], "status")
			r.latency = g.writeLat(r)
			r.bodies = func(g *gen, r *request) {
				r.reqObj = append(r.reqObj[:0], `{"metadata":{"uid":"`+ap.podUIDs[i]+`"},"status":{"$setElementOrder/conditions":[{"type":"PodReadyToStartContainers"},{"type":"Initialized"},{"type":"Ready"},{"type":"ContainersReady"},{"type":"PodScheduled"}],"conditions":[{"lastTransitionTime":"`+r.received.UTC().Format(time.RFC3339)+`","status":"True","type":"Ready"}]}}`...)
				r.respObj = g.podObject(r.respObj[:0], ap, i, true, r.received)
			}
		}},
		{"kubelet get pod", 15, func(g *gen, r *request) {
			ap := g.pickApp()
			i := g.rng.IntN(len(ap.pods))
			n := &c.nodes[ap.node[i]]
			r.as(n.user, n.ip, a.kubeletUA)
			r.verb = "get"
			r.target("", "v1", "pods", ap.ns, ap.pods[i], "")
			r.latency = g.getLat()
			r.bodies = func(g *gen, r *request) { r.respObj = g.podObject(r.respObj[:0], ap, i, true, r.received) }
		}},
		{"kcm lease", 25, func(g *gen, r *request) {
			r.as(c.kcm, g.cpIP(), a.kcmUA+"/leader-election")
			r.verb = "update"
			r.azReason = crb("system:kube-controller-manager", c.kcm)
			r.target("coordination.k8s.io", "v1", "leases", "kube-system", "kube-controller-manager", "")
			r.query("timeout=5s")
			r.latency = g.writeLat(r)
			r.bodies = func(g *gen, r *request) {
				h := "ip-172-16-61-2.ec2.internal_" + uidFor("kcm")
				r.reqObj = g.leaseObject(r.reqObj[:0], "kube-system", "kube-controller-manager", h, 15, r.received)
				r.respObj = g.leaseObject(r.respObj[:0], "kube-system", "kube-controller-manager", h, 15, r.received)
			}
		}},
		{"scheduler lease", 25, func(g *gen, r *request) {
			r.as(c.sched, g.cpIP(), a.schedUA+"/leader-election")
			r.verb = "update"
			r.azReason = crb("system:kube-scheduler", c.sched)
			r.target("coordination.k8s.io", "v1", "leases", "kube-system", "kube-scheduler", "")
			r.query("timeout=5s")
			r.latency = g.writeLat(r)
			if g.chance(0.02) {
				// another scheduler instance trying to take the lease
				r.failure(409, "Conflict", `Operation cannot be fulfilled on leases.coordination.k8s.io "kube-scheduler": the object has been modified; please apply your changes to the latest version and try again`,
					`{"name":"kube-scheduler","group":"coordination.k8s.io","kind":"leases"}`)
			}
		}},
		{"scheduler binding", 8, func(g *gen, r *request) {
			ap := g.pickApp()
			i := g.rng.IntN(len(ap.pods))
			r.as(c.sched, g.cpIP(), a.schedUA+"/scheduler")
			r.verb = "create"
			r.azReason = crb("system:kube-scheduler", c.sched)
			r.target("", "v1", "pods", ap.ns, ap.pods[i], "binding")
			r.latency = g.writeLat(r)
			r.bodies = func(g *gen, r *request) {
				r.reqObj = append(r.reqObj[:0], `{"kind":"Binding","apiVersion":"v1","metadata":{"name":"`+ap.pods[i]+`","namespace":"`+ap.ns+`","uid":"`+ap.podUIDs[i]+`","creationTimestamp":null},"target":{"kind":"Node","name":"`+c.nodes[ap.node[i]].name+`"}}`...)
				r.respObj = append(r.respObj[:0], `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}`...)
			}
		}},
		{"endpointslice update", 30, func(g *gen, r *request) {
			ap := g.pickApp()
			u := a.ctrl["endpointslice-controller"]
			r.as(u, g.cpIP(), a.kcmUA+"/system:serviceaccount:kube-system:endpointslice-controller")
			r.verb = "update"
			r.azReason = crb("system:controller:endpointslice-controller", u)
			name := ap.name + "-" + ap.rs[:5]
			r.target("discovery.k8s.io", "v1", "endpointslices", ap.ns, name, "")
			r.latency = g.writeLat(r)
			r.bodies = func(g *gen, r *request) {
				body := `"addressType":"IPv4","endpoints":[{"addresses":["10.0.101.17"],"conditions":{"ready":true,"serving":true,"terminating":false},"targetRef":{"kind":"Pod","namespace":"` + ap.ns + `","name":"` + ap.pods[0] + `","uid":"` + ap.podUIDs[0] + `"},"nodeName":"` + c.nodes[ap.node[0]].name + `","zone":"us-east-1a"}],"ports":[{"name":"http","protocol":"TCP","port":8080}]`
				r.reqObj = g.simpleObject(r.reqObj[:0], "EndpointSlice", "discovery.k8s.io/v1", ap.ns, name, r.received, body)
				r.respObj = g.simpleObject(r.respObj[:0], "EndpointSlice", "discovery.k8s.io/v1", ap.ns, name, r.received, body)
			}
			if g.chance(0.03) {
				r.failure(409, "Conflict", `Operation cannot be fulfilled on endpointslices.discovery.k8s.io "`+name+`": the object has been modified; please apply your changes to the latest version and try again`,
					`{"name":"`+name+`","group":"discovery.k8s.io","kind":"endpointslices"}`)
			}
		}},
		{"events create", 30, func(g *gen, r *request) {
			ap := g.pickApp()
			i := g.rng.IntN(len(ap.pods))
			var comp string
			if g.chance(0.5) {
				n := &c.nodes[ap.node[i]]
				r.as(n.user, n.ip, a.kubeletUA)
				comp = "kubelet"
			} else {
				u := a.ctrl["replicaset-controller"]
				r.as(u, g.cpIP(), a.kcmUA+"/system:serviceaccount:kube-system:replicaset-controller")
				r.azReason = crb("system:controller:replicaset-controller", u)
				comp = "replicaset-controller"
			}
			r.verb = "create"
			r.target("", "v1", "events", ap.ns, "", "")
			r.latency = g.writeLat(r)
			reasons := [...][2]string{{"Pulled", `Container image "` + ap.image + `" already present on machine`}, {"Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"}, {"BackOff", "Back-off restarting failed container app in pod " + ap.pods[i] + "_" + ap.ns + "(" + ap.podUIDs[i] + ")"}, {"SuccessfulCreate", "Created pod: " + ap.pods[i]}}
			ev := reasons[g.rng.IntN(len(reasons))]
			r.bodies = func(g *gen, r *request) {
				r.reqObj = g.eventObject(r.reqObj[:0], ap.ns, ap.pods[i], "Pod", ev[0], ev[1], comp, r.received)
				r.respObj = g.eventObject(r.respObj[:0], ap.ns, ap.pods[i], "Pod", ev[0], ev[1], comp, r.received)
			}
		}},
		{"replicaset creates pod", 6, func(g *gen, r *request) {
			ap := g.pickApp()
			i := g.rng.IntN(len(ap.pods))
			u := a.ctrl["replicaset-controller"]
			r.as(u, g.cpIP(), a.kcmUA+"/system:serviceaccount:kube-system:replicaset-controller")
			r.azReason = crb("system:controller:replicaset-controller", u)
			r.verb = "create"
			r.webhooks = true
			r.target("", "v1", "pods", ap.ns, "", "")
			r.latency = g.writeLat(r)
			r.ann = append(r.ann, kv{"pod-security.kubernetes.io/enforce-policy", ap.psa + ":latest"})
			if ap.privileged && ap.psa != "privileged" {
				r.ann = append(r.ann, kv{"pod-security.kubernetes.io/audit-violations", `would violate PodSecurity "` + ap.psa + `:latest": privileged (container "app" must not set securityContext.privileged=true)`})
			}
			r.bodies = func(g *gen, r *request) {
				r.reqObj = g.podObject(r.reqObj[:0], ap, i, false, r.received)
				r.respObj = g.podObject(r.respObj[:0], ap, i, false, r.received)
			}
		}},
		{"controller lists", 10, func(g *gen, r *request) {
			names := [...]string{"generic-garbage-collector", "namespace-controller", "horizontal-pod-autoscaler", "job-controller", "deployment-controller"}
			n := names[g.rng.IntN(len(names))]
			u := a.ctrl[n]
			r.as(u, g.cpIP(), a.kcmUA+"/system:serviceaccount:kube-system:"+n)
			r.azReason = crb("system:controller:"+n, u)
			res := [...][3]string{{"apps", "v1", "replicasets"}, {"", "v1", "pods"}, {"batch", "v1", "jobs"}, {"apps", "v1", "deployments"}, {"autoscaling", "v2", "horizontalpodautoscalers"}}[g.rng.IntN(5)]
			r.target(res[0], res[1], res[2], "", "", "")
			if g.chance(0.6) {
				g.watch(r, "")
			} else {
				r.verb = "list"
				r.query("limit=500&resourceVersion=0")
				r.latency = g.listLat(true, r)
			}
		}},
		{"apiserver self", 30, func(g *gen, r *request) {
			r.as(c.apiserver, "::1", a.apiUA)
			switch g.rng.IntN(3) {
			case 0:
				l := c.apiLeases[g.rng.IntN(len(c.apiLeases))]
				r.verb = "update"
				r.target("coordination.k8s.io", "v1", "leases", "kube-system", l, "")
				r.latency = g.writeLat(r)
			case 1:
				r.verb = "get"
				r.target("discovery.k8s.io", "v1", "endpointslices", "default", "kubernetes", "")
				r.latency = g.getLat()
			default:
				res := [...][3]string{{"flowcontrol.apiserver.k8s.io", "v1", "prioritylevelconfigurations"}, {"flowcontrol.apiserver.k8s.io", "v1", "flowschemas"}, {"admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations"}, {"", "v1", "namespaces"}, {"rbac.authorization.k8s.io", "v1", "clusterroles"}}[g.rng.IntN(5)]
				r.target(res[0], res[1], res[2], "", "", "")
				g.watch(r, "")
			}
		}},
		{"dns and proxy watches", 12, func(g *gen, r *request) {
			if g.chance(0.5) {
				r.as(a.coredns, "10.0."+strconv.Itoa(100+g.rng.IntN(24))+".53", "coredns/v0.0.0 (linux/amd64) kubernetes/$Format")
				r.azReason = rbac("ClusterRoleBinding", "system:coredns", "ClusterRole", "system:coredns", a.coredns)
			} else {
				n := g.pickNode()
				r.as(a.kubeProxy, n.ip, a.proxyUA)
				r.azReason = rbac("ClusterRoleBinding", "eks:kube-proxy", "ClusterRole", "system:node-proxier", a.kubeProxy)
			}
			res := [...][3]string{{"discovery.k8s.io", "v1", "endpointslices"}, {"", "v1", "services"}, {"", "v1", "namespaces"}, {"", "v1", "nodes"}}[g.rng.IntN(4)]
			r.target(res[0], res[1], res[2], "", "", "")
			if g.chance(0.8) {
				extra := ""
				if res[2] == "endpointslices" || res[2] == "services" {
					extra = "labelSelector=%21service.kubernetes.io%2Fheadless%2C%21service.kubernetes.io%2Fservice-proxy-name"
				}
				g.watch(r, extra)
			} else {
				r.verb = "list"
				r.query("limit=500&resourceVersion=0")
				r.latency = g.listLat(false, r)
			}
		}},
		{"cert-manager", 18, func(g *gen, r *request) {
			r.as(a.certManager, "10.0.103.21", "cert-manager-controller/v1.15.3 (linux/amd64) cert-manager/6fd8e7e1d5f52b0ccf1d1a6a6d32c0e7ab0b4b4b")
			switch g.rng.IntN(4) {
			case 0:
				r.verb = "update"
				r.azReason = rbac("RoleBinding", "cert-manager:leaderelection/kube-system", "Role", "cert-manager:leaderelection", a.certManager)
				r.target("coordination.k8s.io", "v1", "leases", "kube-system", "cert-manager-controller", "")
				r.query("timeout=5s")
				r.latency = g.writeLat(r)
			case 1:
				ap := g.pickApp()
				r.verb = "get"
				r.azReason = crb("cert-manager-controller-certificates", a.certManager)
				r.target("", "v1", "secrets", ap.ns, ap.name+"-tls", "")
				r.latency = g.getLat()
				r.bodies = func(g *gen, r *request) {
					r.respObj = g.simpleObject(r.respObj[:0], "Secret", "v1", ap.ns, ap.name+"-tls", r.received, secretBody("tls"))
				}
				if g.chance(0.05) {
					r.failure(404, "NotFound", `secrets "`+ap.name+`-tls" not found`, `{"name":"`+ap.name+`-tls","kind":"secrets"}`)
				}
			case 2:
				r.azReason = crb("cert-manager-controller-certificates", a.certManager)
				r.target("cert-manager.io", "v1", "certificates", "", "", "")
				g.watch(r, "")
			default:
				ap := g.pickApp()
				r.verb = "patch"
				r.azReason = crb("cert-manager-controller-certificates", a.certManager)
				r.target("cert-manager.io", "v1", "certificates", ap.ns, ap.name+"-tls", "status")
				r.query("fieldManager=cert-manager-certificates-readiness&force=true")
				r.latency = g.writeLat(r)
			}
		}},
		{"argocd", 15, func(g *gen, r *request) {
			r.as(a.argocd, "10.0.104.33", "argocd-application-controller/v2.12.3+6b9cd82 (linux/amd64) kubernetes/$Format")
			r.azReason = crb("argocd-application-controller", a.argocd)
			ap := g.pickApp()
			switch g.rng.IntN(3) {
			case 0:
				r.verb = "list"
				r.target("apps", "v1", "deployments", "", "", "")
				r.query("limit=500")
				r.latency = g.listLat(true, r)
			case 1:
				r.verb = "get"
				r.target("apps", "v1", "deployments", ap.ns, ap.name, "")
				r.latency = g.getLat()
			default:
				r.verb = "patch"
				r.webhooks = true
				r.target("apps", "v1", "deployments", ap.ns, ap.name, "")
				r.query("fieldManager=argocd-controller&force=true")
				r.latency = g.writeLat(r)
				r.bodies = func(g *gen, r *request) { r.reqObj = append(r.reqObj[:0], lastApplied(ap, len(ap.pods))...) }
			}
		}},
		{"karpenter", 10, func(g *gen, r *request) {
			r.as(a.karpenter, "10.0.105.12", "karpenter/v1.0.6")
			r.azReason = crb("karpenter-core", a.karpenter)
			if g.chance(0.5) {
				r.verb = "list"
				r.target("", "v1", "nodes", "", "", "")
				r.query("labelSelector=karpenter.sh%2Fnodepool&limit=500")
				r.latency = g.listLat(true, r)
			} else {
				r.verb = "update"
				r.target("karpenter.sh", "v1", "nodeclaims", "", "default-"+randAlnum(g.rng, 5), "status")
				r.latency = g.writeLat(r)
			}
		}},
		{"kube-state-metrics", 8, func(g *gen, r *request) {
			r.as(a.ksm, "10.0.106.7", "kube-state-metrics/v2.13.0 (linux/amd64) kubernetes/$Format")
			r.azReason = crb("kube-state-metrics", a.ksm)
			res := [...][3]string{{"", "v1", "pods"}, {"apps", "v1", "deployments"}, {"", "v1", "nodes"}, {"", "v1", "secrets"}, {"", "v1", "configmaps"}, {"batch", "v1", "cronjobs"}}[g.rng.IntN(6)]
			r.target(res[0], res[1], res[2], "", "", "")
			if g.chance(0.5) {
				g.watch(r, "")
			} else {
				r.verb = "list"
				r.query("limit=500&resourceVersion=0")
				r.latency = g.listLat(true, r)
			}
		}},
		{"prometheus scrape", 8, func(g *gen, r *request) {
			n := g.pickNode()
			r.as(a.prom, "10.0.107.40", "Prometheus/2.54.1")
			r.azReason = crb("prometheus-k8s", a.prom)
			if g.chance(0.7) {
				r.verb = "get"
				r.target("", "v1", "nodes", "", n.name, "proxy")
				r.uri += "/metrics/cadvisor"
				r.long = true
				r.startDly = g.lognormal(40*time.Millisecond, 0.6)
				r.latency = r.startDly + g.lognormal(120*time.Millisecond, 0.7)
			} else {
				r.verb = "list"
				r.target("discovery.k8s.io", "v1", "endpointslices", "monitoring", "", "")
				r.query("limit=500&resourceVersion=0")
				r.latency = g.listLat(false, r)
			}
		}},
		{"metrics-server reviews", 8, func(g *gen, r *request) {
			r.as(a.metricsServer, "10.0.108.9", "metrics-server/v0.7.2 (linux/amd64) kubernetes/$Format")
			r.verb = "create"
			r.azReason = crb("system:auth-delegator", a.metricsServer)
			if g.chance(0.5) {
				r.target("authentication.k8s.io", "v1", "tokenreviews", "", "", "")
			} else {
				r.target("authorization.k8s.io", "v1", "subjectaccessreviews", "", "", "")
			}
			r.latency = g.lognormal(900*time.Microsecond, 0.6)
		}},
		{"eks", 15, func(g *gen, r *request) {
			switch g.rng.IntN(4) {
			case 0:
				u := a.eks["eks:k8s-metrics"]
				r.as(u, g.cpIP(), "eks-k8s-metrics/v0.0.0 (linux/amd64) kubernetes/$Format")
				r.azReason = crb("eks:k8s-metrics", u)
				r.verb = "list"
				r.target("apps", "v1", "deployments", "kube-system", "vpc-resource-controller", "")
				r.uri = "/apis/apps/v1/namespaces/kube-system/deployments"
				r.query("fieldSelector=metadata.name%3Dvpc-resource-controller")
				r.latency = g.listLat(false, r)
			case 1:
				u := a.eks["eks:certificate-controller"]
				r.as(u, g.cpIP(), "eks-certificate-controller/v0.0.0 (linux/amd64) kubernetes/$Format")
				r.azReason = crb("eks:certificate-controller", u)
				r.target("certificates.k8s.io", "v1", "certificatesigningrequests", "", "", "")
				g.watch(r, "")
			case 2:
				u := a.eks["eks:cloud-controller-manager"]
				n := g.pickNode()
				r.as(u, g.cpIP(), "aws-cloud-controller-manager/v0.0.0 (linux/amd64) kubernetes/$Format/cloud-node-lifecycle-controller")
				r.azReason = crb("eks:cloud-controller-manager", u)
				r.verb = "get"
				r.target("", "v1", "nodes", "", n.name, "")
				r.latency = g.getLat()
			default:
				u := a.eks["eks:addon-manager"]
				r.as(u, g.cpIP(), "eks-addon-manager/v0.0.0 (linux/amd64) kubernetes/$Format")
				r.azReason = crb("eks:addon-manager", u)
				r.verb = "get"
				r.target("apps", "v1", "daemonsets", "kube-system", "aws-node", "")
				r.latency = g.getLat()
			}
		}},
		{"humans", 40, func(g *gen, r *request) { g.human(r, a) }},
		{"ci deployer", 5, func(g *gen, r *request) {
			r.as(a.ci, "192.0.2.80", "Helm/3.15.4")
			ap := g.pickApp()
			r.azReason = rbac("RoleBinding", "ci-deployer/"+ap.ns, "ClusterRole", "admin", a.ci)
			rel := "sh.helm.release.v1." + ap.name + ".v" + strconv.Itoa(10+g.rng.IntN(50))
			switch g.rng.IntN(3) {
			case 0:
				r.verb = "list"
				r.target("", "v1", "secrets", ap.ns, "", "")
				r.query("labelSelector=name%3D" + ap.name + "%2Cowner%3Dhelm")
				r.latency = g.listLat(false, r)
			case 1:
				r.verb = "create"
				r.target("", "v1", "secrets", ap.ns, "", "")
				r.latency = g.writeLat(r)
				r.bodies = func(g *gen, r *request) {
					r.reqObj = g.simpleObject(r.reqObj[:0], "Secret", "v1", ap.ns, rel, time.Time{}, secretBody("helm"))
					r.respObj = g.simpleObject(r.respObj[:0], "Secret", "v1", ap.ns, rel, r.received, secretBody("helm"))
				}
			default:
				r.verb = "patch"
				r.webhooks = true
				r.target("apps", "v1", "deployments", ap.ns, ap.name, "")
				r.latency = g.writeLat(r)
				r.bodies = func(g *gen, r *request) { r.reqObj = append(r.reqObj[:0], lastApplied(ap, len(ap.pods))...) }
			}
			if g.chance(0.03) {
				r.forbid()
			}
		}},
		{"deprecated api", 3, func(g *gen, r *request) {
			r.as(a.ddAgent, "10.0.109.14", "datadog-cluster-agent/v0.0.0 (linux/amd64) kubernetes/$Format")
			r.azReason = crb("datadog-cluster-agent", a.ddAgent)
			r.verb = "list"
			switch {
			case g.o.KubeMinor < 32:
				r.target("flowcontrol.apiserver.k8s.io", "v1beta3", "flowschemas", "", "", "")
				r.ann = append(r.ann, kv{"k8s.io/deprecated", "true"}, kv{"k8s.io/removed-release", "1.32"})
			default:
				r.target("", "v1", "endpoints", "", "", "")
				if g.o.KubeMinor >= 33 {
					r.ann = append(r.ann, kv{"k8s.io/deprecated", "true"})
				}
			}
			r.query("limit=500&resourceVersion=0")
			r.latency = g.listLat(true, r)
		}},
		{"anonymous", 8, func(g *gen, r *request) {
			r.user = c.anonymous
			if g.chance(0.7) {
				// health probes from load balancers
				r.ips = []string{"10.0." + strconv.Itoa(g.rng.IntN(3)*16) + "." + strconv.Itoa(5+g.rng.IntN(200))}
				r.ua = "ELB-HealthChecker/2.0"
				r.verb = "get"
				r.uri = [...]string{"/readyz", "/livez", "/healthz", "/version"}[g.rng.IntN(4)]
				r.azReason = `RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of ClusterRole "system:public-info-viewer" to Group "system:unauthenticated"`
				r.latency = g.lognormal(400*time.Microsecond, 0.5)
				return
			}
			// internet scanners
			r.ips = []string{"198.51.100." + strconv.Itoa(1+g.rng.IntN(254))}
			r.ua = [...]string{"python-requests/2.31.0", "Go-http-client/1.1", "curl/8.5.0", "Mozilla/5.0 zgrab/0.x"}[g.rng.IntN(4)]
			r.verb = [...]string{"get", "list", "list", "get"}[g.rng.IntN(4)]
			switch g.rng.IntN(3) {
			case 0:
				r.target("", "v1", "secrets", "kube-system", "", "")
				r.verb = "list"
			case 1:
				r.target("", "v1", "pods", "", "", "")
				r.verb = "list"
			default:
				r.verb = "get"
				r.uri = "/.env"
			}
			r.forbid()
			r.latency = g.lognormal(500*time.Microsecond, 0.5)
		}},
		{"authentication failed", 4, func(g *gen, r *request) {
			r.kind = kindAuthFailed
			r.noAuthz = true
			r.user = &userInfo{}
			r.ips = []string{[...]string{"198.51.100.77", "203.0.113.200", "10.0.32.19"}[g.rng.IntN(3)]}
			r.ua = [...]string{"kubectl/v1.28.2 (linux/amd64) kubernetes/89a4ea3", "Go-http-client/1.1", "python-requests/2.31.0"}[g.rng.IntN(3)]
			r.verb = "list"
			ns := g.pickApp().ns
			r.target("", "v1", "pods", ns, "", "")
			r.query("limit=500")
			methods := [...]string{"Authentication failed, attempted: bearer", "Authentication failed, attempted: bearer", "Authentication failed, attempted: x509", "Authentication failed, no credentials provided"}
			r.code, r.message = 401, methods[g.rng.IntN(len(methods))]
			r.latency = g.lognormal(300*time.Microsecond, 0.5)
		}},
	}
	return ts
}

// human is a kubectl session request by a person.
func (g *gen) human(r *request, a *actors) {
	c := g.c
	h := c.humans[[...]int{0, 0, 0, 1, 1, 1, 2, 2, 3}[g.rng.IntN(9)]]
	r.user, r.ips, r.ua = h.user, h.ips, h.ua
	ap := g.pickApp()
	for try := 0; try < 20 && !h.admin && !h.nsOK[ap.ns] && g.chance(0.85); try++ {
		ap = g.pickApp() // developers mostly stay in their own namespaces
	}
	i := g.rng.IntN(len(ap.pods))
	allowed := h.admin || h.nsOK[ap.ns]
	if h.admin {
		r.azReason = h.reason
	} else {
		r.azReason = `RBAC: allowed by RoleBinding "developers-edit/` + ap.ns + `" of ClusterRole "edit" to Group "developers"`
	}
	if h.user.username == "kubernetes-admin" {
		r.azReason = ""
	}
	if h.admin && g.chance(0.05) {
		// kubectl --as to check what someone else can do
		r.imp = &userInfo{username: "bob@example.com", groups: []string{"system:authenticated"}}
		allowed = ap.ns == "checkout" || ap.ns == "frontend"
		r.azReason = `RBAC: allowed by RoleBinding "developers-edit/` + ap.ns + `" of ClusterRole "edit" to Group "developers"`
	}
	q := url.Values{}
	switch x := g.rng.IntN(100); {
	case x < 30:
		r.verb = "list"
		if g.chance(0.15) && h.admin {
			r.target("", "v1", "pods", "", "", "")
			r.latency = g.listLat(true, r)
		} else {
			r.target("", "v1", "pods", ap.ns, "", "")
			r.latency = g.listLat(false, r)
		}
		r.query("limit=500")
		r.bodies = func(g *gen, r *request) {
			r.respObj = g.listObject(r.respObj[:0], "PodList", "v1", func(b []byte) []byte { return g.podObject(b, ap, i, true, r.received) })
		}
	case x < 45:
		r.verb = "get"
		r.target("", "v1", "pods", ap.ns, ap.pods[i], "")
		r.latency = g.getLat()
		r.bodies = func(g *gen, r *request) { r.respObj = g.podObject(r.respObj[:0], ap, i, true, r.received) }
		if g.chance(0.05) {
			r.failure(404, "NotFound", `pods "`+ap.pods[i]+`x" not found`, `{"name":"`+ap.pods[i]+`x","kind":"pods"}`)
		}
	case x < 52:
		r.verb = "list"
		r.target("", "v1", "events", ap.ns, "", "")
		r.query("fieldSelector=involvedObject.name%3D" + ap.pods[i] + "%2CinvolvedObject.namespace%3D" + ap.ns + "%2CinvolvedObject.uid%3D" + ap.podUIDs[i] + "&limit=500")
		r.latency = g.listLat(false, r)
	case x < 62:
		r.verb = "get"
		r.target("", "v1", "pods", ap.ns, ap.pods[i], "log")
		q.Set("container", "app")
		if g.chance(0.5) {
			q.Set("follow", "true")
			q.Set("tailLines", "100")
			r.long = true
			r.startDly = g.lognormal(30*time.Millisecond, 0.5)
			r.latency = g.lognormal(2*time.Minute, 1.0)
		} else {
			r.latency = g.lognormal(40*time.Millisecond, 0.8)
		}
		r.query(q.Encode())
	case x < 70:
		r.verb = "create"
		if strings.HasPrefix(r.ua, "kubectl/v1.31") {
			r.verb = "get" // WebSocket exec (kubectl >= 1.30) is an HTTP GET upgrade
		}
		r.target("", "v1", "pods", ap.ns, ap.pods[i], "exec")
		cmds := [...][]string{{"sh"}, {"/bin/bash"}, {"sh", "-c", "cat /etc/passwd"}, {"env"}, {"sh", "-c", "curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/"}, {"ls", "-la", "/var/run/secrets/kubernetes.io/serviceaccount"}}
		cmd := cmds[g.rng.IntN(len(cmds))]
		q["command"] = cmd
		q.Set("container", "app")
		q.Set("stdin", "true")
		q.Set("stdout", "true")
		if len(cmd) == 1 {
			q.Set("tty", "true")
		} else {
			q.Set("stderr", "true")
		}
		r.query(q.Encode())
		r.long, r.mayOpen = true, true
		r.startDly = g.lognormal(45*time.Millisecond, 0.5)
		r.latency = g.lognormal(90*time.Second, 1.5)
	case x < 73:
		r.verb = "create"
		r.target("", "v1", "pods", ap.ns, ap.pods[i], "portforward")
		r.long, r.mayOpen = true, true
		r.startDly = g.lognormal(35*time.Millisecond, 0.5)
		r.latency = g.lognormal(10*time.Minute, 1.0)
	case x < 75:
		r.verb = "create"
		r.target("", "v1", "pods", ap.ns, ap.pods[i], "attach")
		r.query("container=app&stdin=true&stdout=true&tty=true")
		r.long, r.mayOpen = true, true
		r.startDly = g.lognormal(45*time.Millisecond, 0.5)
		r.latency = g.lognormal(60*time.Second, 1.2)
	case x < 83:
		r.verb = "patch"
		r.webhooks = true
		r.target("apps", "v1", "deployments", ap.ns, ap.name, "")
		r.query("fieldManager=kubectl-client-side-apply&fieldValidation=Strict")
		r.latency = g.writeLat(r)
		reps := len(ap.pods)
		r.bodies = func(g *gen, r *request) {
			r.reqObj = append(r.reqObj[:0], lastApplied(ap, reps)...)
			r.respObj = g.simpleObject(r.respObj[:0], "Deployment", "apps/v1", ap.ns, ap.name, r.received, `"spec":{"replicas":`+strconv.Itoa(reps)+`}`)
		}
	case x < 86:
		r.verb = "patch"
		r.target("apps", "v1", "deployments", ap.ns, ap.name, "scale")
		r.latency = g.writeLat(r)
		r.bodies = func(g *gen, r *request) {
			r.reqObj = append(r.reqObj[:0], `{"spec":{"replicas":`+strconv.Itoa(1+g.rng.IntN(8))+`}}`...)
		}
	case x < 89:
		r.verb = "delete"
		r.webhooks = true
		r.target("", "v1", "pods", ap.ns, ap.pods[i], "")
		r.latency = g.writeLat(r)
		r.bodies = func(g *gen, r *request) {
			r.reqObj = append(r.reqObj[:0], deleteOptions...)
			r.respObj = g.podObject(r.respObj[:0], ap, i, true, r.received)
		}
	case x < 95:
		r.verb = "get"
		name := ap.name + "-env"
		r.target("", "v1", "secrets", ap.ns, name, "")
		r.latency = g.getLat()
		r.bodies = func(g *gen, r *request) {
			r.respObj = g.simpleObject(r.respObj[:0], "Secret", "v1", ap.ns, name, r.received, secretBody("opaque"))
		}
		if !h.admin && ap.ns != "checkout" {
			allowed = false
		}
	case x < 97:
		r.verb = "list"
		r.target("", "v1", "secrets", "", "", "")
		r.query("limit=500")
		r.latency = g.listLat(true, r)
		if !h.admin {
			allowed = false
		}
	case x < 98:
		r.verb = "list"
		r.target("", "v1", "nodes", "", "", "")
		r.query("limit=500")
		r.latency = g.listLat(false, r)
		if !h.admin {
			allowed = false
		}
	default:
		r.verb = "create"
		r.target("rbac.authorization.k8s.io", "v1", "rolebindings", ap.ns, "", "")
		r.latency = g.writeLat(r)
		rb := "debug-" + strings.SplitN(h.user.username, "@", 2)[0]
		if i := strings.LastIndexByte(rb, '/'); i >= 0 {
			rb = "debug-" + rb[i+1:]
		}
		body := roleBindingBody("cluster-admin", "ServiceAccount", "default", ap.ns)
		r.bodies = func(g *gen, r *request) {
			r.reqObj = g.simpleObject(r.reqObj[:0], "RoleBinding", "rbac.authorization.k8s.io/v1", ap.ns, rb, time.Time{}, body)
			r.respObj = g.simpleObject(r.respObj[:0], "RoleBinding", "rbac.authorization.k8s.io/v1", ap.ns, rb, r.received, body)
		}
		if !h.admin {
			// escalation check: cannot bind a role you do not hold
			allowed = false
		}
	}
	if !allowed {
		r.forbid()
		r.long, r.mayOpen = false, false
		r.latency = g.lognormal(1200*time.Microsecond, 0.6)
	}
}

// hugeRequest makes r a request with an object larger than 1 MiB.
func (g *gen) hugeRequest(r *request) {
	c := g.c
	r.level = levelRequestResponse
	r.huge = true
	if g.sum.Huge%2 == 0 {
		h := c.humans[0]
		r.as(h.user, h.ips[0], h.ua)
		r.azReason = h.reason
		r.verb = "list"
		r.target("", "v1", "pods", "", "", "")
		r.query("limit=500")
		r.latency = g.lognormal(700*time.Millisecond, 0.4)
		r.slow = "serialize"
		r.bodies = func(g *gen, r *request) { r.respObj = g.hugePodList(r.respObj[:0], r.received) }
		return
	}
	u := &userInfo{username: "system:serviceaccount:argocd:argocd-application-controller", uid: uidFor("argocd-sa"),
		groups: []string{"system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"}}
	r.as(u, "10.0.104.33", "argocd-application-controller/v2.12.3+6b9cd82 (linux/amd64) kubernetes/$Format")
	r.azReason = crb("argocd-application-controller", u)
	r.verb = "update"
	r.webhooks = true
	r.target("apiextensions.k8s.io", "v1", "customresourcedefinitions", "", "alertmanagerconfigs.monitoring.coreos.com", "")
	r.latency = g.lognormal(900*time.Millisecond, 0.3)
	r.slow = "etcd"
	r.writes = true
	r.bodies = func(g *gen, r *request) {
		r.reqObj = g.hugeCRD(r.reqObj[:0], r.received)
		r.respObj = g.hugeCRD(r.respObj[:0], r.received)
	}
}

package auditgen

import (
	"strconv"
	"strings"
	"time"
)

// Kubernetes objects as they appear in requestObject / responseObject, written directly as JSON
// (field order as the apiserver's encoder writes them: kind, apiVersion, metadata, spec, status).

type meta struct {
	name, generateName, ns, uid string
	rv                          int64
	created                     time.Time
	labels                      []kv
	owner                       string // raw ownerReferences JSON array, or ""
	annotations                 []kv
}

func appendMeta(b []byte, m *meta) []byte {
	b = append(b, `"metadata":{`...)
	first := true
	if m.name != "" {
		b = appendKV(b, "name", m.name, first)
		first = false
	}
	if m.generateName != "" {
		b = appendKV(b, "generateName", m.generateName, first)
		first = false
	}
	if m.ns != "" {
		b = appendKV(b, "namespace", m.ns, first)
		first = false
	}
	if m.uid != "" {
		b = appendKV(b, "uid", m.uid, first)
		first = false
	}
	if m.rv != 0 {
		b = appendKey(b, "resourceVersion", first)
		b = append(b, '"')
		b = appendInt(b, m.rv)
		b = append(b, '"')
		first = false
	}
	b = appendKey(b, "creationTimestamp", first)
	if m.created.IsZero() {
		b = append(b, "null"...)
	} else {
		b = appendRFC3339(b, m.created)
	}
	if len(m.labels) > 0 {
		b = append(b, `,"labels":{`...)
		for i, l := range m.labels {
			b = appendKV(b, l.k, l.v, i == 0)
		}
		b = append(b, '}')
	}
	if len(m.annotations) > 0 {
		b = append(b, `,"annotations":{`...)
		for i, l := range m.annotations {
			b = appendKV(b, l.k, l.v, i == 0)
		}
		b = append(b, '}')
	}
	if m.owner != "" {
		b = append(b, `,"ownerReferences":`...)
		b = append(b, m.owner...)
	}
	return append(b, '}')
}

func appendTypeMeta(b []byte, kind, apiVersion string) []byte {
	b = append(b, `{"kind":`...)
	b = appendString(b, kind)
	b = append(b, `,"apiVersion":`...)
	b = appendString(b, apiVersion)
	return append(b, ',')
}

// podObject writes a Pod of app a (replica i). Privileged, hostPath and hostNetwork follow the app.
func (g *gen) podObject(b []byte, a *app, i int, withStatus bool, t time.Time) []byte {
	n := g.c.nodes[a.node[i]]
	b = appendTypeMeta(b, "Pod", "v1")
	owner := `[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"` + a.name + "-" + a.rs + `","uid":"` + a.podUIDs[0][:24] + a.rs[:10] + `ab","controller":true,"blockOwnerDeletion":true}]`
	b = appendMeta(b, &meta{name: a.pods[i], generateName: a.name + "-" + a.rs + "-", ns: a.ns, uid: a.podUIDs[i], rv: g.rv,
		created: t.Add(-time.Duration(1+i) * 37 * time.Hour),
		labels:  []kv{{"app.kubernetes.io/name", a.name}, {"pod-template-hash", a.rs}}, owner: owner})
	b = append(b, `,"spec":{"volumes":[`...)
	if a.hostPath {
		b = append(b, `{"name":"host-root","hostPath":{"path":"/","type":""}},{"name":"docker-sock","hostPath":{"path":"/var/run/docker.sock","type":"Socket"}},`...)
	}
	b = append(b, `{"name":"kube-api-access-`...)
	b = append(b, a.rs[:5]...)
	b = append(b, `","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],"defaultMode":420}}],"containers":[{"name":"app","image":`...)
	b = appendString(b, a.image)
	b = append(b, `,"ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}],"env":[{"name":"POD_NAME","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}},{"name":"LOG_LEVEL","value":"info"}],"resources":{"limits":{"memory":"512Mi"},"requests":{"cpu":"250m","memory":"256Mi"}},"volumeMounts":[`...)
	if a.hostPath {
		b = append(b, `{"name":"host-root","readOnly":true,"mountPath":"/host"},{"name":"docker-sock","mountPath":"/var/run/docker.sock"},`...)
	}
	b = append(b, `{"name":"kube-api-access-`...)
	b = append(b, a.rs[:5]...)
	b = append(b, `","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"livenessProbe":{"httpGet":{"path":"/healthz","port":"http","scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":10,"successThreshold":1,"failureThreshold":3},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent","securityContext":`...)
	if a.privileged {
		b = append(b, `{"capabilities":{"add":["NET_ADMIN","SYS_ADMIN"]},"privileged":true,"runAsUser":0}`...)
	} else {
		b = append(b, `{"capabilities":{"drop":["ALL"]},"runAsNonRoot":true,"readOnlyRootFilesystem":true,"allowPrivilegeEscalation":false,"seccompProfile":{"type":"RuntimeDefault"}}`...)
	}
	b = append(b, `}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":`...)
	b = appendString(b, a.sa)
	b = append(b, `,"serviceAccount":`...)
	b = appendString(b, a.sa)
	b = append(b, `,"nodeName":`...)
	b = appendString(b, n.name)
	if a.hostNetwork {
		b = append(b, `,"hostNetwork":true,"hostPID":true`...)
	}
	b = append(b, `,"securityContext":{},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"}`...)
	if withStatus {
		b = append(b, `,"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastProbeTime":null,"lastTransitionTime":`...)
		b = appendRFC3339(b, t.Add(-time.Duration(1+i)*36*time.Hour))
		b = append(b, `}],"hostIP":`...)
		b = appendString(b, n.ip)
		b = append(b, `,"podIP":"10.0.`...)
		b = strconv.AppendInt(b, int64(100+a.node[i]), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(10+i*7%240), 10)
		b = append(b, `","qosClass":"Burstable"}`...)
	} else {
		b = append(b, `,"status":{}`...)
	}
	return append(b, '}')
}

func (g *gen) leaseObject(b []byte, ns, name, holder string, dur int, t time.Time) []byte {
	b = appendTypeMeta(b, "Lease", "coordination.k8s.io/v1")
	b = appendMeta(b, &meta{name: name, ns: ns, uid: uidFor(ns + "/" + name), rv: g.rv, created: g.o.Start.Add(-400 * time.Hour)})
	b = append(b, `,"spec":{"holderIdentity":`...)
	b = appendString(b, holder)
	b = append(b, `,"leaseDurationSeconds":`...)
	b = appendInt(b, int64(dur))
	b = append(b, `,"acquireTime":`...)
	b = appendMicroTime(b, g.o.Start.Add(-3*time.Hour))
	b = append(b, `,"renewTime":`...)
	b = appendMicroTime(b, t)
	b = append(b, `,"leaseTransitions":3}}`...)
	return b
}

// uidFor gives a stable UUID for a name (FNV-1a based), so an object keeps its uid.
func uidFor(s string) string {
	var h1, h2 uint64 = 14695981039346656037, 1099511628211
	for i := 0; i < len(s); i++ {
		h1 ^= uint64(s[i])
		h1 *= 1099511628211
		h2 = h2*31 + uint64(s[i])
	}
	return string(appendUUID(nil, h1, h2^h1<<7))
}

func (g *gen) simpleObject(b []byte, kind, apiVersion, ns, name string, t time.Time, body string) []byte {
	b = appendTypeMeta(b, kind, apiVersion)
	b = appendMeta(b, &meta{name: name, ns: ns, uid: uidFor(kind + ns + name), rv: g.rv, created: t.Add(-72 * time.Hour)})
	if body != "" {
		b = append(b, ',')
		b = append(b, body...)
	}
	return append(b, '}')
}

func (g *gen) listObject(b []byte, kind, apiVersion string, items func(b []byte) []byte) []byte {
	b = appendTypeMeta(b, kind, apiVersion)
	b = append(b, `"metadata":{"resourceVersion":"`...)
	b = appendInt(b, g.rv)
	b = append(b, `"},"items":[`...)
	b = items(b)
	return append(b, "]}"...)
}

func secretBody(kind string) string {
	switch kind {
	case "helm":
		return `"data":{"release":"SDRzSUFBQUFBQUFDLyt5OWE1UGJSclkvL0ZWUXF2dkN0akZyRTI4NHp1NnZTaGZ6S3RtWXNTUkxHUy9qbHZiRFRJNWVIZjZsdEhmZlhvMXd1Z0dRbEl6T0plZStkNnVCM0x3b2lBd1E9PQ=="},"type":"helm.sh/release.v1"`
	case "tls":
		return `"data":{"ca.crt":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lRZXhhbXBsZQ==","tls.crt":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lRZXhhbXBsZQ==","tls.key":"LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCmV4YW1wbGU="},"type":"kubernetes.io/tls"`
	default:
		return `"data":{"DATABASE_URL":"cG9zdGdyZXM6Ly9hcHA6ZXhhbXBsZUBwb3N0Z3Jlcy5kYXRhLnN2Yzo1NDMyL2FwcA==","API_KEY":"ZXhhbXBsZS1ub3QtYS1yZWFsLWtleQ=="},"type":"Opaque"`
	}
}

const configMapBody = `"data":{"app.yaml":"server:\n  port: 8080\n  readTimeout: 30s\nfeatures:\n  newCheckout: true\n","LOG_LEVEL":"info"}`

func roleBindingBody(role, subjectKind, subject, subjectNS string) string {
	s := `"subjects":[{"kind":"` + subjectKind + `","name":"` + subject + `"`
	if subjectKind == "ServiceAccount" {
		s += `,"namespace":"` + subjectNS + `"`
	} else {
		s += `,"apiGroup":"rbac.authorization.k8s.io"`
	}
	return s + `}],"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"` + role + `"}`
}

func (g *gen) eventObject(b []byte, ns, involved, kind, reason, msg, component string, t time.Time) []byte {
	b = appendTypeMeta(b, "Event", "v1")
	b = appendMeta(b, &meta{name: involved + "." + strconv.FormatInt(t.UnixNano()&0xffffffffffff, 16), ns: ns})
	b = append(b, `,"involvedObject":{"kind":`...)
	b = appendString(b, kind)
	b = append(b, `,"namespace":`...)
	b = appendString(b, ns)
	b = append(b, `,"name":`...)
	b = appendString(b, involved)
	b = append(b, `,"apiVersion":"v1"},"reason":`...)
	b = appendString(b, reason)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	b = append(b, `,"source":{"component":`...)
	b = appendString(b, component)
	b = append(b, `},"firstTimestamp":`...)
	b = appendRFC3339(b, t)
	b = append(b, `,"lastTimestamp":`...)
	b = appendRFC3339(b, t)
	b = append(b, `,"count":1,"type":"Normal","eventTime":null,"reportingComponent":`...)
	b = appendString(b, component)
	b = append(b, `,"reportingInstance":""}`...)
	return b
}

func nodeStatusPatch(t time.Time) []byte {
	var b []byte
	b = append(b, `{"status":{"$setElementOrder/conditions":[{"type":"MemoryPressure"},{"type":"DiskPressure"},{"type":"PIDPressure"},{"type":"Ready"}],"conditions":[`...)
	for i, c := range []string{"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"} {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"lastHeartbeatTime":`...)
		b = appendRFC3339(b, t)
		b = append(b, `,"type":"`...)
		b = append(b, c...)
		b = append(b, `"}`...)
	}
	return append(b, "]}}"...)
}

func tokenRequest(b []byte, pod *podRef, withToken bool, t time.Time) []byte {
	b = append(b, `{"kind":"TokenRequest","apiVersion":"authentication.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"audiences":["https://kubernetes.default.svc"],"expirationSeconds":3607,"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":`...)
	b = appendString(b, pod.name)
	b = append(b, `,"uid":`...)
	b = appendString(b, pod.uid)
	b = append(b, `}},"status":{"token":"`...)
	if withToken {
		b = append(b, "eyJhbGciOiJSUzI1NiIsImtpZCI6ImF1ZGl0Z2VuIn0.ZmFrZS10b2tlbi1nZW5lcmF0ZWQtYnktYXVkaXRnZW4.c2lnbmF0dXJl"...)
		b = append(b, `","expirationTimestamp":`...)
		b = appendRFC3339(b, t.Add(3607*time.Second))
	} else {
		b = append(b, `","expirationTimestamp":null`...)
	}
	return append(b, "}}"...)
}

// lastApplied builds a kubectl client-side-apply patch for a Deployment.
func lastApplied(a *app, replicas int) []byte {
	cfg := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{},"name":"` + a.name + `","namespace":"` + a.ns +
		`"},"spec":{"replicas":` + strconv.Itoa(replicas) + `,"selector":{"matchLabels":{"app.kubernetes.io/name":"` + a.name +
		`"}},"template":{"metadata":{"labels":{"app.kubernetes.io/name":"` + a.name + `"}},"spec":{"containers":[{"image":"` + a.image + `","name":"app"}]}}}}` + "\n"
	var b []byte
	b = append(b, `{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":`...)
	b = appendString(b, cfg)
	b = append(b, `}},"spec":{"replicas":`...)
	b = strconv.AppendInt(b, int64(replicas), 10)
	b = append(b, `,"template":{"spec":{"$setElementOrder/containers":[{"name":"app"}],"containers":[{"image":`...)
	b = appendString(b, a.image)
	b = append(b, `,"name":"app"}]}}}}`...)
	return b
}

const deleteOptions = `{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}`

// hugePodList writes a PodList larger than 1 MiB.
func (g *gen) hugePodList(b []byte, t time.Time) []byte {
	return g.listObject(b, "PodList", "v1", func(b []byte) []byte {
		start := len(b)
		for k := 0; len(b)-start < 1<<20+4096; k++ {
			if k > 0 {
				b = append(b, ',')
			}
			a := &g.c.apps[k%len(g.c.apps)]
			b = g.podObject(b, a, k%len(a.pods), true, t)
		}
		return b
	})
}

// hugeCRD writes a CustomResourceDefinition whose schema makes it larger than 1 MiB, like the
// CRDs of big operators applied with client-side apply.
func (g *gen) hugeCRD(b []byte, t time.Time) []byte {
	b = appendTypeMeta(b, "CustomResourceDefinition", "apiextensions.k8s.io/v1")
	b = appendMeta(b, &meta{name: "alertmanagerconfigs.monitoring.coreos.com", uid: uidFor("crd-amc"), rv: g.rv, created: t.Add(-900 * time.Hour),
		annotations: []kv{{"controller-gen.kubebuilder.io/version", "v0.16.1"}, {"operator.prometheus.io/version", "0.76.0"}}})
	b = append(b, `,"spec":{"group":"monitoring.coreos.com","names":{"plural":"alertmanagerconfigs","singular":"alertmanagerconfig","kind":"AlertmanagerConfig","listKind":"AlertmanagerConfigList","categories":["prometheus-operator"],"shortNames":["amcfg"]},"scope":"Namespaced","versions":[{"name":"v1alpha1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","properties":{`...)
	desc := strings.Repeat("Defines the receivers, routes and inhibition rules of Alertmanager for this namespace. ", 6)
	start := len(b)
	for k := 0; len(b)-start < 1<<20+4096; k++ {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `"field`...)
		b = strconv.AppendInt(b, int64(k), 10)
		b = append(b, `":{"description":`...)
		b = appendString(b, desc)
		b = append(b, `,"type":"object","properties":{"name":{"type":"string","minLength":1},"url":{"type":"string","pattern":"^(http|https)://.+$"}},"required":["name"]}`...)
	}
	b = append(b, `}}},"subresources":{}}],"conversion":{"strategy":"None"}},"status":{}}`...)
	return b
}

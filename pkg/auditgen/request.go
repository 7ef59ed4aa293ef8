package auditgen

import (
	"slices"
	"strings"
	"time"
)

const (
	levelMetadata        = "Metadata"
	levelRequest         = "Request"
	levelRequestResponse = "RequestResponse"

	stageRequestReceived  = "RequestReceived"
	stageResponseStarted  = "ResponseStarted"
	stageResponseComplete = "ResponseComplete"
	stagePanic            = "Panic"
)

// request kinds: which stages it produces.
const (
	kindNormal     = iota // RequestReceived, ResponseComplete
	kindLong              // RequestReceived, ResponseStarted, ResponseComplete
	kindOpen              // RequestReceived, ResponseStarted (stream still open)
	kindPanic             // RequestReceived, Panic
	kindAuthFailed        // ResponseStarted only, 401
)

type kv struct{ k, v string }

type userInfo struct {
	username string
	uid      string
	groups   []string
	extra    []extraKV // sorted by key
}

type extraKV struct {
	k  string
	vs []string
}

func (u *userInfo) append(b []byte) []byte {
	b = append(b, '{')
	first := true
	if u.username != "" {
		b = appendKV(b, "username", u.username, first)
		first = false
	}
	if u.uid != "" {
		b = appendKV(b, "uid", u.uid, first)
		first = false
	}
	if len(u.groups) > 0 {
		b = appendKey(b, "groups", first)
		b = appendStrings(b, u.groups)
		first = false
	}
	if len(u.extra) > 0 {
		b = appendKey(b, "extra", first)
		b = append(b, '{')
		for i, e := range u.extra {
			b = appendKey(b, e.k, i == 0)
			b = appendStrings(b, e.vs)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

type objRef struct {
	resource, namespace, name, uid, apiGroup, apiVersion, resourceVersion, subresource string
}

func (o *objRef) append(b []byte) []byte {
	b = append(b, '{')
	b = appendKV(b, "resource", o.resource, true)
	for _, f := range [...]kv{{"namespace", o.namespace}, {"name", o.name}, {"uid", o.uid}, {"apiGroup", o.apiGroup},
		{"apiVersion", o.apiVersion}, {"resourceVersion", o.resourceVersion}, {"subresource", o.subresource}} {
		if f.v != "" {
			b = appendKV(b, f.k, f.v, false)
		}
	}
	return append(b, '}')
}

// request is one API request and everything needed to render its events.
type request struct {
	kind     int
	id       []byte
	level    string
	verb     string
	uri      string
	user     *userInfo
	imp      *userInfo
	ips      []string
	ua       string
	ref      objRef
	hasRef   bool
	long     bool // long-running class (watch, exec, attach, portforward, log?follow, proxy)
	mayOpen  bool // exec/attach/portforward: may still be open at the end
	code     int
	failed   bool
	message  string
	reason   string
	details  string // raw JSON object or ""
	received time.Time
	started  time.Time
	complete time.Time
	latency  time.Duration // wanted total (to ResponseComplete)
	startDly time.Duration // wanted delay to ResponseStarted (long-running)
	slow     string        // cause of slowness: "", etcd, webhook, apf, serialize

	writes   bool // has a request body (create/update/patch)
	webhooks bool // passes admission webhooks
	decision string
	azReason string
	noAuthz  bool
	huge     bool // carries an object > 1 MiB: no random failure
	ann      []kv // other annotations, sorted in finish
	lat      []kv // apiserver.latency.k8s.io annotations, already sorted
	bodies   func(g *gen, r *request)
	reqObj   []byte
	respObj  []byte
}

func (r *request) reset() {
	*r = request{id: r.id[:0], ann: r.ann[:0], lat: r.lat[:0], reqObj: r.reqObj[:0], respObj: r.respObj[:0]}
}

// failure sets an error outcome.
func (r *request) failure(code int, reason, message, details string) {
	r.code, r.failed, r.reason, r.message, r.details = code, true, reason, message, details
}

// forbid marks the request denied by RBAC, with kube-apiserver's message.
func (r *request) forbid() {
	r.decision, r.azReason = "forbid", ""
	who := r.user.username
	if r.imp != nil {
		who = r.imp.username
	}
	if !r.hasRef {
		r.failure(403, "Forbidden", `forbidden: User "`+who+`" cannot `+r.verb+` path "`+pathOf(r.uri)+`"`, `{}`)
		return
	}
	res := r.ref.resource
	if r.ref.subresource != "" {
		res += "/" + r.ref.subresource
	}
	subj := r.ref.resource
	if r.ref.apiGroup != "" {
		subj += "." + r.ref.apiGroup
	}
	if r.ref.name != "" {
		subj += ` "` + r.ref.name + `"`
	}
	scope := `in the namespace "` + r.ref.namespace + `"`
	if r.ref.namespace == "" {
		scope = "at the cluster scope"
	}
	msg := subj + ` is forbidden: User "` + who + `" cannot ` + r.verb + ` resource "` + res + `" in API group "` + r.ref.apiGroup + `" ` + scope
	r.failure(403, "Forbidden", msg, r.detailsJSON())
}

func (r *request) detailsJSON() string {
	var b []byte
	b = append(b, '{')
	first := true
	if r.ref.name != "" {
		b = appendKV(b, "name", r.ref.name, first)
		first = false
	}
	if r.ref.apiGroup != "" {
		b = appendKV(b, "group", r.ref.apiGroup, first)
		first = false
	}
	b = appendKV(b, "kind", r.ref.resource, first)
	return string(append(b, '}'))
}

func pathOf(uri string) string {
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[:i]
	}
	return uri
}

func (r *request) render(b []byte, stage string, ts time.Time) []byte {
	b = append(b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":`...)
	b = appendString(b, r.level)
	b = append(b, `,"auditID":"`...)
	b = append(b, r.id...)
	b = append(b, '"')
	b = appendKV(b, "stage", stage, false)
	b = appendKV(b, "requestURI", r.uri, false)
	b = appendKV(b, "verb", r.verb, false)
	b = appendKey(b, "user", false)
	b = r.user.append(b)
	if r.imp != nil {
		b = appendKey(b, "impersonatedUser", false)
		b = r.imp.append(b)
	}
	b = appendKey(b, "sourceIPs", false)
	b = appendStrings(b, r.ips)
	if r.ua != "" {
		b = appendKV(b, "userAgent", r.ua, false)
	}
	if r.hasRef {
		b = appendKey(b, "objectRef", false)
		b = r.ref.append(b)
	}
	if stage != stageRequestReceived {
		b = append(b, `,"responseStatus":{"metadata":{}`...)
		if r.failed {
			b = append(b, `,"status":"Failure"`...)
		}
		if r.message != "" {
			b = appendKV(b, "message", r.message, false)
		}
		if r.reason != "" {
			b = appendKV(b, "reason", r.reason, false)
		}
		if r.details != "" {
			b = append(b, `,"details":`...)
			b = append(b, r.details...)
		}
		b = append(b, `,"code":`...)
		b = appendInt(b, int64(r.code))
		b = append(b, '}')
	}
	if stage == stageResponseComplete || stage == stagePanic {
		if len(r.reqObj) > 0 {
			b = append(b, `,"requestObject":`...)
			b = append(b, r.reqObj...)
		}
		if len(r.respObj) > 0 && stage == stageResponseComplete {
			b = append(b, `,"responseObject":`...)
			b = append(b, r.respObj...)
		}
	}
	b = append(b, `,"requestReceivedTimestamp":`...)
	b = appendMicroTime(b, r.received)
	b = append(b, `,"stageTimestamp":`...)
	b = appendMicroTime(b, ts)
	if stage != stageRequestReceived && (len(r.ann) > 0 || (stage == stageResponseComplete && len(r.lat) > 0)) {
		b = append(b, `,"annotations":{`...)
		first := true
		if stage == stageResponseComplete {
			for _, a := range r.lat {
				b = appendKV(b, a.k, a.v, first)
				first = false
			}
		}
		for _, a := range r.ann {
			b = appendKV(b, a.k, a.v, first)
			first = false
		}
		b = append(b, '}')
	}
	return append(b, '}', '\n')
}

// finish decides the outcome, timing, annotations and bodies of a request built by a template.
func (g *gen) finish(r *request) {
	r.id = appendUUID(r.id[:0], g.rng.Uint64(), g.rng.Uint64())
	if r.level == "" {
		r.level = g.level()
	}
	if r.code == 0 {
		r.code = 200
		if r.verb == "create" {
			r.code = 201
		}
		if r.long && (r.ref.subresource == "exec" || r.ref.subresource == "attach" || r.ref.subresource == "portforward") {
			r.code = 101
		}
	}
	if r.decision == "" && !r.noAuthz && r.kind != kindAuthFailed {
		r.decision = "allow"
	}
	// Random server-side trouble on otherwise successful requests.
	if !r.failed && !r.huge && r.kind == kindNormal && !r.long {
		switch x := g.rng.Float64(); {
		case x < 0.0004:
			r.kind = kindPanic
			r.failure(500, "InternalError", "APIServer panic'd: net/http: abort Handler", "")
		case x < 0.0014:
			r.failure(500, "InternalError", "Internal error occurred: resource quota evaluation timed out", `{"causes":[{"message":"resource quota evaluation timed out"}]}`)
		case x < 0.0024:
			r.failure(503, "ServiceUnavailable", "the server is currently unable to handle the request", `{}`)
		case x < 0.0034 && r.verb == "list":
			r.failure(504, "Timeout", "Timeout: request did not complete within the allotted timeout", `{}`)
			r.latency = time.Minute + time.Duration(g.rng.IntN(int(10*time.Millisecond)))
			r.slow = "etcd"
		case x < 0.0064:
			r.failure(429, "TooManyRequests", "Too many requests, please try again later.", `{"retryAfterSeconds":1}`)
			r.latency = g.lognormal(800*time.Microsecond, 0.5)
			r.slow = ""
		}
	}
	// Timing (all stage times on whole microseconds, as written).
	r.received = r.received.Truncate(time.Microsecond)
	limit := g.end.Add(-time.Microsecond)
	if r.latency <= 0 {
		r.latency = g.lognormal(3*time.Millisecond, 0.8)
	}
	r.latency = max(r.latency, 150*time.Microsecond)
	if r.long && r.kind != kindAuthFailed {
		if r.startDly <= 0 {
			r.startDly = g.lognormal(2*time.Millisecond, 0.6)
		}
		r.startDly = max(r.startDly, 100*time.Microsecond)
		r.latency = max(r.latency, r.startDly+time.Millisecond)
		r.kind = kindLong
		if r.mayOpen && g.chance(0.2) {
			r.kind = kindOpen
		}
	}
	r.complete = r.received.Add(r.latency)
	if r.kind == kindLong || r.kind == kindOpen {
		r.started = r.received.Add(r.startDly)
		if r.started.After(limit) {
			r.started = limit
		}
		if r.complete.After(limit) {
			if r.mayOpen {
				r.kind = kindOpen
			}
			span := limit.Sub(r.started)
			r.complete = r.started.Add(span/2 + time.Duration(g.rng.Int64N(int64(span/2)+1)))
		}
		r.started = r.started.Truncate(time.Microsecond)
	} else if r.complete.After(limit) {
		r.complete = r.received.Add(time.Duration(g.rng.Int64N(int64(limit.Sub(r.received)) + 1)))
	}
	r.complete = r.complete.Truncate(time.Microsecond)
	if r.started.After(r.complete) && r.kind == kindLong {
		r.complete = r.started
	}
	r.latency = r.complete.Sub(r.received)

	if r.decision != "" {
		r.ann = append(r.ann, kv{"authorization.k8s.io/decision", r.decision}, kv{"authorization.k8s.io/reason", r.azReason})
	}
	slices.SortFunc(r.ann, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	if !r.long && r.kind == kindNormal && r.latency > 500*time.Millisecond {
		g.latencyAnnotations(r)
	}
	if r.level != levelMetadata && r.kind != kindAuthFailed {
		if r.bodies != nil {
			r.bodies(g, r)
		}
		if r.level == levelRequest || r.kind == kindLong || r.kind == kindOpen {
			r.respObj = r.respObj[:0]
		}
		if r.failed {
			// Authentication, authorization and APF reject before the body is decoded.
			if r.code == 401 || r.code == 403 || r.code == 429 {
				r.reqObj = r.reqObj[:0]
			}
			r.respObj = r.respObj[:0]
			if r.level == levelRequestResponse && r.kind != kindPanic {
				r.respObj = statusObject(r.respObj, r)
			}
		}
	}
}

func statusObject(b []byte, r *request) []byte {
	b = append(b, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure"`...)
	if r.message != "" {
		b = appendKV(b, "message", r.message, false)
	}
	if r.reason != "" {
		b = appendKV(b, "reason", r.reason, false)
	}
	if r.details != "" {
		b = append(b, `,"details":`...)
		b = append(b, r.details...)
	}
	b = append(b, `,"code":`...)
	b = appendInt(b, int64(r.code))
	return append(b, '}')
}

// latencyAnnotations splits the total latency of a slow (> 500 ms) request into the
// apiserver.latency.k8s.io/* trackers kube-apiserver records; zero trackers are left out.
func (g *gen) latencyAnnotations(r *request) {
	total := r.latency
	frac := func(lo, hi float64) time.Duration {
		return time.Duration(float64(total) * (lo + g.rng.Float64()*(hi-lo)))
	}
	small := func(median time.Duration) time.Duration { return g.lognormal(median, 0.7) }
	var apf, authn, authz, decode, etcd, mut, write, ser, transform, val time.Duration
	switch r.slow {
	case "apf":
		apf = frac(0.6, 0.95)
	case "webhook":
		if r.writes {
			mut = frac(0.2, 0.6)
			val = frac(0.1, 0.3)
		}
	case "serialize":
		ser = frac(0.3, 0.6)
	}
	if r.verb == "get" || r.verb == "list" {
		rest := total - apf - ser
		etcd = time.Duration(float64(rest) * (0.4 + 0.4*g.rng.Float64()))
		if g.o.KubeMinor >= 30 {
			decode = time.Duration(float64(rest) * 0.1 * g.rng.Float64())
		}
		if ser == 0 {
			ser = small(2 * time.Millisecond)
		}
		transform = small(30 * time.Microsecond)
		write = small(400 * time.Microsecond)
	} else {
		etcd = time.Duration(float64(total-apf-mut-val) * (0.3 + 0.5*g.rng.Float64()))
		if r.webhooks && mut == 0 {
			mut = small(3 * time.Millisecond)
			val = small(2 * time.Millisecond)
		}
		transform = small(15 * time.Microsecond)
		ser = small(60 * time.Microsecond)
		write = small(40 * time.Microsecond)
	}
	if g.o.KubeMinor >= 33 {
		authn = small(25 * time.Microsecond)
		authz = small(40 * time.Microsecond)
	}
	add := func(k string, d time.Duration) {
		if d > 0 {
			r.lat = append(r.lat, kv{"apiserver.latency.k8s.io/" + k, d.String()})
		}
	}
	if g.o.KubeMinor >= 31 {
		if apf == 0 && g.chance(0.5) {
			apf = small(10 * time.Microsecond)
		}
		add("apf-queue-wait", apf)
	}
	add("authentication", authn)
	add("authorization", authz)
	add("decode-response-object", decode)
	add("etcd", etcd)
	add("mutating-webhook", mut)
	add("response-write", write)
	add("serialize-response-object", ser)
	add("total", total)
	add("transform-response-object", transform)
	add("validating-webhook", val)
}

package envelope

import (
	"bytes"
	"strconv"
)

// GKE's Kubernetes audit logs are Cloud Logging LogEntry objects whose protoPayload is a
// google.cloud.audit.AuditLog. The audit event is synthesised from it:
//
//	methodName "io.k8s.core.v1.pods.exec.create"  verb create (last part); resource and
//	                                              subresource when resourceName has none
//	resourceName "core/v1/namespaces/ns/pods/p/exec"  objectRef apiGroup ("" for core),
//	                                              apiVersion, namespace, resource, name,
//	                                              subresource; requestURI /api/v1/namespaces/ns/pods/p/exec
//	authenticationInfo.principalEmail             user.username
//	requestMetadata.callerIp                      sourceIPs
//	requestMetadata.callerSuppliedUserAgent       userAgent
//	status.code (google.rpc.Code), status.message responseStatus.code (HTTP), .message
//	request, response                             requestObject, responseObject (level
//	                                              RequestResponse, Request or Metadata)
//	insertId                                      auditID
//	timestamp                                     requestReceivedTimestamp and stageTimestamp
//	labels                                        annotations (GKE copies the event's
//	                                              annotations, e.g. authorization.k8s.io/decision)
//
// Every synthesised event is a ResponseComplete stage. What the AuditLog does not carry is
// missing: groups, impersonation, the latency (both timestamps are the same), the query string
// of requestURI (exec commands), and codes are the HTTP code of the google.rpc.Code (a 201
// Created is 200).

// gkeFields are the parts of a LogEntry the event is made of (raw JSON values).
type gkeFields struct {
	method, resource, user, ip, agent, code, message, request, response []byte
}

// gkeTop is what the event takes from the LogEntry itself (raw JSON values).
type gkeTop struct{ insertID, ts, labels []byte }

// topOf reads gkeTop from a LogEntry line (object reads it as it walks the line, but for a
// line whose walk took another way through the values).
func topOf(line []byte) gkeTop {
	var t gkeTop
	members(line, func(key, val []byte) {
		switch string(key) {
		case "insertId":
			t.insertID = val
		case "timestamp":
			t.ts = val
		case "labels":
			t.labels = val
		}
	})
	return t
}

// gke synthesises the audit event of a LogEntry whose protoPayload is proto.
func (u *Unwrapper) gke(top gkeTop, proto []byte) ([]byte, bool) {
	insertID, ts, labels := top.insertID, top.ts, top.labels
	var g gkeFields
	isAudit := false
	members(proto, func(key, val []byte) {
		switch string(key) {
		case "@type":
			isAudit = bytes.HasSuffix(val, []byte(`google.cloud.audit.AuditLog"`))
		case "methodName":
			g.method = val
		case "resourceName":
			g.resource = val
		case "authenticationInfo":
			members(val, func(k, v []byte) {
				if string(k) == "principalEmail" {
					g.user = v
				}
			})
		case "requestMetadata":
			members(val, func(k, v []byte) {
				switch string(k) {
				case "callerIp":
					g.ip = v
				case "callerSuppliedUserAgent":
					g.agent = v
				}
			})
		case "status":
			members(val, func(k, v []byte) {
				switch string(k) {
				case "code":
					g.code = v
				case "message":
					g.message = v
				}
			})
		case "request":
			g.request = val
		case "response":
			g.response = val
		}
	})
	if !isAudit || g.method == nil || ts == nil {
		return nil, false
	}
	method, ok := unquote(u.scratch[:0], g.method)
	if !ok {
		return nil, false
	}
	if cap(method) > cap(u.scratch) {
		u.scratch = method[:0]
	}
	var res []byte
	if g.resource != nil {
		if res, ok = unquote(nil, g.resource); !ok {
			return nil, false
		}
	}
	ref := parseGKEInto(method, res, &u.gkeScratch)

	b := u.buf[:0]
	b = append(b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"`...)
	switch {
	case g.response != nil:
		b = append(b, "RequestResponse"...)
	case g.request != nil:
		b = append(b, "Request"...)
	default:
		b = append(b, "Metadata"...)
	}
	b = append(b, `","auditID":`...)
	if insertID != nil {
		b = append(b, insertID...)
	} else {
		b = append(b, `""`...)
	}
	b = append(b, `,"stage":"ResponseComplete","requestURI":`...)
	b = appendQuoted(b, ref.uri...)
	b = append(b, `,"verb":`...)
	b = appendQuoted(b, ref.verb)
	b = append(b, `,"user":{"username":`...)
	b = rawOr(b, g.user, `""`)
	b = append(b, '}')
	if g.ip != nil {
		b = append(b, `,"sourceIPs":[`...)
		b = append(b, g.ip...)
		b = append(b, ']')
	}
	if g.agent != nil {
		b = append(b, `,"userAgent":`...)
		b = append(b, g.agent...)
	}
	if len(ref.resource) > 0 {
		b = append(b, `,"objectRef":{"resource":`...)
		b = appendQuoted(b, ref.resource)
		if len(ref.namespace) > 0 {
			b = append(b, `,"namespace":`...)
			b = appendQuoted(b, ref.namespace)
		}
		if len(ref.name) > 0 {
			b = append(b, `,"name":`...)
			b = appendQuoted(b, ref.name)
		}
		b = append(b, `,"apiGroup":`...)
		b = appendQuoted(b, ref.group)
		if len(ref.version) > 0 {
			b = append(b, `,"apiVersion":`...)
			b = appendQuoted(b, ref.version)
		}
		if len(ref.subresource) > 0 {
			b = append(b, `,"subresource":`...)
			b = appendQuoted(b, ref.subresource)
		}
		b = append(b, '}')
	}
	b = append(b, `,"responseStatus":{"metadata":{},"code":`...)
	b = strconv.AppendInt(b, int64(httpCode(g.code)), 10)
	if g.message != nil {
		b = append(b, `,"message":`...)
		b = append(b, g.message...)
	}
	b = append(b, '}')
	if g.request != nil {
		b = append(b, `,"requestObject":`...)
		b = append(b, g.request...)
	}
	if g.response != nil {
		b = append(b, `,"responseObject":`...)
		b = append(b, g.response...)
	}
	b = append(b, `,"requestReceivedTimestamp":`...)
	b = append(b, ts...)
	b = append(b, `,"stageTimestamp":`...)
	b = append(b, ts...)
	if labels != nil && labels[0] == '{' {
		b = append(b, `,"annotations":`...)
		b = append(b, labels...)
	}
	b = append(b, '}')
	u.buf = b
	return b, true
}

func rawOr(b, raw []byte, def string) []byte {
	if raw == nil {
		return append(b, def...)
	}
	return append(b, raw...)
}

// gkeRef is what methodName and resourceName say of the request.
type gkeRef struct {
	verb, group, version, namespace, resource, name, subresource []byte
	uri                                                          [][]byte // requestURI in pieces
}

var (
	coreGroup  = []byte("core")
	namespaces = []byte("namespaces")
	slash      = []byte("/")
	apiPrefix  = []byte("/api/")
	apisPrefix = []byte("/apis/")
)

// parseGKE reads methodName ("io.k8s.<group>.<version>.<resource>[.<subresource>].<verb>") and
// resourceName ("<group>/<version>/[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]").
func parseGKE(method, res []byte) gkeRef { return parseGKEInto(method, res, &gkeScratch{}) }

// gkeScratch is parseGKE's memory, kept from one line to the next.
type gkeScratch struct{ parts, segs, uri [][]byte }

// split is bytes.Split(s, []byte{sep}) into dst[:0].
func split(dst [][]byte, s []byte, sep byte) [][]byte {
	dst = dst[:0]
	for {
		i := bytes.IndexByte(s, sep)
		if i < 0 {
			return append(dst, s)
		}
		dst = append(dst, s[:i:i])
		s = s[i+1:]
	}
}

// parseGKEInto is parseGKE with the slices of sc (the result points into them).
func parseGKEInto(method, res []byte, sc *gkeScratch) gkeRef {
	var r gkeRef
	sc.parts = split(sc.parts, bytes.TrimPrefix(method, []byte("io.k8s.")), '.')
	parts := sc.parts
	r.verb = parts[len(parts)-1]
	v := -1
	for i, p := range parts[:len(parts)-1] {
		if isVersion(p) {
			v = i
			break
		}
	}
	if v >= 0 {
		rest := parts[v+1 : len(parts)-1]
		if len(rest) > 0 {
			r.resource = rest[0]
		}
		if len(rest) > 1 {
			r.subresource = rest[1]
		}
		r.version = parts[v]
		r.group = methodGroup(parts[:v])
	}
	sc.segs = split(sc.segs, res, '/')
	if segs := sc.segs; len(res) > 0 && len(segs) >= 3 {
		r.group, r.version = segs[0], segs[1]
		if bytes.Equal(r.group, coreGroup) {
			r.group = nil
		}
		rest := segs[2:]
		switch {
		case bytes.Equal(rest[0], namespaces) && len(rest) == 2:
			r.resource, r.name, r.namespace = rest[0], rest[1], rest[1]
			rest = nil
		case bytes.Equal(rest[0], namespaces) && len(rest) >= 3:
			r.namespace = rest[1]
			rest = rest[2:]
		}
		if len(rest) > 0 {
			r.resource, r.name = rest[0], nil
			if len(rest) > 1 {
				r.name = rest[1]
			}
			if len(rest) > 2 {
				r.subresource = rest[2]
			}
		}
		// The parts of the URI, in a slice kept between lines.
		if len(r.group) == 0 {
			sc.uri = append(sc.uri[:0], apiPrefix, segs[1])
		} else {
			sc.uri = append(sc.uri[:0], apisPrefix, segs[0], slash, segs[1])
		}
		for _, s := range segs[2:] {
			sc.uri = append(sc.uri, slash, s)
		}
		r.uri = sc.uri
	}
	if bytes.Equal(r.group, coreGroup) {
		r.group = nil
	}
	return r
}

// methodGroup is the API group of methodName's group parts: "core" is "", the groups without a
// domain (apps, batch, autoscaling, policy) are themselves, others are reversed under k8s.io
// ("authorization.rbac" is rbac.authorization.k8s.io). Used only without a resourceName.
func methodGroup(parts [][]byte) []byte {
	switch {
	case len(parts) == 0 || (len(parts) == 1 && bytes.Equal(parts[0], coreGroup)):
		return nil
	case len(parts) == 1:
		switch string(parts[0]) {
		case "apps", "batch", "autoscaling", "policy":
			return parts[0]
		}
	}
	var g []byte
	for i := len(parts) - 1; i >= 0; i-- {
		g = append(append(g, parts[i]...), '.')
	}
	return append(g, "k8s.io"...)
}

// isVersion matches v1, v2beta1, v1alpha3.
func isVersion(p []byte) bool {
	if len(p) < 2 || p[0] != 'v' || p[1] < '0' || p[1] > '9' {
		return false
	}
	for _, c := range p[1:] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// httpCode maps a google.rpc.Code (raw JSON number, nil when absent: OK) to the HTTP status
// Google's API design guide gives it.
func httpCode(raw []byte) int {
	c, err := strconv.Atoi(string(raw))
	if raw == nil || err != nil {
		return 200
	}
	switch c {
	case 0:
		return 200
	case 1:
		return 499
	case 3, 9, 11:
		return 400
	case 4:
		return 504
	case 5:
		return 404
	case 6, 10:
		return 409
	case 7:
		return 403
	case 8:
		return 429
	case 12:
		return 501
	case 14:
		return 503
	case 16:
		return 401
	}
	return 500
}

// appendQuoted appends the concatenation of parts as a JSON string.
func appendQuoted(b []byte, parts ...[]byte) []byte {
	b = append(b, '"')
	for _, p := range parts {
		for _, c := range p {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			default:
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

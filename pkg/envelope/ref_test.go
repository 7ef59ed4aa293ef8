// Code copied from unwrap.go, object.go, json.go, gke.go and audit.AppendQuoted (unescape.go) before the
// speed-ups, names prefixed with ref: the oracle of the differential tests (diff_test.go).

package envelope

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// refUnwrapper unwraps lines. It keeps buffers (and a CRI event split over partial lines) from
// one line to the next: one refUnwrapper per sequence of lines (a file, a stream), used from one
// goroutine. It does not allocate once its buffers have grown to the longest event.
type refUnwrapper struct {
	fixed Format
	// Meta describes the last line unwrapped.
	Meta Meta
	// Lines counts the lines unwrapped by detected format (Lines[Auto] counts the lines that
	// are in no known format; they are returned as they are, for the decoder to reject).
	Lines [numFormats]int64

	buf  []byte // unescaped or synthesised event
	part []byte // CRI partial lines so far
	// partial is true while part holds P lines not yet ended by an F line.
	partial bool
	w       refwalker
	scratch []byte
	dropped int64
	// startOff is where the pending partial lines start (UnwrapAt).
	startOff int64
}

// refNew returns an refUnwrapper for lines of format f (Auto: any known format, detected per line).
func refNew(f Format) *refUnwrapper {
	if f >= numFormats {
		f = Auto
	}
	return &refUnwrapper{fixed: f}
}

// Format is the format the refUnwrapper was made for.
func (u *refUnwrapper) Format() Format { return u.fixed }

// Unwrap returns the audit event of line. ok is false when the line holds no event to decode
// yet: it is a CRI partial line, and the event comes with the line that ends it. A line in no
// format the refUnwrapper reads (or not in its fixed format) is returned as it is: the audit
// decoder counts it as malformed. The event may point into line or into the refUnwrapper's
// buffers: it is valid until the next call.
//
// Bare JSON takes a fast path of a few byte comparisons.
func (u *refUnwrapper) Unwrap(line []byte) (event []byte, ok bool) {
	if u.fixed == Bare || (u.fixed == Auto && !u.partial && refbareStart(line)) {
		u.Lines[Bare]++
		u.Meta = Meta{Format: Bare}
		return line, true
	}
	return u.slow(line)
}

// UnwrapAt is Unwrap for a line that starts at off in its file (-1 when unknown): it also
// returns where the event's first line starts (a CRI event joined from partial lines starts
// at its first P line).
func (u *refUnwrapper) UnwrapAt(off int64, line []byte) (int64, []byte, bool) {
	if !u.partial {
		u.startOff = off
	}
	ev, ok := u.Unwrap(line)
	if !ok || off < 0 {
		return off, ev, ok
	}
	return u.startOff, ev, ok
}

// Pending reports whether CRI partial lines are waiting for the line that ends them (at the
// end of a read, they are an incomplete event).
func (u *refUnwrapper) Pending() bool { return u.partial }

// Incomplete counts the events lost so far because they were split over CRI partial lines
// whose last line never came (partial lines followed by a line that is not their end), plus
// one for partial lines still pending.
func (u *refUnwrapper) Incomplete() int64 {
	if u.partial {
		return u.dropped + 1
	}
	return u.dropped
}

// Reset drops pending partial lines (a new sequence of lines starts).
func (u *refUnwrapper) Reset() { u.partial, u.part = false, u.part[:0] }

// refbareKeys are the keys an audit event starts with: kube-apiserver writes kind and apiVersion
// first; other writers (sorted keys, v1beta1, recorders) start with another event field.
var refbareKeys = [...]string{`kind"`, `apiVersion"`, `level"`, `auditID"`, `annotations"`, `stage"`, `requestURI"`, `verb"`, `user"`, `metadata"`, `requestReceivedTimestamp"`}

// refbareStart reports whether line starts like an audit event: `{"` and one of refbareKeys.
func refbareStart(line []byte) bool {
	if len(line) < 8 || line[0] != '{' || line[1] != '"' {
		return false
	}
	rest := line[2:]
	switch rest[0] {
	case 'k':
		return bytes.HasPrefix(rest, []byte(refbareKeys[0]))
	case 'a':
		return bytes.HasPrefix(rest, []byte(refbareKeys[1])) || bytes.HasPrefix(rest, []byte(refbareKeys[3])) || bytes.HasPrefix(rest, []byte(refbareKeys[4]))
	case 'l':
		return bytes.HasPrefix(rest, []byte(refbareKeys[2]))
	case 's':
		return bytes.HasPrefix(rest, []byte(refbareKeys[5]))
	case 'r':
		return bytes.HasPrefix(rest, []byte(refbareKeys[6])) || bytes.HasPrefix(rest, []byte(refbareKeys[10]))
	case 'v':
		return bytes.HasPrefix(rest, []byte(refbareKeys[7]))
	case 'u':
		return bytes.HasPrefix(rest, []byte(refbareKeys[8]))
	case 'm':
		return bytes.HasPrefix(rest, []byte(refbareKeys[9]))
	}
	return false
}

func (u *refUnwrapper) slow(line []byte) ([]byte, bool) {
	u.Meta = Meta{}
	trimmed := reftrimLeft(line)
	switch {
	case u.partial || (len(trimmed) > 0 && trimmed[0] >= '0' && trimmed[0] <= '9'):
		if u.fixed != Auto && u.fixed != CRI {
			break
		}
		ev, ok, isCRI := u.cri(trimmed)
		if !isCRI {
			break
		}
		if ok {
			u.Lines[CRI]++
			u.Meta.Format = CRI
		}
		return ev, ok
	case len(trimmed) > 0 && trimmed[0] == '{':
		if ev, f, ok := u.object(trimmed); ok && (u.fixed == Auto || u.fixed == f || (u.fixed == FluentBit && f == Docker)) {
			u.Lines[f]++
			u.Meta.Format = f
			return ev, true
		}
	}
	u.Lines[Auto]++
	u.Meta = Meta{Format: Auto}
	return line, true
}

// cri reads a CRI line. isCRI is false for a line that is not one (then nothing changed); ok
// is false for a P line (kept until its F line).
func (u *refUnwrapper) cri(line []byte) (event []byte, ok, isCRI bool) {
	ts, rest, found := bytes.Cut(line, []byte{' '})
	if !found || len(ts) < 20 || ts[4] != '-' {
		return u.orphan(line)
	}
	stream, rest, found := bytes.Cut(rest, []byte{' '})
	if !found {
		return u.orphan(line)
	}
	tag, content, found := bytes.Cut(rest, []byte{' '})
	if !found {
		// An empty F line: "<ts> stdout F" has no content.
		tag, content = rest, nil
	}
	if len(tag) == 0 || (tag[0] != 'P' && tag[0] != 'F') {
		return u.orphan(line)
	}
	u.Meta.Time, u.Meta.Stream = ts, stream
	if tag[0] == 'P' {
		if !u.partial {
			u.part = u.part[:0]
			u.partial = true
		}
		u.part = append(u.part, content...)
		return nil, false, true
	}
	if u.partial {
		u.part = append(u.part, content...)
		u.partial = false
		return u.inner(u.part), true, true
	}
	return u.inner(content), true, true
}

// orphan handles a line that is not CRI: pending partial lines are dropped (they were the
// start of an event that never ended), and the line is read again as a new line.
func (u *refUnwrapper) orphan(line []byte) ([]byte, bool, bool) {
	if !u.partial {
		return nil, false, false
	}
	u.Reset()
	u.dropped++
	ev, ok := u.Unwrap(line)
	return ev, ok, true
}

// inner is the event of a shipper's payload: the payload itself, or, when a shipper kept the
// runtime's CRI prefix, what follows it (one complete F line).
func (u *refUnwrapper) inner(p []byte) []byte {
	p = reftrimNewline(p)
	if len(p) == 0 || p[0] == '{' || p[0] < '0' || p[0] > '9' {
		return p
	}
	ts, rest, ok := bytes.Cut(p, []byte{' '})
	if !ok || len(ts) < 20 || ts[4] != '-' {
		return p
	}
	_, rest, ok = bytes.Cut(rest, []byte{' '})
	if !ok {
		return p
	}
	if len(rest) > 2 && rest[0] == 'F' && rest[1] == ' ' {
		return rest[2:]
	}
	return p
}

func reftrimLeft(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

func reftrimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// object reads a JSON envelope line (docker, Fluent Bit, Vector, GKE, AKS, or an audit event
// whose first key is not one of refbareKeys). ok is false when it is none of them.
func (u *refUnwrapper) object(line []byte) (event []byte, f Format, ok bool) {
	var (
		payload          []byte // raw value under log or message
		payloadKey       byte   // 'l' or 'm'
		proto            []byte
		kube             []byte
		audit, hasStream bool
		// unescaped: the payload string is in u.buf (read by strInto); aksLog: it was
		// properties.log.
		unescaped, aksLog bool
	)
	u.w.reset(line)
	w := &u.w
	walked := w.object(func(key []byte) bool {
		var v []byte
		var ok bool
		switch string(key) {
		case "log", "message":
			if payload != nil || unescaped {
				_, ok = w.value()
				break
			}
			if w.peek() == '"' {
				u.buf, ok = w.strInto(u.buf[:0])
				unescaped, payloadKey = true, key[0]
				break
			}
			v, ok = w.value()
			payload, payloadKey = v, key[0]
		case "protoPayload":
			v, ok = w.value()
			proto = v
		case "properties":
			ok = w.object(func(key []byte) bool {
				switch string(key) {
				case "log":
					if w.peek() == '"' && !unescaped {
						var ok bool
						u.buf, ok = w.strInto(u.buf[:0])
						unescaped, aksLog = ok, ok
						return ok
					}
				case "pod", "stream":
					v, ok := w.value()
					if s, isStr := refunquote(nil, v); isStr {
						if key[0] == 'p' {
							u.Meta.Pod = s
						} else {
							u.Meta.Stream = s
						}
					}
					return ok
				}
				_, ok := w.value()
				return ok
			})
		case "kubernetes":
			v, ok = w.value()
			kube = v
		case "stream":
			v, ok = w.value()
			if s, isStr := refunquote(nil, v); isStr {
				u.Meta.Stream = s
				hasStream = true
			}
		case "time", "timestamp", "@timestamp", "date", "receiveTimestamp":
			v, ok = w.value()
			if s, isStr := refunquote(nil, v); isStr && (u.Meta.Time == nil || key[0] == 'r') {
				u.Meta.Time = s
			}
		case "auditID", "stage", "requestURI", "verb", "objectRef", "responseStatus", "stageTimestamp":
			_, ok = w.value()
			audit = true
		default:
			_, ok = w.value()
		}
		return ok
	})
	if !walked || u.w.peek() != 0 {
		return nil, Auto, false
	}
	switch {
	case proto != nil && !audit:
		ev, ok := u.gke(line, proto)
		return ev, GKE, ok
	case aksLog && !audit:
		ev, ok := u.innerPayload(u.buf)
		return ev, AKS, ok
	case audit:
		return line, Bare, true
	case unescaped:
		// A string payload (docker, Fluent Bit, Vector).
		payload = refquote
	case payload == nil:
		return nil, Auto, false
	}
	if kube != nil {
		u.kubernetes(kube)
	}
	f = FluentBit
	if payloadKey == 'l' && hasStream && kube == nil {
		f = Docker
	}
	switch payload[0] {
	case '{':
		if f == Docker {
			f = FluentBit // docker always writes a string
		}
		return payload, f, true
	case '"':
		ev, ok := u.innerPayload(u.buf)
		return ev, f, ok
	}
	return nil, Auto, false
}

var refquote = []byte{'"'}

// innerPayload is the event in a shipper's payload p, which may still carry the runtime's
// CRI prefix (an F line; P lines of such payloads are joined like CRI lines).
func (u *refUnwrapper) innerPayload(p []byte) ([]byte, bool) {
	p = reftrimNewline(p)
	if len(p) > 0 && p[0] >= '0' && p[0] <= '9' {
		ev, ok, isCRI := u.cri(p)
		if isCRI {
			if !ok {
				return nil, false
			}
			return ev, true
		}
	}
	return p, true
}

// kubernetes reads the pod name of Fluent Bit's and Vector's kubernetes metadata.
func (u *refUnwrapper) kubernetes(raw []byte) {
	refmembers(raw, func(key, val []byte) {
		if string(key) == "pod_name" {
			if s, ok := refunquote(nil, val); ok {
				u.Meta.Pod = s
			}
		}
	})
}

// refunquote is the content of the raw JSON string s: a slice of s, or, when it holds escapes,
// unescaped into the refUnwrapper's buffer.
func (u *refUnwrapper) refunquote(s []byte) ([]byte, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return nil, false
	}
	c := s[1 : len(s)-1]
	if bytes.IndexByte(c, '\\') < 0 {
		return c, true
	}
	var ok bool
	u.buf, ok = refAppendUnescaped(u.buf[:0], c)
	return u.buf, ok
}

// A minimal JSON refwalker: envelopes are read key by key at the top level (and one level down),
// values are skipped or sliced out without being decoded.
type refwalker struct {
	b []byte
	i int
}

func (w *refwalker) reset(b []byte) { w.b, w.i = b, 0 }

func (w *refwalker) ws() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

func (w *refwalker) peek() byte {
	w.ws()
	if w.i < len(w.b) {
		return w.b[w.i]
	}
	return 0
}

// str reads a string at w.i (after ws): raw is its content without the quotes, escapes left
// as they are. One pass: the next refquote, then the backslashes before it, if any.
func (w *refwalker) str() (raw []byte, ok bool) {
	if w.peek() != '"' {
		return nil, false
	}
	start := w.i + 1
	for j := start; j < len(w.b); {
		k := bytes.IndexByte(w.b[j:], '"')
		if k < 0 {
			return nil, false
		}
		j += k
		// The refquote ends the string unless an odd number of backslashes precede it.
		n := 0
		for p := j - 1; p >= start && w.b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 1 {
			j++
			continue
		}
		w.i = j + 1
		return w.b[start:j], true
	}
	return nil, false
}

// value reads any value and returns its raw bytes (strings with their quotes).
func (w *refwalker) value() ([]byte, bool) {
	c := w.peek()
	start := w.i
	switch c {
	case '"':
		if _, ok := w.str(); !ok {
			return nil, false
		}
	case '{', '[':
		depth := 0
		for w.i < len(w.b) {
			switch w.b[w.i] {
			case '"':
				if _, ok := w.str(); !ok {
					return nil, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					w.i++
					return w.b[start:w.i], true
				}
			}
			w.i++
		}
		return nil, false
	case 0:
		return nil, false
	default:
		for w.i < len(w.b) {
			switch w.b[w.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return w.b[start:w.i], w.i > start
			}
			w.i++
		}
		return w.b[start:w.i], w.i > start
	}
	return w.b[start:w.i], true
}

// object calls fn for each key of the object at w.i; fn must consume the value (w.value or a
// nested w.object). It returns false for malformed JSON or when fn does.
func (w *refwalker) object(fn func(key []byte) bool) bool {
	if w.peek() != '{' {
		return false
	}
	w.i++
	if w.peek() == '}' {
		w.i++
		return true
	}
	for {
		key, ok := w.str()
		if !ok || w.peek() != ':' {
			return false
		}
		w.i++
		if !fn(key) {
			return false
		}
		switch w.peek() {
		case ',':
			w.i++
		case '}':
			w.i++
			return true
		default:
			return false
		}
	}
}

// refmembers reads the object raw into fn(key, raw value) pairs, one level deep.
func refmembers(raw []byte, fn func(key, val []byte)) bool {
	w := refwalker{b: raw}
	return w.object(func(key []byte) bool {
		v, ok := w.value()
		if ok {
			fn(key, v)
		}
		return ok
	})
}

// refunquote returns the content of the raw JSON string s (with quotes), unescaped into dst[:0]
// when it holds escapes; ok is false when s is not a string.
func refunquote(dst, s []byte) ([]byte, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return dst, false
	}
	s = s[1 : len(s)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return s, true
	}
	return refAppendUnescaped(dst[:0], s)
}

// strInto reads the string at w.i and appends its content, unescaped, to dst: one pass over
// the bytes (refAppendQuoted), for the strings that are the event (docker's log, AKS's
// properties.log).
func (w *refwalker) strInto(dst []byte) ([]byte, bool) {
	if w.peek() != '"' {
		return dst, false
	}
	out, n, ok := refAppendQuoted(dst, w.b[w.i+1:])
	if ok {
		w.i += 1 + n
	}
	return out, ok
}

// GKE's Kubernetes audit logs are Cloud Logging LogEntry objects whose protoPayload is a
// google.cloud.audit.AuditLog. The audit event is synthesised from it:
//
//	methodName "io.k8s.core.v1.pods.exec.create"  verb create (last part); resource and
//	                                              subresource when resourceName has none
//	resourceName "core/v1/namespaces/ns/pods/p/exec"  objectRef apiGroup ("" for core),
//	                                              apiVersion, namespace, resource, name,
//	                                              subresource; requestURI /api/v1/refnamespaces/ns/pods/p/exec
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

// refgkeFields are the parts of a LogEntry the event is made of (raw JSON values).
type refgkeFields struct {
	method, resource, user, ip, agent, code, message, request, response []byte
}

// gke synthesises the audit event of a LogEntry line whose protoPayload is proto.
func (u *refUnwrapper) gke(line, proto []byte) ([]byte, bool) {
	var insertID, ts, labels []byte
	refmembers(line, func(key, val []byte) {
		switch string(key) {
		case "insertId":
			insertID = val
		case "timestamp":
			ts = val
		case "labels":
			labels = val
		}
	})
	var g refgkeFields
	isAudit := false
	refmembers(proto, func(key, val []byte) {
		switch string(key) {
		case "@type":
			isAudit = bytes.HasSuffix(val, []byte(`google.cloud.audit.AuditLog"`))
		case "methodName":
			g.method = val
		case "resourceName":
			g.resource = val
		case "authenticationInfo":
			refmembers(val, func(k, v []byte) {
				if string(k) == "principalEmail" {
					g.user = v
				}
			})
		case "requestMetadata":
			refmembers(val, func(k, v []byte) {
				switch string(k) {
				case "callerIp":
					g.ip = v
				case "callerSuppliedUserAgent":
					g.agent = v
				}
			})
		case "status":
			refmembers(val, func(k, v []byte) {
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
	method, ok := refunquote(u.scratch[:0], g.method)
	if !ok {
		return nil, false
	}
	if cap(method) > cap(u.scratch) {
		u.scratch = method[:0]
	}
	var res []byte
	if g.resource != nil {
		if res, ok = refunquote(nil, g.resource); !ok {
			return nil, false
		}
	}
	ref := refparseGKE(method, res)

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
	b = refappendQuoted(b, ref.uri...)
	b = append(b, `,"verb":`...)
	b = refappendQuoted(b, ref.verb)
	b = append(b, `,"user":{"username":`...)
	b = refrawOr(b, g.user, `""`)
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
		b = refappendQuoted(b, ref.resource)
		if len(ref.namespace) > 0 {
			b = append(b, `,"namespace":`...)
			b = refappendQuoted(b, ref.namespace)
		}
		if len(ref.name) > 0 {
			b = append(b, `,"name":`...)
			b = refappendQuoted(b, ref.name)
		}
		b = append(b, `,"apiGroup":`...)
		b = refappendQuoted(b, ref.group)
		if len(ref.version) > 0 {
			b = append(b, `,"apiVersion":`...)
			b = refappendQuoted(b, ref.version)
		}
		if len(ref.subresource) > 0 {
			b = append(b, `,"subresource":`...)
			b = refappendQuoted(b, ref.subresource)
		}
		b = append(b, '}')
	}
	b = append(b, `,"responseStatus":{"metadata":{},"code":`...)
	b = strconv.AppendInt(b, int64(refhttpCode(g.code)), 10)
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

func refrawOr(b, raw []byte, def string) []byte {
	if raw == nil {
		return append(b, def...)
	}
	return append(b, raw...)
}

// refgkeRef is what methodName and resourceName say of the request.
type refgkeRef struct {
	verb, group, version, namespace, resource, name, subresource []byte
	uri                                                          [][]byte // requestURI in pieces
}

var (
	refcoreGroup  = []byte("core")
	refnamespaces = []byte("namespaces")
	refslash      = []byte("/")
)

// refparseGKE reads methodName ("io.k8s.<group>.<version>.<resource>[.<subresource>].<verb>") and
// resourceName ("<group>/<version>/[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]").
func refparseGKE(method, res []byte) refgkeRef {
	var r refgkeRef
	parts := bytes.Split(bytes.TrimPrefix(method, []byte("io.k8s.")), []byte("."))
	r.verb = parts[len(parts)-1]
	v := -1
	for i, p := range parts[:len(parts)-1] {
		if refisVersion(p) {
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
		r.group = refmethodGroup(parts[:v])
	}
	if segs := bytes.Split(res, refslash); len(res) > 0 && len(segs) >= 3 {
		r.group, r.version = segs[0], segs[1]
		if bytes.Equal(r.group, refcoreGroup) {
			r.group = nil
		}
		rest := segs[2:]
		switch {
		case bytes.Equal(rest[0], refnamespaces) && len(rest) == 2:
			r.resource, r.name, r.namespace = rest[0], rest[1], rest[1]
			rest = nil
		case bytes.Equal(rest[0], refnamespaces) && len(rest) >= 3:
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
		if len(r.group) == 0 {
			r.uri = [][]byte{[]byte("/api/"), segs[1]}
		} else {
			r.uri = [][]byte{[]byte("/apis/"), segs[0], refslash, segs[1]}
		}
		for _, s := range segs[2:] {
			r.uri = append(r.uri, refslash, s)
		}
	}
	if bytes.Equal(r.group, refcoreGroup) {
		r.group = nil
	}
	return r
}

// refmethodGroup is the API group of methodName's group parts: "core" is "", the groups without a
// domain (apps, batch, autoscaling, policy) are themselves, others are reversed under k8s.io
// ("authorization.rbac" is rbac.authorization.k8s.io). Used only without a resourceName.
func refmethodGroup(parts [][]byte) []byte {
	switch {
	case len(parts) == 0 || (len(parts) == 1 && bytes.Equal(parts[0], refcoreGroup)):
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

// refisVersion matches v1, v2beta1, v1alpha3.
func refisVersion(p []byte) bool {
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

// refhttpCode maps a google.rpc.Code (raw JSON number, nil when absent: OK) to the HTTP status
// Google's API design guide gives it.
func refhttpCode(raw []byte) int {
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

// refappendQuoted appends the concatenation of parts as a JSON string.
func refappendQuoted(b []byte, parts ...[]byte) []byte {
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
func refAppendQuoted(dst, b []byte) (out []byte, n int, ok bool) {
	// The content is never longer than its escaped form: make room once, then write in place.
	if need := len(dst) + len(b); cap(dst) < need {
		grown := make([]byte, len(dst), need)
		copy(grown, dst)
		dst = grown
	}
	d := dst[:cap(dst)]
	o, i := len(dst), 0
	for {
		// Invariant: o-len(dst) <= i, so o+8 <= cap(d) whenever i+8 <= len(b).
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			binary.LittleEndian.PutUint64(d[o:], x)
			if m := refzeroByte(x^(reflsb*'"')) | refzeroByte(x^(reflsb*'\\')); m != 0 {
				k := bits.TrailingZeros64(m) / 8
				i, o = i+k, o+k
				goto special
			}
			i, o = i+8, o+8
		}
		for i < len(b) && b[i] != '"' && b[i] != '\\' {
			d[o] = b[i]
			i, o = i+1, o+1
		}
		if i >= len(b) {
			return d[:o], i, false
		}
	special:
		if b[i] == '"' {
			return d[:o], i + 1, true
		}
		if i+1 < len(b) && (b[i+1] == '"' || b[i+1] == '\\') { // the common escapes, inline
			d[o] = b[i+1]
			i, o = i+2, o+1
			continue
		}
		e, k, ok := refAppendEscape(d[:o], b[i:])
		if !ok {
			return e, i, false
		}
		i, o = i+k, len(e)
	}
}

const (
	reflsb = 0x0101010101010101
	refmsb = 0x8080808080808080
)

func refzeroByte(x uint64) uint64 { return (x - reflsb) &^ x & refmsb }

func refAppendUnescaped(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			// Copy up to the next escape in one go.
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		var n int
		var ok bool
		if dst, n, ok = refAppendEscape(dst, raw[i:]); !ok {
			return dst, false
		}
		i += n
	}
	return dst, true
}
func refAppendEscape(dst, s []byte) (out []byte, n int, ok bool) {
	if len(s) < 2 {
		return dst, 0, false
	}
	switch e := s[1]; e {
	case '"', '\\', '/':
		return append(dst, e), 2, true
	case 'b':
		return append(dst, '\b'), 2, true
	case 'f':
		return append(dst, '\f'), 2, true
	case 'n':
		return append(dst, '\n'), 2, true
	case 'r':
		return append(dst, '\r'), 2, true
	case 't':
		return append(dst, '\t'), 2, true
	case 'u':
		r, ok := refhex4(s[2:])
		if !ok {
			return dst, 0, false
		}
		n = 6
		if utf16.IsSurrogate(r) {
			r2, ok := rune(-1), false
			if len(s) >= 8 && s[6] == '\\' && s[7] == 'u' {
				r2, ok = refhex4(s[8:])
			}
			if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
				r, n = dec, 12
			} else {
				r = utf8.RuneError
			}
		}
		return utf8.AppendRune(dst, r), n, true
	}
	return dst, 0, false
}
func refhex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

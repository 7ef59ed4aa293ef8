package envelope

import (
	"bytes"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// object reads a JSON envelope line (docker, Fluent Bit, Vector, GKE, AKS, or an audit event
// whose first key is not one of bareKeys). ok is false when it is none of them.
func (u *Unwrapper) object(line []byte) (event []byte, f Format, ok bool) {
	var (
		payload          []byte // raw value under log or message
		payloadKey       byte   // 'l' or 'm'
		proto            []byte
		kube             []byte
		audit, hasStream bool
		// unescaped: the payload string is in u.buf (read by strInto); aksLog: it was
		// properties.log.
		unescaped, aksLog bool
		// What gke reads of the LogEntry (the last of each key, as members gives them), valid
		// unless properties was walked as an object (value might have ended it elsewhere).
		gkeTop     gkeTop
		properties bool
		// plain: every key so far was one that changes nothing above (skipped, or properties
		// holding only such keys); fromMemo: the walk resumed after u.aksPrefix.
		plain, fromMemo = true, false
	)
	u.w.reset(line)
	w := &u.w
	var props func(key []byte) bool
	props = func(key []byte) bool {
		switch string(key) {
		case "log":
			if w.peek() == '"' && !unescaped {
				if plain && !fromMemo {
					u.aksPrefix = append(u.aksPrefix[:0], line[:w.i+1]...)
				}
				var ok bool
				u.buf, ok = w.strInto(u.buf[:0])
				unescaped, aksLog = ok, ok
				return ok
			}
		case "pod", "stream":
			plain = false
			v, ok := w.value()
			if s, isStr := unquote(nil, v); isStr {
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
	}
	top := func(key []byte) bool {
		var v []byte
		var ok bool
		switch string(key) {
		case "properties":
			properties = true
			return w.object(props)
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
		case "kubernetes":
			v, ok = u.kubeValue()
			kube = v
		case "stream":
			v, ok = w.value()
			if s, isStr := unquote(nil, v); isStr {
				u.Meta.Stream = s
				hasStream = true
			}
		case "time", "timestamp", "@timestamp", "date", "receiveTimestamp":
			v, ok = w.value()
			if key[0] == 't' && len(key) == len("timestamp") {
				gkeTop.ts = v
			}
			if s, isStr := unquote(nil, v); isStr && (u.Meta.Time == nil || key[0] == 'r') {
				u.Meta.Time = s
			}
		case "auditID", "stage", "requestURI", "verb", "objectRef", "responseStatus", "stageTimestamp":
			_, ok = w.value()
			audit = true
		case "insertId":
			gkeTop.insertID, ok = w.value()
		case "labels":
			gkeTop.labels, ok = w.value()
		default:
			_, ok = w.value()
			return ok // plain: nothing changed
		}
		plain = false
		return ok
	}
	var walked bool
	if p := u.aksPrefix; len(p) > 0 && bytes.HasPrefix(line, p) {
		// The line starts as a line before it whose walk met only plain keys up to the quote
		// that opens properties.log: the walk of these bytes is the same (it reads no byte
		// after that quote to get there), so it resumes there, in properties, at key log.
		// AKS records repeat the same keys and values before properties on every line.
		w.i, properties, fromMemo = len(p)-1, true, true
		walked = props(logKey) && u.propsRest(line, props) && w.rest(top)
	} else {
		walked = w.object(top)
	}
	if !walked || u.w.peek() != 0 {
		return nil, Auto, false
	}
	return u.envelopeEvent(line, &walkedObject{
		payload: payload, payloadKey: payloadKey, proto: proto, kube: kube, gkeTop: gkeTop,
		audit: audit, hasStream: hasStream, unescaped: unescaped, aksLog: aksLog, properties: properties,
	})
}

// walkedObject is what object's walk of an envelope line found.
type walkedObject struct {
	payload, proto, kube                            []byte
	payloadKey                                      byte
	gkeTop                                          gkeTop
	audit, hasStream, unescaped, aksLog, properties bool
}

// envelopeEvent tells which envelope the walked line is, and returns its event.
func (u *Unwrapper) envelopeEvent(line []byte, o *walkedObject) (event []byte, f Format, ok bool) {
	switch {
	case o.proto != nil && !o.audit:
		if o.properties {
			o.gkeTop = topOf(line)
		}
		ev, ok := u.gke(o.gkeTop, o.proto)
		return ev, GKE, ok
	case o.aksLog && !o.audit:
		ev, ok := u.innerPayload(u.buf)
		return ev, AKS, ok
	case o.audit:
		return line, Bare, true
	case o.unescaped:
		// A string payload (docker, Fluent Bit, Vector).
		o.payload = quote
	case o.payload == nil:
		return nil, Auto, false
	}
	if o.kube != nil {
		u.kubernetes(o.kube)
	}
	f = FluentBit
	if o.payloadKey == 'l' && o.hasStream && o.kube == nil {
		f = Docker
	}
	switch o.payload[0] {
	case '{':
		if f == Docker {
			f = FluentBit // docker always writes a string
		}
		return o.payload, f, true
	case '"':
		ev, ok := u.innerPayload(u.buf)
		return ev, f, ok
	}
	return nil, Auto, false
}

// propsRest reads the rest of AKS properties after the log string, on a line that resumed
// after aksPrefix (so Meta has no pod or stream yet): with props, or, when the line goes on
// with the bytes the last such line had there, as that line did. The walk of these bytes (up
// to the brace that closes properties) reads none after them, and after the log they only set
// the pod and the stream: the same keys at the same places.
func (u *Unwrapper) propsRest(line []byte, props func(key []byte) bool) bool {
	w, m := &u.w, &u.aksSuffix
	start := w.i
	if len(m.b) > 0 && bytes.HasPrefix(line[start:], m.b) {
		w.i += len(m.b)
		u.Meta.Pod, u.Meta.Stream = m.pod.of(line[start:]), m.stream.of(line[start:])
		return true
	}
	m.b = m.b[:0]
	if !w.rest(props) {
		return false
	}
	// Without a backslash, pod and stream are slices of these bytes (not unescaped copies).
	if rest := line[start:w.i]; bytes.IndexByte(rest, '\\') < 0 {
		m.b = append(m.b, rest...)
		m.pod, m.stream = spanOf(rest, u.Meta.Pod), spanOf(rest, u.Meta.Stream)
	}
	return true
}

// suffixMemo is what propsRest read from the bytes b: the pod and stream found in them.
type suffixMemo struct {
	b           []byte
	pod, stream span
}

// span is where a slice is in the bytes it was cut from; ok is false for none (nil).
type span struct {
	ok         bool
	start, end int
}

// spanOf is where s, nil or a slice of b, is in b.
func spanOf(b, s []byte) span {
	if s == nil {
		return span{}
	}
	start := cap(b) - cap(s)
	return span{ok: true, start: start, end: start + len(s)}
}

// of is the span's bytes in b (nil for none).
func (s span) of(b []byte) []byte {
	if !s.ok {
		return nil
	}
	return b[s.start:s.end]
}

var (
	quote  = []byte{'"'}
	logKey = []byte("log")
)

// innerPayload is the event in a shipper's payload p, which may still carry the runtime's
// CRI prefix (an F line; P lines of such payloads are joined like CRI lines).
func (u *Unwrapper) innerPayload(p []byte) ([]byte, bool) {
	p = trimNewline(p)
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

// kubernetes reads the pod name of Fluent Bit's and Vector's kubernetes metadata. The
// metadata is the same on every line of a pod: when raw is the bytes of the last walk, the
// answer is the same, at the same place in raw.
func (u *Unwrapper) kubernetes(raw []byte) {
	k := &u.kube
	if k.valid && bytes.Equal(raw, k.raw) {
		if k.pod {
			u.Meta.Pod = raw[k.start:k.end]
		}
		return
	}
	k.valid, k.pod = true, false
	members(raw, func(key, val []byte) {
		if string(key) == "pod_name" {
			if s, ok := unquote(nil, val); ok {
				u.Meta.Pod = s
				// s is a slice of raw unless it was unescaped (then it is not remembered):
				// raw's and s's capacities end at the same byte.
				k.valid = bytes.IndexByte(val, '\\') < 0
				k.pod, k.start = true, cap(raw)-cap(s)
				k.end = k.start + len(s)
			}
		}
	})
	if k.valid {
		k.raw = append(k.raw[:0], raw...)
	}
}

// kubeValue reads the value of the kubernetes key at u.w.i. When it starts with the bytes of the
// last metadata object read (kubeMemo), it is them: the walk of an object ends at its closing
// bracket, whatever follows.
func (u *Unwrapper) kubeValue() ([]byte, bool) {
	w, k := &u.w, &u.kube
	if k.valid && len(k.raw) > 0 && k.raw[0] == '{' && w.peek() == '{' && bytes.HasPrefix(w.b[w.i:], k.raw) {
		w.i += len(k.raw)
		return w.b[w.i-len(k.raw) : w.i], true
	}
	return w.value()
}

// kubeMemo is what kubernetes read from the last metadata: the pod name is raw[start:end]
// when pod.
type kubeMemo struct {
	valid, pod bool
	start, end int
	raw        []byte
}

// unquote is the content of the raw JSON string s: a slice of s, or, when it holds escapes,
// unescaped into the Unwrapper's buffer.
func (u *Unwrapper) unquote(s []byte) ([]byte, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return nil, false
	}
	c := s[1 : len(s)-1]
	if bytes.IndexByte(c, '\\') < 0 {
		return c, true
	}
	var ok bool
	u.buf, ok = audit.AppendUnescaped(u.buf[:0], c)
	return u.buf, ok
}

package audit

import (
	"bytes"
	"errors"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/jsonbits"
)

// Field names a value a Record can hold. Aggregations ask a Scanner for the fields they need;
// the scanner extracts only those (one pass over the line, nested objects it does not need are
// skipped without being parsed).
type Field uint8

// Fields a Record can hold.
const (
	FieldVerb Field = iota
	FieldStage
	FieldLevel
	FieldAuditID
	FieldRequestURI
	FieldUserAgent
	FieldUsername
	FieldGroups
	FieldImpersonatedUsername
	FieldSourceIPs
	FieldResource
	FieldNamespace
	FieldName
	FieldSubresource
	FieldAPIGroup
	FieldAPIVersion
	FieldCode
	FieldStatusReason
	FieldStatusMessage
	FieldRequestReceived
	FieldStageTimestamp
	FieldAnnotations
	FieldRequestObject
	FieldImpersonatedGroups
	FieldResponseObject
	numFields
)

// Fields is a set of Field.
type Fields uint32

// With returns the set plus fs.
func (s Fields) With(fs ...Field) Fields {
	for _, f := range fs {
		s |= 1 << f
	}
	return s
}

// Has reports whether f is in the set.
func (s Fields) Has(f Field) bool { return s&(1<<f) != 0 }

// AllFields is every field a Record can hold.
const AllFields = Fields(1<<numFields - 1)

// ErrMalformed is returned for a line that is not a complete JSON object with an audit event's
// identity (an auditID, a stage or a timestamp).
var ErrMalformed = errors.New("malformed audit line")

// Record is a zero-copy view of one audit line: the byte slices point into the line (or, for
// values with JSON escapes, into the record's own buffer) and are valid until the next Scan
// with the same Record. Fields the scanner was not asked for are empty.
type Record struct {
	Line []byte

	str         [numFields][]byte
	Code        int
	Received    time.Time
	Time        time.Time // stageTimestamp, else timestamp, else metadata.creationTimestamp
	groups      []byte    // raw JSON array
	impGroups   []byte    // raw JSON array
	sourceIPs   []byte    // raw JSON array
	annotations []byte    // raw JSON object
	requestObj  []byte    // raw JSON object
	responseObj []byte    // raw JSON object

	decision, reason []byte
	annParsed        bool
	buf              []byte
	tc               timeCache          // kept from line to line
	st               jsonbits.Structure // the line's structure, its memory kept from line to line
}

// Scanner extracts a fixed set of fields from audit lines in one pass, skipping everything
// else (request and response objects included) without parsing it. A Scanner holds no state
// between lines and is safe for concurrent use; each goroutine needs its own Record.
type Scanner struct {
	fields Fields
	// which nested objects hold a wanted field
	user, impUser, ref, status bool
}

// NewScanner returns a scanner for the given fields. Stage, auditID and the event time are
// always extracted: they identify the event and place it in time.
func NewScanner(fields Fields) *Scanner {
	fields = fields.With(FieldStage, FieldAuditID, FieldStageTimestamp)
	any := func(fs ...Field) bool {
		for _, f := range fs {
			if fields.Has(f) {
				return true
			}
		}
		return false
	}
	return &Scanner{
		fields:  fields,
		user:    any(FieldUsername, FieldGroups),
		impUser: any(FieldImpersonatedUsername, FieldImpersonatedGroups),
		ref:     any(FieldResource, FieldNamespace, FieldName, FieldSubresource, FieldAPIGroup, FieldAPIVersion),
		status:  any(FieldCode, FieldStatusReason, FieldStatusMessage),
	}
}

// Fields returns the set of fields the scanner extracts.
func (s *Scanner) Fields() Fields { return s.fields }

// Scan fills r from line. It returns ErrMalformed for a line that is not a complete JSON
// object or has no auditID, stage or time.
func (s *Scanner) Scan(line []byte, r *Record) error {
	r.reset(line)
	line = trimSpace(line)
	if len(line) < 2 || line[0] != '{' || line[len(line)-1] != '}' {
		return ErrMalformed
	}
	w := walker{b: line}
	if useStructure && len(line) >= structureMin && r.st.Build(line) {
		w.st = &r.st
	}
	err := s.scan(&w, r)
	if w.bad { // a literal with a quote in it: read as it always was, byte by byte
		r.reset(r.Line)
		w = walker{b: line}
		err = s.scan(&w, r)
	}
	return err
}

// useStructure: Scan finds a line's structure first where that is fast (a variable, for the
// tests that compare the two ways).
var useStructure = jsonbits.Fast

// structureMin is the shortest line Scan finds the structure of first (jsonbits): every audit
// event is longer; for a short line the bytes are read as fast one by one.
const structureMin = 128

// scan fills r from the line w walks.
func (s *Scanner) scan(w *walker, r *Record) error {
	var fallback time.Time
	ok := w.object(func(key []byte) bool {
		switch string(key) {
		case "verb":
			return s.str(w, r, FieldVerb)
		case "stage":
			return s.str(w, r, FieldStage)
		case "level":
			return s.str(w, r, FieldLevel)
		case "auditID":
			return s.str(w, r, FieldAuditID)
		case "requestURI":
			return s.str(w, r, FieldRequestURI)
		case "userAgent":
			return s.str(w, r, FieldUserAgent)
		case "stageTimestamp":
			return timeValue(w, &r.tc, &r.Time)
		case "requestReceivedTimestamp":
			if s.fields.Has(FieldRequestReceived) {
				return timeValue(w, &r.tc, &r.Received)
			}
		case "timestamp":
			return timeValue(w, &r.tc, &fallback)
		case "sourceIPs":
			if s.fields.Has(FieldSourceIPs) {
				return rawValue(w, &r.sourceIPs, '[')
			}
		case "annotations":
			if s.fields.Has(FieldAnnotations) {
				return rawValue(w, &r.annotations, '{')
			}
		case "requestObject":
			if s.fields.Has(FieldRequestObject) {
				return rawValue(w, &r.requestObj, '{')
			}
		case "responseObject":
			if s.fields.Has(FieldResponseObject) {
				return rawValue(w, &r.responseObj, '{')
			}
		case "user":
			if s.user {
				return w.objectOrSkip(func(k []byte) bool {
					switch string(k) {
					case "username":
						return s.str(w, r, FieldUsername)
					case "groups":
						if s.fields.Has(FieldGroups) {
							return rawValue(w, &r.groups, '[')
						}
					}
					return w.skip()
				})
			}
		case "impersonatedUser":
			if s.impUser {
				return w.objectOrSkip(func(k []byte) bool {
					switch string(k) {
					case "username":
						return s.str(w, r, FieldImpersonatedUsername)
					case "groups":
						if s.fields.Has(FieldImpersonatedGroups) {
							return rawValue(w, &r.impGroups, '[')
						}
					}
					return w.skip()
				})
			}
		case "objectRef":
			if s.ref {
				return w.objectOrSkip(func(k []byte) bool {
					switch string(k) {
					case "resource":
						return s.str(w, r, FieldResource)
					case "namespace":
						return s.str(w, r, FieldNamespace)
					case "name":
						return s.str(w, r, FieldName)
					case "subresource":
						return s.str(w, r, FieldSubresource)
					case "apiGroup":
						return s.str(w, r, FieldAPIGroup)
					case "apiVersion":
						return s.str(w, r, FieldAPIVersion)
					}
					return w.skip()
				})
			}
		case "responseStatus":
			if s.status {
				return w.objectOrSkip(func(k []byte) bool {
					switch string(k) {
					case "code":
						raw, kind, _, ok := w.value()
						if ok && kind != '"' {
							r.Code = atoi(raw)
						}
						return ok
					case "reason":
						return s.str(w, r, FieldStatusReason)
					case "message":
						return s.str(w, r, FieldStatusMessage)
					}
					return w.skip()
				})
			}
		case "metadata":
			if w.peek() == '{' {
				return w.object(func(k []byte) bool {
					if string(k) == "creationTimestamp" && fallback.IsZero() {
						return timeValue(w, &r.tc, &fallback)
					}
					return w.skip()
				})
			}
		}
		return w.skip()
	})
	if !ok {
		return ErrMalformed
	}
	if w.peek() != 0 {
		return ErrMalformed // trailing bytes after the object
	}
	if r.Time.IsZero() {
		r.Time = fallback
	}
	if len(r.str[FieldAuditID]) == 0 && len(r.str[FieldStage]) == 0 && r.Time.IsZero() {
		return ErrMalformed
	}
	return nil
}

// str stores a string field if the scanner wants it, and skips the value otherwise.
func (s *Scanner) str(w *walker, r *Record, f Field) bool {
	if !s.fields.Has(f) || w.peek() != '"' {
		return w.skip() // not wanted, or not a string (which leaves the field empty)
	}
	raw, esc, ok := w.str()
	if ok {
		if esc {
			raw = r.unescape(raw)
		}
		r.str[f] = raw
	}
	return ok
}

func timeValue(w *walker, c *timeCache, t *time.Time) bool {
	raw, kind, _, ok := w.value()
	if ok && kind == '"' {
		*t, _ = c.parse(raw)
	}
	return ok
}

// rawValue keeps the raw text of an object or array value.
func rawValue(w *walker, dst *[]byte, want byte) bool {
	raw, kind, _, ok := w.value()
	if ok && kind == want {
		*dst = raw
	}
	return ok
}

func atoi(b []byte) int {
	neg := len(b) > 1 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		return -n
	}
	return n
}

func (r *Record) reset(line []byte) {
	buf, tc, st := r.buf[:0], r.tc, r.st
	*r = Record{Line: line, buf: buf, tc: tc, st: st}
}

// unescape returns v itself when it has no escapes (the common case), else its unescaped copy
// in the record's buffer. A full buffer is replaced, not grown in place, so values unescaped
// earlier keep pointing at valid memory.
func (r *Record) unescape(v []byte) []byte {
	if bytes.IndexByte(v, '\\') < 0 {
		return v
	}
	if cap(r.buf)-len(r.buf) < len(v) {
		r.buf = make([]byte, 0, max(2*cap(r.buf), len(v)+1024))
	}
	start := len(r.buf)
	out, ok := unescapeInto(r.buf[start:start+len(v)], v)
	if !ok {
		return v
	}
	r.buf = r.buf[:start+len(out)]
	return out
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// Str returns the value of a string field.
func (r *Record) Str(f Field) []byte {
	if f >= numFields {
		return nil
	}
	return r.str[f]
}

// Verb, Stage, ... are shorthands for Str.
func (r *Record) Verb() []byte        { return r.str[FieldVerb] }
func (r *Record) Stage() []byte       { return r.str[FieldStage] }
func (r *Record) Username() []byte    { return r.str[FieldUsername] }
func (r *Record) Resource() []byte    { return r.str[FieldResource] }
func (r *Record) Subresource() []byte { return r.str[FieldSubresource] }

// ImpersonatedUsername is the user the request impersonates, empty when none (needs
// FieldImpersonatedUsername).
func (r *Record) ImpersonatedUsername() []byte { return r.str[FieldImpersonatedUsername] }

// Groups returns the user's groups (needs FieldGroups).
func (r *Record) Groups() []string {
	var out []string
	r.EachGroup(func(g []byte) { out = append(out, string(g)) })
	return out
}

// AnnotationMap returns the string annotations as a map (needs FieldAnnotations): nil when the
// event has no annotations object, empty when it is {}. A repeated key keeps its last value.
func (r *Record) AnnotationMap() map[string]string {
	if len(r.annotations) == 0 {
		return nil
	}
	m := map[string]string{}
	r.EachAnnotation(func(k, v []byte) { m[string(r.unescape(k))] = string(v) })
	return m
}

// Exec parses the exec/attach command and container from requestURI (needs FieldSubresource,
// FieldRequestURI).
func (r *Record) Exec() (ExecInfo, bool) {
	return ParseExec(string(r.str[FieldSubresource]), string(r.str[FieldRequestURI]))
}

// IsTerminal reports whether the event is a ResponseComplete or Panic stage.
func (r *Record) IsTerminal() bool {
	s := r.str[FieldStage]
	return string(s) == StageResponseComplete || string(s) == StagePanic
}

// LongRunning reports whether the request is long-running (needs FieldVerb, FieldSubresource).
func (r *Record) LongRunning() bool {
	return IsLongRunning(string(r.str[FieldVerb]), string(r.str[FieldSubresource]))
}

// Latency is the request latency on terminal stages (needs FieldRequestReceived).
func (r *Record) Latency() (time.Duration, bool) {
	return latency(string(r.str[FieldStage]), r.Received, r.Time)
}

// UserKind classifies the user (needs FieldUsername).
func (r *Record) UserKind() UserKind {
	u := r.str[FieldUsername]
	switch {
	case len(u) == 0 || string(u) == "system:anonymous":
		return UserAnonymous
	case bytes.HasPrefix(u, prefixServiceAccount):
		return UserServiceAccount
	case bytes.HasPrefix(u, prefixNode):
		return UserNode
	case bytes.HasPrefix(u, prefixSystem), bytes.HasPrefix(u, prefixEKS):
		return UserSystem
	}
	return UserHuman
}

var (
	prefixServiceAccount = []byte("system:serviceaccount:")
	prefixNode           = []byte("system:node:")
	prefixSystem         = []byte("system:")
	prefixEKS            = []byte("eks:")
)

// Decision is the authorization decision annotation (needs FieldAnnotations).
func (r *Record) Decision() []byte {
	r.parseAnnotations()
	return r.decision
}

// AuthzReason is the authorization reason annotation (needs FieldAnnotations).
func (r *Record) AuthzReason() []byte {
	r.parseAnnotations()
	return r.reason
}

// Reason explains the outcome: the authorization reason, else the status message or reason.
func (r *Record) Reason() []byte {
	if a := r.AuthzReason(); len(a) > 0 {
		return a
	}
	if m := r.str[FieldStatusMessage]; len(m) > 0 {
		return m
	}
	return r.str[FieldStatusReason]
}

func (r *Record) parseAnnotations() {
	if r.annParsed {
		return
	}
	r.annParsed = true
	// One walk for both: the decision filter and dimension ask for it on every record.
	r.EachAnnotation(func(k, v []byte) {
		switch string(k) {
		case AnnotationDecision:
			r.decision = v
		case AnnotationReason:
			r.reason = v
		}
	})
}

// Annotation returns one annotation's value (needs FieldAnnotations).
func (r *Record) Annotation(key string) ([]byte, bool) {
	if len(r.annotations) == 0 {
		return nil, false
	}
	var out []byte
	found := false
	w := walker{b: r.annotations}
	w.object(func(k []byte) bool {
		if found || string(k) != key {
			return w.skip()
		}
		raw, kind, esc, ok := w.value()
		if ok && kind == '"' {
			if esc {
				raw = r.unescape(raw)
			}
			out, found = raw, true
		}
		return ok
	})
	return out, found
}

// EachAnnotation calls fn for each string annotation (needs FieldAnnotations); key and value
// are valid only during the call.
func (r *Record) EachAnnotation(fn func(key, value []byte)) {
	if len(r.annotations) == 0 {
		return
	}
	w := walker{b: r.annotations}
	w.object(func(k []byte) bool {
		raw, kind, esc, ok := w.value()
		if ok && kind == '"' {
			if esc {
				raw = r.unescape(raw)
			}
			fn(k, raw)
		}
		return ok
	})
}

// Annotations returns the raw JSON object of annotations (needs FieldAnnotations).
func (r *Record) Annotations() []byte { return r.annotations }

// EachGroup calls fn for each of the user's groups (needs FieldGroups).
func (r *Record) EachGroup(fn func(g []byte)) { r.eachString(r.groups, fn) }

// EachImpersonatedGroup calls fn for each impersonated group (needs FieldImpersonatedGroups).
func (r *Record) EachImpersonatedGroup(fn func(g []byte)) { r.eachString(r.impGroups, fn) }

// RequestObject is the raw JSON of the request body, empty below Request level or when the
// scanner was not asked for it (needs FieldRequestObject).
func (r *Record) RequestObject() []byte { return r.requestObj }

// ResponseObject is the raw JSON of the response body, present only at RequestResponse level
// (needs FieldResponseObject).
func (r *Record) ResponseObject() []byte { return r.responseObj }

// HasGroups reports whether the user has any group.
func (r *Record) HasGroups() bool { return len(r.groups) > 2 }

// SourceIP is the first source IP (needs FieldSourceIPs).
func (r *Record) SourceIP() []byte {
	var first []byte
	done := false
	r.eachString(r.sourceIPs, func(s []byte) {
		if !done {
			first, done = s, true
		}
	})
	return first
}

func (r *Record) eachString(arr []byte, fn func([]byte)) {
	eachString(arr, func(raw []byte, esc bool) {
		if esc {
			raw = r.unescape(raw)
		}
		fn(raw)
	})
}

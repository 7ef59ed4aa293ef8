package audit

import (
	"bytes"
	"errors"
	"time"

	"github.com/buger/jsonparser"
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
	numFields
	// Derived fields: asking for them makes the scanner extract what they derive from.
	FieldDecision = FieldAnnotations
	FieldUserKind = FieldUsername
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

// The paths of the fields, indexed by Field. Old events have their time in `timestamp` or
// `metadata.creationTimestamp`; the scanner always asks for those with FieldStageTimestamp.
var fieldPaths = [numFields][]string{
	FieldVerb:                 {"verb"},
	FieldStage:                {"stage"},
	FieldLevel:                {"level"},
	FieldAuditID:              {"auditID"},
	FieldRequestURI:           {"requestURI"},
	FieldUserAgent:            {"userAgent"},
	FieldUsername:             {"user", "username"},
	FieldGroups:               {"user", "groups"},
	FieldImpersonatedUsername: {"impersonatedUser", "username"},
	FieldSourceIPs:            {"sourceIPs"},
	FieldResource:             {"objectRef", "resource"},
	FieldNamespace:            {"objectRef", "namespace"},
	FieldName:                 {"objectRef", "name"},
	FieldSubresource:          {"objectRef", "subresource"},
	FieldAPIGroup:             {"objectRef", "apiGroup"},
	FieldAPIVersion:           {"objectRef", "apiVersion"},
	FieldCode:                 {"responseStatus", "code"},
	FieldStatusReason:         {"responseStatus", "reason"},
	FieldStatusMessage:        {"responseStatus", "message"},
	FieldRequestReceived:      {"requestReceivedTimestamp"},
	FieldStageTimestamp:       {"stageTimestamp"},
	FieldAnnotations:          {"annotations"},
}

var (
	pathTimestamp = []string{"timestamp"}
	pathCreation  = []string{"metadata", "creationTimestamp"}
)

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
	sourceIPs   []byte    // raw JSON array
	annotations []byte    // raw JSON object

	decision, reason []byte
	annParsed        bool
	hasIdentity      bool
	buf              []byte
}

// Scanner extracts a fixed set of fields from audit lines. A Scanner is not safe for
// concurrent use; use one per goroutine.
type Scanner struct {
	fields Fields
	paths  [][]string
	index  []Field // path position -> field; timestamp fallbacks use numFields, numFields+1
}

const (
	idxTimestamp = numFields
	idxCreation  = numFields + 1
)

// NewScanner returns a scanner for the given fields. Stage, auditID and the event time are
// always extracted: they identify the event and place it in time.
func NewScanner(fields Fields) *Scanner {
	fields = fields.With(FieldStage, FieldAuditID, FieldStageTimestamp)
	s := &Scanner{fields: fields}
	for f := Field(0); f < numFields; f++ {
		if fields.Has(f) {
			s.paths = append(s.paths, fieldPaths[f])
			s.index = append(s.index, f)
		}
	}
	s.paths = append(s.paths, pathTimestamp, pathCreation)
	s.index = append(s.index, idxTimestamp, idxCreation)
	return s
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
	var fallback time.Time
	var bad bool
	jsonparser.EachKey(line, func(i int, v []byte, vt jsonparser.ValueType, err error) {
		if err != nil {
			bad = true
			return
		}
		f := s.index[i]
		switch f {
		case idxTimestamp, idxCreation:
			if vt == jsonparser.String && fallback.IsZero() {
				fallback, _ = ParseTime(v)
			}
			return
		case FieldCode:
			if vt == jsonparser.Number {
				if n, err := jsonparser.ParseInt(v); err == nil {
					r.Code = int(n)
				}
			}
			return
		case FieldGroups:
			if vt == jsonparser.Array {
				r.groups = v
			}
			return
		case FieldSourceIPs:
			if vt == jsonparser.Array {
				r.sourceIPs = v
			}
			return
		case FieldAnnotations:
			if vt == jsonparser.Object {
				r.annotations = v
			}
			return
		}
		if vt != jsonparser.String {
			return
		}
		switch f {
		case FieldStageTimestamp:
			r.Time, _ = ParseTime(v)
		case FieldRequestReceived:
			r.Received, _ = ParseTime(v)
		default:
			r.str[f] = r.unescape(v)
		}
	}, s.paths...)
	if bad {
		return ErrMalformed
	}
	if r.Time.IsZero() {
		r.Time = fallback
	}
	if len(r.str[FieldAuditID]) == 0 && len(r.str[FieldStage]) == 0 && r.Time.IsZero() {
		return ErrMalformed
	}
	r.hasIdentity = true
	return nil
}

func (r *Record) reset(line []byte) {
	buf := r.buf[:0]
	*r = Record{Line: line, buf: buf}
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
	out, err := jsonparser.Unescape(v, r.buf[start:start+len(v)])
	if err != nil {
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
func (r *Record) UserKind() UserKind { return KindOfUser(string(r.str[FieldUsername])) }

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

var annotationPaths = [][]string{{AnnotationDecision}, {AnnotationReason}}

func (r *Record) parseAnnotations() {
	if r.annParsed {
		return
	}
	r.annParsed = true
	if len(r.annotations) == 0 {
		return
	}
	jsonparser.EachKey(r.annotations, func(i int, v []byte, vt jsonparser.ValueType, err error) {
		if err != nil || vt != jsonparser.String {
			return
		}
		if i == 0 {
			r.decision = r.unescape(v)
		} else {
			r.reason = r.unescape(v)
		}
	}, annotationPaths...)
}

// Annotation returns one annotation's value (needs FieldAnnotations).
func (r *Record) Annotation(key string) ([]byte, bool) {
	if len(r.annotations) == 0 {
		return nil, false
	}
	v, vt, _, err := jsonparser.Get(r.annotations, key)
	if err != nil || vt != jsonparser.String {
		return nil, false
	}
	return r.unescape(v), true
}

// Annotations returns the raw JSON object of annotations (needs FieldAnnotations).
func (r *Record) Annotations() []byte { return r.annotations }

// EachGroup calls fn for each of the user's groups (needs FieldGroups).
func (r *Record) EachGroup(fn func(g []byte)) { r.eachString(r.groups, fn) }

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
	if len(arr) < 2 {
		return
	}
	_, _ = jsonparser.ArrayEach(arr, func(v []byte, vt jsonparser.ValueType, _ int, err error) {
		if err == nil && vt == jsonparser.String {
			fn(r.unescape(v))
		}
	})
}

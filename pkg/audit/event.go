// Package audit is the Kubernetes audit domain: the audit Event (audit.k8s.io v1, v1beta1,
// v1alpha1 and events without apiVersion), its decoders and the values derived from it. It knows
// nothing of Grafana.
//
// Two decoders exist. Decode fills a full Event (every field, request and response objects kept
// as raw JSON) and is used for the few events a table shows. Scanner.Scan fills a Record: a
// zero-copy view of the fields aggregations need, at several GB/s, used for everything else.
package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
)

// Stages of an audit event.
const (
	StageRequestReceived  = "RequestReceived"
	StageResponseStarted  = "ResponseStarted"
	StageResponseComplete = "ResponseComplete"
	StagePanic            = "Panic"
)

// Authorization decisions (annotation authorization.k8s.io/decision).
const (
	DecisionAllow  = "allow"
	DecisionForbid = "forbid"
)

// Well-known annotation keys.
const (
	AnnotationDecision       = "authorization.k8s.io/decision"
	AnnotationReason         = "authorization.k8s.io/reason"
	AnnotationDeprecated     = "k8s.io/deprecated"
	AnnotationRemovedRelease = "k8s.io/removed-release"
	LatencyAnnotationPrefix  = "apiserver.latency.k8s.io/"
)

// Event is one audit event as kube-apiserver writes it. Fields of every API version are
// accepted: v1beta1 and v1alpha1 add Timestamp and Metadata.
type Event struct {
	Kind                     string            `json:"kind,omitempty"`
	APIVersion               string            `json:"apiVersion,omitempty"`
	Level                    string            `json:"level,omitempty"`
	AuditID                  string            `json:"auditID,omitempty"`
	Stage                    string            `json:"stage,omitempty"`
	RequestURI               string            `json:"requestURI,omitempty"`
	Verb                     string            `json:"verb,omitempty"`
	User                     UserInfo          `json:"user"`
	ImpersonatedUser         *UserInfo         `json:"impersonatedUser,omitempty"`
	SourceIPs                []string          `json:"sourceIPs,omitempty"`
	UserAgent                string            `json:"userAgent,omitempty"`
	ObjectRef                *ObjectReference  `json:"objectRef,omitempty"`
	ResponseStatus           *Status           `json:"responseStatus,omitempty"`
	RequestObject            json.RawMessage   `json:"requestObject,omitempty"`
	ResponseObject           json.RawMessage   `json:"responseObject,omitempty"`
	RequestReceivedTimestamp Time              `json:"requestReceivedTimestamp"`
	StageTimestamp           Time              `json:"stageTimestamp"`
	Annotations              map[string]string `json:"annotations,omitempty"`
	// v1alpha1/v1beta1 only.
	Timestamp Time        `json:"timestamp"`
	Metadata  *ObjectMeta `json:"metadata,omitempty"`
}

// UserInfo is the authenticated (or impersonated) user of a request.
type UserInfo struct {
	Username string              `json:"username,omitempty"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

// ObjectReference names the object a request is about.
type ObjectReference struct {
	Resource        string `json:"resource,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	UID             string `json:"uid,omitempty"`
	APIGroup        string `json:"apiGroup,omitempty"`
	APIVersion      string `json:"apiVersion,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Subresource     string `json:"subresource,omitempty"`
}

// Status is the response status (a metav1.Status; only a few fields matter here).
type Status struct {
	Code    int32           `json:"code,omitempty"`
	Status  string          `json:"status,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	Message string          `json:"message,omitempty"`
	Details json.RawMessage `json:"details,omitempty"`
}

// ObjectMeta is the metadata of v1alpha1/v1beta1 events.
type ObjectMeta struct {
	CreationTimestamp Time `json:"creationTimestamp"`
}

// ErrNotEvent is returned for a line that is valid JSON but not an audit event.
var ErrNotEvent = errors.New("not an audit event")

// Decode decodes one line into a full Event. It accepts every API version and returns an error
// for a line that is not a JSON object or that has no auditID, stage or timestamp (the same
// identity Scanner.Scan requires).
func Decode(line []byte) (*Event, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return nil, ErrNotEvent
	}
	var ev Event
	if err := gojson.Unmarshal(line, &ev); err != nil {
		return nil, fmt.Errorf("decode audit event: %w", err)
	}
	if ev.AuditID == "" && ev.Stage == "" && ev.Time().IsZero() {
		return nil, ErrNotEvent
	}
	return &ev, nil
}

// Time is the event's time: stageTimestamp, or for old events timestamp or
// metadata.creationTimestamp.
func (e *Event) Time() time.Time {
	switch {
	case !e.StageTimestamp.IsZero():
		return e.StageTimestamp.Time
	case !e.Timestamp.IsZero():
		return e.Timestamp.Time
	case e.Metadata != nil:
		return e.Metadata.CreationTimestamp.Time
	}
	return time.Time{}
}

// Code is the response code, 0 when the event has none (RequestReceived).
func (e *Event) Code() int {
	if e.ResponseStatus == nil {
		return 0
	}
	return int(e.ResponseStatus.Code)
}

// Ref returns the object reference, never nil.
func (e *Event) Ref() ObjectReference {
	if e.ObjectRef == nil {
		return ObjectReference{}
	}
	return *e.ObjectRef
}

// Decision is the authorization decision annotation (allow, forbid or "").
func (e *Event) Decision() string { return e.Annotations[AnnotationDecision] }

// Reason explains the outcome: the authorization reason, else the status message or reason.
func (e *Event) Reason() string {
	if r := e.Annotations[AnnotationReason]; r != "" {
		return r
	}
	if e.ResponseStatus != nil {
		if e.ResponseStatus.Message != "" {
			return e.ResponseStatus.Message
		}
		return e.ResponseStatus.Reason
	}
	return ""
}

// SourceIP is the first source IP (the client as seen by the first proxy, possibly forged).
func (e *Event) SourceIP() string {
	if len(e.SourceIPs) == 0 {
		return ""
	}
	return e.SourceIPs[0]
}

// Latency is the request latency, defined on terminal stages only.
func (e *Event) Latency() (time.Duration, bool) {
	return latency(e.Stage, e.RequestReceivedTimestamp.Time, e.StageTimestamp.Time)
}

// LongRunning reports whether the request is long-running (watch, exec, attach, proxy, log,
// portforward), as kube-apiserver's default long-running check decides.
func (e *Event) LongRunning() bool {
	r := e.Ref()
	return IsLongRunning(e.Verb, r.Subresource)
}

// UserKind classifies the user.
func (e *Event) UserKind() UserKind { return KindOfUser(e.User.Username) }

// Exec parses the exec/attach command and container from requestURI.
func (e *Event) Exec() (ExecInfo, bool) {
	return ParseExec(e.Ref().Subresource, e.RequestURI)
}

// LatencyBreakdown parses the apiserver.latency.k8s.io/* annotations.
func (e *Event) LatencyBreakdown() map[string]time.Duration {
	var out map[string]time.Duration
	for k, v := range e.Annotations {
		name, ok := strings.CutPrefix(k, LatencyAnnotationPrefix)
		if !ok {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			continue
		}
		if out == nil {
			out = make(map[string]time.Duration)
		}
		out[name] = d
	}
	return out
}

// Deprecated reports use of a deprecated API and the release that removes it.
func (e *Event) Deprecated() (removedRelease string, ok bool) {
	if e.Annotations[AnnotationDeprecated] != "true" {
		return "", false
	}
	return e.Annotations[AnnotationRemovedRelease], true
}

// Time is a timestamp that accepts RFC 3339 (with or without fractional seconds), the
// space-separated form some log pipelines write, and null.
type Time struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("invalid timestamp %s", b)
	}
	pt, ok := ParseTime(b[1 : len(b)-1])
	if !ok {
		return fmt.Errorf("invalid timestamp %s", b)
	}
	t.Time = pt
	return nil
}

// MarshalJSON implements json.Marshaler (RFC 3339 with microseconds, as kube-apiserver writes).
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") + `"`), nil
}

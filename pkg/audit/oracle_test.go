package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// The oracle: the audit Event as the plugin decoded it for tables before the Record became the
// one decoded form (a struct per API version, filled by encoding/json). Tests compare the
// Record's accessors with it, so the tables read what a full JSON decoder reads.

// oracleEvent is one audit event as kube-apiserver writes it. Fields of every API version are
// accepted: v1beta1 and v1alpha1 add Timestamp and Metadata.
type oracleEvent struct {
	Kind                     string            `json:"kind,omitempty"`
	APIVersion               string            `json:"apiVersion,omitempty"`
	Level                    string            `json:"level,omitempty"`
	AuditID                  string            `json:"auditID,omitempty"`
	Stage                    string            `json:"stage,omitempty"`
	RequestURI               string            `json:"requestURI,omitempty"`
	Verb                     string            `json:"verb,omitempty"`
	User                     oracleUser        `json:"user"`
	ImpersonatedUser         *oracleUser       `json:"impersonatedUser,omitempty"`
	SourceIPs                []string          `json:"sourceIPs,omitempty"`
	UserAgent                string            `json:"userAgent,omitempty"`
	ObjectRef                *oracleRef        `json:"objectRef,omitempty"`
	ResponseStatus           *oracleStatus     `json:"responseStatus,omitempty"`
	RequestObject            json.RawMessage   `json:"requestObject,omitempty"`
	ResponseObject           json.RawMessage   `json:"responseObject,omitempty"`
	RequestReceivedTimestamp oracleTime        `json:"requestReceivedTimestamp"`
	StageTimestamp           oracleTime        `json:"stageTimestamp"`
	Annotations              map[string]string `json:"annotations,omitempty"`
	// v1alpha1/v1beta1 only.
	Timestamp oracleTime  `json:"timestamp"`
	Metadata  *oracleMeta `json:"metadata,omitempty"`
}

// oracleUser is the authenticated (or impersonated) user of a request.
type oracleUser struct {
	Username string              `json:"username,omitempty"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

// oracleRef names the object a request is about.
type oracleRef struct {
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
type oracleStatus struct {
	Code    int32           `json:"code,omitempty"`
	Status  string          `json:"status,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	Message string          `json:"message,omitempty"`
	Details json.RawMessage `json:"details,omitempty"`
}

// oracleMeta is the metadata of v1alpha1/v1beta1 events.
type oracleMeta struct {
	CreationTimestamp oracleTime `json:"creationTimestamp"`
}

// errNotEvent is returned for a line that is valid JSON but not an audit event.
var errNotEvent = errors.New("not an audit event")

// Decode decodes one line into a full oracleEvent. It accepts every API version and returns an error
// for a line that is not a JSON object or that has no auditID, stage or timestamp (the same
// identity Scanner.Scan requires).
func decodeOracle(line []byte) (*oracleEvent, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return nil, errNotEvent
	}
	var ev oracleEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		return nil, fmt.Errorf("decode audit event: %w", err)
	}
	if ev.AuditID == "" && ev.Stage == "" && ev.Time().IsZero() {
		return nil, errNotEvent
	}
	return &ev, nil
}

// Time is the event's time: stageTimestamp, or for old events timestamp or
// metadata.creationTimestamp.
func (e *oracleEvent) Time() time.Time {
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
func (e *oracleEvent) Code() int {
	if e.ResponseStatus == nil {
		return 0
	}
	return int(e.ResponseStatus.Code)
}

// Ref returns the object reference, never nil.
func (e *oracleEvent) Ref() oracleRef {
	if e.ObjectRef == nil {
		return oracleRef{}
	}
	return *e.ObjectRef
}

// Decision is the authorization decision annotation (allow, forbid or "").
func (e *oracleEvent) Decision() string { return e.Annotations[audit.AnnotationDecision] }

// Reason explains the outcome: the authorization reason, else the status message or reason.
func (e *oracleEvent) Reason() string {
	if r := e.Annotations[audit.AnnotationReason]; r != "" {
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
func (e *oracleEvent) SourceIP() string {
	if len(e.SourceIPs) == 0 {
		return ""
	}
	return e.SourceIPs[0]
}

// Latency is the request latency, defined on terminal stages only.
func (e *oracleEvent) Latency() (time.Duration, bool) {
	if !audit.IsTerminalStage(e.Stage) || e.RequestReceivedTimestamp.IsZero() || e.StageTimestamp.IsZero() {
		return 0, false
	}
	d := e.StageTimestamp.Sub(e.RequestReceivedTimestamp.Time)
	if d < 0 {
		return 0, false
	}
	return d, true
}

// LongRunning reports whether the request is long-running (watch, exec, attach, proxy, log,
// portforward), as kube-apiserver's default long-running check decides.
func (e *oracleEvent) LongRunning() bool {
	r := e.Ref()
	return audit.IsLongRunning(e.Verb, r.Subresource)
}

// UserKind classifies the user.
func (e *oracleEvent) UserKind() audit.UserKind { return audit.KindOfUser(e.User.Username) }

// Exec parses the exec/attach command and container from requestURI.
func (e *oracleEvent) Exec() (audit.ExecInfo, bool) {
	return audit.ParseExec(e.Ref().Subresource, e.RequestURI)
}

// Time is a timestamp that accepts RFC 3339 (with or without fractional seconds), the
// space-separated form some log pipelines write, and null.
type oracleTime struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler.
func (t *oracleTime) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("invalid timestamp %s", b)
	}
	pt, ok := audit.ParseTime(b[1 : len(b)-1])
	if !ok {
		return fmt.Errorf("invalid timestamp %s", b)
	}
	t.Time = pt
	return nil
}

// Package audit is the Kubernetes audit domain: the audit Event (audit.k8s.io v1, v1beta1,
// v1alpha1 and events without apiVersion), its decoders and the values derived from it. It knows
// nothing of Grafana.
//
// One decoded form exists: the Record, a zero-copy view of one line. Scanner.Scan fills the
// fields an aggregation needs, at several GB/s; Decode fills every field, for the few events a
// table shows. Values that need more work (the annotations as a map, the exec command) are
// derived by accessors when asked, from the line.
package audit

import "bytes"

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

// Decode decodes one line into a Record holding every field (AllFields), for the rows a table
// shows. The record keeps line (it is not copied). It returns ErrMalformed, as Scanner.Scan
// does, for a line that is not a complete JSON object or has no auditID, stage or time.
func Decode(line []byte) (*Record, error) {
	r := new(Record)
	if err := allFields.Scan(line, r); err != nil {
		return nil, err
	}
	return r, nil
}

var allFields = NewScanner(AllFields)

// Equal reports whether two decoded records are of the same line (Decode makes a record of its
// line alone). Tests comparing results with go-cmp use it.
func (r *Record) Equal(o *Record) bool {
	if r == nil || o == nil {
		return r == o
	}
	return bytes.Equal(r.Line, o.Line)
}

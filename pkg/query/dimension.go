package query

import (
	"strconv"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// Dimension is a value of an event that queries filter, group and count by. Names are the
// audit JSON paths, plus derived values (decision, userKind).
type Dimension struct {
	Name  string
	Label string
	// Needs is what the scanner must extract for Value.
	Needs audit.Fields
	// Multi dimensions have several values per event (user.groups): Each visits all of them.
	Multi bool
	value func(r *audit.Record, scratch []byte) []byte
}

// Value returns the event's value of a single-valued dimension. scratch may be used to format
// numbers; the result is valid until the next call.
func (d *Dimension) Value(r *audit.Record, scratch []byte) []byte {
	if d.Multi {
		var first []byte
		r.EachGroup(func(g []byte) {
			if first == nil {
				first = g
			}
		})
		return first
	}
	return d.value(r, scratch)
}

// Each calls fn for every value of the dimension (once for single-valued ones; once with an
// empty value when a multi-valued dimension has none).
func (d *Dimension) Each(r *audit.Record, scratch []byte, fn func(v []byte)) {
	if !d.Multi {
		fn(d.value(r, scratch))
		return
	}
	if !r.HasGroups() {
		fn(nil)
		return
	}
	r.EachGroup(fn)
}

func strDim(name, label string, f audit.Field) *Dimension {
	return &Dimension{Name: name, Label: label, Needs: audit.Fields(0).With(f),
		value: func(r *audit.Record, _ []byte) []byte { return r.Str(f) }}
}

var dimensions = []*Dimension{
	strDim("verb", "Verb", audit.FieldVerb),
	strDim("user.username", "User", audit.FieldUsername),
	{Name: "user.groups", Label: "Group", Needs: audit.Fields(0).With(audit.FieldGroups), Multi: true},
	{Name: "userKind", Label: "User kind", Needs: audit.Fields(0).With(audit.FieldUsername),
		value: func(r *audit.Record, _ []byte) []byte { return userKindBytes[r.UserKind()] }},
	strDim("impersonatedUser.username", "Impersonated user", audit.FieldImpersonatedUsername),
	strDim("objectRef.resource", "Resource", audit.FieldResource),
	strDim("objectRef.namespace", "Namespace", audit.FieldNamespace),
	strDim("objectRef.name", "Name", audit.FieldName),
	strDim("objectRef.subresource", "Subresource", audit.FieldSubresource),
	strDim("objectRef.apiGroup", "API group", audit.FieldAPIGroup),
	strDim("objectRef.apiVersion", "API version", audit.FieldAPIVersion),
	{Name: "responseStatus.code", Label: "Code", Needs: audit.Fields(0).With(audit.FieldCode),
		value: func(r *audit.Record, scratch []byte) []byte {
			if r.Code == 0 {
				return nil
			}
			return strconv.AppendInt(scratch[:0], int64(r.Code), 10)
		}},
	{Name: "decision", Label: "Decision", Needs: audit.Fields(0).With(audit.FieldAnnotations),
		value: func(r *audit.Record, _ []byte) []byte { return r.Decision() }},
	strDim("userAgent", "User agent", audit.FieldUserAgent),
	{Name: "sourceIPs", Label: "Source IP", Needs: audit.Fields(0).With(audit.FieldSourceIPs),
		value: func(r *audit.Record, _ []byte) []byte { return r.SourceIP() }},
	strDim("stage", "Stage", audit.FieldStage),
	strDim("level", "Level", audit.FieldLevel),
}

var userKindBytes = func() map[audit.UserKind][]byte {
	m := map[audit.UserKind][]byte{}
	for _, k := range audit.UserKinds {
		m[k] = []byte(k)
	}
	return m
}()

var dimensionByName = func() map[string]*Dimension {
	m := make(map[string]*Dimension, len(dimensions))
	for _, d := range dimensions {
		m[d.Name] = d
	}
	// Short aliases people type in variables and older dashboards.
	for alias, name := range map[string]string{
		"user": "user.username", "username": "user.username", "groups": "user.groups",
		"resource": "objectRef.resource", "namespace": "objectRef.namespace", "name": "objectRef.name",
		"subresource": "objectRef.subresource", "apiGroup": "objectRef.apiGroup", "code": "responseStatus.code",
		"sourceIP": "sourceIPs", "userkind": "userKind",
	} {
		m[alias] = m[name]
	}
	return m
}()

// Dimensions lists every dimension, in display order.
func Dimensions() []*Dimension { return dimensions }

// LookupDimension finds a dimension by name or alias.
func LookupDimension(name string) (*Dimension, bool) {
	d, ok := dimensionByName[name]
	return d, ok
}

package audit

// Column access for a column index (package index): it stores, per event, the values the
// scanner extracted, and later fills a Record with them so that every accessor (Str, Latency,
// Decision, EachGroup, ...) answers as it did on the line.

// StrFields are the string fields a column index can store: their values, as Str returns
// them (unescaped).
var StrFields = []Field{
	FieldVerb, FieldStage, FieldLevel, FieldUserAgent, FieldUsername, FieldImpersonatedUsername,
	FieldResource, FieldNamespace, FieldName, FieldSubresource, FieldAPIGroup, FieldAPIVersion,
	FieldStatusReason,
}

// RawFields are the fields held as raw JSON (arrays or an object) that a column index can
// store as they are.
var RawFields = []Field{FieldGroups, FieldImpersonatedGroups, FieldSourceIPs, FieldAnnotations}

// IndexedFields is every field a column index stores: StrFields, RawFields, the code and both
// timestamps. Not stored: the auditID and requestURI (unique per request), the status message
// and the request and response objects.
var IndexedFields = Fields(0).With(StrFields...).With(RawFields...).With(FieldCode, FieldRequestReceived, FieldStageTimestamp)

// Raw returns the raw JSON of a RawFields field (nil for others or when absent).
func (r *Record) Raw(f Field) []byte {
	switch f {
	case FieldGroups:
		return r.groups
	case FieldImpersonatedGroups:
		return r.impGroups
	case FieldSourceIPs:
		return r.sourceIPs
	case FieldAnnotations:
		return r.annotations
	}
	return nil
}

// Reset empties r for filling from columns; Line is nil (a column index has no line).
func (r *Record) Reset() { r.reset(nil) }

// SetStr sets a string field (a StrFields value as Str returned it).
func (r *Record) SetStr(f Field, v []byte) { r.str[f] = v }

// SetRaw sets a RawFields field to raw JSON as Raw returned it.
func (r *Record) SetRaw(f Field, v []byte) {
	switch f {
	case FieldGroups:
		r.groups = v
	case FieldImpersonatedGroups:
		r.impGroups = v
	case FieldSourceIPs:
		r.sourceIPs = v
	case FieldAnnotations:
		r.annotations = v
	}
}

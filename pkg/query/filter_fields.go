package query

import (
	"strconv"
	"strings"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// Filters as data: FilterFields describes every field of Filter once — its JSON key, the audit
// JSON path it tests, how its values match, and how exactly each remote source can apply it.
// The compiled matcher (Compile), validation, Loki's LogQL (pkg/source/loki/logql.go) and
// CloudWatch's Insights queries and filter patterns (pkg/source/cloudwatch) are all rendered
// from this table, so a new filter field is one row here.

// FieldKind says how a filter field's values match an event.
type FieldKind int

const (
	// KindGlob is a list of exact values and globs (`*`) on one string of the event; a
	// leading `!` excludes. A missing value is the empty string.
	KindGlob FieldKind = iota
	// KindGroups is KindGlob over a list (user.groups): the event matches when some element
	// is included (or there are no includes) and none is excluded.
	KindGroups
	// KindIP is IP addresses, CIDRs (compared as addresses) and globs (compared as text) on
	// the client IP, the first of sourceIPs.
	KindIP
	// KindCode is response codes and classes (4xx) on responseStatus.code.
	KindCode
	// KindDerived is KindGlob on a value the plugin derives from the event (userKind from
	// the username; decision, which is "none" when the annotation is missing).
	KindDerived
	// KindSearch is the free-text search (see Search).
	KindSearch
)

// Push says how much of a filter field a source can apply itself.
type Push uint8

const (
	// PushNone: the source cannot apply the field; the plugin filters.
	PushNone Push = iota
	// PushIncludes: include lists of exact values (no `*`, no `!`); for codes, codes and
	// classes.
	PushIncludes
	// PushAll: includes, exclusions and globs.
	PushAll
)

// Pushdown is what each remote source can apply of one field. Line filters and filter
// patterns are prefilters (a superset: the plugin filters every line again); metric queries
// and Logs Insights count, so there the field must be exact.
type Pushdown struct {
	LokiLine   Push // LogQL line filter `|~ "\"key\":\"(a|b)\""` on compact JSON (prefilter)
	LokiMetric Push // LogQL label filter after `| json` (exact)
	Insights   Push // Logs Insights `filter` clause (exact)
	CWPattern  Push // FilterLogEvents JSON filter pattern (prefilter; codes: exact codes only)
}

// FilterField describes one field of Filter.
type FilterField struct {
	// Key is the field's JSON key in the query's filter ("verbs").
	Key string
	// Name is how messages name one value ("verb", "API group").
	Name string
	// Path is the audit JSON path the field tests, which is also its dimension's name
	// ("verb", "user.username", "objectRef.namespace"); derived fields name their dimension
	// ("userKind", "decision").
	Path string
	// LineKey is the last key of Path: how the value appears in compact JSON
	// (`"username":"alice"`); empty for fields a line filter cannot find.
	LineKey string
	Kind    FieldKind
	// Field is what the scanner must extract to test the field.
	Field audit.Field
	// Valid lists the accepted values (globs aside); nil accepts any.
	Valid []string
	// PluginOnly are values that only the plugin can test (decision "none": no annotation);
	// a list holding one is not pushed.
	PluginOnly []string
	// Push says how exactly each remote source applies the field.
	Push Pushdown
	// Values returns the field's values in f.
	Values func(f *Filter) []string
}

// Values of the enumerated fields.
var (
	validStages    = []string{audit.StageRequestReceived, audit.StageResponseStarted, audit.StageResponseComplete, audit.StagePanic}
	validDecisions = []string{audit.DecisionAllow, audit.DecisionForbid, DecisionNone}
	validLevels    = []string{"None", "Metadata", "Request", "RequestResponse"}
	validUserKinds = func() []string {
		out := make([]string, len(audit.UserKinds))
		for i, k := range audit.UserKinds {
			out[i] = string(k)
		}
		return out
	}()
)

// DecisionNone is the decision filter value of events without a decision annotation.
const DecisionNone = "none"

// pushStr is how the sources push a plain string field: Loki fully, the others exact includes.
var pushStr = Pushdown{LokiLine: PushIncludes, LokiMetric: PushAll, Insights: PushIncludes, CWPattern: PushIncludes}

func strField(key, name, path string, f audit.Field, values func(*Filter) []string) *FilterField {
	return &FilterField{Key: key, Name: name, Path: path, LineKey: path[strings.LastIndexByte(path, '.')+1:],
		Kind: KindGlob, Field: f, Push: pushStr, Values: values}
}

// FilterFields lists every filter field, in the order matchers test them.
var FilterFields = []*FilterField{
	strField("verbs", "verb", "verb", audit.FieldVerb, func(f *Filter) []string { return f.Verbs }),
	strField("users", "user", "user.username", audit.FieldUsername, func(f *Filter) []string { return f.Users }),
	strField("namespaces", "namespace", "objectRef.namespace", audit.FieldNamespace, func(f *Filter) []string { return f.Namespaces }),
	strField("resources", "resource", "objectRef.resource", audit.FieldResource, func(f *Filter) []string { return f.Resources }),
	strField("subresources", "subresource", "objectRef.subresource", audit.FieldSubresource, func(f *Filter) []string { return f.Subresources }),
	strField("apiGroups", "API group", "objectRef.apiGroup", audit.FieldAPIGroup, func(f *Filter) []string { return f.APIGroups }),
	strField("names", "name", "objectRef.name", audit.FieldName, func(f *Filter) []string { return f.Names }),
	// auditIDs: set by the engine only (Filter.AuditIDs), exact values; a prefilter of the lines
	// for Loki and CloudWatch, never counted by them.
	withPush(strField("auditIDs", "audit ID", "auditID", audit.FieldAuditID, func(f *Filter) []string { return f.AuditIDs }),
		Pushdown{LokiLine: PushIncludes, Insights: PushIncludes, CWPattern: PushIncludes}),
	withPush(strField("userAgents", "user agent", "userAgent", audit.FieldUserAgent, func(f *Filter) []string { return f.UserAgents }),
		Pushdown{LokiLine: PushIncludes, LokiMetric: PushAll, Insights: PushIncludes}),
	withValid(strField("levels", "level", "level", audit.FieldLevel, func(f *Filter) []string { return f.Levels }), validLevels),
	// Stages: with none given, the default stage rule (RequestFinal) applies instead.
	withValid(strField("stages", "stage", "stage", audit.FieldStage, func(f *Filter) []string { return f.Stages }), validStages),
	{Key: "groups", Name: "group", Path: "user.groups", Kind: KindGroups, Field: audit.FieldGroups,
		Values: func(f *Filter) []string { return f.Groups }},
	{Key: "sourceIPs", Name: "source IP", Path: "sourceIPs", Kind: KindIP, Field: audit.FieldSourceIPs,
		Values: func(f *Filter) []string { return f.SourceIPs }},
	{Key: "userKinds", Name: "user kind", Path: "userKind", Kind: KindDerived, Field: audit.FieldUsername, Valid: validUserKinds,
		Values: func(f *Filter) []string { return f.UserKinds }},
	{Key: "decisions", Name: "decision", Path: "decision", Kind: KindDerived, Field: audit.FieldAnnotations, Valid: validDecisions,
		PluginOnly: []string{DecisionNone}, Push: Pushdown{Insights: PushIncludes},
		Values: func(f *Filter) []string { return f.Decisions }},
	{Key: "codes", Name: "code", Path: "responseStatus.code", LineKey: "code", Kind: KindCode, Field: audit.FieldCode,
		Push:   Pushdown{LokiLine: PushIncludes, LokiMetric: PushAll, Insights: PushIncludes, CWPattern: PushIncludes},
		Values: func(f *Filter) []string { return f.Codes }},
	{Key: "search", Name: "search", Kind: KindSearch, Push: Pushdown{LokiLine: PushAll, LokiMetric: PushAll},
		Values: func(f *Filter) []string {
			if f.Search == "" {
				return nil
			}
			return []string{f.Search}
		}},
}

func withValid(ff *FilterField, valid []string) *FilterField { ff.Valid = valid; return ff }

func withPush(ff *FilterField, p Pushdown) *FilterField { ff.Push = p; return ff }

// LookupFilterField returns the field with JSON key key.
func LookupFilterField(key string) (*FilterField, bool) {
	for _, ff := range FilterFields {
		if ff.Key == key {
			return ff, true
		}
	}
	return nil, false
}

// Split separates a list into included and excluded (`!`, prefix removed) values.
func Split(values []string) (inc, exc []string) {
	for _, v := range values {
		if p, ok := strings.CutPrefix(v, "!"); ok {
			exc = append(exc, p)
		} else {
			inc = append(inc, v)
		}
	}
	return inc, exc
}

// Pushable reports whether values can be applied at level p (what the field's Push gives the
// source): PushAll takes anything; PushIncludes only values without `!` or `*` (codes: codes
// and classes); values in PluginOnly never.
func (ff *FilterField) Pushable(p Push, values []string) bool {
	if len(values) == 0 {
		return true
	}
	if p == PushNone {
		return false
	}
	for _, v := range values {
		plain := strings.TrimPrefix(v, "!")
		for _, po := range ff.PluginOnly {
			if plain == po {
				return false
			}
		}
		if p == PushIncludes && (strings.HasPrefix(v, "!") || (ff.Kind != KindCode && strings.Contains(v, "*"))) {
			return false
		}
	}
	return true
}

// CodeRange is an inclusive range of response codes: one code, or a class (4xx).
type CodeRange struct{ Lo, Hi int }

// Class reports whether the range is a whole class (400-499).
func (r CodeRange) Class() bool { return r.Lo%100 == 0 && r.Hi == r.Lo+99 }

// ParseCode reads a code ("403") or a class ("4xx"); a leading `!` is ignored.
func ParseCode(s string) (CodeRange, error) {
	p := strings.ToLower(strings.TrimPrefix(s, "!"))
	if len(p) == 3 && p[1:] == "xx" && p[0] >= '1' && p[0] <= '5' {
		base := int(p[0]-'0') * 100
		return CodeRange{base, base + 99}, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 999 {
		return CodeRange{}, errorf("invalid code %q: use a code such as 403 or a class such as 4xx", s)
	}
	return CodeRange{n, n}, nil
}

// StageRule is the default stage rule as data: without a stages filter, a query keeps the
// event that completes each request — an event of one of Stages, or an event of stage OrStage
// with code OrCode (kube-apiserver writes a lone ResponseStarted 401 for a request that failed
// authentication, and no ResponseComplete).
type StageRule struct {
	Stages  []string
	OrStage string
	OrCode  int
}

// RequestFinal is the default stage rule: see StageRule and IsRequestFinal.
var RequestFinal = StageRule{
	Stages:  []string{audit.StageResponseComplete, audit.StagePanic},
	OrStage: audit.StageResponseStarted,
	OrCode:  401,
}

// LineStages lists every stage a kept event can have: what a prefilter that cannot test the
// code keeps.
func (r StageRule) LineStages() []string {
	return append(append([]string(nil), r.Stages...), r.OrStage)
}

// Match applies the rule to a stage and code.
func (r StageRule) Match(stage []byte, code int) bool {
	for _, s := range r.Stages {
		if string(stage) == s {
			return true
		}
	}
	return code == r.OrCode && string(stage) == r.OrStage
}

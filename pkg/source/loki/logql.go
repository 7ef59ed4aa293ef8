package loki

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// LogQL generation. Two kinds of expressions are built:
//
//   - line filters for raw mode: `|= "search"` (the filter's substring search, exact on any
//     line format) and, when the lines are the apiserver's compact JSON, one `|~` per filter
//     field that lists only exact values, e.g. `|~ "\"verb\":\"(get|list)\""`. They are
//     supersets: a matching event always contains the text (false positives, e.g. the text
//     inside a requestObject, are dropped by the engine, which filters every line again).
//   - metric queries for pushdown: the same line filters, then `| json` of only the needed
//     fields into plugin-owned label names, stage and filter label filters, count_over_time.

// safeValue matches values whose compact-JSON encoding is the value itself: no character
// that encoding/json escapes (quotes, backslash, control characters, <, >, &, non-ASCII).
var safeValue = regexp.MustCompile(`^[A-Za-z0-9._:@/+=, -]+$`)

// lineField is a filter field with its JSON key in the event; the key occurs as `"key":"value"`
// (or `"key":value` for numbers) in compact JSON wherever the field is set.
type lineField struct {
	key    string
	values func(f *query.Filter) []string
	number bool
}

var lineFields = []lineField{
	{key: "verb", values: func(f *query.Filter) []string { return f.Verbs }},
	{key: "username", values: func(f *query.Filter) []string { return f.Users }},
	{key: "namespace", values: func(f *query.Filter) []string { return f.Namespaces }},
	{key: "resource", values: func(f *query.Filter) []string { return f.Resources }},
	{key: "subresource", values: func(f *query.Filter) []string { return f.Subresources }},
	{key: "apiGroup", values: func(f *query.Filter) []string { return f.APIGroups }},
	{key: "name", values: func(f *query.Filter) []string { return f.Names }},
	{key: "userAgent", values: func(f *query.Filter) []string { return f.UserAgents }},
	{key: "level", values: func(f *query.Filter) []string { return f.Levels }},
	{key: "stage", values: func(f *query.Filter) []string { return stagesOrDefault(f.Stages) }},
	{key: "code", number: true, values: func(f *query.Filter) []string { return f.Codes }},
}

// defaultStageLines are the stages of the events the default stage filter keeps (terminal
// stages and the lone ResponseStarted 401 of a failed authentication).
var defaultStageLines = []string{audit.StagePanic, audit.StageResponseComplete, audit.StageResponseStarted}

func stagesOrDefault(s []string) []string {
	if len(s) == 0 {
		return defaultStageLines
	}
	return s
}

// LineFilters returns the LogQL line filters (each starting with a space) that keep every line
// of an event matching f. compact says the lines are the apiserver's compact JSON.
func LineFilters(f query.Filter, compact bool) string {
	var b strings.Builder
	if f.Search != "" {
		b.WriteString(" |= ")
		b.WriteString(strconv.Quote(f.Search))
	}
	if !compact {
		return b.String()
	}
	for _, lf := range lineFields {
		alts, ok := exactAlternatives(lf.values(&f), lf.number)
		if !ok {
			continue
		}
		var re string
		if lf.number {
			// `"code":403` then a delimiter, so that 40 does not match 403.
			re = `"` + lf.key + `":(` + strings.Join(alts, "|") + `)[,}]`
		} else {
			re = `"` + lf.key + `":"(` + strings.Join(alts, "|") + `)"`
		}
		b.WriteString(" |~ ")
		b.WriteString(strconv.Quote(re))
	}
	return b.String()
}

// exactAlternatives turns a filter list into regexp alternatives when every value is an exact
// include (no `!`, no `*` except code classes) of safe characters; ok is false otherwise.
func exactAlternatives(values []string, number bool) (alts []string, ok bool) {
	if len(values) == 0 {
		return nil, false
	}
	for _, v := range values {
		if strings.HasPrefix(v, "!") || strings.Contains(v, "*") {
			return nil, false
		}
		if number {
			switch {
			case len(v) == 3 && v[1] == 'x' && v[2] == 'x' && v[0] >= '1' && v[0] <= '9':
				alts = append(alts, v[:1]+"[0-9][0-9]")
			case isDigits(v):
				alts = append(alts, v)
			default:
				return nil, false
			}
			continue
		}
		if !safeValue.MatchString(v) {
			return nil, false
		}
		alts = append(alts, regexp.QuoteMeta(v))
	}
	slices.Sort(alts)
	return slices.Compact(alts), true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// RawQuery is the LogQL log query of raw mode.
func RawQuery(selector string, f query.Filter, compact bool) string {
	return selector + LineFilters(f, compact)
}

// --- pushdown ---------------------------------------------------------------------------

// pushField is a dimension or filter field that LogQL can extract exactly with `| json`.
// Label names carry a prefix so they never collide with stream labels (Loki would rename an
// extracted label that collides to <name>_extracted).
type pushField struct {
	label string // extracted label name
	path  string // json expression
}

var pushFields = map[string]pushField{
	"verb":                      {"k8sa_verb", "verb"},
	"user.username":             {"k8sa_user", "user.username"},
	"impersonatedUser.username": {"k8sa_impuser", "impersonatedUser.username"},
	"objectRef.resource":        {"k8sa_resource", "objectRef.resource"},
	"objectRef.namespace":       {"k8sa_namespace", "objectRef.namespace"},
	"objectRef.name":            {"k8sa_name", "objectRef.name"},
	"objectRef.subresource":     {"k8sa_subresource", "objectRef.subresource"},
	"objectRef.apiGroup":        {"k8sa_apigroup", "objectRef.apiGroup"},
	"objectRef.apiVersion":      {"k8sa_apiversion", "objectRef.apiVersion"},
	"responseStatus.code":       {"k8sa_code", "responseStatus.code"},
	"userAgent":                 {"k8sa_useragent", "userAgent"},
	"stage":                     {"k8sa_stage", "stage"},
	"level":                     {"k8sa_level", "level"},
}

// filterDims maps each filter list that pushdown supports to its dimension.
var filterDims = []struct {
	dim    string
	values func(f *query.Filter) []string
}{
	{"verb", func(f *query.Filter) []string { return f.Verbs }},
	{"user.username", func(f *query.Filter) []string { return f.Users }},
	{"objectRef.namespace", func(f *query.Filter) []string { return f.Namespaces }},
	{"objectRef.resource", func(f *query.Filter) []string { return f.Resources }},
	{"objectRef.subresource", func(f *query.Filter) []string { return f.Subresources }},
	{"objectRef.apiGroup", func(f *query.Filter) []string { return f.APIGroups }},
	{"objectRef.name", func(f *query.Filter) []string { return f.Names }},
	{"userAgent", func(f *query.Filter) []string { return f.UserAgents }},
	{"level", func(f *query.Filter) []string { return f.Levels }},
	{"stage", func(f *query.Filter) []string { return f.Stages }},
}

// canPush reports whether the filter and dimensions can be counted exactly in LogQL.
func canPush(f query.Filter, groupBy []string) (bool, string) {
	for _, g := range groupBy {
		if _, ok := pushFields[g]; !ok {
			return false, "grouping by " + g + " cannot be computed exactly in LogQL (only fields extracted with | json: verb, user, resource, namespace, name, code, stage...)"
		}
	}
	for _, u := range []struct {
		name   string
		values []string
	}{{"groups", f.Groups}, {"sourceIPs", f.SourceIPs}, {"userKinds", f.UserKinds}, {"decisions", f.Decisions}} {
		if len(u.values) > 0 {
			return false, "the " + u.name + " filter cannot be expressed exactly in LogQL"
		}
	}
	return true, ""
}

// matcherRegexp turns a list of values (globs, exact) into an anchored RE2 alternation.
func matcherRegexp(values []string) string {
	alts := make([]string, 0, len(values))
	for _, v := range values {
		parts := strings.Split(v, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		alts = append(alts, strings.Join(parts, "(?s:.*)"))
	}
	slices.Sort(alts)
	alts = slices.Compact(alts)
	return strings.Join(alts, "|")
}

// labelFilters returns the `| label=~"..."` stages for one filter list; label is the
// extracted label name. Includes and excludes follow the engine: not excluded, and included
// when there are includes.
func labelFilters(label string, values []string) string {
	var inc, exc []string
	for _, v := range values {
		if p, ok := strings.CutPrefix(v, "!"); ok {
			exc = append(exc, p)
		} else {
			inc = append(inc, v)
		}
	}
	var b strings.Builder
	if len(exc) > 0 {
		b.WriteString(" | " + label + "!~" + strconv.Quote(matcherRegexp(exc)))
	}
	if len(inc) > 0 {
		b.WriteString(" | " + label + "=~" + strconv.Quote(matcherRegexp(inc)))
	}
	return b.String()
}

// codeRegexp turns codes ("403", "4xx") into an anchored RE2 alternation.
func codeRegexp(values []string) string {
	alts := make([]string, 0, len(values))
	for _, v := range values {
		if len(v) == 3 && v[1] == 'x' && v[2] == 'x' {
			alts = append(alts, v[:1]+"[0-9][0-9]")
		} else {
			alts = append(alts, regexp.QuoteMeta(v))
		}
	}
	slices.Sort(alts)
	return strings.Join(slices.Compact(alts), "|")
}

// CountQuery builds the LogQL metric query counting requests that match f per groupBy
// combination over rng (a LogQL duration such as "1h" or "1500ms").
func CountQuery(selector string, f query.Filter, groupBy []string, compact bool, rng string) string {
	need := map[string]bool{"stage": true, "responseStatus.code": true}
	for _, g := range groupBy {
		need[g] = true
	}
	for _, fd := range filterDims {
		if len(fd.values(&f)) > 0 {
			need[fd.dim] = true
		}
	}
	names := make([]string, 0, len(need))
	for n := range need {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(selector)
	b.WriteString(LineFilters(f, compact))
	b.WriteString(" | json ")
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		pf := pushFields[n]
		b.WriteString(pf.label + "=" + strconv.Quote(pf.path))
	}
	b.WriteString(` | __error__=""`)
	stage, code := pushFields["stage"].label, pushFields["responseStatus.code"].label
	if len(f.Stages) == 0 {
		// The engine's default: the event that completes each request (query.IsRequestFinal).
		b.WriteString(" | (" + stage + `=~"Panic|ResponseComplete" or (` + stage + `="ResponseStarted" and ` + code + `="401"))`)
	}
	for _, fd := range filterDims {
		if v := fd.values(&f); len(v) > 0 {
			b.WriteString(labelFilters(pushFields[fd.dim].label, v))
		}
	}
	if len(f.Codes) > 0 {
		var inc, exc []string
		for _, c := range f.Codes {
			if p, ok := strings.CutPrefix(c, "!"); ok {
				exc = append(exc, p)
			} else {
				inc = append(inc, c)
			}
		}
		if len(exc) > 0 {
			b.WriteString(" | " + code + "!~" + strconv.Quote(codeRegexp(exc)))
		}
		if len(inc) > 0 {
			b.WriteString(" | " + code + "=~" + strconv.Quote(codeRegexp(inc)))
		}
	}
	inner := "count_over_time(" + b.String() + " [" + rng + "])"
	if len(groupBy) == 0 {
		return "sum(" + inner + ")"
	}
	labels := make([]string, len(groupBy))
	for i, g := range groupBy {
		labels[i] = pushFields[g].label
	}
	return "sum by (" + strings.Join(labels, ", ") + ") (" + inner + ")"
}

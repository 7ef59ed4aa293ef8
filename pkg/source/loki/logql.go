package loki

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
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

// lineValues are the values of a filter field for line filters: a stages list, or the stages
// of the default stage rule (query.RequestFinal) when there is none.
func lineValues(ff *query.FilterField, f *query.Filter) []string {
	v := ff.Values(f)
	if ff.Key == "stages" && len(v) == 0 {
		return query.RequestFinal.LineStages()
	}
	return v
}

// LineFilters returns the LogQL line filters (each starting with a space) that keep every line
// of an event matching f. compact says the lines are the apiserver's compact JSON.
func LineFilters(f query.Filter, compact bool) string {
	var b strings.Builder
	b.WriteString(searchFilters(f))
	if !compact {
		return b.String()
	}
	for _, ff := range query.FilterFields {
		if ff.LineKey == "" || ff.Push.LokiLine == query.PushNone {
			continue
		}
		values := lineValues(ff, &f)
		if !ff.Pushable(ff.Push.LokiLine, values) {
			continue
		}
		number := ff.Kind == query.KindCode
		alts, ok := exactAlternatives(values, number)
		if !ok {
			continue
		}
		var re string
		if number {
			// `"code":403` then a delimiter, so that 40 does not match 403.
			re = `"` + ff.LineKey + `":(` + strings.Join(alts, "|") + `)[,}]`
		} else {
			re = `"` + ff.LineKey + `":"(` + strings.Join(alts, "|") + `)"`
		}
		b.WriteString(" |~ ")
		b.WriteString(strconv.Quote(re))
	}
	return b.String()
}

// searchFilters renders the filter's search as line filters. A literal search (see
// query.Filter.SearchIsLiteral) is one exact `|= "text"` (`|~ "(?i)text"` in any case); any
// other text search keeps the lines holding each of its words (query.Filter.SearchTokens),
// a superset the plugin narrows; a regex search is matched in the plugin only, since it may
// match the decoded request URI.
func searchFilters(f query.Filter) string {
	tokens, fold := f.SearchTokens()
	if f.SearchIsLiteral() {
		tokens = []string{f.Search}
	}
	var b strings.Builder
	for _, t := range tokens {
		if fold {
			b.WriteString(" |~ " + strconv.Quote("(?i)"+regexp.QuoteMeta(t)))
		} else {
			b.WriteString(" |= " + strconv.Quote(t))
		}
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

// canPush reports whether the filter and dimensions can be counted exactly in LogQL.
func canPush(f query.Filter, groupBy []string) (bool, string) {
	for _, g := range groupBy {
		if _, ok := pushFields[g]; !ok {
			return false, "grouping by " + g + " cannot be computed exactly in LogQL (only fields extracted with | json: verb, user, resource, namespace, name, code, stage...)"
		}
	}
	if f.Search != "" && !f.SearchIsLiteral() {
		return false, "the search is matched in the plugin: a regex, or text with characters that request URIs percent-encode, may match the decoded request URI, which LogQL cannot see"
	}
	for _, ff := range query.FilterFields {
		if !ff.Pushable(ff.Push.LokiMetric, ff.Values(&f)) {
			return false, "the " + ff.Key + " filter cannot be expressed exactly in LogQL"
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
	return includeExclude(label, values, matcherRegexp)
}

// includeExclude renders `| label!~"excluded" | label=~"included"` with re making each
// alternation.
func includeExclude(label string, values []string, re func([]string) string) string {
	inc, exc := query.Split(values)
	var b strings.Builder
	if len(exc) > 0 {
		b.WriteString(" | " + label + "!~" + strconv.Quote(re(exc)))
	}
	if len(inc) > 0 {
		b.WriteString(" | " + label + "=~" + strconv.Quote(re(inc)))
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

// stageRuleLogQL renders the default stage rule as a label filter expression over the
// extracted stage and code labels.
func stageRuleLogQL(r query.StageRule) string {
	stage, code := pushFields["stage"].label, pushFields["responseStatus.code"].label
	stages := slices.Sorted(slices.Values(r.Stages))
	return "(" + stage + "=~" + strconv.Quote(strings.Join(stages, "|")) + " or (" + stage + "=" + strconv.Quote(r.OrStage) +
		" and " + code + "=" + strconv.Quote(strconv.Itoa(r.OrCode)) + "))"
}

// NotBareQuery counts the lines of the selector's streams that do not start as a bare audit
// event and may hold one in an envelope (source.BareChecker), over range vectors of rng.
func NotBareQuery(selector, rng string) string {
	return "sum(count_over_time(" + selector + " !~ " + strconv.Quote(envelope.BareStartRE) + " |~ " + strconv.Quote(envelope.EventHintRE) + " [" + rng + "]))"
}

// CountQuery builds the LogQL metric query counting requests that match f per groupBy
// combination over rng (a LogQL duration such as "1h" or "1500ms").
func CountQuery(selector string, f query.Filter, groupBy []string, compact bool, rng string) string {
	labels := make([]string, len(groupBy))
	for i, g := range groupBy {
		labels[i] = pushFields[g].label
	}
	return sumBy(labels, countPipeline(selector, f, groupBy, compact, nil), rng)
}

// sumBy is `sum by (labels) (count_over_time(pipeline [rng]))` (`sum(...)` without labels).
func sumBy(labels []string, pipeline, rng string) string {
	inner := "count_over_time(" + pipeline + " [" + rng + "])"
	if len(labels) == 0 {
		return "sum(" + inner + ")"
	}
	return "sum by (" + strings.Join(labels, ", ") + ") (" + inner + ")"
}

// countPipeline is the log pipeline of CountQuery: the lines of the requests that match f,
// with the groupBy dimensions, the filter's fields and the extra label=path pairs extracted.
func countPipeline(selector string, f query.Filter, groupBy []string, compact bool, extra []pushField) string {
	need := map[string]bool{"stage": true, "responseStatus.code": true}
	for _, g := range groupBy {
		need[g] = true
	}
	for _, ff := range query.FilterFields {
		if _, ok := pushFields[ff.Path]; ok && len(ff.Values(&f)) > 0 {
			need[ff.Path] = true
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
	for _, pf := range extra {
		if !slices.ContainsFunc(names, func(n string) bool { return pushFields[n].label == pf.label }) {
			b.WriteString(", " + pf.label + "=" + strconv.Quote(pf.path))
		}
	}
	b.WriteString(` | __error__=""`)
	if len(f.Stages) == 0 {
		b.WriteString(" | " + stageRuleLogQL(query.RequestFinal))
	}
	for _, ff := range query.FilterFields {
		v := ff.Values(&f)
		pf, ok := pushFields[ff.Path]
		if len(v) == 0 || !ok {
			continue
		}
		if ff.Kind == query.KindCode {
			b.WriteString(includeExclude(pf.label, v, codeRegexp))
		} else {
			b.WriteString(labelFilters(pf.label, v))
		}
	}
	return b.String()
}

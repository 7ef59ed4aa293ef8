// Package query is the query model v1 (docs/query-model.md): parsing, migration, defaults and
// validation of the JSON every panel, variable and alert rule sends, and the compiled filter.
// It is authoritative: Grafana alerting runs queries in the backend only.
package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Type is a query type.
type Type string

// Query types.
const (
	TypeEvents     Type = "events"
	TypeTimeSeries Type = "timeseries"
	TypeLatency    Type = "latency"
	TypeDenied     Type = "denied"
	TypeMatrix     Type = "matrix"
	TypeTopN       Type = "topn"
	// Operational insights.
	TypeLatencyBreakdown Type = "latencyBreakdown"
	TypeDeprecatedAPIs   Type = "deprecatedApis"
	TypeObjectHistory    Type = "objectHistory"
	TypePipelineHealth   Type = "pipelineHealth"
	// Security.
	TypeDetections Type = "detections"
)

// Types lists the query types, in the order error messages name them. Each has its spec (formats,
// limits, defaults, validation) in its own file, type_<name>.go (see TypeSpec).
var Types = []Type{TypeEvents, TypeTimeSeries, TypeLatency, TypeDenied, TypeMatrix, TypeTopN,
	TypeLatencyBreakdown, TypeDeprecatedAPIs, TypeObjectHistory, TypePipelineHealth, TypeDetections}

// Formats.
const (
	FormatTimeSeries = "timeseries"
	FormatHeatmap    = "heatmap"
	FormatLogs       = "logs"
	FormatTable      = "table"
)

// Metrics of timeseries queries.
const (
	MetricCount = "count"
	MetricRate  = "rate"
)

// Source modes.
const (
	ModeAuto     = "auto"
	ModeRaw      = "raw"
	ModePushdown = "pushdown"
)

// SchemaVersion is the current version of the query model.
const SchemaVersion = 1

// Query is one parsed, defaulted and validated query.
type Query struct {
	SchemaVersion      int        `json:"schemaVersion"`
	QueryType          Type       `json:"queryType"`
	Filter             Filter     `json:"filter"`
	GroupBy            StringList `json:"groupBy,omitempty"`
	Metric             string     `json:"metric,omitempty"`
	Quantiles          []float64  `json:"quantiles,omitempty"`
	IncludeLongRunning bool       `json:"includeLongRunning,omitempty"`
	Rows               string     `json:"rows,omitempty"`
	Columns            string     `json:"columns,omitempty"`
	// SortBy orders topn rows before the limit cuts them: requests, errors, denied or p99.
	SortBy string `json:"sortBy,omitempty"`
	Limit  int    `json:"limit,omitempty"`
	Format string `json:"format,omitempty"`
	// Detections: rule ids (globs) and severities to evaluate (all when empty), allow-lists and
	// the window rules' tunables.
	Rules          StringList `json:"rules,omitempty"`
	Severities     StringList `json:"severities,omitempty"`
	Allow          *Allow     `json:"allow,omitempty"`
	BurstThreshold int        `json:"burstThreshold,omitempty"`
	BurstWindow    string     `json:"burstWindow,omitempty"`
	// SourceMode chooses how sources that can count (Loki, CloudWatch) answer timeseries
	// queries: auto (by estimated volume), raw (pull lines, count in the plugin) or pushdown
	// (count at the source). Sources that cannot count ignore it.
	SourceMode string `json:"sourceMode,omitempty"`
	// AuditIDs selects the events of these requests (events queries only): the raw-event link
	// of tables and findings.
	AuditIDs StringList `json:"auditIDs,omitempty"`
}

// Filter selects events. Lists match any of their values, fields combine with AND; `*` is a
// glob and a leading `!` excludes.
type Filter struct {
	Verbs        StringList `json:"verbs,omitempty"`
	Users        StringList `json:"users,omitempty"`
	Groups       StringList `json:"groups,omitempty"`
	Namespaces   StringList `json:"namespaces,omitempty"`
	Resources    StringList `json:"resources,omitempty"`
	Subresources StringList `json:"subresources,omitempty"`
	APIGroups    StringList `json:"apiGroups,omitempty"`
	Names        StringList `json:"names,omitempty"`
	Codes        StringList `json:"codes,omitempty"`
	Decisions    StringList `json:"decisions,omitempty"`
	SourceIPs    StringList `json:"sourceIPs,omitempty"`
	UserAgents   StringList `json:"userAgents,omitempty"`
	UserKinds    StringList `json:"userKinds,omitempty"`
	Stages       StringList `json:"stages,omitempty"`
	Levels       StringList `json:"levels,omitempty"`
	Search       string     `json:"search,omitempty"`
	// SearchMode is how Search matches: text (default), caseInsensitive or regex (RE2).
	SearchMode string `json:"searchMode,omitempty"`
	// AuditIDs is an events query's auditIDs, set by the engine for remote sources only, so
	// that they are asked for those requests' lines alone (engine narrowForSource). It is not
	// part of the filter's JSON: queries give auditIDs beside the filter.
	AuditIDs StringList `json:"-"`
}

// Allow lists what detections must not report: users, groups, namespaces and images (globs)
// and source networks (CIDRs or IPs).
type Allow struct {
	Users          StringList `json:"users,omitempty"`
	Groups         StringList `json:"groups,omitempty"`
	Namespaces     StringList `json:"namespaces,omitempty"`
	Images         StringList `json:"images,omitempty"`
	SourceNetworks StringList `json:"sourceNetworks,omitempty"`
}

// StringList accepts a JSON list of strings, a single string, or a list mixing strings and
// numbers (codes typed as 403). Empty values are dropped.
type StringList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*l = nil
		return nil
	}
	var raw []json.RawMessage
	if len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, &raw); err != nil {
			return err
		}
	} else {
		raw = []json.RawMessage{b}
	}
	out := make(StringList, 0, len(raw))
	for _, r := range raw {
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			var n json.Number
			if err2 := json.Unmarshal(r, &n); err2 != nil {
				return fmt.Errorf("expected a string or a list of strings, got %s", r)
			}
			s = n.String()
		}
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	*l = out
	return nil
}

// Error is a problem with a query the user can fix.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func errorf(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// rawQuery is the wire shape, tolerant of what older or hand-written queries send.
type rawQuery struct {
	Query
	Limit     json.RawMessage `json:"limit,omitempty"`
	Quantiles json.RawMessage `json:"quantiles,omitempty"`
}

// Parse parses a query's JSON. fallbackType is the DataQuery's QueryType, used when the JSON
// has none. The result is migrated to the current schema, defaulted and validated.
func Parse(raw []byte, fallbackType string) (*Query, error) {
	if err := checkSize(raw); err != nil { // limits.go
		return nil, err
	}
	var rq rawQuery
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &rq); err != nil {
			return nil, errorf("invalid query JSON: %v", err)
		}
		if err := checkKeys(raw); err != nil {
			return nil, err
		}
	}
	q := rq.Query
	if q.SchemaVersion > SchemaVersion {
		return nil, errorf("query schemaVersion %d is newer than this plugin supports (%d): upgrade the plugin", q.SchemaVersion, SchemaVersion)
	}
	var err error
	if q.Limit, err = parseLimit(rq.Limit); err != nil {
		return nil, err
	}
	if q.Quantiles, err = parseQuantiles(rq.Quantiles); err != nil {
		return nil, err
	}
	if q.QueryType == "" {
		q.QueryType = Type(fallbackType)
	}
	migrate(&q)
	if err := q.checkLists(); err != nil { // limits.go
		return nil, err
	}
	if err := q.defaultAndValidate(); err != nil {
		return nil, err
	}
	return &q, nil
}

func parseLimit(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || string(raw) == "null" || string(raw) == `""` {
		return 0, nil
	}
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, errorf("limit must be a whole number, got %s", raw)
	}
	if n < 0 {
		return 0, errorf("limit must not be negative, got %d", n)
	}
	return n, nil
}

// parseQuantiles reads quantiles as fractions in (0, 1] (0.99), or as percentiles with their
// explicit unit ("p99"). A bare number above 1 is an error rather than a percentage: 1.5 could
// mean p1.5 or a typo of 0.15, and a quantile read the wrong way gives a plausible, wrong line.
func parseQuantiles(raw json.RawMessage) ([]float64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		items = []json.RawMessage{raw}
	}
	if len(items) > QueryLimits.MaxQuantiles {
		return nil, tooMany("quantiles", len(items), QueryLimits.MaxQuantiles)
	}
	out := make([]float64, 0, len(items))
	for _, it := range items {
		s := strings.TrimSpace(strings.Trim(string(it), `"`))
		if s == "" {
			continue
		}
		pct := strings.HasPrefix(s, "p")
		s = strings.TrimPrefix(s, "p")
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, errorf("quantile %s is not a number: write a fraction such as 0.99 (or \"p99\")", it)
		}
		if pct {
			if !(v > 0 && v <= 100) { // also rejects NaN
				return nil, errorf("percentile %s must be in (p0, p100]: write p99, or a fraction in (0, 1] such as 0.99", it)
			}
			v /= 100
		}
		if !(v > 0 && v <= 1) { // also rejects NaN
			if v > 1 && v <= 100 {
				frac := strconv.FormatFloat(v/100, 'g', 12, 64)
				fix := fmt.Sprintf("write %s for p%s", frac, s)
				if frac != "0.99" {
					fix += ", 0.99 for p99"
				}
				return nil, errorf("quantile %s must be in (0, 1]: quantiles are fractions, %s", it, fix)
			}
			return nil, errorf("quantile %s must be in (0, 1]: write a fraction, such as 0.99 for p99", it)
		}
		out = append(out, v)
	}
	return out, nil
}

// migrate brings older queries to the current schema. Version 1 is the first; unversioned
// queries are version 1. Keep every step here: alert rules saved long ago still run.
func migrate(q *Query) {
	if q.SchemaVersion == 0 {
		q.SchemaVersion = SchemaVersion
	}
	q.QueryType = Type(strings.TrimSpace(string(q.QueryType)))
	if q.QueryType == "" {
		q.QueryType = TypeTimeSeries
	}
	for _, t := range Types { // accept any letter case ("TopN", "latencybreakdown")
		if strings.EqualFold(string(t), string(q.QueryType)) {
			q.QueryType = t
		}
	}
}

func (q *Query) defaultAndValidate() error {
	spec, ok := Spec(q.QueryType)
	if !ok {
		names := make([]string, len(Types))
		for i, t := range Types {
			names[i] = string(t)
		}
		return errorf("unknown query type %q: use one of %s", q.QueryType, strings.Join(names, ", "))
	}
	for i, g := range q.GroupBy {
		d, ok := LookupDimension(g)
		if !ok {
			return errorf("unknown dimension %q in groupBy", g)
		}
		q.GroupBy[i] = d.Name
	}
	if err := q.Filter.validate(); err != nil {
		return err
	}
	switch q.SourceMode {
	case "":
		q.SourceMode = ModeAuto
	case ModeAuto, ModeRaw, ModePushdown:
	default:
		return errorf("unknown sourceMode %q: use auto, raw or pushdown", q.SourceMode)
	}
	if len(q.AuditIDs) > 0 && q.QueryType != TypeEvents {
		return errorf("auditIDs selects the events of requests: use it with queryType events, not %s", q.QueryType)
	}
	// The rest is the type's own (type_<name>.go).
	return spec.apply(q)
}

func (q *Query) limitDefault(def, maxLimit int) error {
	if q.Limit == 0 {
		q.Limit = def
	}
	if q.Limit > maxLimit {
		return errorf("limit %d is above the maximum of %d for %s queries", q.Limit, maxLimit, q.QueryType)
	}
	return nil
}

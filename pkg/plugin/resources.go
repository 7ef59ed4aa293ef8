package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// CallResource serves the resources editors and variables use.
func (d *Datasource) CallResource(ctx context.Context, req *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	return d.resources.CallResource(ctx, req, sender)
}

func (d *Datasource) registerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /dimensions", d.handleDimensions)
	mux.HandleFunc("GET /values", d.handleValues)
	mux.HandleFunc("GET /schema", d.handleSchema)
}

type dimensionInfo struct {
	Name  string `json:"name"`
	Label string `json:"label"`
}

func (d *Datasource) handleDimensions(w http.ResponseWriter, _ *http.Request) {
	var out []dimensionInfo
	for _, dim := range query.Dimensions() {
		out = append(out, dimensionInfo{dim.Name, dim.Label})
	}
	writeJSON(w, http.StatusOK, out)
}

// schemaInfo is GET /schema: what the query model accepts, from the registry of query types
// (pkg/query type_<name>.go), the dimensions and the detection rules. Editors read their
// formats and limits from it instead of copying them.
type schemaInfo struct {
	SchemaVersion int             `json:"schemaVersion"`
	QueryTypes    []queryTypeInfo `json:"queryTypes"`
	Dimensions    []dimensionInfo `json:"dimensions"`
	Rules         []ruleInfo      `json:"rules"`
	Severities    []string        `json:"severities"`
	// Limits bound every query, whatever its type (the per-type limit is in QueryTypes).
	Limits query.ModelLimits `json:"limits"`
}

// queryTypeInfo is one query type of GET /schema, in the editor's order.
type queryTypeInfo struct {
	Name        string `json:"name"`
	Label       string `json:"label"`
	Description string `json:"description"`
	// Formats, the default first; empty when the type has one shape.
	Formats       []string   `json:"formats"`
	DefaultFormat string     `json:"defaultFormat,omitempty"`
	Metrics       []string   `json:"metrics,omitempty"`
	SortBy        []string   `json:"sortBy,omitempty"` // the orders of rows before the limit, the default first (topn)
	Limits        limitsInfo `json:"limits"`
	// Quantiles are (min, max]: fractions, such as 0.99.
	Quantiles *boundsInfo  `json:"quantiles,omitempty"`
	Defaults  defaultsInfo `json:"defaults"`
}

type limitsInfo struct {
	Default int    `json:"default"`
	Max     int    `json:"max"`
	Of      string `json:"of"`
}

type boundsInfo struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// defaultsInfo are the values the backend gives fields a query leaves empty.
type defaultsInfo struct {
	Metric    string    `json:"metric,omitempty"`
	Quantiles []float64 `json:"quantiles,omitempty"`
	GroupBy   []string  `json:"groupBy,omitempty"`
	Rows      string    `json:"rows,omitempty"`
	Columns   string    `json:"columns,omitempty"`
	Stages    []string  `json:"stages,omitempty"`
}

type ruleInfo struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Severity    string `json:"severity"`
	Description string `json:"description"`
}

// schema is the body of GET /schema. It depends on nothing but the plugin's code.
func schema() schemaInfo {
	out := schemaInfo{SchemaVersion: query.SchemaVersion, QueryTypes: []queryTypeInfo{}, Dimensions: []dimensionInfo{},
		Rules: []ruleInfo{}, Severities: []string{}, Limits: query.QueryLimits}
	for _, s := range query.Specs() {
		t := queryTypeInfo{Name: string(s.Type), Label: s.Label, Description: s.Description,
			Formats: append([]string{}, s.Formats...), DefaultFormat: s.DefaultFormat(), Metrics: s.Metrics, SortBy: s.SortBy}
		t.Limits = limitsInfo{s.Limits.DefaultLimit, s.Limits.MaxLimit, s.Limits.LimitOf}
		if b := s.Limits.Quantiles; b != nil {
			t.Quantiles = &boundsInfo{b.Min, b.Max}
		}
		d := s.Defaults
		t.Defaults = defaultsInfo{d.Metric, d.Quantiles, d.GroupBy, d.Rows, d.Columns, d.Stages}
		out.QueryTypes = append(out.QueryTypes, t)
	}
	for _, dim := range query.Dimensions() {
		out.Dimensions = append(out.Dimensions, dimensionInfo{dim.Name, dim.Label})
	}
	for _, r := range detect.Rules() {
		out.Rules = append(out.Rules, ruleInfo{r.ID, r.Title, string(r.Severity), r.Description})
	}
	for _, s := range detect.Severities {
		out.Severities = append(out.Severities, string(s))
	}
	return out
}

// handleSchema answers GET /schema. Like /dimensions it needs no source, so editors work even
// when the datasource's settings are wrong.
func (d *Datasource) handleSchema(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, schema())
}

// defaultValuesRange is used when a values request names no range.
const defaultValuesRange = 6 * time.Hour

const (
	defaultValuesLimit = 1000
	maxValuesLimit     = 10000
)

// handleValues answers GET /values?dim=verb&from=<ms>&to=<ms>[&limit=N][&filter=<filter JSON>].
func (d *Datasource) handleValues(w http.ResponseWriter, r *http.Request) {
	if d.configErr != nil {
		writeError(w, http.StatusBadRequest, d.configErr.Error())
		return
	}
	p := r.URL.Query()
	dim, ok := query.LookupDimension(p.Get("dim"))
	if !ok {
		writeError(w, http.StatusBadRequest, "unknown or missing dim "+strconv.Quote(p.Get("dim"))+": see GET /dimensions")
		return
	}
	to := time.Now()
	from := to.Add(-defaultValuesRange)
	var err error
	if v := p.Get("to"); v != "" {
		if to, err = parseMillis(v); err != nil {
			writeError(w, http.StatusBadRequest, "invalid to: "+err.Error())
			return
		}
	}
	if v := p.Get("from"); v != "" {
		if from, err = parseMillis(v); err != nil {
			writeError(w, http.StatusBadRequest, "invalid from: "+err.Error())
			return
		}
	}
	if !to.After(from) {
		writeError(w, http.StatusBadRequest, "from must be before to")
		return
	}
	limit := defaultValuesLimit
	if v := p.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit <= 0 || limit > maxValuesLimit {
			writeError(w, http.StatusBadRequest, "limit must be a number between 1 and "+strconv.Itoa(maxValuesLimit))
			return
		}
	}
	var f query.Filter
	if v := p.Get("filter"); v != "" {
		q, err := query.Parse([]byte(`{"queryType":"topn","filter":`+v+`}`), "")
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid filter: "+err.Error())
			return
		}
		f = q.Filter
	}
	values, _, err := engine.Values(r.Context(), d.src, engine.Request{Cache: d.cache, Index: d.index, Envelope: d.lineFormat()}, dim, f, from, to, limit)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		log.DefaultLogger.FromContext(r.Context()).Warn("values failed", "dim", dim.Name, "error", err.Error())
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	if values == nil {
		values = []engine.ValueCount{}
	}
	writeJSON(w, http.StatusOK, values)
}

func parseMillis(s string) (time.Time, error) {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, errors.New("expected epoch milliseconds")
	}
	return time.UnixMilli(ms).UTC(), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

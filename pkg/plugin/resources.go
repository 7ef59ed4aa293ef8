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
	values, _, err := engine.Values(r.Context(), d.src, dim, f, from, to, limit)
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

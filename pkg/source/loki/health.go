package loki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// healthWindow is how far back the health check looks for the audit stream.
const healthWindow = 7 * 24 * time.Hour

// Health checks, with three cheap requests, that Loki is reachable and accepts the
// credentials and tenant (labels), that the selector matches streams (series) and when the
// newest audit line was logged (one line, backward).
func (s *Source) Health(ctx context.Context) source.Health {
	now := s.cfg.Now()
	win := min(healthWindow, s.cfg.MaxQueryLength)
	from := now.Add(-win)
	rng := url.Values{"start": {nanos(from)}, "end": {nanos(now)}}

	var labels struct {
		Data []string `json:"data"`
	}
	if err := s.c.get(ctx, "/loki/api/v1/labels", rng, &labels); err != nil {
		return source.Health{Message: healthError(s, err)}
	}

	var series struct {
		Data []map[string]string `json:"data"`
	}
	p := url.Values{"match[]": {s.cfg.Selector}, "start": rng["start"], "end": rng["end"]}
	if err := s.c.get(ctx, "/loki/api/v1/series", p, &series); err != nil {
		return source.Health{Message: healthError(s, err)}
	}
	if len(series.Data) == 0 {
		return source.Health{Message: fmt.Sprintf(
			"Loki is reachable, but the stream selector %s matches no stream in the last %s. Labels Loki knows: %s. Check the labels Promtail/Alloy set on the audit log (job, host, filename) and the tenant.",
			s.cfg.Selector, durationText(win), strings.Join(labels.Data, ", "))}
	}

	params := url.Values{
		"query": {s.cfg.Selector}, "start": rng["start"], "end": {nanos(now.Add(time.Nanosecond))},
		"limit": {"1"}, "direction": {"backward"},
	}
	var resp queryResponse
	if err := s.c.get(ctx, "/loki/api/v1/query_range", params, &resp); err != nil {
		return source.Health{Message: healthError(s, err)}
	}
	var streams []stream
	_ = json.Unmarshal(resp.Data.Result, &streams)
	var newestLoki int64
	var newestLine string
	for _, st := range streams {
		for _, v := range st.Values {
			if ts, err := strconv.ParseInt(v[0], 10, 64); err == nil && ts >= newestLoki {
				newestLoki, newestLine = ts, v[1]
			}
		}
	}
	h := source.Health{OK: true, Files: len(series.Data)}
	msg := fmt.Sprintf("Loki is reachable; %s matches %d stream(s)", s.cfg.Selector, len(series.Data))
	if newestLine == "" {
		h.Message = msg + fmt.Sprintf(", but no line was logged in the last %s.", durationText(win))
		return h
	}
	t, ok := audit.LineTime([]byte(newestLine))
	if !ok {
		h.OK = false
		h.Message = msg + fmt.Sprintf(", but its newest line (logged %s) is not a Kubernetes audit event: check that the selector picks the audit log only.",
			time.Unix(0, newestLoki).UTC().Format(time.RFC3339))
		return h
	}
	h.Newest = t
	msg += "; newest audit event " + t.UTC().Format(time.RFC3339Nano)
	if lag := time.Unix(0, newestLoki).Sub(t); s.cfg.Lag == 0 && (lag > time.Second || lag < -time.Second) {
		msg += fmt.Sprintf(" (Loki stamped it %s later: set the ingestion lag, or stamp lines with stageTimestamp in Promtail/Alloy)", lag.Round(time.Millisecond))
	}
	if s.cfg.CompactJSON && !strings.HasPrefix(newestLine, `{"`) {
		msg += "; the newest line is not compact JSON: turn on \"lines are not compact JSON\" in the settings"
	}
	h.Message = msg + "."
	return h
}

func healthError(s *Source, err error) string {
	var ae *APIError
	var te *TimeoutError
	switch {
	case errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden):
		hint := "check the user and password or token"
		if strings.Contains(strings.ToLower(ae.Message), "org") {
			hint = "set the tenant (X-Scope-OrgID) of the audit logs"
		}
		return fmt.Sprintf("Loki at %s refused the request (HTTP %d: %s): %s.", s.cfg.URL, ae.Status, strings.TrimSpace(ae.Message), hint)
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		return fmt.Sprintf("Loki rejected the stream selector %s: %s. Use a LogQL stream selector such as {job=\"kubernetes-audit\"}.", s.cfg.Selector, strings.TrimSpace(ae.Message))
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		return fmt.Sprintf("%s answered 404 on %s: is the URL Loki's (or its gateway's) base address, without /loki/api/v1?", s.cfg.URL, ae.Path)
	case errors.As(err, &te):
		return te.Error() + "."
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "health check interrupted: " + err.Error()
	}
	return err.Error()
}

func durationText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
	return d.String()
}

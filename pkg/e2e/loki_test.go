package e2e

// The end-to-end test of a Loki-backed datasource: the plugin binary talks over HTTP to
// lokitest, a local server that speaks Loki's HTTP API and enforces its limits (no Loki binary
// can run here, and Loki's code is AGPL: never imported). The fixture lines (and the malformed
// ones) are pushed with the events' own time as the Loki timestamp, in two streams; the
// responses are checked against the same independent reference model as the file datasource.

import (
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

func lokiServer(t *testing.T) *lokitest.Server {
	t.Helper()
	prepare(t)
	srv := lokitest.New()
	t.Cleanup(srv.Close)
	srv.Tenant = "audit"
	for i, l := range fixtures {
		e, err := decodeRefEvent(l)
		if err != nil {
			t.Fatal(err)
		}
		ts := e.time
		if ts.IsZero() {
			continue // match no time range; Promtail would stamp them with the read time
		}
		host := []string{"master-1", "master-2"}[i%2]
		srv.Push(map[string]string{"job": "kubernetes-audit", "host": host}, ts, l)
	}
	for _, l := range malformedLines {
		srv.Push(map[string]string{"job": "kubernetes-audit", "host": "master-1"}, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), l)
	}
	return srv
}

func lokiDatasource(id int64, uid, url string) datasource {
	return datasource{id: id, uid: uid, jsonData: map[string]any{
		"source": "loki",
		"loki": map[string]any{
			"url": url, "selector": `{job="kubernetes-audit"}`, "tenant": "audit",
			// Small pages: the fixtures span several pages and every range split.
			"pageSize": 25,
		},
	}}
}

func TestLokiDatasource(t *testing.T) {
	srv := lokiServer(t)
	h := startPlugin(t)
	m := loadModel(t, rangeFrom, rangeTo)
	ds := lokiDatasource(10, "e2e-loki", srv.URL)

	t.Run("health", func(t *testing.T) {
		resp, err := h.diagnostics.CheckHealth(callCtx(t), &pluginv2.CheckHealthRequest{PluginContext: ds.pluginContext(t)})
		if err != nil {
			t.Fatal(err)
		}
		// The fixtures are years old: the selector matches no stream in the last 7 days.
		t.Logf("status %s: %s", resp.GetStatus(), resp.GetMessage())
		if !strings.Contains(resp.GetMessage(), "Loki is reachable") {
			t.Errorf("message %q", resp.GetMessage())
		}
	})

	cases := []queryCase{
		{newQuery("events-logs", map[string]any{"queryType": "events", "format": "logs", "limit": 1000}), checkEventsLogs},
		{newQuery("events-table", map[string]any{"queryType": "events", "format": "table", "limit": 1000}), checkEventsTable(refFilter{})},
		{newQuery("ts", map[string]any{"queryType": "timeseries"}), checkTimeseries(refFilter{}, "count", nil, 0)},
		{newQuery("ts-verb", map[string]any{"queryType": "timeseries", "groupBy": []string{"verb"}, "limit": 50}),
			checkTimeseries(refFilter{}, "count", []string{"verb"}, 50)},
		{newQuery("ts-pushdown-verb", map[string]any{"queryType": "timeseries", "groupBy": []string{"verb"}, "limit": 50, "sourceMode": "pushdown"}),
			checkTimeseries(refFilter{}, "count", []string{"verb"}, 50)},
		{newQuery("ts-pushdown-filtered", map[string]any{"queryType": "timeseries", "sourceMode": "pushdown",
			"filter": map[string]any{"verbs": []string{"get", "list"}, "users": []string{"!system:*"}}}),
			checkTimeseries(refFilter{Verbs: []string{"get", "list"}, Users: []string{"!system:*"}}, "count", nil, 0)},
		{newQuery("latency", map[string]any{"queryType": "latency", "quantiles": []float64{0.5, 0.99}}), checkLatency([]float64{0.5, 0.99})},
		{newQuery("latency-heatmap", map[string]any{"queryType": "latency", "format": "heatmap"}), checkHeatmap},
		{newQuery("denied", map[string]any{"queryType": "denied"}), checkDenied},
		{newQuery("matrix", map[string]any{"queryType": "matrix", "rows": "user.username", "columns": "verb", "limit": 3}),
			checkMatrix("user.username", "verb", 3)},
		{newQuery("topn", map[string]any{"queryType": "topn", "groupBy": []string{"objectRef.resource"}, "limit": 100}),
			checkTopN("objectRef.resource", 100)},
	}
	responses := h.queryData(t, ds, rangeFrom, rangeTo, queriesOf(cases)...)
	checkCases(t, m, responses, cases, func(t *testing.T, c queryCase, r *pluginv2.DataResponse) {
		if strings.Contains(c.query.refID, "pushdown") {
			if ns := notices(frames(t, r)); len(ns) == 0 || !strings.Contains(strings.Join(ns, "|"), "pushdown") {
				t.Errorf("notices %q do not say the source counted", ns)
			}
		}
	})
	if n := srv.Requests("/loki/api/v1/query_range"); n < 100 {
		t.Errorf("only %d query_range requests: pages and range splits were not exercised", n)
	}

	t.Run("bad tenant is a per-query error", func(t *testing.T) {
		bad := lokiDatasource(11, "e2e-loki-notenant", srv.URL)
		delete(bad.jsonData["loki"].(map[string]any), "tenant")
		rs := h.queryData(t, bad, rangeFrom, rangeTo, newQuery("A", map[string]any{"queryType": "topn"}))
		if r := rs["A"]; r.GetError() == "" || r.GetErrorSource() != "downstream" {
			t.Errorf("error %q source %q", r.GetError(), r.GetErrorSource())
		} else {
			t.Logf("error: %s", r.GetError())
		}
	})
}

package e2e

// The CloudWatch Logs datasource through the plugin binary. AWS cannot be reached from the
// tests: the datasource's `endpoint` setting points the plugin's real AWS SDK client (keys
// authentication from secureJsonData, SigV4-signed) at cwtest.Server, a local CloudWatch Logs
// endpoint in this test process that speaks the service's JSON 1.1 protocol. The server holds
// the same fixture events the file datasource reads, so the same reference model checks the
// answers; timeseries queries over the whole range are counted by Logs Insights (automatic mode,
// the range is longer than insightsAfter), the filtered ones the source cannot count exactly are
// pulled through FilterLogEvents.

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch/cwtest"
)

const cwCluster = "e2e"

var cwAuditStreams = []string{
	"kube-apiserver-audit-96624a2fbc193d5ccd64f9f1ddbebbe3",
	"kube-apiserver-audit-71976ca11bea5d3083393f7d32dab75b",
}

// cwDatasource is a CloudWatch-backed datasource with its secure JSON data.
type cwDatasource struct {
	datasource
	secure map[string]string
}

func (ds cwDatasource) pluginContext(t *testing.T) *pluginv2.PluginContext {
	t.Helper()
	pc := ds.datasource.pluginContext(t)
	pc.DataSourceInstanceSettings.DecryptedSecureJsonData = ds.secure
	return pc
}

// newCloudWatch starts a CloudWatch Logs server holding the fixture events (and the malformed
// lines) and returns a datasource configured for it by cluster name.
func newCloudWatch(t *testing.T, id int64, cluster string) (*cwtest.Server, cwDatasource) {
	t.Helper()
	prepare(t)
	srv := cwtest.New()
	t.Cleanup(srv.Close)
	group := "/aws/eks/" + cwCluster + "/cluster"
	srv.AddGroup(group)
	for i, l := range fixtures {
		e, err := decodeRefEvent(l)
		if err != nil || e.time.IsZero() {
			continue // CloudWatch has no event without a time
		}
		// CloudWatch stamps the line when it is shipped: a little after the event.
		ts := e.time.Add(time.Duration(i%5) * 150 * time.Millisecond).UnixMilli()
		srv.Add(group, cwAuditStreams[i%len(cwAuditStreams)], cwtest.Event{Timestamp: ts, Message: l})
	}
	for _, l := range malformedLines {
		srv.Add(group, cwAuditStreams[0], cwtest.Event{Timestamp: rotatedBefore.UnixMilli(), Message: l})
	}
	srv.Add(group, "kube-scheduler-bb3ea89d63fd2b9735ba06b144377db6", cwtest.Event{Timestamp: rotatedBefore.UnixMilli(), Message: `I0915 12:19:43.933124 1 scheduler.go:604] "Successfully bound pod to node"`})
	ds := cwDatasource{
		datasource: datasource{id: id, uid: "e2e-cloudwatch-" + strconv.FormatInt(id, 10), jsonData: map[string]any{
			"source": "cloudwatch",
			"cloudwatch": map[string]any{
				"authType":          "keys",
				"defaultRegion":     cwtest.Region,
				"endpoint":          srv.URL,
				"clusterName":       cluster,
				"requestsPerSecond": 20,
			},
		}},
		secure: map[string]string{"accessKey": cwtest.AccessKey, "secretKey": cwtest.SecretKey},
	}
	return srv, ds
}

func (h *host) cwQueryData(t *testing.T, ds cwDatasource, from, to time.Time, queries ...dataQuery) map[string]*pluginv2.DataResponse {
	t.Helper()
	req := &pluginv2.QueryDataRequest{PluginContext: ds.pluginContext(t), Headers: map[string]string{}}
	for _, q := range queries {
		req.Queries = append(req.Queries, q.proto(t, from, to))
	}
	resp, err := h.data.QueryData(callCtx(t), req)
	if err != nil {
		t.Fatalf("QueryData: gRPC error %v", err)
	}
	return resp.GetResponses()
}

func (h *host) cwHealth(t *testing.T, ds cwDatasource) *pluginv2.CheckHealthResponse {
	t.Helper()
	resp, err := h.diagnostics.CheckHealth(callCtx(t), &pluginv2.CheckHealthRequest{PluginContext: ds.pluginContext(t)})
	if err != nil {
		t.Fatalf("CheckHealth returned a gRPC error: %v", err)
	}
	return resp
}

func TestCloudWatchCheckHealth(t *testing.T) {
	h := startPlugin(t)
	m := loadModel(t, rangeFrom, rangeTo)

	t.Run("ok", func(t *testing.T) {
		_, ds := newCloudWatch(t, 101, cwCluster)
		resp := h.cwHealth(t, ds)
		t.Logf("message: %s", resp.GetMessage())
		if resp.GetStatus() != pluginv2.CheckHealthResponse_OK {
			t.Fatalf("status %s: %s", resp.GetStatus(), resp.GetMessage())
		}
		var newest time.Time
		for _, e := range m.events {
			if e.time.After(newest) {
				newest = e.time
			}
		}
		for _, want := range []string{"/aws/eks/e2e/cluster", "2 audit streams", newest.Format("2006-01-02")} {
			if !strings.Contains(resp.GetMessage(), want) {
				t.Errorf("message does not say %q", want)
			}
		}
	})
	t.Run("missing cluster", func(t *testing.T) {
		_, ds := newCloudWatch(t, 102, "other-cluster")
		resp := h.cwHealth(t, ds)
		t.Logf("message: %s", resp.GetMessage())
		if resp.GetStatus() != pluginv2.CheckHealthResponse_ERROR || !strings.Contains(resp.GetMessage(), "/aws/eks/other-cluster/cluster") {
			t.Errorf("status %s: %s", resp.GetStatus(), resp.GetMessage())
		}
	})
	t.Run("bad secret key is not echoed", func(t *testing.T) {
		_, ds := newCloudWatch(t, 103, cwCluster)
		ds.secure = map[string]string{"accessKey": "AKIDUNKNOWN", "secretKey": "do-not-echo-this-secret"}
		resp := h.cwHealth(t, ds)
		t.Logf("message: %s", resp.GetMessage())
		if resp.GetStatus() != pluginv2.CheckHealthResponse_ERROR || !strings.Contains(resp.GetMessage(), "credentials") ||
			strings.Contains(resp.GetMessage(), "do-not-echo-this-secret") {
			t.Errorf("status %s: %s", resp.GetStatus(), resp.GetMessage())
		}
	})
}

// TestCloudWatchQueryData sends one request with every query type over the CloudWatch
// datasource and checks each answer against the reference model, as TestQueryData does for
// files.
func TestCloudWatchQueryData(t *testing.T) {
	h := startPlugin(t)
	m := loadModel(t, rangeFrom, rangeTo)
	srv, ds := newCloudWatch(t, 104, cwCluster)

	cases := []queryCase{
		{newQuery("events-logs", map[string]any{"queryType": "events", "format": "logs", "limit": 1000}), checkEventsLogs},
		{newQuery("events-logs-cut", map[string]any{"queryType": "events", "limit": 5}), checkEventsCut},
		{newQuery("events-table", map[string]any{"queryType": "events", "format": "table", "limit": 1000}), checkEventsTable(refFilter{})},
		{newQuery("ts", map[string]any{"queryType": "timeseries"}), checkTimeseries(refFilter{}, "count", nil, 0)},
		{newQuery("ts-raw", map[string]any{"queryType": "timeseries", "sourceMode": "raw"}), checkTimeseries(refFilter{}, "count", nil, 0)},
		{newQuery("ts-rate", map[string]any{"queryType": "timeseries", "metric": "rate"}), checkTimeseries(refFilter{}, "rate", nil, 0)},
		{newQuery("ts-verb", map[string]any{"queryType": "timeseries", "groupBy": []string{"verb"}, "limit": 50}),
			checkTimeseries(refFilter{}, "count", []string{"verb"}, 50)},
		{newQuery("ts-verb-top2", map[string]any{"queryType": "timeseries", "groupBy": []string{"verb"}, "limit": 2}),
			checkTimeseries(refFilter{}, "count", []string{"verb"}, 2)},
		{newQuery("ts-filtered", map[string]any{"queryType": "timeseries",
			"filter": map[string]any{"verbs": []string{"get", "list"}, "users": []string{"!system:*"}}}),
			checkTimeseries(refFilter{Verbs: []string{"get", "list"}, Users: []string{"!system:*"}}, "count", nil, 0)},
		{newQuery("ts-errors", map[string]any{"queryType": "timeseries", "groupBy": []string{"objectRef.namespace"}, "limit": 50,
			"filter": map[string]any{"codes": []string{"4xx", "5xx"}, "resources": []string{"pods", "secrets", "configmaps"}}}),
			checkTimeseries(refFilter{Codes: []string{"4xx", "5xx"}, Resources: []string{"pods", "secrets", "configmaps"}},
				"count", []string{"objectRef.namespace"}, 50)},
		{newQuery("latency", map[string]any{"queryType": "latency", "quantiles": []float64{0.5, 0.99}}), checkLatency([]float64{0.5, 0.99})},
		{newQuery("latency-heatmap", map[string]any{"queryType": "latency", "format": "heatmap"}), checkHeatmap},
		{newQuery("denied", map[string]any{"queryType": "denied"}), checkDenied},
		{newQuery("matrix", map[string]any{"queryType": "matrix", "rows": "user.username", "columns": "verb", "limit": 3}),
			checkMatrix("user.username", "verb", 3)},
		{newQuery("topn", map[string]any{"queryType": "topn", "groupBy": []string{"objectRef.resource"}, "limit": 100}),
			checkTopN("objectRef.resource", 100)},
		{newQuery("bad-type", map[string]any{"queryType": "nope"}), checkError},
	}
	responses := h.cwQueryData(t, ds, rangeFrom, rangeTo, queriesOf(cases)...)
	checkCases(t, m, responses, cases, nil)

	t.Run("modes named in notices", func(t *testing.T) {
		for refID, want := range map[string]string{"ts": "counted by the source", "ts-raw": "raw lines", "ts-filtered": "raw lines"} {
			ns := strings.Join(notices(frames(t, responses[refID])), " | ")
			if !strings.Contains(ns, want) {
				t.Errorf("%s: notices %q do not say %q", refID, ns, want)
			}
		}
		if srv.Calls("StartQuery") == 0 || srv.Calls("FilterLogEvents") == 0 {
			t.Errorf("StartQuery %d, FilterLogEvents %d calls: both modes must have run", srv.Calls("StartQuery"), srv.Calls("FilterLogEvents"))
		}
	})
	// The malformed lines in the log group are not checked for a "skipped" notice: the default
	// stage filter is pushed down as a CloudWatch filter pattern, so CloudWatch never sends them.
	// That every answer above is right with them present is the check.
}

// TestCloudWatchErrors: AWS failures become per-query errors marked downstream.
func TestCloudWatchErrors(t *testing.T) {
	h := startPlugin(t)
	t.Run("missing log group", func(t *testing.T) {
		_, ds := newCloudWatch(t, 105, "other-cluster")
		r := h.cwQueryData(t, ds, rangeFrom, rangeTo,
			newQuery("A", map[string]any{"queryType": "events"}),
			newQuery("B", map[string]any{"queryType": "timeseries"}))
		for _, id := range []string{"A", "B"} {
			if r[id].GetError() == "" || r[id].GetErrorSource() != "downstream" || r[id].GetStatus() != http.StatusNotFound || !strings.Contains(r[id].GetError(), "/aws/eks/other-cluster/cluster") {
				t.Errorf("%s: error %q (source %q)", id, r[id].GetError(), r[id].GetErrorSource())
			}
			t.Logf("%s: %s (status %d)", id, r[id].GetError(), r[id].GetStatus())
		}
	})
	t.Run("access denied", func(t *testing.T) {
		srv, ds := newCloudWatch(t, 106, cwCluster)
		srv.Deny("/aws/eks/" + cwCluster + "/cluster")
		r := h.cwQueryData(t, ds, rangeFrom, rangeTo, newQuery("A", map[string]any{"queryType": "denied"}))["A"]
		if r.GetError() == "" || r.GetErrorSource() != "downstream" || !strings.Contains(r.GetError(), "access denied") {
			t.Errorf("error %q (source %q)", r.GetError(), r.GetErrorSource())
		}
	})
	t.Run("invalid settings", func(t *testing.T) {
		_, ds := newCloudWatch(t, 107, cwCluster)
		ds.jsonData["cloudwatch"].(map[string]any)["defaultRegion"] = ""
		r := h.cwQueryData(t, ds, rangeFrom, rangeTo, newQuery("A", map[string]any{"queryType": "events"}))["A"]
		if !strings.Contains(r.GetError(), "region") {
			t.Errorf("error %q", r.GetError())
		}
	})
}

// TestCloudWatchValues: the variable and picker values resource over CloudWatch.
func TestCloudWatchValues(t *testing.T) {
	h := startPlugin(t)
	m := loadModel(t, rangeFrom, rangeTo)
	_, ds := newCloudWatch(t, 108, cwCluster)
	params := url.Values{
		"dim":  {"verb"},
		"from": {strconv.FormatInt(rangeFrom.UnixMilli(), 10)},
		"to":   {strconv.FormatInt(rangeTo.UnixMilli(), 10)},
	}
	rawURL := "/api/datasources/uid/" + ds.uid + "/resources/values?" + params.Encode()
	stream, err := h.resource.CallResource(callCtx(t), &pluginv2.CallResourceRequest{
		PluginContext: ds.pluginContext(t), Path: "values", Method: "GET", Url: rawURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	var body []byte
	code := 0
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if code == 0 {
			code = int(msg.GetCode())
		}
		body = append(body, msg.GetBody()...)
	}
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var values []struct {
		Value string `json:"value"`
		Count int    `json:"count"`
	}
	if err := json.Unmarshal(body, &values); err != nil {
		t.Fatal(err)
	}
	want := countBy(m.selectEvents(refFilter{}), "verb")
	for _, v := range values {
		if want[noneValue(v.Value)] != v.Count {
			t.Errorf("verb %q: %d, want %d", v.Value, v.Count, want[v.Value])
		}
	}
	if len(values) == 0 {
		t.Error("no values")
	}
}

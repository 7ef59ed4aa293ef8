package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// originLines is an in-memory source that knows which "file" each line came from; lines of
// origins named "stream*" arrive 30 seconds after their event.
type originLines map[string]lines

func (o originLines) Scan(ctx context.Context, req source.Request, fn source.LineFunc) (source.Stats, error) {
	return o.ScanOrigins(ctx, req, func(_ string, _ time.Time, l []byte) error { return fn(l) })
}

func (o originLines) ScanOrigins(_ context.Context, _ source.Request, fn source.OriginFunc) (source.Stats, error) {
	for origin, ls := range o {
		for _, l := range ls {
			var arrived time.Time
			if strings.HasPrefix(origin, "stream") {
				t, _ := audit.LineTime([]byte(l))
				arrived = t.Add(30 * time.Second)
			}
			if err := fn(origin, arrived, []byte(l)); err != nil {
				return source.Stats{}, err
			}
		}
	}
	return source.Stats{}, nil
}

func (o originLines) Health(context.Context) source.Health { return source.Health{OK: true} }

func TestPipelineHealth(t *testing.T) {
	truncated := map[string]string{"audit.k8s.io/truncated": "true"}
	src := originLines{
		"/var/log/audit/audit-1.log": {
			ev{at: 1 * time.Minute, stage: "RequestReceived", verb: "get", user: "a"}.line(),
			ev{at: 1 * time.Minute, verb: "get", user: "a", code: 200}.line(),
			ev{at: 5 * time.Minute, verb: "create", user: "a", code: 201, ann: truncated}.line(), // a 3-minute gap before
			`{"kind":"Event"`,
		},
		"/var/log/audit/audit.log": {
			ev{at: 6 * time.Minute, verb: "get", user: "b", code: 200}.line(),
		},
	}
	res := run(t, src, `{"queryType":"pipelineHealth"}`, time.Minute)
	rows := res.Pipeline.Rows
	if len(rows) != 2 || rows[0].Origin != "/var/log/audit/audit-1.log" {
		t.Fatalf("rows %+v", rows)
	}
	r := rows[0]
	if r.Events != 3 || r.Requests != 2 || r.Malformed != 1 || r.Truncated != 1 || r.LongestGap != 3*time.Minute ||
		!r.First.Equal(t0.Add(time.Minute)) || !r.Last.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("row %+v", r)
	}
	res = run(t, src, `{"queryType":"pipelineHealth","format":"timeseries"}`, time.Minute)
	got := seriesByLabel(t, res.Series, "origin")
	if v := got["/var/log/audit/audit-1.log"][1]; v != 2.0/60 {
		t.Errorf("events/s in minute 1 = %v", v)
	}
	if rows[1].HasLag || rows[0].HasLag {
		t.Errorf("files have no ingestion lag: %+v", rows)
	}
	res = run(t, originLines{"stream-a": src["/var/log/audit/audit.log"]}, `{"queryType":"pipelineHealth"}`, time.Minute)
	if r := res.Pipeline.Rows[0]; !r.HasLag || r.LagP50 != 30*time.Second || r.LagMax != 30*time.Second {
		t.Errorf("lag %+v", r)
	}
	// A source that cannot tell origins reports one.
	res = run(t, lines(src["/var/log/audit/audit.log"]), `{"queryType":"pipelineHealth"}`, time.Minute)
	if len(res.Pipeline.Rows) != 1 || res.Pipeline.Rows[0].Origin != AllOrigins {
		t.Errorf("rows %+v", res.Pipeline.Rows)
	}
}

// TestPipelineHealthRequestsAsEveryQuery: pipelineHealth counts requests by the rule every
// other query counts them by (query.IsRequestFinal): the lone ResponseStarted event of a failed
// authentication (401) is a request, a watch's ResponseStarted is not.
func TestPipelineHealthRequestsAsEveryQuery(t *testing.T) {
	src := lines{
		ev{at: time.Second, stage: "ResponseStarted", verb: "list", resource: "pods", code: 401, message: "Authentication failed"}.line(),
		ev{at: 2 * time.Second, stage: "RequestReceived", verb: "watch", user: "a", resource: "pods"}.line(),
		ev{at: 2 * time.Second, stage: "ResponseStarted", verb: "watch", user: "a", resource: "pods", code: 200}.line(),
		ev{at: 3 * time.Second, verb: "watch", user: "a", resource: "pods", code: 200}.line(),
		ev{at: 4 * time.Second, stage: "Panic", verb: "get", user: "b", resource: "pods", code: 500}.line(),
	}
	res := run(t, src, `{"queryType":"pipelineHealth"}`, time.Minute)
	if r := res.Pipeline.Rows[0]; r.Events != 5 || r.Requests != 3 {
		t.Errorf("events %d, requests %d; want 5 and 3 (the 401, the completed watch, the panic)", r.Events, r.Requests)
	}
	if got := sum(run(t, src, `{"queryType":"timeseries"}`, time.Hour).Series.Series[0].Values); got != 3 {
		t.Errorf("timeseries counts %v requests", got)
	}
}

// TestPipelineHealthRequestsOnGeneratedLog: on a generated log (with failed authentications,
// panics, open streams) pipelineHealth's requests equal the timeseries total, and the generator's
// own count of requests minus those still running at the end (which have no final event).
func TestPipelineHealthRequestsOnGeneratedLog(t *testing.T) {
	var buf bytes.Buffer
	sum0, err := auditgen.Write(&buf, auditgen.Options{Seed: 7, Start: t0, Duration: time.Hour, Requests: 20000})
	if err != nil {
		t.Fatal(err)
	}
	var src lines
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		src = append(src, l)
	}
	open, lone401 := 0, 0
	final := map[string]bool{}
	ids := map[string]bool{}
	for _, l := range src {
		var e struct {
			AuditID, Stage string
			ResponseStatus struct{ Code int }
		}
		if json.Unmarshal([]byte(l), &e) != nil {
			continue
		}
		ids[e.AuditID] = true
		if audit.IsTerminalStage(e.Stage) || e.Stage == audit.StageResponseStarted && e.ResponseStatus.Code == 401 {
			final[e.AuditID] = true
		}
		if e.Stage == audit.StageResponseStarted && e.ResponseStatus.Code == 401 {
			lone401++
		}
	}
	open = len(ids) - len(final)
	if lone401 == 0 || len(ids) != sum0.Requests {
		t.Fatalf("generated %d requests (%d auditIDs), %d failed authentications", sum0.Requests, len(ids), lone401)
	}
	pipe := run(t, src, `{"queryType":"pipelineHealth"}`, time.Minute).Pipeline.Rows[0]
	ts := int64(sum(run(t, src, `{"queryType":"timeseries"}`, time.Hour).Series.Series[0].Values))
	t.Logf("%d requests (%d failed authentications, %d still open), pipelineHealth %d, timeseries %d", sum0.Requests, lone401, open, pipe.Requests, ts)
	if pipe.Requests != ts || pipe.Requests != int64(sum0.Requests-open) {
		t.Errorf("pipelineHealth counts %d requests, timeseries %d, want %d", pipe.Requests, ts, sum0.Requests-open)
	}
}

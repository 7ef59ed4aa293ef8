package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
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

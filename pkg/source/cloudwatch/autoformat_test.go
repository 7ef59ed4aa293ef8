package cloudwatch_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
)

// wrapFixtures puts the generated hour's events in an envelope format (auditgen), each message
// stamped as its bare event would be.
func wrapFixtures(t *testing.T, format string) []fixture {
	t.Helper()
	requests := 1500
	if raceEnabled {
		requests = 400
	}
	var gen bytes.Buffer
	if _, err := auditgen.Write(&gen, auditgen.Options{Seed: 7, Start: genStart, Duration: time.Hour, Requests: requests}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ew, err := auditgen.NewEnvelopeWriter(&out, format)
	if err != nil {
		t.Fatal(err)
	}
	var fx []fixture
	for i, l := range strings.Split(strings.TrimSuffix(gen.String(), "\n"), "\n") {
		tm, ok := audit.LineTime([]byte(l))
		if !ok {
			continue
		}
		out.Reset()
		if _, err := ew.Write([]byte(l + "\n")); err != nil {
			t.Fatal(err)
		}
		ts := tm.Add(time.Duration(i%9) * 97 * time.Millisecond).Truncate(100 * time.Millisecond).UnixMilli()
		for _, w := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			if w != "" {
				fx = append(fx, fixture{w, ts})
			}
		}
	}
	return fx
}

// TestAutoFormatOverEnvelopes: under the default line format (auto), events that reach
// CloudWatch in an envelope (docker, Fluent Bit, AKS) give the same answer as a file of the same
// lines: a Logs Insights query first counts the messages that may hold an event in an envelope,
// finds some, and the engine then sends no filter pattern (a literal of the event is escaped in
// the message) and no count query (Insights would parse the envelope's fields). sourceMode
// pushdown is refused with the reason. Over bare lines (the fixtures) auto still counts in
// Insights.
func TestAutoFormatOverEnvelopes(t *testing.T) {
	queries := []string{
		`{"queryType":"timeseries","groupBy":["verb"],"filter":{"verbs":["get","list"]}}`,
		`{"queryType":"timeseries","filter":{"codes":["4xx","5xx"],"resources":["pods","secrets","config*"]},"groupBy":["user.username"]}`,
		`{"queryType":"denied"}`,
		`{"queryType":"topn","groupBy":["objectRef.resource"],"limit":100}`,
		`{"queryType":"matrix","rows":"user.username","columns":"verb","limit":5}`,
		`{"queryType":"events","limit":50,"filter":{"search":"kube-system"}}`,
		`{"queryType":"latency","quantiles":[0.5,0.99]}`,
	}
	from, to := genStart.Add(7*time.Minute+123*time.Millisecond), genStart.Add(41*time.Minute+5*time.Millisecond)
	for _, format := range []string{auditgen.EnvelopeDocker, auditgen.EnvelopeFluentBit, auditgen.EnvelopeAKS} {
		t.Run(format, func(t *testing.T) {
			fx := wrapFixtures(t, format)
			srv := newServer(t, fx)
			cw := newSource(t, srv, func(c *cloudwatch.Config) { c.InsightsAfter = time.Minute }, cloudwatch.Options{})
			fs, err := file.New(file.Config{Paths: []string{writeFile(t, fx)}}, file.Options{TimeOf: audit.LineTime})
			if err != nil {
				t.Fatal(err)
			}
			for _, raw := range queries {
				q, err := query.Parse([]byte(raw), "")
				if err != nil {
					t.Fatal(err)
				}
				req := engine.Request{Query: q, From: from, To: to, Interval: time.Minute, MaxDataPoints: 1000, Workers: 1}
				want, err := engine.Run(testCtx(t), fs, req)
				if err != nil {
					t.Fatal(err)
				}
				if want.Stats.Matched == 0 {
					t.Fatalf("%s matches nothing in the %s file", raw, format)
				}
				q2, _ := query.Parse([]byte(raw), "")
				req.Query = q2
				got, err := engine.Run(testCtx(t), cw, req)
				if err != nil {
					t.Fatalf("%s: %v", raw, err)
				}
				if !slices.ContainsFunc(got.Notices, func(n engine.Notice) bool { return strings.Contains(n.Text, "not bare audit JSON (line format auto)") }) {
					t.Errorf("%s: no notice that the lines are not bare: %v", raw, got.Notices)
				}
				got.Notices = slices.DeleteFunc(got.Notices, func(n engine.Notice) bool { return strings.Contains(n.Text, "not bare audit JSON") })
				sameResult(t, fmt.Sprintf("%s over %s", raw, format), want, got)
			}
			q, _ := query.Parse([]byte(`{"queryType":"timeseries","sourceMode":"pushdown"}`), "")
			if _, err := engine.Run(testCtx(t), cw, engine.Request{Query: q, From: from, To: to, Interval: time.Minute}); err == nil || !strings.Contains(err.Error(), "not bare audit JSON") {
				t.Errorf("sourceMode pushdown over %s messages: err %v, want a refusal", format, err)
			}
			if n := srv.Calls("StartQuery"); n != len(queries)+1 {
				t.Errorf("%d Insights queries, want one check per query (%d): no count over the envelope", n, len(queries)+1)
			}
		})
	}

	// Bare messages: checked, then counted by Insights.
	fx := loadFixtures(t)
	srv := newServer(t, fx)
	cw := newSource(t, srv, func(c *cloudwatch.Config) { c.InsightsAfter = time.Minute }, cloudwatch.Options{})
	q, _ := query.Parse([]byte(`{"queryType":"timeseries","groupBy":["verb"]}`), "")
	res, err := engine.Run(testCtx(t), cw, engine.Request{Query: q, From: from, To: to, Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Notices[0].Text != "counted by the source (pushdown)" || srv.Calls("StartQuery") != 2 {
		t.Errorf("bare messages: %d Insights queries, notices %v; want the check and the count", srv.Calls("StartQuery"), res.Notices)
	}
}

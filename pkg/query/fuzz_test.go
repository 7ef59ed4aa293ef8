package query_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// FuzzParse: Parse never panics, fails only with a *query.Error, and is idempotent: a parsed
// query marshalled and parsed again is the same query. The compiled filter of a parsed query
// never panics on a record either.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `{"queryType":"latency","quantiles":["p50",90,0.99],"format":"heatmap"}`,
		`{"refId":"A","schemaVersion":1,"queryType":"timeseries","filter":{"verbs":["get","list"],"users":["system:serviceaccount:*","!system:node:*"],"codes":["403","4xx",500],"decisions":["allow","none"],"userKinds":"human","stages":["!RequestReceived"],"search":"secrets"},"groupBy":["verb","user"],"metric":"rate","limit":"25"}`,
		`{"queryType":"matrix","rows":"user","columns":"resource","limit":100}`,
		`{"queryType":"topn","groupBy":"namespace","includeLongRunning":true}`,
		`{"queryType":"events","format":"table","limit":5000,"filter":{"groups":["!contractors"],"sourceIPs":["10.*"]}}`,
		`{"queryType":"denied","filter":{"codes":"!2xx"}}`,
		`{"schemaVersion":2}`, `{"limit":-1}`, `{"queryType":"latency","quantiles":"NaN"}`,
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(`{}`), "denied")
	line := []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","verb":"get","user":{"username":"alice","groups":["dev"]},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"pods","namespace":"default"},"responseStatus":{"code":403},"stageTimestamp":"2024-05-01T10:00:00Z","annotations":{"authorization.k8s.io/decision":"forbid"}}`)
	f.Fuzz(func(t *testing.T, raw []byte, fallback string) {
		q, err := query.Parse(raw, fallback)
		if err != nil {
			if _, ok := err.(*query.Error); !ok {
				t.Fatalf("Parse error %T %v is not a *query.Error", err, err)
			}
			if q != nil {
				t.Fatalf("Parse returned a query with an error")
			}
			return
		}
		b1, err := json.Marshal(q)
		if err != nil {
			t.Fatalf("marshal %+v: %v", q, err)
		}
		q2, err := query.Parse(b1, "")
		if err != nil {
			t.Fatalf("re-parse of %s: %v", b1, err)
		}
		b2, err := json.Marshal(q2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("not idempotent:\n %s\n %s", b1, b2)
		}
		m := q.Filter.Compile()
		var r audit.Record
		if err := audit.NewScanner(m.Needs()).Scan(line, &r); err != nil {
			t.Fatal(err)
		}
		if m.MatchLine(line) {
			_ = m.Match(&r)
		}
		for _, g := range q.GroupBy {
			d, ok := query.LookupDimension(g)
			if !ok {
				t.Fatalf("parsed groupBy %q is not a dimension", g)
			}
			d.Each(&r, make([]byte, 0, 8), func([]byte) {})
		}
	})
}

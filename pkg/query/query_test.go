package query_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

func mustParse(t *testing.T, raw, fallback string) *query.Query {
	t.Helper()
	q, err := query.Parse([]byte(raw), fallback)
	if err != nil {
		t.Fatalf("Parse(%s, %q): %v", raw, fallback, err)
	}
	return q
}

func TestParseDefaults(t *testing.T) {
	check := func(raw, fallback string, want query.Query) {
		t.Helper()
		q := mustParse(t, raw, fallback)
		if q.SchemaVersion != want.SchemaVersion || q.QueryType != want.QueryType || q.Metric != want.Metric ||
			!slices.Equal(q.Quantiles, want.Quantiles) || q.Rows != want.Rows || q.Columns != want.Columns ||
			q.Limit != want.Limit || q.Format != want.Format || !slices.Equal(q.GroupBy, want.GroupBy) ||
			q.IncludeLongRunning != want.IncludeLongRunning {
			t.Errorf("Parse(%s, %q) =\n  %+v\nwant\n  %+v", raw, fallback, *q, want)
		}
	}
	// Empty input: a timeseries count.
	check(``, "", query.Query{SchemaVersion: 1, QueryType: query.TypeTimeSeries, Metric: "count", Limit: 10})
	check(`{}`, "", query.Query{SchemaVersion: 1, QueryType: query.TypeTimeSeries, Metric: "count", Limit: 10})
	check(`  {"refId":"A"}  `, "", query.Query{SchemaVersion: 1, QueryType: query.TypeTimeSeries, Metric: "count", Limit: 10})
	check(`{"queryType":"timeseries","metric":"rate"}`, "", query.Query{SchemaVersion: 1, QueryType: query.TypeTimeSeries, Metric: "rate", Limit: 10})
	check(`{"queryType":"latency"}`, "", query.Query{SchemaVersion: 1, QueryType: query.TypeLatency,
		Quantiles: []float64{0.5, 0.9, 0.99}, Format: "timeseries", Limit: 10})
	check(`{"queryType":"latency","format":"heatmap"}`, "", query.Query{SchemaVersion: 1, QueryType: query.TypeLatency,
		Quantiles: []float64{0.5, 0.9, 0.99}, Format: "heatmap", Limit: 10})
	check(`{"queryType":"denied"}`, "", query.Query{SchemaVersion: 1, QueryType: query.TypeDenied, Limit: 100})
	check(`{"queryType":"events"}`, "", query.Query{SchemaVersion: 1, QueryType: query.TypeEvents, Format: "logs", Limit: 100})
	check(`{"queryType":"events","format":"table","limit":5000}`, "", query.Query{SchemaVersion: 1, QueryType: query.TypeEvents, Format: "table", Limit: 5000})
	check(`{"queryType":"matrix"}`, "", query.Query{SchemaVersion: 1, QueryType: query.TypeMatrix,
		Rows: "user.username", Columns: "objectRef.resource", Limit: 10})
	check(`{"queryType":"topn"}`, "", query.Query{SchemaVersion: 1, QueryType: query.TypeTopN,
		GroupBy: query.StringList{"user.username"}, Limit: 10})
	check(`{"queryType":"topn","groupBy":["verb","resource"],"includeLongRunning":true}`, "", query.Query{SchemaVersion: 1,
		QueryType: query.TypeTopN, GroupBy: query.StringList{"verb", "objectRef.resource"}, Limit: 10, IncludeLongRunning: true})
	// The DataQuery's queryType is the fallback; the JSON wins when it has one.
	check(`{}`, "denied", query.Query{SchemaVersion: 1, QueryType: query.TypeDenied, Limit: 100})
	check(`{"queryType":"events"}`, "denied", query.Query{SchemaVersion: 1, QueryType: query.TypeEvents, Format: "logs", Limit: 100})
	// Query types are case- and space-insensitive.
	check(`{"queryType":" TopN "}`, "", query.Query{SchemaVersion: 1, QueryType: query.TypeTopN, GroupBy: query.StringList{"user.username"}, Limit: 10})
	// Aliases of dimensions are normalised to their names.
	check(`{"groupBy":["user","code","userkind","sourceIP"]}`, "", query.Query{SchemaVersion: 1, QueryType: query.TypeTimeSeries,
		Metric: "count", Limit: 10, GroupBy: query.StringList{"user.username", "responseStatus.code", "userKind", "sourceIPs"}})
	check(`{"queryType":"matrix","rows":"namespace","columns":"verb","limit":100}`, "", query.Query{SchemaVersion: 1,
		QueryType: query.TypeMatrix, Rows: "objectRef.namespace", Columns: "verb", Limit: 100})
	// Maximum limits are allowed.
	check(`{"queryType":"denied","limit":10000}`, "", query.Query{SchemaVersion: 1, QueryType: query.TypeDenied, Limit: 10000})
	check(`{"queryType":"topn","limit":1000}`, "", query.Query{SchemaVersion: 1, QueryType: query.TypeTopN, GroupBy: query.StringList{"user.username"}, Limit: 1000})
	check(`{"limit":500}`, "", query.Query{SchemaVersion: 1, QueryType: query.TypeTimeSeries, Metric: "count", Limit: 500})
}

func TestParseMigration(t *testing.T) {
	for _, raw := range []string{`{}`, `{"schemaVersion":0}`, `{"schemaVersion":null}`, `{"schemaVersion":1}`} {
		if q := mustParse(t, raw, ""); q.SchemaVersion != query.SchemaVersion {
			t.Errorf("Parse(%s).SchemaVersion = %d, want %d", raw, q.SchemaVersion, query.SchemaVersion)
		}
	}
}

func TestParseTolerantInputs(t *testing.T) {
	// A single string where a list is expected, numbers in codes, empty values dropped.
	q := mustParse(t, `{"filter":{"verbs":"get","codes":[403,"4xx"," ",""],"users":" alice ","namespaces":null,"resources":[],"stages":["ResponseStarted"]}}`, "")
	if !slices.Equal(q.Filter.Verbs, []string{"get"}) || !slices.Equal(q.Filter.Codes, []string{"403", "4xx"}) ||
		!slices.Equal(q.Filter.Users, []string{"alice"}) || q.Filter.Namespaces != nil || len(q.Filter.Resources) != 0 ||
		!slices.Equal(q.Filter.Stages, []string{"ResponseStarted"}) {
		t.Errorf("filter = %+v", q.Filter)
	}
	q = mustParse(t, `{"filter":{"codes":403}}`, "")
	if !slices.Equal(q.Filter.Codes, []string{"403"}) {
		t.Errorf("single numeric code = %q", q.Filter.Codes)
	}
	q = mustParse(t, `{"groupBy":"verb"}`, "")
	if !slices.Equal(q.GroupBy, []string{"verb"}) {
		t.Errorf("single groupBy = %q", q.GroupBy)
	}
	// Limit as a number, a string, a string with spaces, empty or null.
	for raw, want := range map[string]int{
		`{"limit":25}`: 25, `{"limit":"25"}`: 25, `{"limit":" 25 "}`: 25, `{"limit":""}`: 10, `{"limit":null}`: 10, `{"limit":0}`: 10,
	} {
		if q := mustParse(t, raw, ""); q.Limit != want {
			t.Errorf("Parse(%s).Limit = %d, want %d", raw, q.Limit, want)
		}
	}
	// Quantiles as fractions, percentiles with their unit ("pNN" strings), single values.
	for raw, want := range map[string][]float64{
		`[0.5,0.9,0.99]`:              {0.5, 0.9, 0.99},
		`["p50","p90","p99"]`:         {0.5, 0.9, 0.99},
		`["p99.9"]`:                   {0.999},
		`["0.99"]`:                    {0.99},
		`"p99"`:                       {0.99},
		`0.99`:                        {0.99},
		`[1]`:                         {1},
		`["p100"]`:                    {1},
		`["p1"]`:                      {0.01},
		`["p50", 0.9, " p99 "]`:       {0.5, 0.9, 0.99},
		`["", "p90"]`:                 {0.9},
		`null`:                        {0.5, 0.9, 0.99},
		`[]`:                          {0.5, 0.9, 0.99},
		`[0.001, 0.5, 0.999, 0.9999]`: {0.001, 0.5, 0.999, 0.9999},
	} {
		q := mustParse(t, `{"queryType":"latency","quantiles":`+raw+`}`, "")
		if len(q.Quantiles) != len(want) {
			t.Errorf("quantiles %s = %v, want %v", raw, q.Quantiles, want)
			continue
		}
		for i := range want {
			if d := q.Quantiles[i] - want[i]; d > 1e-12 || d < -1e-12 {
				t.Errorf("quantiles %s = %v, want %v", raw, q.Quantiles, want)
				break
			}
		}
	}
	// Filter values that look like validation targets but are globs or exclusions.
	q = mustParse(t, `{"filter":{"stages":["!RequestReceived","Response*"],"decisions":["!none"],"userKinds":["!node","*"],"levels":["Request*"],"codes":["!2xx","5XX","!404"]}}`, "")
	if len(q.Filter.Stages) != 2 || len(q.Filter.Codes) != 3 {
		t.Errorf("filter = %+v", q.Filter)
	}
}

func TestParseErrors(t *testing.T) {
	check := func(raw, fallback string, wantMsg ...string) {
		t.Helper()
		q, err := query.Parse([]byte(raw), fallback)
		if err == nil {
			t.Errorf("Parse(%s) = %+v, want an error", raw, q)
			return
		}
		var qe *query.Error
		if !errors.As(err, &qe) {
			t.Errorf("Parse(%s) error %T %v is not a *query.Error", raw, err, err)
			return
		}
		if q != nil {
			t.Errorf("Parse(%s) returned a query with its error", raw)
		}
		for _, m := range wantMsg {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("Parse(%s) error %q does not mention %q", raw, err, m)
			}
		}
	}
	check(`{"queryType":"histogram"}`, "", `unknown query type "histogram"`, "events, timeseries, latency, denied, matrix, topn")
	check(`{}`, "bogus", `unknown query type "bogus"`)
	check(`{"schemaVersion":2}`, "", "schemaVersion 2", "newer", "upgrade the plugin")
	check(`{"schemaVersion":99,"queryType":"nope"}`, "", "schemaVersion 99")
	check(`{"groupBy":["verb","colour"]}`, "", `unknown dimension "colour"`)
	check(`{"queryType":"topn","groupBy":"objectRef.kind"}`, "", `unknown dimension "objectRef.kind"`)
	check(`{"metric":"sum"}`, "", `unknown metric "sum"`, "count or rate")
	check(`{"queryType":"latency","format":"table"}`, "", `unknown format "table" for latency`, "timeseries or heatmap")
	check(`{"queryType":"events","format":"heatmap"}`, "", `unknown format "heatmap" for events`, "logs or table")
	check(`{"filter":{"stages":["Done"]}}`, "", `unknown stage "Done"`, "RequestReceived, ResponseStarted, ResponseComplete, Panic")
	check(`{"filter":{"stages":["responsecomplete"]}}`, "", `unknown stage "responsecomplete"`)
	check(`{"filter":{"stages":["!"]}}`, "", `unknown stage ""`)
	check(`{"filter":{"decisions":["deny"]}}`, "", `unknown decision "deny"`, "allow, forbid, none")
	check(`{"filter":{"decisions":["!deny"]}}`, "", `unknown decision "deny"`)
	check(`{"filter":{"userKinds":["robot"]}}`, "", `unknown user kind "robot"`, "human, serviceaccount, node, system, anonymous")
	check(`{"filter":{"levels":["Everything"]}}`, "", `unknown level "Everything"`, "None, Metadata, Request, RequestResponse")
	check(`{"filter":{"codes":["forbidden"]}}`, "", `invalid code "forbidden"`, "403", "4xx")
	check(`{"filter":{"codes":["6xx"]}}`, "", `invalid code "6xx"`)
	check(`{"queryType":"detections","allow":{"sourceNetworks":["10.0.0.0/8","10.0.0.0/33"]}}`, "", `allow.sourceNetworks: "10.0.0.0/33" is neither a CIDR nor an IP address`)
	check(`{"filter":{"codes":["1000"]}}`, "", `invalid code "1000"`)
	check(`{"filter":{"codes":["-1"]}}`, "", `invalid code "-1"`)
	check(`{"filter":{"codes":["4x"]}}`, "", `invalid code "4x"`)
	check(`{"filter":{"codes":[403.5]}}`, "", `invalid code "403.5"`)
	check(`{"filter":{"codes":["!"]}}`, "", `invalid code "!"`)
	check(`{"limit":-1}`, "", "limit must not be negative", "-1")
	check(`{"limit":"-5"}`, "", "limit must not be negative")
	check(`{"limit":"ten"}`, "", "limit must be a whole number", "ten")
	check(`{"limit":2.5}`, "", "limit must be a whole number", "2.5")
	check(`{"limit":true}`, "", "limit must be a whole number")
	check(`{"limit":501}`, "", "limit 501 is above the maximum of 500 for timeseries")
	check(`{"queryType":"latency","limit":501}`, "", "maximum of 500 for latency")
	check(`{"queryType":"denied","limit":10001}`, "", "maximum of 10000 for denied")
	check(`{"queryType":"events","limit":5001}`, "", "maximum of 5000 for events")
	check(`{"queryType":"topn","limit":1001}`, "", "maximum of 1000 for topn")
	check(`{"queryType":"matrix","limit":101}`, "", "maximum of 100 for matrix")
	check(`{"queryType":"matrix","rows":"verb","columns":"verb"}`, "", "rows and columns must be different", `"verb"`)
	check(`{"queryType":"matrix","rows":"user","columns":"user.username"}`, "", "rows and columns must be different", `"user.username"`)
	check(`{"queryType":"matrix","columns":"user.username"}`, "", "rows and columns must be different")
	check(`{"queryType":"matrix","rows":"nope"}`, "", `unknown dimension "nope" in matrix`)
	check(`{"queryType":"latency","quantiles":["p"]}`, "", `quantile "p" is not a number`)
	check(`{"queryType":"latency","quantiles":["high"]}`, "", "is not a number")
	check(`{"queryType":"latency","quantiles":[0]}`, "", "must be in (0, 1]")
	check(`{"queryType":"latency","quantiles":[-0.5]}`, "", "must be in (0, 1]")
	check(`{"queryType":"latency","quantiles":[101]}`, "", "must be in (0, 1]")
	check(`{"queryType":"latency","quantiles":["p100.5"]}`, "", `percentile "p100.5" must be in (p0, p100]`)
	check(`{"queryType":"latency","quantiles":["p0"]}`, "", `percentile "p0" must be in (p0, p100]`)
	// A bare number above 1 is not read as a percentage: the error says how to write it.
	check(`{"queryType":"latency","quantiles":[99]}`, "", "quantile 99 must be in (0, 1]", "write 0.99 for p99")
	check(`{"queryType":"latency","quantiles":99}`, "", "quantile 99 must be in (0, 1]", "write 0.99 for p99")
	check(`{"queryType":"latency","quantiles":["99"]}`, "", `quantile "99" must be in (0, 1]`, "write 0.99 for p99")
	check(`{"queryType":"latency","quantiles":[1.5]}`, "", "quantile 1.5 must be in (0, 1]", "write 0.015 for p1.5, 0.99 for p99")
	check(`{"queryType":"latency","quantiles":[50,90,99]}`, "", "quantile 50 must be in (0, 1]", "write 0.5 for p50")
	check(`{"queryType":"latency","quantiles":[100]}`, "", "quantile 100 must be in (0, 1]", "write 1 for p100")
	check(`{"queryType":"latency","quantiles":[0.5, 99.9]}`, "", "quantile 99.9 must be in (0, 1]", "write 0.999 for p99.9")
	check(`{"queryType":"latency","quantiles":[1000]}`, "", "quantile 1000 must be in (0, 1]", "write a fraction, such as 0.99 for p99")
	check(`{"queryType":"latency","quantiles":["NaN"]}`, "", "quantile")
	check(`{"queryType":"latency","quantiles":["Inf"]}`, "", "quantile")
	check(`{"queryType":"latency","quantiles":[{"q":0.5}]}`, "", "quantile")
	// Invalid JSON and wrong types.
	check(`{`, "", "invalid query JSON")
	check(`not json`, "", "invalid query JSON")
	check(`[]`, "", "invalid query JSON")
	check(`{"queryType":5}`, "", "invalid query JSON")
	check(`{"filter":{"verbs":[["get"]]}}`, "", "invalid query JSON", "expected a string or a list of strings")
	check(`{"filter":{"verbs":{"a":1}}}`, "", "invalid query JSON")
	check(`{"filter":{"users":[true]}}`, "", "invalid query JSON")
	check(`{"filter":"verb=get"}`, "", "invalid query JSON")
	check(`{"schemaVersion":"1"}`, "", "invalid query JSON")
}

func TestErrorType(t *testing.T) {
	e := &query.Error{Msg: "boom"}
	if e.Error() != "boom" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestDimensions(t *testing.T) {
	want := []string{"verb", "user.username", "user.groups", "objectRef.resource", "objectRef.namespace",
		"objectRef.name", "objectRef.subresource", "objectRef.apiGroup", "objectRef.apiVersion",
		"responseStatus.code", "userAgent", "sourceIPs", "stage", "level", "decision", "userKind",
		"impersonatedUser.username"}
	var names []string
	for _, d := range query.Dimensions() {
		names = append(names, d.Name)
		if d.Label == "" {
			t.Errorf("dimension %s has no label", d.Name)
		}
		if d.Needs == 0 {
			t.Errorf("dimension %s needs no field", d.Name)
		}
		if got, ok := query.LookupDimension(d.Name); !ok || got != d {
			t.Errorf("LookupDimension(%q) = %v, %v", d.Name, got, ok)
		}
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("dimensions = %v\nwant (docs/query-model.md) %v", names, want)
	}
	for alias, name := range map[string]string{"user": "user.username", "username": "user.username", "groups": "user.groups",
		"resource": "objectRef.resource", "namespace": "objectRef.namespace", "name": "objectRef.name",
		"subresource": "objectRef.subresource", "apiGroup": "objectRef.apiGroup", "code": "responseStatus.code",
		"sourceIP": "sourceIPs", "userkind": "userKind"} {
		if d, ok := query.LookupDimension(alias); !ok || d.Name != name {
			t.Errorf("LookupDimension(%q) = %v, %v; want %s", alias, d, ok, name)
		}
	}
	for _, bad := range []string{"", "Verb", "objectRef", "user.uid", "requestURI"} {
		if _, ok := query.LookupDimension(bad); ok {
			t.Errorf("LookupDimension(%q) found a dimension", bad)
		}
	}
}

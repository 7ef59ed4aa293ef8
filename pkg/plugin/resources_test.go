package plugin

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

func callResource(t *testing.T, ds *Datasource, path string) (int, []byte) {
	t.Helper()
	var status int
	var body []byte
	err := ds.CallResource(context.Background(), &backend.CallResourceRequest{Method: "GET", Path: strings.SplitN(path, "?", 2)[0], URL: path},
		backend.CallResourceResponseSenderFunc(func(r *backend.CallResourceResponse) error {
			status, body = r.Status, append(body, r.Body...)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

func TestValuesResource(t *testing.T) {
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+fixtureDir(t)+`"]}}`)
	rng := "&from=" + strconv.FormatInt(allTime.From.UnixMilli(), 10) + "&to=" + strconv.FormatInt(allTime.To.UnixMilli(), 10)
	values := func(query string) []map[string]any {
		t.Helper()
		status, body := callResource(t, ds, "values?"+query+rng)
		if status != 200 {
			t.Fatalf("%s: status %d %s", query, status, body)
		}
		var out []map[string]any
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := values("dim=user.username")
	if len(all) < 5 {
		t.Fatalf("only %d users", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i]["count"].(float64) > all[i-1]["count"].(float64) {
			t.Errorf("not ordered by count: %v", all)
		}
	}
	// audit2rbac's demo log: system:admin lists pods as bob and is denied.
	one := values("dim=verb&filter=" + url.QueryEscape(`{"users":["system:admin"],"codes":["403"]}`))
	if len(one) == 0 || one[0]["value"] == "" {
		t.Errorf("filtered values: %v", one)
	}
	if got := values("dim=verb&limit=1"); len(got) != 1 {
		t.Errorf("limit=1 gave %d values", len(got))
	}
	for _, bad := range []string{"dim=nope", "dim=verb&filter=" + url.QueryEscape(`{"codes":["9xx"]}`), "dim=verb&limit=0", "dim=verb&from=x"} {
		if status, body := callResource(t, ds, "values?"+bad); status != 400 || !strings.Contains(string(body), "error") {
			t.Errorf("%s: status %d body %s", bad, status, body)
		}
	}
	status, body := callResource(t, ds, "dimensions")
	if status != 200 || !strings.Contains(string(body), `"objectRef.namespace"`) {
		t.Errorf("dimensions: %d %s", status, body)
	}
}

// GET /schema serves the registry of query types, the dimensions and the detection rules.
func TestSchemaResource(t *testing.T) {
	for name, jsonData := range map[string]string{
		"file": `{"source":"file","file":{"paths":["` + fixtureDir(t) + `"]}}`,
		// The editor reads the schema even when the datasource's settings are wrong.
		"bad settings": `{"source":"nope"}`,
	} {
		t.Run(name, func(t *testing.T) {
			status, body := callResource(t, newTestDatasource(t, jsonData), "schema")
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			var got schemaInfo
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			checkSchema(t, got)
		})
	}
}

func checkSchema(t *testing.T, got schemaInfo) {
	t.Helper()
	if got.SchemaVersion != query.SchemaVersion {
		t.Errorf("schemaVersion %d, want %d", got.SchemaVersion, query.SchemaVersion)
	}
	specs := query.Specs()
	if len(got.QueryTypes) != len(specs) || len(specs) != len(query.Types) {
		t.Fatalf("%d query types, want %d", len(got.QueryTypes), len(query.Types))
	}
	for i, s := range specs {
		qt := got.QueryTypes[i]
		if qt.Name != string(s.Type) || qt.Label != s.Label || qt.Description != s.Description {
			t.Errorf("query type %d = %s %q %q, want %s", i, qt.Name, qt.Label, qt.Description, s.Type)
		}
		if !slices.Equal(qt.Formats, s.Formats) || qt.DefaultFormat != s.DefaultFormat() {
			t.Errorf("%s: formats %v (default %q), want %v", s.Type, qt.Formats, qt.DefaultFormat, s.Formats)
		}
		if qt.Limits.Default != s.Limits.DefaultLimit || qt.Limits.Max != s.Limits.MaxLimit || qt.Limits.Of == "" {
			t.Errorf("%s: limits %+v, want %+v", s.Type, qt.Limits, s.Limits)
		}
	}
	byName := map[string]queryTypeInfo{}
	for _, qt := range got.QueryTypes {
		byName[qt.Name] = qt
	}
	// What docs/query-model.md says, spelled out.
	if l := byName["denied"].Limits; l.Default != 100 || l.Max != 10000 {
		t.Errorf("denied limits %+v", l)
	}
	if l := byName["events"]; l.Limits.Max != 5000 || !slices.Equal(l.Formats, []string{"logs", "table"}) {
		t.Errorf("events %+v", l)
	}
	lat := byName["latency"]
	if lat.Quantiles == nil || lat.Quantiles.Min != 0 || lat.Quantiles.Max != 1 || !slices.Equal(lat.Defaults.Quantiles, []float64{0.5, 0.9, 0.99}) {
		t.Errorf("latency quantiles %+v defaults %+v", lat.Quantiles, lat.Defaults)
	}
	if ts := byName["timeseries"]; !slices.Equal(ts.Metrics, []string{"count", "rate"}) || len(ts.Formats) != 0 {
		t.Errorf("timeseries %+v", ts)
	}
	if m := byName["matrix"].Defaults; m.Rows != "user.username" || m.Columns != "objectRef.resource" {
		t.Errorf("matrix defaults %+v", m)
	}
	if len(got.Dimensions) != len(query.Dimensions()) {
		t.Errorf("%d dimensions, want %d", len(got.Dimensions), len(query.Dimensions()))
	}
	for i, d := range query.Dimensions() {
		if i < len(got.Dimensions) && (got.Dimensions[i].Name != d.Name || got.Dimensions[i].Label != d.Label) {
			t.Errorf("dimension %d = %+v, want %s %q", i, got.Dimensions[i], d.Name, d.Label)
		}
	}
	rules := detect.Rules()
	if len(got.Rules) != len(rules) {
		t.Fatalf("%d rules, want %d", len(got.Rules), len(rules))
	}
	for i, r := range rules {
		g := got.Rules[i]
		if g.ID != r.ID || g.Severity != string(r.Severity) || g.Title != r.Title || g.Description != r.Description || g.Description == "" {
			t.Errorf("rule %d = %+v, want %s %s", i, g, r.ID, r.Severity)
		}
	}
	if !slices.Equal(got.Severities, []string{"low", "medium", "high", "critical"}) {
		t.Errorf("severities %v", got.Severities)
	}
}

// schemaFixture is what the query editor keeps as its fallback schema (FALLBACK_SCHEMA in
// src/components/editor/schema.ts, checked against this file by schema.test.ts). Rules are
// compared by id and severity, the part the editor copies.
const schemaFixture = "../../src/components/editor/testdata/schema.json"

// The editor's fallback is the schema the backend serves: when a query type's formats, limits
// or defaults change, this fails until the fixture (go test ./pkg/plugin -run TestSchemaFixture
// -update) and then the editor's fallback are updated.
func TestSchemaFixture(t *testing.T) {
	s := schema()
	type rule struct {
		ID       string `json:"id"`
		Severity string `json:"severity"`
	}
	rules := make([]rule, len(s.Rules))
	for i, r := range s.Rules {
		rules[i] = rule{r.ID, r.Severity}
	}
	served, err := json.MarshalIndent(map[string]any{"schemaVersion": s.SchemaVersion, "queryTypes": s.QueryTypes,
		"dimensions": s.Dimensions, "rules": rules, "severities": s.Severities}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(schemaFixture, append(served, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := os.ReadFile(schemaFixture)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(served, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(kept, &b); err != nil {
		t.Fatalf("%s: %v", schemaFixture, err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("%s is not the schema served; run with -update and update FALLBACK_SCHEMA. Served:\n%s", schemaFixture, served)
	}
}

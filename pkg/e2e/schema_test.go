package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-plugin-sdk-go/data"
)

// wireSchema is GET /schema as the query editor reads it (src/components/editor/schema.ts).
type wireSchema struct {
	SchemaVersion int `json:"schemaVersion"`
	QueryTypes    []struct {
		Name          string   `json:"name"`
		Label         string   `json:"label"`
		Description   string   `json:"description"`
		Formats       []string `json:"formats"`
		DefaultFormat string   `json:"defaultFormat"`
		Limits        struct {
			Default int    `json:"default"`
			Max     int    `json:"max"`
			Of      string `json:"of"`
		} `json:"limits"`
	} `json:"queryTypes"`
	Dimensions []struct {
		Name  string `json:"name"`
		Label string `json:"label"`
	} `json:"dimensions"`
	Rules []struct {
		ID       string `json:"id"`
		Severity string `json:"severity"`
	} `json:"rules"`
}

// frameTypeOfFormat is the frame type each format answers with.
var frameTypeOfFormat = map[string]data.FrameType{
	"timeseries": data.FrameTypeTimeSeriesWide,
	"heatmap":    "heatmap-rows",
	"logs":       data.FrameTypeLogLines,
	"table":      data.FrameTypeTable,
}

// TestSchema reads GET /schema from the plugin binary and holds the binary to it: every query
// type it lists runs in each of its formats (the default when none is named) and at its maximum
// limit, and is refused one above it or in a format it does not list.
func TestSchema(t *testing.T) {
	h := startPlugin(t)
	ds := testDatasource()

	code, body := h.callResource(t, ds, "schema", nil)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var s wireSchema
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("body is not the schema: %v: %s", err, body)
	}
	if s.SchemaVersion != 1 {
		t.Errorf("schemaVersion %d, want 1", s.SchemaVersion)
	}
	var names []string
	for _, qt := range s.QueryTypes {
		names = append(names, qt.Name)
	}
	want := []string{"events", "timeseries", "latency", "denied", "matrix", "topn", "latencyBreakdown",
		"deprecatedApis", "objectHistory", "pipelineHealth", "detections"}
	got := slices.Sorted(slices.Values(names))
	if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("query types %v, want %v (docs/query-model.md)", names, want)
	}
	if len(s.Rules) < 20 {
		t.Errorf("only %d detection rules", len(s.Rules))
	}
	for _, r := range s.Rules {
		if !slices.Contains([]string{"low", "medium", "high", "critical"}, r.Severity) {
			t.Errorf("rule %s: severity %q", r.ID, r.Severity)
		}
	}
	// The dimensions are those of GET /dimensions.
	code, body = h.callResource(t, ds, "dimensions", nil)
	if code != http.StatusOK {
		t.Fatalf("dimensions: status %d: %s", code, body)
	}
	var dims []struct {
		Name  string `json:"name"`
		Label string `json:"label"`
	}
	if err := json.Unmarshal(body, &dims); err != nil {
		t.Fatal(err)
	}
	if len(dims) != len(s.Dimensions) {
		t.Errorf("%d dimensions in the schema, %d in GET /dimensions", len(s.Dimensions), len(dims))
	}
	for i := range min(len(dims), len(s.Dimensions)) {
		if dims[i] != s.Dimensions[i] {
			t.Errorf("dimension %d: schema %+v, GET /dimensions %+v", i, s.Dimensions[i], dims[i])
		}
	}

	// One request with every query type in every format, at the maximum limit and above it.
	type expect struct {
		frameType data.FrameType // "" for types without formats
		errWith   string         // the error must say this; "" for no error
	}
	var queries []dataQuery
	expects := map[string]expect{}
	add := func(refID string, model map[string]any, e expect) {
		if model["queryType"] == "objectHistory" {
			model["filter"] = map[string]any{"resources": []string{"pods"}, "namespaces": []string{"default"}}
		}
		queries = append(queries, newQuery(refID, model))
		expects[refID] = e
	}
	for _, qt := range s.QueryTypes {
		if qt.Limits.Default <= 0 || qt.Limits.Max < qt.Limits.Default || qt.Limits.Of == "" || qt.Label == "" || qt.Description == "" {
			t.Errorf("%s: %+v", qt.Name, qt)
		}
		if len(qt.Formats) > 0 && qt.DefaultFormat != qt.Formats[0] {
			t.Errorf("%s: default format %q is not the first of %v", qt.Name, qt.DefaultFormat, qt.Formats)
		}
		add(qt.Name+"/default", map[string]any{"queryType": qt.Name}, expect{frameType: frameTypeOfFormat[qt.DefaultFormat]})
		for _, f := range qt.Formats {
			add(qt.Name+"/"+f, map[string]any{"queryType": qt.Name, "format": f, "limit": qt.Limits.Max},
				expect{frameType: frameTypeOfFormat[f]})
		}
		if len(qt.Formats) == 0 {
			add(qt.Name+"/max", map[string]any{"queryType": qt.Name, "limit": qt.Limits.Max}, expect{})
		} else {
			add(qt.Name+"/pie", map[string]any{"queryType": qt.Name, "format": "pie"},
				expect{errWith: strings.Join(qt.Formats, " or ")})
		}
		add(qt.Name+"/above", map[string]any{"queryType": qt.Name, "limit": qt.Limits.Max + 1},
			expect{errWith: fmt.Sprintf("maximum of %d for %s", qt.Limits.Max, qt.Name)})
	}
	responses := h.queryData(t, ds, rangeFrom, rangeTo, queries...)
	for _, q := range queries {
		e := expects[q.refID]
		r := responses[q.refID]
		t.Run(q.refID, func(t *testing.T) {
			if e.errWith != "" {
				if !strings.Contains(r.GetError(), e.errWith) {
					t.Errorf("error %q, want one saying %q", r.GetError(), e.errWith)
				}
				return
			}
			fs := frames(t, r)
			if len(fs) == 0 {
				t.Fatal("no frame")
			}
			if e.frameType != "" && (fs[0].Meta == nil || fs[0].Meta.Type != e.frameType) {
				t.Errorf("frame meta %+v, want type %s", fs[0].Meta, e.frameType)
			}
		})
	}
}

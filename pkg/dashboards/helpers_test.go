package dashboards

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"go.yaml.in/yaml/v3"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/plugin"
)

// Repository paths, relative to this package.
const (
	root          = "../.."
	dashboardsDir = root + "/src/dashboards"
	pluginJSON    = root + "/src/plugin.json"
	provisioning  = root + "/provisioning"
	sampleData    = provisioning + "/sample-data"
)

// The generated part of provisioning/sample-data covers this fixed window (see its README).
var (
	windowFrom = time.Date(2026, 11, 25, 16, 40, 0, 0, time.UTC)
	windowTo   = time.Date(2026, 11, 25, 22, 40, 0, 0, time.UTC)
	window     = backend.TimeRange{From: windowFrom, To: windowTo}
)

// allValue is what the dashboards' query variables send when "All" is selected: a glob that
// matches every value, the empty one (cluster-scoped requests have no namespace) too.
const allValue = "*"

// datasourceVar is the only datasource reference a bundled dashboard may use.
const datasourceVar = "${datasource}"

// dashboard is the part of a dashboard JSON the tests read.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Time       struct{ From, To string }
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []annotation `json:"list"`
	} `json:"annotations"`
	Panels []panel `json:"panels"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *dsRef          `json:"datasource"`
	AllValue   string          `json:"allValue"`
	IncludeAll bool            `json:"includeAll"`
}

type annotation struct {
	Name       string          `json:"name"`
	BuiltIn    int             `json:"builtIn"`
	Datasource *dsRef          `json:"datasource"`
	Target     json.RawMessage `json:"target"`
}

type panel struct {
	ID         int               `json:"id"`
	Type       string            `json:"type"`
	Title      string            `json:"title"`
	Datasource *dsRef            `json:"datasource"`
	Targets    []json.RawMessage `json:"targets"`
	Panels     []panel           `json:"panels"` // collapsed rows
}

// target is the part of a panel target the tests read besides the query model itself.
type target struct {
	RefID      string `json:"refId"`
	QueryType  string `json:"queryType"`
	Datasource *dsRef `json:"datasource"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// loadDashboards reads every dashboard JSON of src/dashboards, by file name.
func loadDashboards(t *testing.T) map[string]*dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", dashboardsDir, err)
	}
	out := map[string]*dashboard{}
	for _, f := range files {
		var d dashboard
		readJSON(t, f, &d)
		out[filepath.Base(f)] = &d
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\]`)

// interpolate replaces every dashboard variable reference in a target with the variable's
// "All" value, as Grafana does when "All" is selected. A reference to an undefined variable
// fails the test: Grafana would send it verbatim.
func interpolate(t *testing.T, raw []byte, vars map[string]variable) []byte {
	t.Helper()
	var unknown []string
	out := varRef.ReplaceAllFunc(raw, func(m []byte) []byte {
		sub := varRef.FindSubmatch(m)
		name := string(sub[1]) + string(sub[2]) + string(sub[3])
		v, ok := vars[name]
		if !ok {
			unknown = append(unknown, name)
			return m
		}
		if name == "datasource" {
			return m
		}
		if v.AllValue != "" {
			return []byte(v.AllValue)
		}
		return []byte(allValue)
	})
	if len(unknown) > 0 {
		t.Errorf("reference to undefined variables %v in %s", unknown, raw)
	}
	return out
}

// newSampleDatasource is the plugin's datasource over provisioning/sample-data, as the
// provisioned datasource reads it in docker compose.
func newSampleDatasource(t *testing.T) *plugin.Datasource {
	t.Helper()
	dir, err := filepath.Abs(sampleData)
	if err != nil {
		t.Fatal(err)
	}
	settings, _ := json.Marshal(map[string]any{"source": "file", "file": map[string]any{"paths": []string{dir}}})
	inst, err := plugin.NewDatasource(context.Background(), backend.DataSourceInstanceSettings{UID: "k8saudit-sample", JSONData: settings})
	if err != nil {
		t.Fatal(err)
	}
	ds := inst.(*plugin.Datasource)
	t.Cleanup(ds.Dispose)
	return ds
}

// runQuery runs one query through QueryData, as Grafana would send it.
func runQuery(t *testing.T, ds *plugin.Datasource, raw []byte, queryType string, tr backend.TimeRange, interval time.Duration, maxDataPoints int64) backend.DataResponse {
	t.Helper()
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{
		PluginContext: backend.PluginContext{PluginID: plugin.ID},
		Queries: []backend.DataQuery{{
			RefID: "A", QueryType: queryType, JSON: raw, TimeRange: tr, Interval: interval, MaxDataPoints: maxDataPoints,
		}},
	})
	if err != nil {
		t.Fatalf("QueryData: %v", err)
	}
	return resp.Responses["A"]
}

// hasValue reports whether a number field of f holds a non-null, non-zero value.
func hasValue(f *data.Frame) bool {
	for _, fld := range f.Fields {
		if fld.Type().Time() || !fld.Type().Numeric() {
			continue
		}
		for i := 0; i < fld.Len(); i++ {
			if v, err := fld.NullableFloatAt(i); err == nil && v != nil && *v != 0 {
				return true
			}
		}
	}
	return false
}

func frameType(f *data.Frame) data.FrameType {
	if f.Meta == nil {
		return ""
	}
	return f.Meta.Type
}

func notices(f *data.Frame) string {
	if f.Meta == nil {
		return ""
	}
	var s []string
	for _, n := range f.Meta.Notices {
		s = append(s, n.Text)
	}
	return strings.Join(s, "; ")
}

// callValues calls GET /values on the datasource.
func callValues(t *testing.T, ds *plugin.Datasource, url string) (int, []byte) {
	t.Helper()
	var status int
	var body []byte
	err := ds.CallResource(context.Background(), &backend.CallResourceRequest{Method: "GET", Path: "values", URL: url},
		backend.CallResourceResponseSenderFunc(func(r *backend.CallResourceResponse) error {
			status, body = r.Status, append(body, r.Body...)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
	Multi      bool            `json:"multi"`
	Current    struct {
		Value json.RawMessage `json:"value"` // a string, or a list for multi-value variables
	} `json:"current"`
	Options []struct {
		Text     string `json:"text"`
		Value    string `json:"value"`
		Selected bool   `json:"selected"`
	} `json:"options"`
}

// grafanaAll is the value of a variable whose current selection is "All".
const grafanaAll = "$__all"

// defaultValues are what Grafana substitutes for a variable at its saved (default) selection:
// the selected values, or for "All" the custom all value, else every option. A variable without
// a saved selection or options (query variables, whose values come from the backend) is taken
// at "All" too.
func defaultValues(v variable) []string {
	var current []string
	if len(v.Current.Value) > 0 {
		var one string
		if err := json.Unmarshal(v.Current.Value, &one); err == nil {
			current = []string{one}
		} else {
			_ = json.Unmarshal(v.Current.Value, &current)
		}
	}
	if len(current) > 0 && !slices.Contains(current, grafanaAll) {
		return current
	}
	if v.AllValue != "" {
		return []string{v.AllValue}
	}
	var all []string
	for _, o := range v.Options {
		if o.Value != grafanaAll {
			all = append(all, o.Value)
		}
	}
	if len(all) > 0 {
		return all
	}
	return []string{allValue}
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
// default values (see defaultValues), as Grafana and the plugin's applyTemplateVariables do
// when the dashboard opens. A reference to an undefined variable fails the test: Grafana would
// send it verbatim.
func interpolate(t *testing.T, raw []byte, vars map[string]variable) []byte {
	t.Helper()
	return interpolateWith(t, raw, vars, nil)
}

// interpolateWith is interpolate with some variables set to other values (a user's selection).
// Like src/datasource.ts interpolateList, each string of a list becomes one entry per value of
// a multi-value variable (["$rule"] with rule = a, b gives ["a", "b"]; entries that end up
// empty are dropped); other strings get Grafana's default multi-value format, {a,b}. The
// datasource variable is left as it is.
func interpolateWith(t *testing.T, raw []byte, vars map[string]variable, selected map[string][]string) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers stay as written: 10000, not 1e+04
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("target: %v\n%s", err, raw)
	}
	var unknown []string
	valuesOf := func(name string) ([]string, bool) {
		if name == "datasource" {
			return nil, false
		}
		if vs, ok := selected[name]; ok {
			return vs, true
		}
		v, ok := vars[name]
		if !ok {
			unknown = append(unknown, name)
			return nil, false
		}
		return defaultValues(v), true
	}
	var walk func(node any) any
	walk = func(node any) any {
		switch n := node.(type) {
		case map[string]any:
			for k, v := range n {
				n[k] = walk(v)
			}
		case []any:
			out := make([]any, 0, len(n))
			for _, item := range n {
				s, ok := item.(string)
				if !ok {
					out = append(out, walk(item))
					continue
				}
				for _, e := range expandVars(s, valuesOf) {
					if e = strings.TrimSpace(e); e != "" {
						out = append(out, e)
					}
				}
			}
			return out
		case string:
			return varRef.ReplaceAllStringFunc(n, func(m string) string {
				vs, ok := valuesOf(varName(m))
				switch {
				case !ok:
					return m
				case len(vs) == 1:
					return vs[0]
				default:
					return "{" + strings.Join(vs, ",") + "}"
				}
			})
		}
		return node
	}
	out, err := json.Marshal(walk(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(unknown) > 0 {
		t.Errorf("reference to undefined variables %v in %s", unknown, raw)
	}
	return out
}

func varName(ref string) string {
	sub := varRef.FindStringSubmatch(ref)
	return sub[1] + sub[2] + sub[3]
}

// expandVars gives one string per combination of the values of the variables in s, in the
// order of src/datasource.ts expandMarked. References it has no values for stay as written.
func expandVars(s string, valuesOf func(string) ([]string, bool)) []string {
	loc := varRef.FindStringIndex(s)
	if loc == nil {
		return []string{s}
	}
	head, ref, tail := s[:loc[0]], s[loc[0]:loc[1]], s[loc[1]:]
	vs, ok := valuesOf(varName(ref))
	if !ok {
		vs = []string{ref}
	}
	tails := expandVars(tail, valuesOf)
	var out []string
	for _, v := range vs {
		for _, rest := range tails {
			out = append(out, head+v+rest)
		}
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

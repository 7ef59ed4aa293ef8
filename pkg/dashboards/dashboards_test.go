// Package dashboards tests the bundled dashboards (src/dashboards) and the provisioned alert
// rules (provisioning/alerting): every target is decoded with the backend's own query parser
// and run through the plugin's QueryData over the sample audit logs in
// provisioning/sample-data, and must return non-empty frames of the type its panel (or
// Grafana alerting) needs.
package dashboards

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/plugin"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// Panel queries run as Grafana sends them for a wide panel over the 6-hour window.
const (
	panelInterval      = 30 * time.Second
	panelMaxDataPoints = 1000
)

// expectedFrame is the frame type each panel type needs, and whether a number in it must be
// non-zero (charts) or a row must exist (tables, logs).
var expectedFrame = map[string]data.FrameType{
	"timeseries": data.FrameTypeTimeSeriesWide,
	"stat":       data.FrameTypeTimeSeriesWide,
	"barchart":   data.FrameTypeTable,
	"heatmap":    "heatmap-rows",
	"table":      data.FrameTypeTable,
	"logs":       data.FrameTypeLogLines,
}

// requiredVariables are the cluster-agnostic variables every bundled dashboard offers.
var requiredVariables = map[string]string{
	"namespace": "objectRef.namespace",
	"user":      "user.username",
	"verb":      "verb",
	"resource":  "objectRef.resource",
	"userKind":  "userKind",
}

func TestPluginIncludesEveryDashboard(t *testing.T) {
	var pj struct {
		ID       string `json:"id"`
		Includes []struct {
			Type, Name, Path string
		} `json:"includes"`
	}
	readJSON(t, pluginJSON, &pj)
	included := map[string]bool{}
	for _, inc := range pj.Includes {
		if inc.Type != "dashboard" {
			continue
		}
		if !strings.HasPrefix(inc.Path, "dashboards/") {
			t.Errorf("include %q: path %q is not under dashboards/", inc.Name, inc.Path)
		}
		if _, err := os.Stat(filepath.Join(root, "src", inc.Path)); err != nil {
			t.Errorf("include %q: %v", inc.Name, err)
		}
		included[path.Base(inc.Path)] = true
	}
	dashboards := loadDashboards(t)
	if len(dashboards) < 3 {
		t.Errorf("%d bundled dashboards, want at least 3", len(dashboards))
	}
	uids := map[string]string{}
	for _, name := range sortedKeys(dashboards) {
		if !included[name] {
			t.Errorf("%s is not listed in plugin.json includes", name)
		}
		d := dashboards[name]
		if d.UID == "" || uids[d.UID] != "" {
			t.Errorf("%s: missing or duplicate uid %q (also %s)", name, d.UID, uids[d.UID])
		}
		uids[d.UID] = name
	}
}

// TestDashboardStructure checks what Grafana needs before any query runs: the datasource
// variable, the filter variables, a relative time range and datasource references.
func TestDashboardStructure(t *testing.T) {
	for name, d := range loadDashboards(t) {
		t.Run(name, func(t *testing.T) {
			if !strings.HasPrefix(d.Time.From, "now") || !strings.HasPrefix(d.Time.To, "now") {
				t.Errorf("time range %s to %s: use a relative range", d.Time.From, d.Time.To)
			}
			vars := map[string]variable{}
			for _, v := range d.Templating.List {
				vars[v.Name] = v
			}
			if ds, ok := vars["datasource"]; !ok || ds.Type != "datasource" || string(ds.Query) != strconv.Quote(plugin.ID) {
				t.Errorf("want a datasource variable of type %s, got %+v", plugin.ID, ds)
			}
			for name, dim := range requiredVariables {
				v, ok := vars[name]
				if !ok {
					t.Errorf("missing variable %q", name)
					continue
				}
				var q struct{ Dim string }
				if v.Type != "query" || json.Unmarshal(v.Query, &q) != nil || q.Dim != dim {
					t.Errorf("variable %q: want a query variable over %s, got type %s query %s", name, dim, v.Type, v.Query)
				}
				if v.IncludeAll && v.AllValue != allValue {
					t.Errorf("variable %q: allValue %q, want %q (matches every value, the empty one too)", name, v.AllValue, allValue)
				}
			}
			for _, v := range d.Templating.List {
				if v.Datasource != nil && (v.Datasource.UID != datasourceVar || v.Datasource.Type != plugin.ID) {
					t.Errorf("variable %q: datasource %+v, want %s", v.Name, v.Datasource, datasourceVar)
				}
			}
			ids := map[int]bool{}
			for _, p := range allPanels(d.Panels) {
				if ids[p.ID] {
					t.Errorf("duplicate panel id %d", p.ID)
				}
				ids[p.ID] = true
				if p.Type == "row" {
					continue
				}
				if _, ok := expectedFrame[p.Type]; !ok {
					t.Errorf("panel %q: type %q has no expected frame type", p.Title, p.Type)
				}
				if p.Datasource == nil || p.Datasource.UID != datasourceVar || p.Datasource.Type != plugin.ID {
					t.Errorf("panel %q: datasource %+v, want %s", p.Title, p.Datasource, datasourceVar)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no targets", p.Title)
				}
				refs := map[string]bool{}
				for _, raw := range p.Targets {
					var tg target
					if err := json.Unmarshal(raw, &tg); err != nil {
						t.Fatal(err)
					}
					if tg.Datasource != nil && tg.Datasource.UID != datasourceVar {
						t.Errorf("panel %q target %s: datasource %+v", p.Title, tg.RefID, tg.Datasource)
					}
					if tg.RefID == "" || refs[tg.RefID] {
						t.Errorf("panel %q: missing or duplicate refId %q", p.Title, tg.RefID)
					}
					refs[tg.RefID] = true
				}
			}
		})
	}
}

// TestDashboardQueries runs every panel target and annotation query of every bundled
// dashboard with all variables at "All", over the sample data's window.
func TestDashboardQueries(t *testing.T) {
	ds := newSampleDatasource(t)
	dashboards := loadDashboards(t)
	for _, name := range sortedKeys(dashboards) {
		d := dashboards[name]
		vars := map[string]variable{}
		for _, v := range d.Templating.List {
			vars[v.Name] = v
		}
		for _, p := range allPanels(d.Panels) {
			if p.Type == "row" {
				continue
			}
			want := expectedFrame[p.Type]
			for _, raw := range p.Targets {
				var tg target
				_ = json.Unmarshal(raw, &tg)
				t.Run(fmt.Sprintf("%s/%s/%s", strings.TrimSuffix(name, ".json"), p.Title, tg.RefID), func(t *testing.T) {
					checkQuery(t, ds, interpolate(t, raw, vars), want, p.Type)
				})
			}
		}
		for _, a := range d.Annotations.List {
			if a.BuiltIn == 1 {
				continue
			}
			t.Run(fmt.Sprintf("%s/annotation %s", strings.TrimSuffix(name, ".json"), a.Name), func(t *testing.T) {
				if a.Datasource == nil || a.Datasource.UID != datasourceVar {
					t.Errorf("datasource %+v, want %s", a.Datasource, datasourceVar)
				}
				// Annotations read time from the first time field and text from the first
				// string field: log lines give the event's time and its one-line body.
				checkQuery(t, ds, interpolate(t, a.Target, vars), data.FrameTypeLogLines, "annotation")
			})
		}
	}
}

// checkQuery parses a target with the backend's parser, runs it, and checks the frame type
// and that it holds data.
func checkQuery(t *testing.T, ds *plugin.Datasource, raw []byte, want data.FrameType, panelType string) {
	t.Helper()
	q, err := query.Parse(raw, "")
	if err != nil {
		t.Fatalf("query.Parse: %v\n%s", err, raw)
	}
	dr := runQuery(t, ds, raw, string(q.QueryType), window, panelInterval, panelMaxDataPoints)
	if dr.Error != nil {
		t.Fatalf("query error: %v\n%s", dr.Error, raw)
	}
	if len(dr.Frames) == 0 {
		t.Fatalf("no frames")
	}
	for _, f := range dr.Frames {
		t.Logf("%s frame: %d fields, %d rows", frameType(f), len(f.Fields), f.Rows())
		if got := frameType(f); got != want {
			t.Errorf("%s panel: frame type %q, want %q (query type %s, format %q)", panelType, got, want, q.QueryType, q.Format)
		}
		switch want {
		case data.FrameTypeTimeSeriesWide, "heatmap-rows":
			if f.Meta.TypeVersion != (data.FrameTypeVersion{0, 1}) && want == data.FrameTypeTimeSeriesWide {
				t.Errorf("type version %v, want 0.1", f.Meta.TypeVersion)
			}
			if !hasValue(f) {
				t.Errorf("no non-zero value over the sample data (%d fields, %d rows; notices: %s)", len(f.Fields), f.Rows(), notices(f))
			}
		default:
			if f.Rows() == 0 {
				t.Errorf("no rows over the sample data (notices: %s)", notices(f))
			}
		}
	}
}

// TestDashboardVariables asks GET /values for each query variable over the sample window.
func TestDashboardVariables(t *testing.T) {
	ds := newSampleDatasource(t)
	seen := map[string]bool{}
	for _, d := range loadDashboards(t) {
		for _, v := range d.Templating.List {
			if v.Type != "query" || seen[string(v.Query)] {
				continue
			}
			seen[string(v.Query)] = true
			t.Run(v.Name, func(t *testing.T) {
				var q struct {
					Dim    string          `json:"dim"`
					Filter json.RawMessage `json:"filter"`
					Limit  int             `json:"limit"`
				}
				if err := json.Unmarshal(v.Query, &q); err != nil {
					t.Fatalf("query %s: %v", v.Query, err)
				}
				if _, ok := query.LookupDimension(q.Dim); !ok {
					t.Fatalf("unknown dimension %q", q.Dim)
				}
				p := url.Values{"dim": {q.Dim},
					"from": {strconv.FormatInt(windowFrom.UnixMilli(), 10)}, "to": {strconv.FormatInt(windowTo.UnixMilli(), 10)}}
				if len(q.Filter) > 0 {
					p.Set("filter", string(q.Filter))
				}
				if q.Limit > 0 {
					p.Set("limit", strconv.Itoa(q.Limit))
				}
				status, body := callValues(t, ds, "values?"+p.Encode())
				if status != 200 {
					t.Fatalf("status %d: %s", status, body)
				}
				var values []struct {
					Value string
					Count int
				}
				if err := json.Unmarshal(body, &values); err != nil {
					t.Fatal(err)
				}
				if len(values) < 2 {
					t.Errorf("%d values over the sample data: %s", len(values), body)
				}
			})
		}
	}
}

// alertFile is Grafana's alert-rule provisioning format (the parts the tests read).
type alertFile struct {
	APIVersion int `yaml:"apiVersion"`
	Groups     []struct {
		OrgID    int    `yaml:"orgId"`
		Name     string `yaml:"name"`
		Folder   string `yaml:"folder"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			UID          string            `yaml:"uid"`
			Title        string            `yaml:"title"`
			Condition    string            `yaml:"condition"`
			For          string            `yaml:"for"`
			NoDataState  string            `yaml:"noDataState"`
			ExecErrState string            `yaml:"execErrState"`
			Annotations  map[string]string `yaml:"annotations"`
			Data         []struct {
				RefID             string `yaml:"refId"`
				DatasourceUID     string `yaml:"datasourceUid"`
				RelativeTimeRange *struct {
					From int64 `yaml:"from"`
					To   int64 `yaml:"to"`
				} `yaml:"relativeTimeRange"`
				Model map[string]any `yaml:"model"`
			} `yaml:"data"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func provisionedDatasourceUIDs(t *testing.T) map[string]string {
	t.Helper()
	var f struct {
		Datasources []struct {
			UID, Type string
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(provisioning, "datasources", "datasources.yml"), &f)
	out := map[string]string{}
	for _, d := range f.Datasources {
		out[d.UID] = d.Type
	}
	return out
}

// TestAlertRules checks each provisioned rule's shape (datasource, refIds, expressions) and
// runs its plugin queries: over the rule's own relative range ending at the end of the sample
// data, and over the whole sample window, where it must find something to alert on.
func TestAlertRules(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(provisioning, "alerting", "*.y*ml"))
	if len(files) == 0 {
		t.Fatal("no alert rule files in provisioning/alerting")
	}
	dsTypes := provisionedDatasourceUIDs(t)
	ds := newSampleDatasource(t)
	rules := 0
	for _, file := range files {
		var af alertFile
		readYAML(t, file, &af)
		if af.APIVersion != 1 {
			t.Errorf("%s: apiVersion %d, want 1", file, af.APIVersion)
		}
		for _, g := range af.Groups {
			if g.Name == "" || g.Folder == "" || g.Interval == "" || g.OrgID == 0 {
				t.Errorf("group %+v: name, folder, interval and orgId are required", g.Name)
			}
			for _, r := range g.Rules {
				rules++
				t.Run(r.Title, func(t *testing.T) {
					if r.UID == "" || r.Condition == "" || r.NoDataState == "" || r.ExecErrState == "" || r.Annotations["summary"] == "" {
						t.Errorf("uid, condition, noDataState, execErrState and a summary are required")
					}
					refs := map[string]bool{}
					for _, d := range r.Data {
						refs[d.RefID] = true
					}
					if !refs[r.Condition] {
						t.Errorf("condition %q is not a refId", r.Condition)
					}
					plugins := 0
					for _, d := range r.Data {
						if d.DatasourceUID == "__expr__" {
							checkExpression(t, d.RefID, d.Model, refs)
							continue
						}
						plugins++
						if dsTypes[d.DatasourceUID] != plugin.ID {
							t.Errorf("%s: datasourceUid %q is not a provisioned %s datasource", d.RefID, d.DatasourceUID, plugin.ID)
						}
						if d.RelativeTimeRange == nil || d.RelativeTimeRange.From <= d.RelativeTimeRange.To {
							t.Fatalf("%s: relativeTimeRange %+v", d.RefID, d.RelativeTimeRange)
						}
						checkAlertQuery(t, ds, d.RefID, d.Model, d.RelativeTimeRange.From, d.RelativeTimeRange.To)
					}
					if plugins == 0 {
						t.Errorf("no plugin query")
					}
				})
			}
		}
	}
	if rules < 3 {
		t.Errorf("%d alert rules, want at least 3", rules)
	}
}

func checkExpression(t *testing.T, refID string, model map[string]any, refs map[string]bool) {
	t.Helper()
	typ, _ := model["type"].(string)
	expr, _ := model["expression"].(string)
	switch typ {
	case "reduce", "threshold", "math", "resample", "classic_conditions":
	default:
		t.Errorf("%s: unknown expression type %q", refID, typ)
	}
	if typ == "reduce" || typ == "threshold" {
		if !refs[expr] || expr == refID {
			t.Errorf("%s: expression %q is not another refId", refID, expr)
		}
	}
	if typ == "threshold" {
		conds, _ := model["conditions"].([]any)
		if len(conds) == 0 {
			t.Errorf("%s: threshold without conditions", refID)
		}
	}
	if typ == "reduce" && model["reducer"] == nil {
		t.Errorf("%s: reduce without reducer", refID)
	}
}

func checkAlertQuery(t *testing.T, ds *plugin.Datasource, refID string, model map[string]any, fromSec, toSec int64) {
	t.Helper()
	raw, err := json.Marshal(model)
	if err != nil {
		t.Fatal(err)
	}
	q, err := query.Parse(raw, "")
	if err != nil {
		t.Fatalf("%s: query.Parse: %v", refID, err)
	}
	// timeseries, and latency and detections in their timeseries format, return the wide
	// numeric frame alerting needs.
	wide := q.QueryType == query.TypeTimeSeries ||
		(q.QueryType == query.TypeLatency || q.QueryType == query.TypeDetections) && q.Format == query.FormatTimeSeries
	if !wide {
		t.Fatalf("%s: %s/%s queries do not return the numeric time series alerting needs", refID, q.QueryType, q.Format)
	}
	interval := time.Second
	if ms, ok := model["intervalMs"].(int); ok {
		interval = time.Duration(ms) * time.Millisecond
	}
	maxDataPoints := int64(43200)
	if n, ok := model["maxDataPoints"].(int); ok {
		maxDataPoints = int64(n)
	}
	check := func(tr backend.TimeRange, needValue bool) {
		t.Helper()
		dr := runQuery(t, ds, raw, string(q.QueryType), tr, interval, maxDataPoints)
		if dr.Error != nil {
			t.Fatalf("%s: query error: %v", refID, dr.Error)
		}
		if len(dr.Frames) != 1 {
			t.Fatalf("%s: %d frames, want one wide frame", refID, len(dr.Frames))
		}
		f := dr.Frames[0]
		if frameType(f) != data.FrameTypeTimeSeriesWide || f.Meta.TypeVersion != (data.FrameTypeVersion{0, 1}) {
			t.Errorf("%s: frame %q %v, alerting needs timeseries-wide 0.1", refID, frameType(f), f.Meta.TypeVersion)
		}
		if f.Rows() == 0 || f.Fields[0].Type() != data.FieldTypeTime {
			t.Errorf("%s: want a time field and rows, got %d fields %d rows", refID, len(f.Fields), f.Rows())
		}
		for _, fld := range f.Fields[1:] {
			if !slices.Contains([]data.FieldType{data.FieldTypeFloat64, data.FieldTypeNullableFloat64}, fld.Type()) {
				t.Errorf("%s: field %s is %s, alerting needs numbers", refID, fld.Name, fld.Type())
			}
		}
		if needValue && !hasValue(f) {
			t.Errorf("%s: nothing to alert on over %v (notices: %s)", refID, tr, notices(f))
		}
	}
	// As the rule evaluates at the end of the sample data.
	now := windowTo
	check(backend.TimeRange{From: now.Add(-time.Duration(fromSec) * time.Second), To: now.Add(-time.Duration(toSec) * time.Second)}, false)
	// Over the whole sample data, it must find something.
	check(window, true)
}

// detectionsDashboard is the dashboard whose detections targets take the severity and rule
// variables.
const detectionsDashboard = "security-detections.json"

// TestDetectionsVariables checks the severity and rule variables of the security dashboard:
// they offer every severity and every rule of the catalogue, every detections target uses them,
// and both their default (All, sent as "*") and a multi-value selection reach the backend as
// meant: All finds what no selection finds, a selection exactly its part of it.
func TestDetectionsVariables(t *testing.T) {
	d := loadDashboards(t)[detectionsDashboard]
	if d == nil {
		t.Fatalf("no %s", detectionsDashboard)
	}
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	var severities, rules []string
	for _, s := range detect.Severities {
		severities = append(severities, string(s))
	}
	for _, r := range detect.Rules() {
		rules = append(rules, r.ID)
	}
	for name, want := range map[string][]string{"severity": severities, "rule": rules} {
		v, ok := vars[name]
		if !ok {
			t.Errorf("missing variable %q", name)
			continue
		}
		if v.Type != "custom" || !v.Multi || !v.IncludeAll || v.AllValue != allValue {
			t.Errorf("variable %q: want a multi-value custom variable with All (allValue %q), got type %s multi %v includeAll %v allValue %q",
				name, allValue, v.Type, v.Multi, v.IncludeAll, v.AllValue)
		}
		var query string
		if err := json.Unmarshal(v.Query, &query); err != nil || query != strings.Join(want, ",") {
			t.Errorf("variable %q: query %s, want %q", name, v.Query, strings.Join(want, ","))
		}
		var options []string
		for _, o := range v.Options {
			if o.Value != grafanaAll {
				options = append(options, o.Value)
			}
		}
		if len(v.Options) > 0 && !slices.Equal(options, want) {
			t.Errorf("variable %q: options %v, want %v", name, options, want)
		}
		if got := defaultValues(v); !slices.Equal(got, []string{allValue}) {
			t.Errorf("variable %q: default %v, want All (%q)", name, got, allValue)
		}
	}

	ds := newSampleDatasource(t)
	// A selection of both: the severity excludes exec-into-pod (medium) and secret-read-unexpected
	// (medium) although the rule globs match them.
	selection := map[string][]string{
		"severity": {"high", "critical"},
		"rule":     {"exec-into-pod", "risky-exec-command", "binding-*", "secret*"},
	}
	selected := func(rule, severity string) bool {
		if !slices.Contains(selection["severity"], severity) {
			return false
		}
		return slices.ContainsFunc(selection["rule"], func(p string) bool { ok, _ := path.Match(p, rule); return ok })
	}
	targets := 0
	for _, p := range allPanels(d.Panels) {
		for _, raw := range p.Targets {
			var tg struct {
				target
				Rules      []string `json:"rules"`
				Severities []string `json:"severities"`
			}
			_ = json.Unmarshal(raw, &tg)
			if tg.QueryType != "detections" {
				continue
			}
			targets++
			t.Run(fmt.Sprintf("%s/%s", p.Title, tg.RefID), func(t *testing.T) {
				if !slices.Equal(tg.Severities, []string{"$severity"}) || !slices.Equal(tg.Rules, []string{"$rule"}) {
					t.Fatalf(`severities %q and rules %q: want ["$severity"] and ["$rule"]`, tg.Severities, tg.Rules)
				}
				// Without the two fields: every rule, every severity.
				var m map[string]any
				_ = json.Unmarshal(raw, &m)
				delete(m, "severities")
				delete(m, "rules")
				bare, _ := json.Marshal(m)
				everything := findingCounts(t, ds, interpolate(t, bare, vars))

				all := interpolate(t, raw, vars)
				if got := findingCounts(t, ds, all); !maps.Equal(got, everything) {
					t.Errorf("at All: %v, want what a query without rules and severities finds: %v\n%s", got, everything, all)
				}

				sel := interpolateWith(t, raw, vars, selection)
				var q struct{ Rules, Severities []string }
				_ = json.Unmarshal(sel, &q)
				if !slices.Equal(q.Rules, selection["rule"]) || !slices.Equal(q.Severities, selection["severity"]) {
					t.Fatalf("selection sent as rules %q, severities %q", q.Rules, q.Severities)
				}
				want := map[string]float64{}
				for k, n := range everything {
					rule, severity, _ := strings.Cut(k, "/")
					if selected(rule, severity) {
						want[k] = n
					}
				}
				if len(want) == 0 || len(want) == len(everything) {
					t.Fatalf("the sample data should have findings inside and outside the selection: %v", everything)
				}
				if got := findingCounts(t, ds, sel); !maps.Equal(got, want) {
					t.Errorf("with severity %v and rule %v: %v, want %v", selection["severity"], selection["rule"], got, want)
				}
			})
		}
	}
	if targets == 0 {
		t.Errorf("no detections targets in %s", detectionsDashboard)
	}
}

// findingCounts runs a detections target over the sample window and counts its findings by
// rule/severity: the counts of the table format's rows (each folds repeats), the sum of the
// series of the timeseries format.
func findingCounts(t *testing.T, ds *plugin.Datasource, raw []byte) map[string]float64 {
	t.Helper()
	dr := runQuery(t, ds, raw, "detections", window, panelInterval, panelMaxDataPoints)
	if dr.Error != nil {
		t.Fatalf("query error: %v\n%s", dr.Error, raw)
	}
	out := map[string]float64{}
	for _, f := range dr.Frames {
		rule, _ := f.FieldByName("rule")
		severity, _ := f.FieldByName("severity")
		count, _ := f.FieldByName("count")
		if rule != nil && severity != nil && count != nil {
			for i := 0; i < f.Rows(); i++ {
				n, _ := count.FloatAt(i)
				out[fmt.Sprintf("%v/%v", rule.At(i), severity.At(i))] += n
			}
			continue
		}
		for _, fld := range f.Fields {
			if fld.Labels["rule"] == "" {
				continue
			}
			key := fld.Labels["rule"] + "/" + fld.Labels["severity"]
			for i := 0; i < fld.Len(); i++ {
				if v, err := fld.NullableFloatAt(i); err == nil && v != nil && *v != 0 {
					out[key] += *v
				}
			}
		}
	}
	return out
}

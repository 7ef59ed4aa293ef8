package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"
)

// dashboardQueries returns the targets of bundled dashboards as a refresh sends them, with
// every template variable at its All value ("*"), RefIDs made unique.
func dashboardQueries(t *testing.T, names ...string) []dataQuery {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	variable := regexp.MustCompile(`^\$\{?\w+\}?$`)
	var all func(v any) any
	all = func(v any) any {
		switch x := v.(type) {
		case string:
			if variable.MatchString(x) {
				return "*"
			}
		case []any:
			for i := range x {
				x[i] = all(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = all(x[k])
			}
		}
		return v
	}
	var out []dataQuery
	for _, name := range names {
		raw, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "src", "dashboards", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			Panels []struct {
				ID      int              `json:"id"`
				Targets []map[string]any `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &dash); err != nil {
			t.Fatal(err)
		}
		for _, p := range dash.Panels {
			for _, target := range p.Targets {
				delete(target, "datasource")
				model := all(target).(map[string]any)
				refID := name + "/" + strconv.Itoa(p.ID) + "/" + model["refId"].(string)
				out = append(out, dataQuery{refID: refID, model: model, interval: time.Minute, maxDataPoints: 1000})
			}
		}
	}
	return out
}

// stats returns a frame's query stats by display name.
func stats(f *data.Frame) map[string]float64 {
	out := map[string]float64{}
	if f.Meta != nil {
		for _, s := range f.Meta.Stats {
			out[s.DisplayName] = s.Value
		}
	}
	return out
}

// TestDashboardRefreshFromCache runs every target of the bundled overview and security
// dashboards over the bundled sample data (12 rotated files, most gzipped, and audit.log)
// twice through the plugin binary, as two refreshes of the same dashboards. The second
// refresh reads nothing: every file-backed answer comes from the segment cache (the frames'
// query stats say so) and its frames are the first refresh's.
func TestDashboardRefreshFromCache(t *testing.T) {
	h := startPlugin(t)
	_, self, _, _ := runtime.Caller(0)
	sample := filepath.Join(filepath.Dir(self), "..", "..", "provisioning", "sample-data")
	ds := fileDatasource(41, "e2e-cache", sample)
	from, to := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC), time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	queries := dashboardQueries(t, "api-activity", "security-detections")
	if len(queries) < 15 {
		t.Fatalf("only %d targets", len(queries))
	}
	first := h.queryData(t, ds, from, to, queries...)
	second := h.queryData(t, ds, from, to, queries...)
	cached := 0
	for _, q := range queries {
		f1, f2 := frames(t, first[q.refID]), frames(t, second[q.refID])
		s1, s2 := stats(f1[0]), stats(f2[0])
		if s1["Bytes read"] == 0 {
			t.Errorf("%s: the first refresh read nothing: %v", q.refID, s1)
		}
		if s1["Segments"] > 0 {
			cached++
			if s1["Segments read"] == 0 {
				t.Errorf("%s: first refresh read no segment: %v", q.refID, s1)
			}
			if s2["Segments from cache"] != s2["Segments"] || s2["Bytes read"] != 0 {
				t.Errorf("%s: second refresh not served from the cache: %v", q.refID, s2)
			}
		}
		for _, f := range append(f1, f2...) {
			f.Meta.Stats = nil
		}
		j1, _ := json.Marshal(f1)
		j2, _ := json.Marshal(f2)
		if string(j1) != string(j2) {
			t.Errorf("%s: the refreshes' frames differ:\n%s\n%s", q.refID, j1, j2)
		}
	}
	// Detections targets are read whole (their rules keep state across segments).
	if cached < len(queries)/2 {
		t.Errorf("only %d of %d targets went through the segment cache", cached, len(queries))
	}
	t.Logf("%d targets, %d through the segment cache", len(queries), cached)
}

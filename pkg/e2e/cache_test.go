package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
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
// query stats say so) and its frames are the first refresh's. The detections panels finish
// their findings once.
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
	cached, detections, finished := 0, 0, 0
	var bytesRead float64
	for _, q := range queries {
		f1, f2 := frames(t, first[q.refID]), frames(t, second[q.refID])
		s1, s2 := stats(f1[0]), stats(f2[0])
		bytesRead += s1["Bytes read"]
		if q.model["queryType"] == "detections" {
			// The security dashboard's detections panels ask one question and show it
			// differently: one finishes the findings, the others present them, and the
			// second refresh finishes nothing.
			detections++
			switch s1["Segments shared"] {
			case 0:
				finished++
			case s1["Segments"]:
			default:
				t.Errorf("%s: first refresh shared some segments only: %v", q.refID, s1)
			}
			if s2["Segments shared"] != s2["Segments"] || s2["Segments"] == 0 {
				t.Errorf("%s: second refresh did not present the kept findings: %v", q.refID, s2)
			}
		}
		if s1["Segments"] > 0 {
			cached++
			// The first refresh reads each segment, or answers from the index or the cache that
			// another target of the same refresh has just filled (panels of the security
			// dashboard share queries: they are computed once).
			if s1["Segments read"]+s1["Segments from index"]+s1["Segments from cache"] != s1["Segments"] {
				t.Errorf("%s: first refresh left segments unanswered: %v", q.refID, s1)
			}
			if s2["Segments from cache"] != s2["Segments"] || s2["Bytes read"] != 0 {
				t.Errorf("%s: second refresh not served from the cache: %v", q.refID, s2)
			}
		}
		sameFrames(t, q.refID, f1, f2)
	}
	if bytesRead == 0 {
		t.Error("the first refresh read nothing")
	}
	if detections < 2 || finished != 1 {
		t.Errorf("%d of %d detections targets finished their findings on the first refresh: want one", finished, detections)
	}
	if cached < len(queries)/2 {
		t.Errorf("only %d of %d targets went through the segment cache", cached, len(queries))
	}
	t.Logf("%d targets, %d through the segment cache", len(queries), cached)
}

// TestIndexSurvivesRestartAndCrash runs the dashboards' targets through a plugin process that
// builds the column index, kills it (SIGKILL), and runs them again through a new process on
// the same cache directory: the columnar targets are answered from the index on disk without
// reading the log, with the same frames. Then a process is killed while it builds the index
// of a larger log, and a new one still answers exactly what a plugin without an index answers.
func TestIndexSurvivesRestartAndCrash(t *testing.T) {
	_, self, _, _ := runtime.Caller(0)
	sample := filepath.Join(filepath.Dir(self), "..", "..", "provisioning", "sample-data")
	ds := fileDatasource(42, "e2e-index", sample)
	from, to := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC), time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	queries := dashboardQueries(t, "api-activity", "security-detections")
	cacheDir := t.TempDir()

	h1 := startPluginIn(t, cacheDir)
	first := h1.queryData(t, ds, from, to, queries...)
	if err := syscall.Kill(h1.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h2 := startPluginIn(t, cacheDir)
	second := h2.queryData(t, ds, from, to, queries...)
	fromIndex := 0
	for _, q := range queries {
		f1, f2 := frames(t, first[q.refID]), frames(t, second[q.refID])
		s2 := stats(f2[0])
		if s2["Segments"] > 0 && s2["Segments from index"] == s2["Segments"] {
			fromIndex++
			// Only the lines of the rows a table shows are read back (events, denied).
			if s2["Lines read back"] != s2["Lines read"] || s2["Lines read back"] > 0 && q.model["queryType"] != "events" && q.model["queryType"] != "denied" {
				t.Errorf("%s: answered from the index but read %v lines of log (%v read back)", q.refID, s2["Lines read"], s2["Lines read back"])
			}
		}
		sameFrames(t, q.refID, f1, f2)
	}
	if fromIndex < 8 {
		t.Errorf("only %d of %d targets answered from the index after the restart", fromIndex, len(queries))
	}
	t.Logf("after a restart, %d of %d targets answered from the index", fromIndex, len(queries))

	// A kill while the index of a larger log is being written.
	logDir := t.TempDir()
	start := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	if _, _, err := auditgen.WriteRotated(logDir, auditgen.Options{Seed: 9, Start: start, Duration: 6 * time.Hour, Requests: 60000, MalformedEvery: 997}, 6000, true); err != nil {
		t.Fatal(err)
	}
	big := fileDatasource(43, "e2e-crash", logDir)
	q := dataQuery{refID: "ts", model: map[string]any{"queryType": "timeseries", "groupBy": []string{"verb"}}, interval: time.Minute, maxDataPoints: 1000}
	crashDir := t.TempDir()
	h3 := startPluginIn(t, crashDir)
	done := make(chan struct{})
	go func() {
		defer close(done)
		req := &pluginv2.QueryDataRequest{PluginContext: big.pluginContext(t), Queries: []*pluginv2.DataQuery{q.proto(t, start, start.Add(7*time.Hour))}}
		h3.data.QueryData(context.Background(), req) // fails when the process is killed
	}()
	indexDir := filepath.Join(crashDir, "k8saudit-auditlogs-datasource", "index", "e2e-crash")
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if ents, _ := os.ReadDir(indexDir); len(ents) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	syscall.Kill(h3.pid, syscall.SIGKILL)
	<-done
	ents, _ := os.ReadDir(indexDir)
	t.Logf("killed with %d files in the index directory", len(ents))

	h4 := startPluginIn(t, crashDir)
	got := frames(t, h4.queryData(t, big, start, start.Add(7*time.Hour), q)["ts"])
	noIndex := fileDatasource(44, "e2e-no-index", logDir)
	noIndex.jsonData["file"].(map[string]any)["index"] = false
	noIndex.jsonData["file"].(map[string]any)["cache"] = false
	want := frames(t, h4.queryData(t, noIndex, start, start.Add(7*time.Hour), q)["ts"])
	sameFrames(t, "after the crash", want, got)
	if again := stats(frames(t, h4.queryData(t, big, start, start.Add(7*time.Hour), q)["ts"])[0]); again["Segments from cache"] != again["Segments"] {
		t.Errorf("after the crash, a second query is not answered from the cache: %v", again)
	}
}

// sameFrames compares frames without their query stats.
func sameFrames(t *testing.T, what string, want, got data.Frames) {
	t.Helper()
	for _, f := range append(slices.Clone(want), got...) {
		f.Meta.Stats = nil
	}
	jw, _ := json.Marshal(want)
	jg, _ := json.Marshal(got)
	if string(jw) != string(jg) {
		t.Errorf("%s: frames differ:\n%s\n%s", what, jw, jg)
	}
}

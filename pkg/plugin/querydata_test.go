package plugin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/experimental"
)

// update rewrites the golden files: go test ./pkg/plugin -run TestGolden -update
var update = flag.Bool("update", false, "update golden files")

// fixtureDir copies the real audit events of testdata/audit into one audit.log, as
// kube-apiserver would have written them, plus a malformed line.
func fixtureDir(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("../../testdata/audit/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			all = append(all, '\n')
		}
	}
	all = append(all, []byte("{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metad\n")...)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), all, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newTestDatasource(t *testing.T, jsonData string) *Datasource {
	t.Helper()
	inst, err := NewDatasource(context.Background(), backend.DataSourceInstanceSettings{JSONData: []byte(jsonData)})
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*Datasource)
}

// allTime covers every fixture event (2017–2024).
var allTime = backend.TimeRange{From: time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}

// TestGolden runs each query in testdata/queries over the real fixtures and compares the
// frames with testdata/golden. Review changes to golden files like code.
func TestGolden(t *testing.T) {
	// No column index: the frames' stats then say what each query read, whatever ran before.
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+fixtureDir(t)+`"],"index":false}}`)
	queries, _ := filepath.Glob("testdata/queries/*.json")
	if len(queries) == 0 {
		t.Fatal("no queries")
	}
	for _, qf := range queries {
		name := strings.TrimSuffix(filepath.Base(qf), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(qf)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{
				RefID: "A", JSON: raw, TimeRange: allTime, MaxDataPoints: 100, Interval: time.Minute,
			}}})
			if err != nil {
				t.Fatal(err)
			}
			dr := resp.Responses["A"]
			if dr.Error != nil {
				t.Fatalf("query error: %v", dr.Error)
			}
			experimental.CheckGoldenJSONResponse(t, "testdata/golden", name, &dr, *update)
		})
	}
}

func TestBadQueryFailsAlone(t *testing.T) {
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+fixtureDir(t)+`"]}}`)
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{
		{RefID: "bad", JSON: []byte(`{"queryType":"nope"}`), TimeRange: allTime},
		{RefID: "badjson", JSON: []byte(`{"queryType":`), TimeRange: allTime},
		{RefID: "good", JSON: []byte(`{"queryType":"denied"}`), TimeRange: allTime},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bad", "badjson"} {
		r := resp.Responses[id]
		if r.Error == nil || r.ErrorSource != backend.ErrorSourceDownstream || r.Status != backend.StatusBadRequest {
			t.Errorf("%s: error %v source %v status %v", id, r.Error, r.ErrorSource, r.Status)
		}
	}
	if !strings.Contains(resp.Responses["bad"].Error.Error(), `unknown query type "nope"`) {
		t.Errorf("message: %v", resp.Responses["bad"].Error)
	}
	if g := resp.Responses["good"]; g.Error != nil || len(g.Frames) != 1 || g.Frames[0].Rows() == 0 {
		t.Errorf("good query: %+v", g)
	}
}

func TestInvalidSettingsReportedByHealthAndQueries(t *testing.T) {
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":[]}}`)
	h, err := ds.CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	if err != nil || h.Status != backend.HealthStatusError || !strings.Contains(h.Message, "no audit log paths configured") {
		t.Errorf("health %+v err %v", h, err)
	}
	resp, _ := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{RefID: "A", JSON: []byte(`{}`), TimeRange: allTime}}})
	if resp.Responses["A"].Error == nil {
		t.Error("a query on a datasource without paths must fail")
	}
	ds = newTestDatasource(t, `{"source":"file","file":{"paths":["relative/dir"]}}`)
	h, _ = ds.CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	if h.Status != backend.HealthStatusError {
		t.Errorf("relative path: %+v", h)
	}
}

func TestHealthOK(t *testing.T) {
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+fixtureDir(t)+`"]}}`)
	h, err := ds.CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	if err != nil || h.Status != backend.HealthStatusOk {
		t.Fatalf("health %+v err %v", h, err)
	}
	if !strings.Contains(h.Message, "1 audit file") {
		t.Errorf("message should count files: %q", h.Message)
	}
}

type statusErr struct{ status int }

func (e statusErr) Error() string   { return "remote said no" }
func (e statusErr) HTTPStatus() int { return e.status }

func TestErrorStatusFromSource(t *testing.T) {
	down, plugin := backend.ErrorSourceDownstream, backend.ErrorSourcePlugin
	for _, tc := range []struct {
		err        error
		want       backend.Status
		wantSource backend.ErrorSource
	}{
		{fmt.Errorf("scan: %w", statusErr{429}), backend.StatusTooManyRequests, down},
		{statusErr{401}, backend.StatusUnauthorized, down},
		{statusErr{504}, backend.StatusTimeout, down},
		// An untyped error is no remote source's: the plugin's (errorsource_test.go has the rest).
		{errors.New("disk on fire"), backend.StatusInternal, plugin},
		{context.DeadlineExceeded, backend.StatusTimeout, down},
	} {
		r := errorResponse(tc.err)
		if r.Status != tc.want || r.ErrorSource != tc.wantSource {
			t.Errorf("%v: status %v source %v, want %v %v", tc.err, r.Status, r.ErrorSource, tc.want, tc.wantSource)
		}
	}
}

// The datasource's allow-lists apply to every detections query; the query's add to them.
func TestDetectionAllowListsFromSettings(t *testing.T) {
	run := func(jsonData, q string) int {
		t.Helper()
		ds := newTestDatasource(t, jsonData)
		resp, _ := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{RefID: "A", JSON: []byte(q), TimeRange: allTime}}})
		r := resp.Responses["A"]
		if r.Error != nil {
			t.Fatal(r.Error)
		}
		return r.Frames[0].Rows()
	}
	dir := fixtureDir(t)
	q := `{"queryType":"detections","rules":["exec-into-pod"]}`
	all := run(`{"file":{"paths":["`+dir+`"]}}`, q)
	if all == 0 {
		t.Fatal("no exec findings in the fixtures")
	}
	if n := run(`{"file":{"paths":["`+dir+`"]},"detections":{"rules":{"exec-into-pod":{"allow":{"users":["minikube-user"]}}}}}`, q); n != 0 {
		t.Errorf("per-rule allow-list from settings: %d findings left", n)
	}
	if n := run(`{"file":{"paths":["`+dir+`"]}}`, `{"queryType":"detections","rules":["exec-into-pod"],"allow":{"namespaces":["default"]}}`); n != 0 {
		t.Errorf("query allow-list: %d findings left", n)
	}
}

package plugin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// TestRBACLookbackFromSettings: detections.rbacLookback decides whether a binding to a role
// written the day before is judged; the default reads a day back.
func TestRBACLookbackFromSettings(t *testing.T) {
	day := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	lines := []string{
		auditgen.RBACWrite(day, "create", "clusterroles", "", "ops-wide", auditgen.ClusterRole("ops-wide", []string{"*"}, []string{"*"})),
		auditgen.RBACWrite(day.Add(20*time.Hour), "create", "clusterrolebindings", "", "ops", auditgen.ClusterRoleBinding("ops", "ops-wide", "mallory@example.com")),
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := backend.DataQuery{RefID: "A", JSON: []byte(`{"queryType":"detections","rules":["binding-to-wildcard-role"]}`),
		TimeRange: backend.TimeRange{From: day.Add(19 * time.Hour), To: day.Add(21 * time.Hour)}}
	for _, tc := range []struct {
		settings string
		findings int
		notice   string
	}{
		{``, 1, ""},
		{`,"detections":{"rbacLookback":"7d"}`, 1, ""},
		{`,"detections":{"rbacLookback":"12h"}`, 0, "within the range or the 12h0m0s RBAC look-back before it, so they could not be judged: ClusterRole ops-wide"},
		{`,"detections":{"rbacLookback":"0"}`, 0, "not written within the range, so they could not be judged: ClusterRole ops-wide"},
	} {
		ds := newTestDatasource(t, `{"file":{"paths":["`+dir+`"]}`+tc.settings+`}`)
		for range 2 { // the second query answers from the datasource's role index
			resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{q}})
			if err != nil {
				t.Fatal(err)
			}
			r := resp.Responses["A"]
			if r.Error != nil {
				t.Fatal(r.Error)
			}
			f := r.Frames[0]
			var notices []string
			if f.Meta != nil {
				for _, n := range f.Meta.Notices {
					notices = append(notices, n.Text)
				}
			}
			if f.Rows() != tc.findings || tc.notice != "" && !strings.Contains(strings.Join(notices, "\n"), tc.notice) {
				t.Errorf("settings %q: %d findings, notices %q", tc.settings, f.Rows(), notices)
			}
		}
	}
}

// TestInvalidDetectionSettingsFailDetectionsOnly: a mistake in the detections settings fails
// detections queries with a clear message and turns the health check red; other queries work.
func TestInvalidDetectionSettingsFailDetectionsOnly(t *testing.T) {
	ds := newTestDatasource(t, `{"file":{"paths":["`+fixtureDir(t)+`"]},"detections":{"allow":{"sourceNetworks":["10.0.0.0/33"]}}}`)
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{
		{RefID: "A", JSON: []byte(`{"queryType":"timeseries"}`), TimeRange: allTime},
		{RefID: "B", JSON: []byte(`{"queryType":"detections"}`), TimeRange: allTime},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Responses["A"]; r.Error != nil || len(r.Frames) == 0 {
		t.Errorf("timeseries: %v", r.Error)
	}
	if r := resp.Responses["B"]; r.Error == nil || r.Status != backend.StatusBadRequest ||
		!strings.Contains(r.Error.Error(), `detections settings are invalid: detections.allow: "10.0.0.0/33" is neither a CIDR nor an IP address`) {
		t.Errorf("detections: %v %v", r.Status, r.Error)
	}
	h, err := ds.CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	if err != nil || h.Status != backend.HealthStatusError || !strings.Contains(h.Message, "detections queries fail") {
		t.Errorf("health %+v %v", h, err)
	}
}

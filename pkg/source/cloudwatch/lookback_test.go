package cloudwatch_test

import (
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
)

// TestRBACLookbackOverCloudWatch: the RBAC look-back of binding-to-wildcard-role reads the day
// before the range through FilterLogEvents (with the role lines' filter pattern) and finds the
// same binding to a role written 20 hours earlier as the file does.
func TestRBACLookbackOverCloudWatch(t *testing.T) {
	fx := loadFixtures(t)
	for _, l := range []string{
		auditgen.RBACWrite(genStart.Add(-20*time.Hour), "create", "clusterroles", "", "ops-wide", auditgen.ClusterRole("ops-wide", []string{"*"}, []string{"get"})),
		auditgen.RBACWrite(genStart.Add(30*time.Minute), "create", "clusterrolebindings", "", "ops", auditgen.ClusterRoleBinding("ops", "ops-wide", "mallory@example.com")),
	} {
		tm, _ := audit.LineTime([]byte(l))
		fx = append(fx, fixture{l, tm.Add(300 * time.Millisecond).UnixMilli()})
	}
	srv := newServer(t, fx)
	cw := newSource(t, srv, nil, cloudwatch.Options{})
	fs, err := file.New(file.Config{Paths: []string{writeFile(t, fx)}}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		t.Fatal(err)
	}
	run := func(src source.Source) []detect.Finding {
		t.Helper()
		q, err := query.Parse([]byte(`{"queryType":"detections","rules":["binding-to-wildcard-role"]}`), "")
		if err != nil {
			t.Fatal(err)
		}
		res, err := engine.Run(testCtx(t), src, engine.Request{Query: q, From: genStart, To: genStart.Add(time.Hour),
			Detect: detect.Config{RoleLookback: 24 * time.Hour}, Roles: &engine.RoleIndex{}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Detections.Findings
	}
	want := run(fs)
	calls := srv.Calls("FilterLogEvents")
	got := run(cw)
	if len(want) != 1 || want[0].Name != "ops" {
		t.Fatalf("file findings %+v", want)
	}
	if len(got) != 1 || got[0].AuditID != want[0].AuditID || got[0].Detail != want[0].Detail || !got[0].Time.Equal(want[0].Time) {
		t.Errorf("CloudWatch findings %+v, file %+v", got, want)
	}
	if srv.Calls("FilterLogEvents") <= calls {
		t.Error("the look-back made no FilterLogEvents call")
	}
}

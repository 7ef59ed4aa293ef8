package loki_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// TestRBACLookbackOverLoki: the look-back of binding-to-wildcard-role reaches Loki as one more
// query range that asks only for role lines, and finds the same binding as the file does.
func TestRBACLookbackOverLoki(t *testing.T) {
	lines := append(generated(t),
		auditgen.RBACWrite(genStart.Add(-20*time.Hour), "create", "clusterroles", "", "ops-wide", auditgen.ClusterRole("ops-wide", []string{"*"}, []string{"get"})),
		auditgen.RBACWrite(genStart.Add(2*time.Hour), "create", "clusterrolebindings", "", "ops", auditgen.ClusterRoleBinding("ops", "ops-wide", "mallory@example.com")))
	srv := lokitest.New()
	defer srv.Close()
	srv.Limits.MaxQueryLength = 12 * time.Hour // the day of look-back takes two ranges
	load(srv, lines, noLag)
	lk := newSource(t, srv, func(c *loki.Config) { c.MaxQueryLength = 12 * time.Hour })
	fs := fileSource(t, lines)
	run := func(src source.Source, ix *engine.RoleIndex) *engine.Result {
		t.Helper()
		req := engine.Request{Query: parse(t, `{"queryType":"detections","rules":["binding-to-wildcard-role"]}`),
			From: genStart, To: genStart.Add(6 * time.Hour), Detect: detect.Config{RoleLookback: 24 * time.Hour}, Roles: ix}
		res, err := engine.Run(context.Background(), src, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	want := run(fs, nil)
	before := len(srv.Queries())
	got := run(lk, &engine.RoleIndex{})
	if len(want.Detections.Findings) != 1 || want.Detections.Findings[0].Name != "ops" {
		t.Fatalf("file findings %+v", want.Detections.Findings)
	}
	// Loki's line filters drop malformed lines before they reach the plugin.
	skipped := func(n engine.Notice) bool { return strings.HasPrefix(n.Text, "skipped") }
	want.Notices = slices.DeleteFunc(want.Notices, skipped)
	got.Notices = slices.DeleteFunc(got.Notices, skipped)
	if d := diffResults(got, want); d != "" {
		t.Errorf("Loki result differs from the file result (-file +loki):\n%.3000s", d)
	}
	queries := srv.Queries()[before:]
	if !slices.ContainsFunc(queries, func(q string) bool { return strings.Contains(q, `|= "roles"`) && strings.Contains(q, "clusterroles") }) {
		t.Errorf("no look-back query asked only for role lines: %q", queries)
	}
}

package loki_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// TestDeniedPullsOnlyDeniedLines: a denied query asks Loki only for 401/403 lines, and its
// result is the file's.
func TestDeniedPullsOnlyDeniedLines(t *testing.T) {
	lines := generated(t)
	srv := lokitest.New()
	defer srv.Close()
	load(srv, lines, noLag)
	lk := newSource(t, srv, nil)
	from, to := genStart.Add(-time.Minute), genStart.Add(6*time.Hour+time.Minute)
	js := `{"queryType":"denied","limit":1000}`
	req := engine.Request{Query: parse(t, js), From: from, To: to, Interval: 5 * time.Minute, MaxDataPoints: 1000}
	want, err := engine.Run(context.Background(), fileSource(t, lines), req)
	if err != nil {
		t.Fatal(err)
	}
	req.Query = parse(t, js)
	got, err := engine.Run(context.Background(), lk, req)
	if err != nil {
		t.Fatal(err)
	}
	skipped := func(n engine.Notice) bool { return strings.HasPrefix(n.Text, "skipped") }
	want.Notices = slices.DeleteFunc(want.Notices, skipped)
	if d := diffResults(got, want); d != "" {
		t.Errorf("Loki denied differs from the file's (-file +loki):\n%.3000s", d)
	}
	if len(want.Denied.Rows) == 0 {
		t.Fatal("no denied rows: the test data is too thin")
	}
	if !slices.ContainsFunc(srv.Queries(), func(q string) bool { return strings.Contains(q, `"code\":(401|403)[,}]`) }) {
		t.Errorf("no query filtered on the code: %q", srv.Queries())
	}
	if pulled := got.Stats.Source.LinesRead; pulled*10 > int64(len(lines)) {
		t.Errorf("pulled %d of %d lines for %d denied rows", pulled, len(lines), len(want.Denied.Rows))
	}
}

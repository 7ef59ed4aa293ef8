package loki_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
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

// TestEventsByAuditIDPullsOnlyTheirLines: an events query with auditIDs (the raw-event link of
// tables and findings) asks Loki only for those requests' lines, and its result is the file's.
func TestEventsByAuditIDPullsOnlyTheirLines(t *testing.T) {
	lines := generated(t)
	srv := lokitest.New()
	defer srv.Close()
	load(srv, lines, noLag)
	lk := newSource(t, srv, nil)
	from, to := genStart.Add(-time.Minute), genStart.Add(6*time.Hour+time.Minute)
	// Three requests from the start, the middle and the end of the log.
	var ids []string
	for _, l := range []string{lines[0], lines[len(lines)/2], lines[len(lines)-1]} {
		r, err := audit.Decode([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, string(r.Str(audit.FieldAuditID)))
	}
	for _, format := range []string{"logs", "table"} {
		js := `{"queryType":"events","format":"` + format + `","limit":1000,"auditIDs":["` + strings.Join(ids, `","`) + `"]}`
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
			t.Errorf("%s: Loki differs from the file's (-file +loki):\n%.3000s", format, d)
		}
		if len(want.Events.Events) < len(ids) {
			t.Fatalf("%s: %d events for %d requests", format, len(want.Events.Events), len(ids))
		}
		if !slices.ContainsFunc(srv.Queries(), func(q string) bool { return strings.Contains(q, `"auditID\":\"(`) }) {
			t.Errorf("%s: no query filtered on the auditID: %q", format, srv.Queries())
		}
		t.Logf("%s: pulled %d of %d lines", format, got.Stats.Source.LinesRead, len(lines))
		if pulled := got.Stats.Source.LinesRead; pulled > int64(4*len(ids)) {
			t.Errorf("%s: pulled %d of %d lines for the events of %d requests", format, pulled, len(lines), len(ids))
		}
	}
}

package loki_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// fileAndLoki runs the query js over lines as a file and over lk (which holds them), and
// returns both results; the file's "skipped" notice is left out: a narrowed read from Loki
// does not pull the malformed lines it counts.
func fileAndLoki(t *testing.T, lines []string, lk source.Source, js string, from, to time.Time) (file, loki *engine.Result) {
	t.Helper()
	req := engine.Request{Query: parse(t, js), From: from, To: to, Interval: 5 * time.Minute, MaxDataPoints: 1000}
	file, err := engine.Run(context.Background(), fileSource(t, lines), req)
	if err != nil {
		t.Fatal(err)
	}
	req.Query = parse(t, js)
	loki, err = engine.Run(context.Background(), lk, req)
	if err != nil {
		t.Fatal(err)
	}
	file.Notices = slices.DeleteFunc(file.Notices, func(n engine.Notice) bool { return strings.HasPrefix(n.Text, "skipped") })
	return file, loki
}

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
	want, got := fileAndLoki(t, lines, lk, js, from, to)
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
		want, got := fileAndLoki(t, lines, lk, js, from, to)
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

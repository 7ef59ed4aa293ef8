package loki_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// TestValuesCountedByLoki: GET /values over Loki is counted by Loki (a metric query per hour,
// grouped by the dimension), with no log line pulled, and equals the file's values; a
// dimension with more values than Loki's max_query_series returns falls back to the lines and
// is still exact; a dimension LogQL cannot group by exactly (user.groups) reads the lines.
func TestValuesCountedByLoki(t *testing.T) {
	lines := generated(t)
	srv := lokitest.New()
	defer srv.Close()
	load(srv, lines, noLag)
	lk := newSource(t, srv, func(c *loki.Config) { c.CountCacheBytes = 1 << 20 })
	fs := fileSource(t, lines)
	from, to := genStart.Add(-time.Minute), genStart.Add(6*time.Hour+time.Minute)
	for _, tc := range []struct {
		dim     string
		filter  query.Filter
		limit   int
		counted bool
	}{
		{"verb", query.Filter{}, 1000, true},
		{"user.username", query.Filter{Verbs: query.StringList{"get", "list"}}, 5, true},
		{"objectRef.namespace", query.Filter{Codes: query.StringList{"4xx"}}, 1000, true},
		{"user.groups", query.Filter{}, 1000, false},
	} {
		dim, _ := query.LookupDimension(tc.dim)
		want, _, err := engine.Values(context.Background(), fs, engine.Request{}, dim, tc.filter, from, to, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 {
			t.Fatalf("%s: no values in the file", tc.dim)
		}
		before := len(srv.Queries())
		got, _, err := engine.Values(context.Background(), lk, engine.Request{}, dim, tc.filter, from, to, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: Loki values differ from the file's (-file +loki):\n%s", tc.dim, d)
		}
		pulled := false
		for _, q := range srv.Queries()[before:] {
			if !strings.HasPrefix(q, "sum") {
				pulled = true
			}
		}
		if pulled == tc.counted {
			t.Errorf("%s: lines pulled %v, want counted by Loki %v: %q", tc.dim, pulled, tc.counted, srv.Queries()[before:])
		}
	}

	// More values than Loki returns series for: Loki refuses, the lines are read.
	srv.Limits.MaxQuerySeries = 3
	dim, _ := query.LookupDimension("objectRef.resource")
	want, _, err := engine.Values(context.Background(), fs, engine.Request{}, dim, query.Filter{}, from, to, 1000)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := engine.Values(context.Background(), lk, engine.Request{}, dim, query.Filter{}, from, to, 1000)
	if err != nil {
		t.Fatalf("over the series limit: %v", err)
	}
	if len(want) <= 3 || cmp.Diff(want, got) != "" {
		t.Errorf("over the series limit (%d values): %s", len(want), cmp.Diff(want, got))
	}
}

// TestCountOverSeriesLimitFallsBack: a count Loki refuses for its max_query_series is made
// from the lines in sourceMode auto (same answer, a notice says why) and is an error naming the
// limit under sourceMode pushdown.
func TestCountOverSeriesLimitFallsBack(t *testing.T) {
	lines := generated(t)
	srv := lokitest.New()
	defer srv.Close()
	load(srv, lines, noLag)
	srv.Limits.MaxQuerySeries = 3
	lk := newSource(t, srv, func(c *loki.Config) { c.PushdownMinLines = 1 })
	from, to := genStart.Add(-time.Minute), genStart.Add(6*time.Hour+time.Minute)
	js := `{"queryType":"timeseries","groupBy":["objectRef.resource"],"limit":50}`
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
	if !strings.Contains(got.Notices[0].Text, "counted in the plugin from raw lines: the source refused the count for its number of groups") {
		t.Errorf("notices %v", got.Notices)
	}
	if d := cmp.Diff(want.Series, got.Series); d != "" {
		t.Errorf("(-file +loki):\n%s", d)
	}
	req.Query = parse(t, strings.Replace(js, "{", `{"sourceMode":"pushdown",`, 1))
	if _, err := engine.Run(context.Background(), lk, req); err == nil || !strings.Contains(err.Error(), "maximum number of series (3)") {
		t.Errorf("sourceMode pushdown over the series limit: %v", err)
	}
}

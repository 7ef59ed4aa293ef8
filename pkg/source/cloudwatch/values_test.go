package cloudwatch_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
)

// TestValuesCountedByInsights: GET /values over CloudWatch is one Logs Insights count grouped
// by the dimension (after the line-format check), no FilterLogEvents page, and equals the
// file's values; user.groups, which Insights cannot group by exactly, reads the events.
func TestValuesCountedByInsights(t *testing.T) {
	fx := loadFixtures(t)
	srv := newServer(t, fx)
	cw := newSource(t, srv, func(c *cloudwatch.Config) { c.CountCacheBytes = 1 << 20 }, cloudwatch.Options{})
	fs, err := file.New(file.Config{Paths: []string{writeFile(t, fx)}}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		t.Fatal(err)
	}
	from, to := genStart.Add(-10*time.Minute), genStart.Add(70*time.Minute)
	for _, tc := range []struct {
		dim     string
		filter  query.Filter
		counted bool
	}{
		{"verb", query.Filter{}, true},
		{"user.username", query.Filter{Verbs: query.StringList{"get", "list"}}, true},
		{"objectRef.namespace", query.Filter{Codes: query.StringList{"4xx"}}, true},
		{"user.groups", query.Filter{}, false},
	} {
		dim, _ := query.LookupDimension(tc.dim)
		want, _, err := engine.Values(testCtx(t), fs, engine.Request{}, dim, tc.filter, from, to, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 {
			t.Fatalf("%s: no values in the file", tc.dim)
		}
		pages := srv.Calls("FilterLogEvents")
		got, _, err := engine.Values(testCtx(t), cw, engine.Request{}, dim, tc.filter, from, to, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: CloudWatch values differ from the file's (-file +cloudwatch):\n%s", tc.dim, d)
		}
		if read := srv.Calls("FilterLogEvents") > pages; read == tc.counted {
			t.Errorf("%s: events read %v, want counted by Insights %v", tc.dim, read, tc.counted)
		}
	}
}

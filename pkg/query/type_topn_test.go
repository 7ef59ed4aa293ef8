package query_test

import (
	"strings"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

func TestTopNSortBy(t *testing.T) {
	if q := mustParse(t, `{"queryType":"topn"}`, ""); q.SortBy != query.SortRequests {
		t.Errorf("default sortBy %q, want requests", q.SortBy)
	}
	for _, s := range []string{"requests", "errors", "denied", "p99"} {
		if q := mustParse(t, `{"queryType":"topn","sortBy":"`+s+`"}`, ""); q.SortBy != s {
			t.Errorf("sortBy %q parsed as %q", s, q.SortBy)
		}
	}
	// Other types have no order to choose: the field is left as sent, like quantiles on a
	// timeseries query (editors keep fields across type switches).
	if q := mustParse(t, `{"queryType":"timeseries","sortBy":"p99"}`, ""); q.SortBy != "p99" {
		t.Errorf("timeseries sortBy %q", q.SortBy)
	}
}

func TestTopNSortByErrors(t *testing.T) {
	for _, s := range []string{"latency", "P99", "p50", "requests desc"} {
		_, err := query.Parse([]byte(`{"queryType":"topn","sortBy":"`+s+`"}`), "")
		if err == nil || !strings.Contains(err.Error(), `unknown sortBy "`+s+`" for topn: use requests, errors, denied, p99`) {
			t.Errorf("sortBy %q: %v", s, err)
		}
	}
}

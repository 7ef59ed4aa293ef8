package engine

import (
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

func TestCostNotice(t *testing.T) {
	for _, tc := range []struct {
		cr   source.CountResult
		want string
	}{
		{source.CountResult{}, ""},
		{source.CountResult{Requests: 3, BytesScanned: 2_500_000, Buckets: 288, CachedBuckets: 285},
			"counted by the source in 3 requests, 2.5 MB scanned; 285 of 288 buckets from the cache of finished buckets"},
		{source.CountResult{Requests: 1, BytesScanned: 4e9, PricePerGB: 0.005},
			"counted by the source in 1 request, 4.00 GB scanned (about $0.0200 at $0.005 per GB)"},
	} {
		if got := costNotice(&tc.cr); got != tc.want {
			t.Errorf("%+v:\n got %q\nwant %q", tc.cr, got, tc.want)
		}
	}
}

package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// TestValuesFromSegments: /values over audit files goes through their segments: the first call
// builds the index, the second is answered from the partial cache without reading a byte, a
// range that cuts the segments differently is answered from the index; each equals a plain
// scan of the lines.
func TestValuesFromSegments(t *testing.T) {
	r := indexedRunner(t)
	full := [2]time.Time{segStart.Add(-time.Minute), segStart.Add(3*time.Hour + time.Minute)}
	cut := [2]time.Time{segStart.Add(37 * time.Minute), segStart.Add(2*time.Hour + 11*time.Minute)}
	base := engine.Request{Cache: r.cache, Index: r.index}
	for _, tc := range []struct {
		dim    string
		filter query.Filter
		limit  int
	}{
		{"user.username", query.Filter{}, 1000},
		{"objectRef.namespace", query.Filter{Verbs: query.StringList{"get", "list"}}, 3},
		{"user.groups", query.Filter{Codes: query.StringList{"4xx"}}, 1000},
	} {
		dim, _ := query.LookupDimension(tc.dim)
		for i, rng := range [][2]time.Time{full, full, cut} {
			want, _, err := engine.Values(context.Background(), r.src, engine.Request{}, dim, tc.filter, rng[0], rng[1], tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 {
				t.Fatalf("%s: no values", tc.dim)
			}
			got, st, err := engine.Values(context.Background(), r.src, base, dim, tc.filter, rng[0], rng[1], tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("%s, call %d: segments differ from the plain scan (-scan +segments):\n%s", tc.dim, i, d)
			}
			seg := st.Segments
			switch {
			case seg.Total == 0:
				t.Errorf("%s, call %d: not read through segments", tc.dim, i)
			case i == 1 && (seg.Cached != seg.Total || st.Source.BytesRead != 0):
				t.Errorf("%s, second call: %+v, read %d bytes; want every segment from the cache", tc.dim, seg, st.Source.BytesRead)
			case i == 2 && seg.Indexed == 0:
				t.Errorf("%s, cut range: %+v; want segments answered from the index", tc.dim, seg)
			}
		}
	}
}

package engine_test

import (
	"testing"
	"time"
)

// TestSearchWhileIndexBuilds: a text search is applied on the scan that builds a segment's column
// index (the line prefilter is off then, so every event is indexed), as on a plain scan.
func TestSearchWhileIndexBuilds(t *testing.T) {
	r := indexedRunner(t)
	from, to := segStart.Add(-time.Minute), segStart.Add(4*time.Hour)
	q := `{"queryType":"timeseries","filter":{"search":"kube-system"}}`
	raw := r.run(q, from, to, nil)
	cold := r.run(q, from, to, r.cache)
	if raw.Stats.Matched != cold.Stats.Matched {
		t.Errorf("search ignored on a cold index build: raw %d, indexed %d", raw.Stats.Matched, cold.Stats.Matched)
	}
}

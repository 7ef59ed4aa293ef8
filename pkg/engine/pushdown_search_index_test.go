package engine_test

import (
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"testing"
	"time"
)

// TestSearchWhileIndexBuilds: a text search is applied on the scan that builds a segment's column
// index (the line prefilter is off then, so every event is indexed), as on a plain scan, to the
// events and to the count of malformed lines.
func TestSearchWhileIndexBuilds(t *testing.T) {
	r := indexedRunner(t)
	from, to := segStart.Add(-time.Minute), segStart.Add(4*time.Hour)
	q := `{"queryType":"timeseries","filter":{"search":"kube-system"}}`
	raw := r.run(q, from, to, nil)
	cold := r.run(q, from, to, r.cache)
	if raw.Stats.Matched != cold.Stats.Matched {
		t.Errorf("search ignored on a cold index build: raw %d, indexed %d", raw.Stats.Matched, cold.Stats.Matched)
	}
	// The malformed lines the search leaves out are decoded by the build (and counted in the
	// index, for every query of the segment), but not counted for this query, whose plain scan
	// never sees them; nor when it is answered from the index.
	indexed := r.run(q, from, to, engine.NewCache(0))
	if raw.Stats.Malformed == 0 || cold.Stats.Malformed != raw.Stats.Malformed || indexed.Stats.Malformed != raw.Stats.Malformed {
		t.Errorf("malformed lines under a search: raw %d, building the index %d, from it %d", raw.Stats.Malformed, cold.Stats.Malformed, indexed.Stats.Malformed)
	}
	all := r.run(`{"queryType":"timeseries"}`, from, to, engine.NewCache(0))
	if want := r.run(`{"queryType":"timeseries"}`, from, to, nil); all.Stats.Malformed != want.Stats.Malformed || all.Stats.Malformed <= raw.Stats.Malformed {
		t.Errorf("malformed lines without a search: from the index built under one %d, raw %d (under the search %d)", all.Stats.Malformed, want.Stats.Malformed, raw.Stats.Malformed)
	}
}

package engine

import (
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// Every query type has an engine, answering it either with a plan (aggregators over the scan)
// or by itself, or both with runs saying which.
func TestTypeEngines(t *testing.T) {
	for _, typ := range query.Types {
		e, err := lookupType(typ)
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		if (e.plan == nil) == (e.run == nil) && (e.plan == nil || e.runs == nil) {
			t.Errorf("%s: want exactly one of plan and run, or both and runs", typ)
		}
		if e.runs != nil && (e.plan == nil || e.run == nil) {
			t.Errorf("%s: runs without both plan and run", typ)
		}
	}
	if len(typeEngines) != len(query.Types) {
		t.Errorf("%d engines for %d query types", len(typeEngines), len(query.Types))
	}
	if _, err := lookupType("histogram"); err == nil {
		t.Error("lookupType(histogram) found an engine")
	}
}

// The registered bucketed property (which puts the step in a partial's cache key) holds for
// exactly the results that count per time bucket.
func TestTypeEnginesBucketed(t *testing.T) {
	want := map[query.Type]func(format string) bool{
		query.TypeTimeSeries:       func(string) bool { return true },
		query.TypeLatency:          func(string) bool { return true },
		query.TypeLatencyBreakdown: func(f string) bool { return f != query.FormatTable },
		query.TypeDetections:       func(f string) bool { return f != query.FormatTable },
		// The table's longestGap is counted on buckets too.
		query.TypePipelineHealth: func(string) bool { return true },
	}
	for _, spec := range query.Specs() {
		for _, f := range append([]string{""}, spec.Formats...) {
			q := &query.Query{QueryType: spec.Type, Format: f}
			w := want[spec.Type] != nil && want[spec.Type](f)
			if got := bucketed(q); got != w {
				t.Errorf("%s format %q: bucketed %v, want %v", spec.Type, f, got, w)
			}
		}
	}
}

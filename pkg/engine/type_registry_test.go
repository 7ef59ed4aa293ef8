package engine

import (
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// Every query type has an engine, answering it either with a plan (aggregators over the scan)
// or by itself.
func TestTypeEngines(t *testing.T) {
	for _, typ := range query.Types {
		e, err := lookupType(typ)
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		if (e.plan == nil) == (e.run == nil) {
			t.Errorf("%s: want exactly one of plan and run", typ)
		}
	}
	if len(typeEngines) != len(query.Types) {
		t.Errorf("%d engines for %d query types", len(typeEngines), len(query.Types))
	}
	if _, err := lookupType("histogram"); err == nil {
		t.Error("lookupType(histogram) found an engine")
	}
}

// The registered bucketed property says what bucketed (segments.go) says, for every type and
// format.
func TestTypeEnginesBucketed(t *testing.T) {
	for _, spec := range query.Specs() {
		formats := append([]string{""}, spec.Formats...)
		for _, f := range formats {
			q := &query.Query{QueryType: spec.Type, Format: f}
			e, err := lookupType(spec.Type)
			if err != nil {
				t.Fatal(err)
			}
			got := e.bucketed != nil && e.bucketed(q)
			if e.run == nil && got != bucketed(q) {
				t.Errorf("%s format %q: registered bucketed %v, segments.go bucketed %v", spec.Type, f, got, bucketed(q))
			}
		}
	}
}

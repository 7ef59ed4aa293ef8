package plugin

import (
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// Every query type has a frame builder; a result without what the type answers with gives an
// empty frame, as before the builders were per type.
func TestFrameBuilders(t *testing.T) {
	for _, typ := range query.Types {
		if _, ok := frameBuilders[typ]; !ok {
			t.Errorf("%s: no frame builder", typ)
		}
		f := buildFrame(&query.Query{QueryType: typ}, &engine.Result{})
		if f == nil || len(f.Fields) != 0 {
			t.Errorf("%s: empty result gave %v", typ, f)
		}
	}
	if len(frameBuilders) != len(query.Types) {
		t.Errorf("%d frame builders for %d query types", len(frameBuilders), len(query.Types))
	}
	if f := buildFrame(&query.Query{QueryType: "histogram"}, &engine.Result{Series: &engine.SeriesResult{}}); len(f.Fields) != 0 {
		t.Errorf("unknown type gave %v", f)
	}
}

package plugin

import (
	"math"
	"testing"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
)

func TestSeriesDisplayNames(t *testing.T) {
	l := func(kv ...string) []engine.Label {
		var out []engine.Label
		for i := 0; i < len(kv); i += 2 {
			out = append(out, engine.Label{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, c := range []struct {
		s    engine.Series
		want string
	}{
		{engine.Series{Name: "count", Labels: l("verb", "get")}, "get"},
		{engine.Series{Name: "rate", Labels: l("user.username", "alice", "verb", "get")}, "alice get"},
		{engine.Series{Name: "count"}, "requests"},
		{engine.Series{Name: "count", Labels: l("verb", "other", "userKind", "other")}, "other"},
		{engine.Series{Name: "p99", Labels: l("verb", "update", "quantile", "0.99")}, "p99 update"},
		{engine.Series{Name: "p50", Labels: l("quantile", "0.5")}, "p50"},
		{engine.Series{Name: "etcd", Labels: l("component", "etcd")}, "etcd"},
		{engine.Series{Name: "events", Labels: l("origin", "audit.log")}, "audit.log"},
	} {
		if got := seriesDisplayName(c.s); got != c.want {
			t.Errorf("%+v: %q, want %q", c.s, got, c.want)
		}
	}
}

// Grafana's heatmap reads rows frames by their fields' le labels (cells below the bound) and
// shows the display names on the y axis.
func TestHeatmapBucketsAreUpperBounds(t *testing.T) {
	f := heatmapFrame(&engine.HeatmapResult{Bounds: engine.HeatmapBounds, Counts: make([][]float64, len(engine.HeatmapBounds))})
	if f.Meta.Type != frameTypeHeatmapRows {
		t.Fatalf("type %q", f.Meta.Type)
	}
	want := map[string]string{"0.005": "5 ms", "0.025": "25 ms", "0.25": "250 ms", "1": "1 s", "2.5": "2.5 s", "60": "1 min", "+Inf": "+Inf"}
	for _, field := range f.Fields[1:] {
		if field.Labels["le"] != field.Name || field.Config.Unit != unitCount {
			t.Errorf("bucket %s: labels %v, unit %q", field.Name, field.Labels, field.Config.Unit)
		}
		if w, ok := want[field.Name]; ok && field.Config.DisplayNameFromDS != w {
			t.Errorf("bucket %s shown as %q, want %q", field.Name, field.Config.DisplayNameFromDS, w)
		}
	}
	if n := len(f.Fields) - 1; n != len(engine.HeatmapBounds) || !math.IsInf(engine.HeatmapBounds[n-1], 1) {
		t.Errorf("%d buckets", n)
	}
}

func TestCountsHaveAUnit(t *testing.T) {
	frames := []*data.Frame{
		topNFrame(&engine.TopNResult{Dims: []string{"verb"}, Rows: []engine.TopNRow{{Values: []string{"get"}, Requests: 3}}}),
		matrixFrame(&engine.MatrixResult{RowDim: "user", Rows: []string{"a"}, Cols: []string{"pods"}, Cells: [][]int64{{1}}, RowTotals: []int64{1}}),
		seriesFrame(&engine.SeriesResult{Series: []engine.Series{{Name: "count"}}}),
	}
	for _, f := range frames {
		for _, field := range f.Fields {
			if field.Type().Numeric() && (field.Config == nil || field.Config.Unit == "") {
				t.Errorf("%s: %s has no unit", f.Name, field.Name)
			}
		}
	}
}

package plugin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// TestHealthNamesTheIndexDirectory: the health message says where the column index lives, or
// why it is off (a directory that cannot be created), and queries answer either way.
func TestHealthNamesTheIndexDirectory(t *testing.T) {
	logs := fixtureDir(t)
	idx := filepath.Join(t.TempDir(), "index")
	blocked := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, jsonData, want string }{
		{"configured", `{"source":"file","file":{"paths":["` + logs + `"],"indexDir":"` + idx + `"}}`, "column index in " + idx + " ("},
		{"default", `{"source":"file","file":{"paths":["` + logs + `"]}}`, "column index in " + filepath.Join(os.Getenv("XDG_CACHE_HOME"), ID, "index")},
		{"unusable", `{"source":"file","file":{"paths":["` + logs + `"],"indexDir":"` + filepath.Join(blocked, "index") + `"}}`, "the column index is off (index directory " + filepath.Join(blocked, "index") + " cannot be created"},
		{"off", `{"source":"file","file":{"paths":["` + logs + `"],"index":false}}`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ds := newTestDatasource(t, c.jsonData)
			h, err := ds.CheckHealth(context.Background(), &backend.CheckHealthRequest{})
			if err != nil || h.Status != backend.HealthStatusOk {
				t.Fatalf("health %v %+v", err, h)
			}
			if c.want == "" && strings.Contains(h.Message, "column index") || !strings.Contains(h.Message, c.want) {
				t.Errorf("health message %q, want it to contain %q", h.Message, c.want)
			}
			resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{
				{RefID: "A", JSON: []byte(`{"queryType":"timeseries","groupBy":["verb"]}`), TimeRange: allTime, MaxDataPoints: 100},
			}})
			if err != nil || resp.Responses["A"].Error != nil {
				t.Fatalf("query: %v %v", err, resp.Responses["A"].Error)
			}
		})
	}
	if ents, _ := os.ReadDir(idx); len(ents) == 0 {
		t.Error("the configured index directory holds no index after a query")
	}
}

package plugin

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

func callResource(t *testing.T, ds *Datasource, path string) (int, []byte) {
	t.Helper()
	var status int
	var body []byte
	err := ds.CallResource(context.Background(), &backend.CallResourceRequest{Method: "GET", Path: strings.SplitN(path, "?", 2)[0], URL: path},
		backend.CallResourceResponseSenderFunc(func(r *backend.CallResourceResponse) error {
			status, body = r.Status, append(body, r.Body...)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

func TestValuesResource(t *testing.T) {
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+fixtureDir(t)+`"]}}`)
	rng := "&from=" + strconv.FormatInt(allTime.From.UnixMilli(), 10) + "&to=" + strconv.FormatInt(allTime.To.UnixMilli(), 10)
	values := func(query string) []map[string]any {
		t.Helper()
		status, body := callResource(t, ds, "values?"+query+rng)
		if status != 200 {
			t.Fatalf("%s: status %d %s", query, status, body)
		}
		var out []map[string]any
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := values("dim=user.username")
	if len(all) < 5 {
		t.Fatalf("only %d users", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i]["count"].(float64) > all[i-1]["count"].(float64) {
			t.Errorf("not ordered by count: %v", all)
		}
	}
	// audit2rbac's demo log: system:admin lists pods as bob and is denied.
	one := values("dim=verb&filter=" + url.QueryEscape(`{"users":["system:admin"],"codes":["403"]}`))
	if len(one) == 0 || one[0]["value"] == "" {
		t.Errorf("filtered values: %v", one)
	}
	if got := values("dim=verb&limit=1"); len(got) != 1 {
		t.Errorf("limit=1 gave %d values", len(got))
	}
	for _, bad := range []string{"dim=nope", "dim=verb&filter=" + url.QueryEscape(`{"codes":["9xx"]}`), "dim=verb&limit=0", "dim=verb&from=x"} {
		if status, body := callResource(t, ds, "values?"+bad); status != 400 || !strings.Contains(string(body), "error") {
			t.Errorf("%s: status %d body %s", bad, status, body)
		}
	}
	status, body := callResource(t, ds, "dimensions")
	if status != 200 || !strings.Contains(string(body), `"objectRef.namespace"`) {
		t.Errorf("dimensions: %d %s", status, body)
	}
}

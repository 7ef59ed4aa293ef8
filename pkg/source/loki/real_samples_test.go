package loki

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestRealLokiResponsesDecode decodes real Loki API responses (from Loki's Apache-licensed
// marshal tests and API docs, testdata/loki) with the client's own response types: the local
// test server's bodies are shaped after these, and the client must read what Loki really sends,
// including streams whose values carry a third element (structured metadata, with the
// categorize-labels encoding flag).
func TestRealLokiResponsesDecode(t *testing.T) {
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("../../../testdata/loki", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	streams := func(name string) []stream {
		t.Helper()
		var resp queryResponse
		if err := json.Unmarshal(read(name), &resp); err != nil || resp.Status != "success" || resp.Data.ResultType != "streams" {
			t.Fatalf("%s: %v %+v", name, err, resp)
		}
		var out []stream
		if err := json.Unmarshal(resp.Data.Result, &out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return out
	}
	for _, name := range []string{
		"grafana__loki__pkg_util_marshal_marshal_test.go.queryTests.0.L339.json",
		"grafana__loki__pkg_util_marshal_marshal_test.go.queryTestWithEncodingFlags.0.L277.json",
		"grafana__loki__pkg_util_marshal_marshal_test.go.Test_WriteQueryResponseJSON_EncodeFlags.0.L843.json",
	} {
		ss := streams(name)
		n := 0
		for _, s := range ss {
			for _, v := range s.Values {
				if v[0] == "" || v[1] == "" {
					t.Errorf("%s: empty timestamp or line in %v", name, v)
				}
				n++
			}
		}
		if len(ss) == 0 || n == 0 {
			t.Errorf("%s: %d streams, %d values", name, len(ss), n)
		}
	}

	var resp queryResponse
	if err := json.Unmarshal(read("grafana__loki__pkg_util_marshal_marshal_test.go.queryTests.2.L442.json"), &resp); err != nil || resp.Data.ResultType != "matrix" {
		t.Fatalf("matrix: %v", err)
	}
	var matrix []matrixSeries
	if err := json.Unmarshal(resp.Data.Result, &matrix); err != nil || len(matrix) == 0 {
		t.Fatalf("matrix: %v", err)
	}
	for _, m := range matrix {
		for _, p := range m.Values {
			if _, _, err := parseSample(p); err != nil {
				t.Errorf("matrix sample %s: %v", p, err)
			}
		}
	}
	resp = queryResponse{}
	if err := json.Unmarshal(read("grafana__loki__pkg_util_marshal_marshal_test.go.queryTests.1.L379.json"), &resp); err != nil || resp.Data.ResultType != "vector" {
		t.Fatalf("vector: %v", err)
	}
	var vector []vectorSample
	if err := json.Unmarshal(resp.Data.Result, &vector); err != nil || len(vector) == 0 {
		t.Fatalf("vector: %v", err)
	}
	for _, v := range vector {
		if _, _, err := parseSample(v.Value); err != nil {
			t.Errorf("vector sample %s: %v", v.Value, err)
		}
	}
	for _, name := range []string{
		"grafana__loki__pkg_util_marshal_marshal_test.go.labelTests.0.L496.json",
		"grafana__loki__docs_sources_api__index.md@3c785796.example.GET_loki_api_v1_labels.0.json",
	} {
		var labels struct {
			Status string   `json:"status"`
			Data   []string `json:"data"`
		}
		if err := json.Unmarshal(read(name), &labels); err != nil || labels.Status != "success" || len(labels.Data) == 0 {
			t.Errorf("%s: %v %+v", name, err, labels)
		}
	}
	for _, name := range []string{
		"grafana__loki__pkg_util_marshal_marshal_test.go.Test_WriteSeriesResponseJSON.0.L789.json",
		"grafana__loki__docs_sources_api__index.md@3c785796.example.Series.0.json",
	} {
		var series struct {
			Status string              `json:"status"`
			Data   []map[string]string `json:"data"`
		}
		if err := json.Unmarshal(read(name), &series); err != nil || series.Status != "success" || len(series.Data) == 0 {
			t.Errorf("%s: %v %+v", name, err, series)
		}
	}
}

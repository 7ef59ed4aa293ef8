package plugin

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// fuzzLogFiles are the fixtures of the fuzzed datasource's log: a few of every kind of
// request (long-running, denied, slow with latency annotations, RBAC and secrets, a deprecated
// API, v1beta1), so that every query type has something to count, and small enough for
// thousands of queries a second.
var fuzzLogFiles = []string{
	"kubernetes__kubernetes__kube-apiserver-v1.37.2__exec-read-token.jsonl",
	"kubernetes__kubernetes__kube-apiserver-v1.37.2__forbidden-burst.jsonl",
	"kubernetes__kubernetes__kube-apiserver-v1.37.2__pod-patch.jsonl",
	"kubernetes__kubernetes__kube-apiserver-v1.37.2__wildcard-clusterrole-and-binding.jsonl",
	"kubernetes__kubernetes__kube-apiserver-v1.37.2__secret-get-by-user.jsonl",
	"kubernetes__website__docs_tasks_debug-application-cluster_audit.md.v1beta1-rev.log.jsonl",
	"falcosecurity__falco__test_trace_files_k8s_audit_create_nginx_pod_privileged.jsonl",
	"aws__aws-eks-best-practices__latest_bpg_upgrades_index.adoc.eks-events.jsonl",
	"kubernetes__kubernetes__kube-apiserver-v1.37.2__port-forward.jsonl",
}

// fuzzLogDir writes fuzzLogFiles into one audit.log, with a malformed line in the middle.
func fuzzLogDir(f *testing.F) string {
	f.Helper()
	var all []byte
	for i, name := range fuzzLogFiles {
		b, err := os.ReadFile(filepath.Join("../../testdata/audit", name))
		if err != nil {
			f.Fatal(err)
		}
		all = append(all, b...)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			all = append(all, '\n')
		}
		if i == len(fuzzLogFiles)/2 {
			all = append(all, "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metad\n"...)
		}
	}
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), all, 0o600); err != nil {
		f.Fatal(err)
	}
	return dir
}

// FuzzQueryData sends arbitrary query JSON, with an arbitrary interval and maxDataPoints (as
// Grafana sends them in the protocol fields), to a datasource over a fixed small log: the
// query → engine → frames path never panics (a recovered panic is a plugin-sourced error),
// always answers the query's RefID, fails only with a downstream error (the log is fixed and
// readable, so a plugin error is a bug), and its frames always encode to Arrow as the SDK
// sends them to Grafana. Seeds: the golden queries of testdata/queries and a few edge cases.
// Run longer with
//
//	go test -run '^$' -fuzz '^FuzzQueryData$' -fuzztime 60s -parallel 1 ./pkg/plugin/
func FuzzQueryData(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/queries/*.json")
	if len(seeds) == 0 {
		f.Fatal("no seed queries in testdata/queries")
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, int64(60_000), int64(100))
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `{"queryType":"nope"}`, `{"queryType":`,
		`{"queryType":"timeseries","groupBy":["verb","user.username","objectRef.namespace"],"limit":-1}`,
		`{"queryType":"latency","quantiles":[0,1,0.5,"p99"],"includeLongRunning":true}`,
		`{"queryType":"topn","groupBy":["sourceIPs"],"limit":1}`,
		`{"queryType":"events","format":"table","limit":100000,"filter":{"search":"secrets","codes":["!2xx"]}}`,
		`{"queryType":"matrix","rows":"user.username","columns":"objectRef.resource","limit":0}`,
		`{"queryType":"detections","format":"timeseries","rules":["exec-into-pod","nope"]}`,
		`{"queryType":"objectHistory","filter":{"names":["*"]}}`,
		`{"queryType":"pipelineHealth"}`,
	} {
		f.Add([]byte(s), int64(0), int64(0))
	}
	f.Add([]byte(`{"queryType":"timeseries","metric":"rate"}`), int64(1), int64(1<<62))
	f.Add([]byte(`{"queryType":"latency","format":"heatmap"}`), int64(-1), int64(-1))

	// No cache and no index: each input runs alone, so that a failure replays exactly.
	ds := newFuzzDatasource(f, `{"source":"file","file":{"paths":["`+fuzzLogDir(f)+`"],"cache":false,"index":false}}`)
	tr := backend.TimeRange{From: time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	f.Fuzz(func(t *testing.T, raw []byte, intervalMs, maxDataPoints int64) {
		resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{
			RefID: "A", JSON: raw, TimeRange: tr, MaxDataPoints: maxDataPoints,
			Interval: time.Duration(intervalMs) * time.Millisecond, // as the SDK converts IntervalMS
		}}})
		if err != nil {
			t.Fatalf("QueryData returned an error for the whole request: %v", err)
		}
		r, ok := resp.Responses["A"]
		if !ok || len(resp.Responses) != 1 {
			t.Fatalf("responses %v: want exactly RefID A", resp.Responses)
		}
		if r.Error != nil {
			if r.ErrorSource != backend.ErrorSourceDownstream {
				t.Fatalf("plugin-sourced error (a bug or a recovered panic; status %d): %v", r.Status, r.Error)
			}
			return
		}
		if len(r.Frames) == 0 {
			t.Fatal("no error and no frame")
		}
		if _, err := r.Frames.MarshalArrow(); err != nil {
			t.Fatalf("frames do not encode to Arrow: %v", err)
		}
	})
}

// newFuzzDatasource is newTestDatasource for a fuzz target.
func newFuzzDatasource(f *testing.F, jsonData string) *Datasource {
	f.Helper()
	inst, err := NewDatasource(context.Background(), backend.DataSourceInstanceSettings{JSONData: []byte(jsonData)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(inst.(*Datasource).Dispose)
	return inst.(*Datasource)
}

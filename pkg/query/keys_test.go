package query_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// TestUnknownKeys: a key the query model does not have is an error naming the key and the fix,
// not silently ignored (encoding/json drops unknown keys, so `filtre` gave an unfiltered query).
func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want []string
	}{
		{`{"filtre":{"verbs":["get"]}}`, []string{`unknown query key "filtre": did you mean "filter"?`}},
		{`{"queryType":"timeseries","groupBY":["verb"],"metrc":"rate"}`, []string{`unknown query key "metrc": did you mean "metric"?`}},
		{`{"filter":{"verb":["get"]}}`, []string{`unknown query key "filter.verb": did you mean "filter.verbs"?`}},
		{`{"filter":{"sourceIP":["10.0.0.1"]}}`, []string{`"filter.sourceIP": did you mean "filter.sourceIPs"?`}},
		{`{"queryType":"latency","quantile":[0.99]}`, []string{`"quantile": did you mean "quantiles"?`}},
		{`{"queryType":"detections","allow":{"user":["ci"]}}`, []string{`"allow.user": did you mean "allow.users"?`}},
		{`{"queryType":"detections","allow":{"sourceNetwork":["10.0.0.0/8"]}}`, []string{`did you mean "allow.sourceNetworks"?`}},
		// A filter list written at the top level, a query key written inside the filter.
		{`{"verbs":["get"]}`, []string{`unknown query key "verbs"`, `belongs inside "filter"`}},
		{`{"filter":{"groupBy":["verb"]}}`, []string{`unknown query key "filter.groupBy"`, "belongs at the top level"}},
		// Far from every key: the closest is named and the keys are listed.
		{`{"colour":"red"}`, []string{`unknown query key "colour": did you mean`, "the keys of the query are schemaVersion, queryType, filter"}},
		// Every unknown key is named, in a stable order.
		{`{"zeta":1,"alpha":2}`, []string{`unknown query key "alpha"`, `; unknown query key "zeta"`}},
	} {
		q, err := query.Parse([]byte(tc.raw), "")
		if err == nil {
			t.Errorf("Parse(%s) = %+v, want an error", tc.raw, q)
			continue
		}
		var qe *query.Error
		if !errors.As(err, &qe) {
			t.Errorf("Parse(%s): %T is not a *query.Error", tc.raw, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Parse(%s) error %q does not mention %q", tc.raw, err, w)
			}
		}
	}
	// JSON that does not decode is reported as such first; then unknown keys, before the values.
	if _, err := query.Parse([]byte(`{"filtre":1,"queryType":5}`), ""); err == nil || !strings.Contains(err.Error(), "invalid query JSON") {
		t.Errorf("wrong type and unknown key: %v", err)
	}
	if _, err := query.Parse([]byte(`{"filtre":1,"limit":true}`), ""); err == nil || !strings.Contains(err.Error(), `"filtre"`) {
		t.Errorf("unknown key and bad limit: %v", err)
	}
}

// TestKnownKeys: what Grafana adds to every query, and keys in another letter case (which
// encoding/json decodes), are accepted.
func TestKnownKeys(t *testing.T) {
	q := mustParse(t, `{"refId":"A","datasource":{"type":"k8saudit-auditlogs-datasource","uid":"x"},"datasourceId":3,
		"hide":false,"key":"Q-1","intervalMs":60000,"maxDataPoints":43200,"resultAssertions":{"maxFrames":1},
		"timeRange":{"from":"now-1h","to":"now"},"queryType":"topn","schemaVersion":1,
		"filter":{"verbs":["get"],"search":"x"},"GroupBy":["verb"],"Limit":5}`, "")
	if !slices.Equal(q.GroupBy, []string{"verb"}) || q.Limit != 5 || !slices.Equal(q.Filter.Verbs, []string{"get"}) {
		t.Errorf("query %+v", q)
	}
	// Every key of every query type the docs show.
	mustParse(t, `{"queryType":"detections","rules":["exec-*"],"severities":["high"],"allow":{"users":["a"],"groups":["g"],
		"namespaces":["n"],"images":["i"],"sourceNetworks":["10.0.0.0/8"]},"burstThreshold":3,"burstWindow":"5m","format":"table",
		"sourceMode":"auto","includeLongRunning":true,"rows":"verb","columns":"user","metric":"count","quantiles":[0.5]}`, "")
	mustParse(t, `{"filter":{"verbs":[],"users":[],"groups":[],"namespaces":[],"resources":[],"subresources":[],"apiGroups":[],
		"names":[],"codes":[],"decisions":[],"sourceIPs":[],"userAgents":[],"userKinds":[],"stages":[],"levels":[],"search":""}}`, "")
	// null filter and allow objects.
	mustParse(t, `{"filter":null,"allow":null}`, "")
}

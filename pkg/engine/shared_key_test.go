package engine

import (
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// TestDetectionsShareKey: queries that differ only in how they show the findings share them;
// any difference in what finds them, or in the RBAC look-back read before the range, does not.
func TestDetectionsShareKey(t *testing.T) {
	key := func(raw string, cfg detect.Config) string {
		t.Helper()
		q, err := query.Parse([]byte(raw), "")
		if err != nil {
			t.Fatal(err)
		}
		return detectionsShareKey(q, cfg)
	}
	base := key(`{"queryType":"detections","limit":1000}`, detect.Config{})
	for _, same := range []string{
		`{"queryType":"detections","limit":10000}`,
		`{"queryType":"detections","format":"timeseries"}`,
		`{"queryType":"detections","format":"timeseries","groupBy":["user.username"]}`,
	} {
		if k := key(same, detect.Config{}); k != base {
			t.Errorf("%s: key %q, want the limit-1000 table's %q", same, k, base)
		}
	}
	for _, other := range []string{
		`{"queryType":"detections","limit":1000,"burstThreshold":3}`,
		`{"queryType":"detections","limit":1000,"burstWindow":"10m"}`,
		`{"queryType":"detections","limit":1000,"rules":["secret-read-unexpected"]}`,
		`{"queryType":"detections","limit":1000,"severities":["high"]}`,
		`{"queryType":"detections","limit":1000,"filter":{"namespaces":["kube-system"]}}`,
		`{"queryType":"detections","limit":1000,"allow":{"users":["admin"]}}`,
	} {
		if key(other, detect.Config{}) == base {
			t.Errorf("%s: shares the key of the plain table", other)
		}
	}
	at := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	hist := detect.Config{RoleLookback: time.Hour, RoleHistory: []detect.RoleWrite{{Key: "ClusterRole//ops", Time: at, Wild: true}}}
	withHist := key(`{"queryType":"detections","limit":1000}`, hist)
	if withHist == base {
		t.Error("a look-back history shares the key of none")
	}
	hist.RoleHistory = []detect.RoleWrite{{Key: "ClusterRole//ops", Time: at, Wild: false}}
	if key(`{"queryType":"detections","limit":1000}`, hist) == withHist {
		t.Error("a different look-back history shares the key")
	}
}

type sizedResult int

func (s sizedResult) cost() int { return int(s) }

// TestSharedKeepsTheNewestPerQuestion: a dashboard over the last 24 h asks over a new range at
// each refresh; the cache keeps the newest finished result of each question, not one per
// range.
func TestSharedKeepsTheNewestPerQuestion(t *testing.T) {
	c := NewCache(1 << 20)
	c.putShared("q", &sharedEntry{key: "q@1", r: sizedResult(1000)})
	c.putShared("other", &sharedEntry{key: "other@1", r: sizedResult(1000)})
	c.putShared("q", &sharedEntry{key: "q@2", r: sizedResult(2000)})
	if e := c.getShared("q", "q@1"); e != nil {
		t.Error("the older range's result is still served")
	}
	if e := c.getShared("q", "q@2"); e == nil || e.r != sizedResult(2000) {
		t.Errorf("the newest range's result: %v", e)
	}
	if e := c.getShared("other", "other@1"); e == nil {
		t.Error("another question's result was dropped")
	}
	info := c.Info()
	if info.Entries != 2 || info.Bytes >= 1000+2000+2000 {
		t.Errorf("%d entries of %d bytes: want the two newest only", info.Entries, info.Bytes)
	}
}

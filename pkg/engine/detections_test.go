package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// TestDetectionsNoiseThroughSegments: with cluster networks and the known-good profile, grouped
// findings (counts, first and last seen), the rules on requests from outside and the profile's
// notice are the same raw and through the segment cache (detector partials merged per
// segment), cold, warm and over a range that cuts segments.
func TestDetectionsNoiseThroughSegments(t *testing.T) {
	dir := t.TempDir()
	writeSegmentedLog(t, dir)
	src := newFileSource(t, dir)
	cache := engine.NewCache(0)
	cfg := detect.Config{ClusterNetworks: []string{"10.0.0.0/16", "172.16.0.0/12"}, Profile: detect.ProfileKnownGood}
	run := func(raw string, from, to time.Time, c *engine.Cache) *engine.Result {
		t.Helper()
		q, err := query.Parse([]byte(raw), "")
		if err != nil {
			t.Fatal(err)
		}
		res, err := engine.Run(context.Background(), src, engine.Request{Query: q, From: from, To: to, Interval: time.Minute,
			MaxDataPoints: 600, Cache: c, Detect: cfg})
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return res
	}
	queries := []string{
		`{"queryType":"detections","limit":1000}`,
		`{"queryType":"detections","format":"timeseries","groupBy":["user.username","sourceIPs"]}`,
	}
	from, to := segStart.Add(-time.Minute), segStart.Add(4*time.Hour)
	outside, grouped := 0, 0
	for _, pass := range []struct {
		name     string
		from, to time.Time
	}{{"cold", from, to}, {"warm", from, to}, {"cut", segStart.Add(47 * time.Minute), segStart.Add(2*time.Hour + 13*time.Minute)}} {
		for _, raw := range queries {
			want := run(raw, pass.from, pass.to, nil)
			got := run(raw, pass.from, pass.to, cache)
			resultsEqual(t, pass.name+" "+raw, want, got)
			if want.Detections == nil {
				continue
			}
			for _, f := range want.Detections.Findings {
				if f.RuleID == detect.TokenOutsideRule {
					outside++
				}
				if f.Count > 1 {
					grouped++
				}
			}
			profiled := false
			for _, n := range want.Notices {
				profiled = profiled || strings.HasPrefix(n.Text, "the knownGood profile")
			}
			// A cut of the smaller log of -race runs may hold nothing the profile leaves out.
			if !profiled && pass.name != "cut" {
				t.Errorf("%s: no profile notice: %v", pass.name, want.Notices)
			}
		}
	}
	if outside == 0 || grouped == 0 {
		t.Errorf("the generated log gave %d token-outside-cluster findings and %d grouped ones: nothing was compared", outside, grouped)
	}
}

package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// sharedPanels are detections panels as the security dashboard has them: counts per interval
// (two of them with different steps and labels) and tables of different lengths, one question.
var sharedPanels = []struct {
	raw      string
	interval time.Duration
}{
	{`{"queryType":"detections","format":"timeseries"}`, time.Minute},
	{`{"queryType":"detections","format":"timeseries","groupBy":["user.username"]}`, 5 * time.Minute},
	{`{"queryType":"detections","format":"timeseries"}`, time.Minute},
	{`{"queryType":"detections","format":"table","limit":10000}`, 0},
	{`{"queryType":"detections","format":"table","limit":1000}`, 0},
	{`{"queryType":"detections","format":"table","limit":3}`, 0},
}

func runPanel(t *testing.T, src engine.Request, raw string, interval time.Duration, run func(engine.Request) (*engine.Result, error)) *engine.Result {
	t.Helper()
	q, err := query.Parse([]byte(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	req := src
	req.Query, req.Interval, req.MaxDataPoints = q, interval, 2000
	res, err := run(req)
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return res
}

// TestDetectionsSharedByPanels: the detections panels of one dashboard finish their findings
// once. The first panel of a refresh that finds a segment changed (or the range moved)
// finishes them, the others present the same findings, and every panel's frames are a raw
// scan's: cold, warm, after audit.log grew, and over another range.
func TestDetectionsSharedByPanels(t *testing.T) {
	dir := t.TempDir()
	writeSegmentedLog(t, dir)
	src := newFileSource(t, dir)
	cache := engine.NewCache(0)
	ix := openIndex(t)
	from, to := segStart.Add(-time.Minute), segStart.Add(4*time.Hour)
	for _, pass := range []struct {
		name     string
		from, to time.Time
		before   func()
		// warm: nothing changed since the last refresh, so even its first panel is answered
		// by the findings that refresh finished.
		warm bool
	}{
		{name: "cold", from: from, to: to},
		{name: "warm", from: from, to: to, warm: true},
		{name: "grown", from: from, to: to, before: func() {
			appendLog(t, filepath.Join(dir, "audit.log"), 77, segStart.Add(3*time.Hour+30*time.Minute), 300)
		}},
		{name: "other range", from: segStart.Add(47 * time.Minute), to: segStart.Add(2*time.Hour + 13*time.Minute)},
	} {
		if pass.before != nil {
			pass.before()
		}
		for i, p := range sharedPanels {
			what := fmt.Sprintf("%s panel %d %s", pass.name, i, p.raw)
			run := func(req engine.Request) (*engine.Result, error) { return engine.Run(context.Background(), src, req) }
			want := runPanel(t, engine.Request{From: pass.from, To: pass.to}, p.raw, p.interval, run)
			got := runPanel(t, engine.Request{From: pass.from, To: pass.to, Cache: cache, Index: ix}, p.raw, p.interval, run)
			resultsEqual(t, what, want, got)
			if got.Stats.Malformed != want.Stats.Malformed || got.Stats.Matched != want.Stats.Matched {
				t.Errorf("%s: malformed/matched %d/%d shared, %d/%d raw", what, got.Stats.Malformed, got.Stats.Matched, want.Stats.Malformed, want.Stats.Matched)
			}
			s := got.Stats.Segments
			switch {
			case s.Total == 0:
				t.Fatalf("%s: no segments", what)
			case i == 0 && pass.warm && s.Shared != s.Total:
				t.Errorf("%s: %s: want every segment answered by the last refresh's findings", what, s)
			case i == 0 && !pass.warm && s.Shared != 0:
				t.Errorf("%s: the first panel found %d segments shared: %s", what, s.Shared, s)
			case i > 0 && (s.Shared != s.Total || s.Cached != s.Total || got.Stats.Source.BytesRead != 0):
				t.Errorf("%s: %s, %d bytes read: want every segment answered by the first panel's findings", what, s, got.Stats.Source.BytesRead)
			}
		}
	}
}

// TestConcurrentPanelsShareFindings runs the panels at once on one cache, as Grafana sends
// them: one finishes the findings while the others wait for it, and every answer is a raw
// scan's.
func TestConcurrentPanelsShareFindings(t *testing.T) {
	dir := t.TempDir()
	writeSegmentedLog(t, dir)
	src := newFileSource(t, dir)
	from, to := segStart, segStart.Add(4*time.Hour)
	run := func(req engine.Request) (*engine.Result, error) { return engine.Run(context.Background(), src, req) }
	cache := engine.NewCache(0)
	results := make([]*engine.Result, len(sharedPanels))
	errs := make([]error, len(sharedPanels))
	var wg sync.WaitGroup
	for i, p := range sharedPanels {
		q, err := query.Parse([]byte(p.raw), "")
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			results[i], errs[i] = run(engine.Request{Query: q, From: from, To: to, Interval: p.interval, MaxDataPoints: 2000, Cache: cache, Workers: 2})
		})
	}
	wg.Wait()
	finished := 0
	for i, p := range sharedPanels {
		if errs[i] != nil {
			t.Fatalf("panel %d %s: %v", i, p.raw, errs[i])
		}
		want := runPanel(t, engine.Request{From: from, To: to}, p.raw, p.interval, run)
		resultsEqual(t, fmt.Sprintf("panel %d %s", i, p.raw), want, results[i])
		if results[i].Stats.Segments.Shared == 0 {
			finished++
		}
	}
	if finished != 1 {
		t.Errorf("%d of %d panels finished the findings: want one", finished, len(sharedPanels))
	}
}

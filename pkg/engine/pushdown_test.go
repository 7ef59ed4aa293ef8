package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// countingLines is a source that can also count by verb, the way Loki or CloudWatch count at
// the source: independently of the engine, by decoding its lines with encoding/json.
type countingLines struct {
	lines
	prefer bool
	counts int // calls to Count
}

func (c *countingLines) CanCount(f query.Filter, groupBy []string) (bool, string) {
	if f.Search != "" || len(groupBy) > 1 || (len(groupBy) == 1 && groupBy[0] != "verb") {
		return false, "only verb can be counted"
	}
	return true, ""
}

func (c *countingLines) PreferCount(context.Context, source.CountRequest) bool { return c.prefer }

func (c *countingLines) Count(_ context.Context, req source.CountRequest) (*source.CountResult, error) {
	c.counts++
	byVerb := map[string][]float64{}
	for _, l := range c.lines {
		var e struct {
			Verb, Stage    string
			StageTimestamp time.Time
		}
		if json.Unmarshal([]byte(l), &e) != nil || (e.Stage != "ResponseComplete" && e.Stage != "Panic") ||
			e.StageTimestamp.Before(req.From) || e.StageTimestamp.After(req.To) {
			continue
		}
		key := ""
		if len(req.GroupBy) == 1 {
			key = e.Verb
		}
		if byVerb[key] == nil {
			byVerb[key] = make([]float64, req.N)
		}
		byVerb[key][int(e.StageTimestamp.Sub(req.Start)/req.Step)]++
	}
	res := &source.CountResult{Problems: []string{"counted 1 of 1 shards"}}
	for k, v := range byVerb {
		cs := source.CountSeries{Counts: v}
		if len(req.GroupBy) == 1 {
			cs.Values = []string{k}
		}
		res.Series = append(res.Series, cs)
	}
	return res, nil
}

func TestPushdownEqualsRaw(t *testing.T) {
	var ls lines
	for i, verb := range []string{"get", "get", "list", "watch", "get", "delete"} {
		ls = append(ls, ev{at: time.Duration(i) * 7 * time.Minute, verb: verb, user: "u", code: 200}.line())
		ls = append(ls, ev{at: time.Duration(i) * 7 * time.Minute, stage: "RequestReceived", verb: verb, user: "u"}.line())
	}
	src := &countingLines{lines: ls, prefer: true}
	for _, groupBy := range []string{``, `"groupBy":["verb"],`} {
		pushed := run(t, src, `{`+groupBy+`"queryType":"timeseries","sourceMode":"pushdown"}`, 5*time.Minute)
		raw := run(t, src, `{`+groupBy+`"queryType":"timeseries","sourceMode":"raw"}`, 5*time.Minute)
		if diff := cmp.Diff(raw.Series, pushed.Series); diff != "" {
			t.Errorf("pushdown != raw (-raw +pushdown):\n%s", diff)
		}
		if pushed.Notices[0].Text != "counted by the source (pushdown)" || pushed.Notices[1].Text != "counted 1 of 1 shards" {
			t.Errorf("pushdown notices %+v", pushed.Notices)
		}
		if !strings.Contains(raw.Notices[0].Text, "sourceMode raw") {
			t.Errorf("raw notices %+v", raw.Notices)
		}
	}
	if src.counts != 2 {
		t.Errorf("Count called %d times, want 2", src.counts)
	}
}

func TestPushdownAutoAndForced(t *testing.T) {
	ls := lines{ev{at: time.Minute, verb: "get", user: "u", code: 200}.line()}
	src := &countingLines{lines: ls, prefer: false}
	res := run(t, src, `{"queryType":"timeseries"}`, time.Minute)
	if src.counts != 0 || !strings.Contains(res.Notices[0].Text, "small enough to pull") {
		t.Errorf("auto with a small range must pull lines: counts %d notices %+v", src.counts, res.Notices)
	}
	src.prefer = true
	res = run(t, src, `{"queryType":"timeseries","groupBy":["user.username"]}`, time.Minute)
	if src.counts != 0 || !strings.Contains(res.Notices[0].Text, "only verb can be counted") {
		t.Errorf("auto with an uncountable dimension must pull lines: %+v", res.Notices)
	}
	q, _ := query.Parse([]byte(`{"queryType":"timeseries","groupBy":["user.username"],"sourceMode":"pushdown"}`), "")
	_, err := Run(context.Background(), src, Request{Query: q, From: t0, To: t0.Add(time.Hour)})
	var qe *query.Error
	if !errorsAs(err, &qe) || !strings.Contains(err.Error(), "only verb can be counted") {
		t.Errorf("forced pushdown that cannot count: %v", err)
	}
	// Other query types never push down.
	res = run(t, src, `{"queryType":"denied"}`, time.Minute)
	if src.counts != 0 || len(res.Notices) != 0 {
		t.Errorf("denied: counts %d notices %+v", src.counts, res.Notices)
	}
}

// TestTopNByP99StaysRaw: a topn ordered by p99 ranks every group by a quantile no source
// computes exactly, so auto mode pulls lines (saying why) and forced pushdown is an error.
func TestTopNByP99StaysRaw(t *testing.T) {
	ls := lines{ev{at: time.Minute, verb: "get", user: "u", code: 200}.line()}
	src := &countingLines{lines: ls, prefer: true}
	res := run(t, src, `{"queryType":"topn","groupBy":["verb"],"sortBy":"p99"}`, time.Minute)
	if src.counts != 0 || !strings.Contains(res.Notices[0].Text, "ordered by p99") {
		t.Errorf("auto topn by p99: counts %d notices %+v", src.counts, res.Notices)
	}
	q, _ := query.Parse([]byte(`{"queryType":"topn","groupBy":["verb"],"sortBy":"p99","sourceMode":"pushdown"}`), "")
	_, err := Run(context.Background(), src, Request{Query: q, From: t0, To: t0.Add(time.Hour)})
	var qe *query.Error
	if !errorsAs(err, &qe) || !strings.Contains(err.Error(), "ordered by p99") {
		t.Errorf("forced pushdown of topn by p99: %v", err)
	}
}

// TestLatencyNamesItsMode: over a source that counts, latency is computed from raw lines and
// a notice says so.
func TestLatencyNamesItsMode(t *testing.T) {
	ls := lines{ev{at: time.Minute, verb: "get", user: "u", code: 200}.line()}
	src := &countingLines{lines: ls, prefer: true}
	res := run(t, src, `{"queryType":"latency"}`, time.Minute)
	if src.counts != 0 || len(res.Notices) == 0 || !strings.Contains(res.Notices[0].Text, "latency quantiles are nearest-rank") {
		t.Errorf("latency over a counting source: counts %d notices %+v", src.counts, res.Notices)
	}
}

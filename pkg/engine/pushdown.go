package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// pushdown answers a timeseries query with the source's own counting (source.Counter) when
// the query's sourceMode and the source allow it. done is false when the query must run over
// raw lines instead; notice then says why, if the user should know.
func pushdown(ctx context.Context, src source.Source, req Request) (res *Result, done bool, err error) {
	q := req.Query
	c, ok := src.(source.Counter)
	if !ok || q.QueryType != query.TypeTimeSeries {
		return nil, false, nil
	}
	if q.SourceMode == query.ModeRaw {
		return &Result{Notices: []Notice{{Info, "counted in the plugin from raw lines (sourceMode raw)"}}}, false, nil
	}
	b := newBuckets(req)
	creq := source.CountRequest{From: req.From, To: req.To, Start: b.start, Step: b.step, N: b.n, Filter: q.Filter, GroupBy: q.GroupBy}
	can, reason := c.CanCount(q.Filter, q.GroupBy)
	switch {
	case q.SourceMode == query.ModePushdown && !can:
		return nil, false, &query.Error{Msg: "this query cannot be counted by the source (sourceMode pushdown): " + reason}
	case !can:
		return &Result{Notices: []Notice{{Info, "counted in the plugin from raw lines: " + reason}}}, false, nil
	case q.SourceMode == query.ModeAuto && !c.PreferCount(ctx, creq):
		return &Result{Notices: []Notice{{Info, "counted in the plugin from raw lines (small enough to pull)"}}}, false, nil
	}
	cr, err := c.Count(ctx, creq)
	if err != nil {
		return nil, false, err
	}
	ts := newTimeSeries(q, b)
	for _, s := range cr.Series {
		if len(s.Counts) != b.n || len(s.Values) != len(q.GroupBy) {
			return nil, false, fmt.Errorf("source returned a series with %d buckets and %d labels, want %d and %d", len(s.Counts), len(s.Values), b.n, len(q.GroupBy))
		}
		key := strings.Join(s.Values, string(keySep))
		if vals, ok := ts.series[key]; ok {
			addFloats(vals, s.Counts)
		} else {
			ts.series[key] = append([]float64(nil), s.Counts...)
		}
	}
	res = &Result{}
	ts.finish(res)
	res.Notices = append([]Notice{{Info, "counted by the source (pushdown)"}}, res.Notices...)
	for _, p := range cr.Problems {
		res.Notices = append(res.Notices, Notice{Warning, p})
	}
	return res, true, nil
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// pushPlan is how one query type is counted by a source (source.Counter): what to count, and
// how the counts become the type's result.
type pushPlan struct {
	req source.CountRequest
	// build makes the result from the source's counts (validated: one count per bucket and
	// one value per groupBy dimension).
	build func(cr *source.CountResult) *Result
	// buildWith is build for plans that also read raw lines (topn's p99); it replaces build.
	buildWith func(ctx context.Context, src source.Source, cr *source.CountResult) (*Result, error)
	// raw, when set, says why this query must be counted from raw lines after all.
	raw string
}

// pushPlans are the query types a source that counts can answer exactly. Each plan counts
// requests (default stages, or the filter's) per groupBy combination, as the plugin does over
// raw lines.
var pushPlans = map[query.Type]func(req Request) pushPlan{
	query.TypeTimeSeries: planTimeSeriesPush,
	query.TypeMatrix:     planMatrixPush,
	query.TypeTopN:       planTopNPush,
}

// planTimeSeriesPush counts per interval bucket by the query's groupBy.
func planTimeSeriesPush(req Request) pushPlan {
	q := req.Query
	b := newBuckets(req)
	return pushPlan{
		req: source.CountRequest{From: req.From, To: req.To, Start: b.start, Step: b.step, N: b.n, Filter: q.Filter, GroupBy: q.GroupBy},
		build: func(cr *source.CountResult) *Result {
			ts := newTimeSeries(q, b)
			for _, s := range cr.Series {
				key := strings.Join(s.Values, string(keySep))
				if vals, ok := ts.series[key]; ok {
					addFloats(vals, s.Counts)
				} else {
					ts.series[key] = append([]float64(nil), s.Counts...)
				}
			}
			res := &Result{}
			ts.finish(res)
			return res
		},
	}
}

// wholeRangeStep is the bucket step of counts over the whole range (matrix, topn): an hour,
// which every source can bucket by (Logs Insights by the hour prefix of stageTimestamp); the
// buckets are added up. Not a day: a refresh asks again for the bucket its moved start cuts,
// and a day bucket cut at the start is most of a 24 h range (BenchmarkPushdownVsRaw: a day
// step left 79.5 % fewer bytes scanned on the overview's second refresh, an hour 97.3 %). It
// costs Insights up to 24× the rows per day, which the row-cap split absorbs.
const wholeRangeStep = time.Hour

// planMatrixPush counts rows × columns over the whole range.
func planMatrixPush(req Request) pushPlan {
	q := req.Query
	groupBy := []string{q.Rows, q.Columns} // different dimensions (validated)
	start := req.From.Truncate(wholeRangeStep)
	n := int(req.To.Sub(start)/wholeRangeStep) + 1
	return pushPlan{
		req: source.CountRequest{From: req.From, To: req.To, Start: start, Step: wholeRangeStep, N: n, Filter: q.Filter, GroupBy: groupBy},
		build: func(cr *source.CountResult) *Result {
			m := newMatrix(q)
			for _, s := range cr.Series {
				var total float64
				for _, c := range s.Counts {
					total += c
				}
				if total == 0 {
					continue
				}
				row, col := s.Values[0], s.Values[1]
				cells, ok := m.counts[row]
				if !ok {
					cells = map[string]int64{}
					m.counts[row] = cells
				}
				cells[col] += int64(total)
			}
			res := &Result{}
			m.finish(res)
			return res
		},
	}
}

// narrowForSource adds to the query's filter what its type implies, so that a remote source
// (Loki line filters, CloudWatch filter patterns) sends only the lines that can count: denied
// reads only 401 and 403 responses, an events query with auditIDs only those requests' lines.
// The result is the same; only fewer lines are pulled (and "events matched" counts those
// lines). Files are left alone: they are read whole anyway.
func narrowForSource(q *query.Query) {
	if q.QueryType == query.TypeDenied && len(q.Filter.Codes) == 0 {
		q.Filter.Codes = query.StringList{"401", "403"}
	}
	if q.QueryType == query.TypeEvents && len(q.AuditIDs) > 0 {
		q.Filter.AuditIDs = slices.Clone(q.AuditIDs)
	}
}

// pushdown answers a query with the source's own counting (source.Counter) when the query's
// type has a push plan and its sourceMode and the source allow it. done is false when the
// query must run over raw lines instead; notice then says why, if the user should know.
func pushdown(ctx context.Context, src source.Source, req Request) (res *Result, done bool, err error) {
	q := req.Query
	c, ok := src.(source.Counter)
	if ok {
		narrowForSource(q)
	}
	plan, planned := pushPlans[q.QueryType]
	if ok && q.QueryType == query.TypeLatency {
		// Say which mode ran: the source pulls only the lines the filter and stages keep.
		return &Result{Notices: []Notice{{Info, "counted in the plugin from raw lines: latency quantiles are nearest-rank over stageTimestamp − requestReceivedTimestamp, which the source cannot compute exactly"}}}, false, nil
	}
	if !ok || !planned {
		return nil, false, nil
	}
	if req.notBare { // resolveAuto's notice says why
		if q.SourceMode == query.ModePushdown {
			return nil, false, &query.Error{Msg: "this query cannot be counted by the source (sourceMode pushdown): some lines are not bare audit JSON (line format auto), and the source cannot parse them as audit events"}
		}
		return nil, false, nil
	}
	if e := req.Envelope; e != envelope.Auto && !e.PushdownExact() {
		// The source would parse the envelope, not the event (package envelope).
		reason := "the lines are in the " + e.String() + " envelope, which the source cannot parse as audit events"
		if q.SourceMode == query.ModePushdown {
			return nil, false, &query.Error{Msg: "this query cannot be counted by the source (sourceMode pushdown): " + reason}
		}
		return &Result{Notices: []Notice{{Info, "counted in the plugin from raw lines: " + reason}}}, false, nil
	}
	if q.SourceMode == query.ModeRaw {
		return &Result{Notices: []Notice{{Info, "counted in the plugin from raw lines (sourceMode raw)"}}}, false, nil
	}
	p := plan(req)
	can, reason := c.CanCount(p.req.Filter, p.req.GroupBy)
	if p.raw != "" {
		can, reason = false, p.raw
	}
	switch {
	case q.SourceMode == query.ModePushdown && !can:
		return nil, false, &query.Error{Msg: "this query cannot be counted by the source (sourceMode pushdown): " + reason}
	case !can:
		return &Result{Notices: []Notice{{Info, "counted in the plugin from raw lines: " + reason}}}, false, nil
	case q.SourceMode == query.ModeAuto && !c.PreferCount(ctx, p.req):
		return &Result{Notices: []Notice{{Info, "counted in the plugin from raw lines (small enough to pull)"}}}, false, nil
	}
	cr, err := c.Count(ctx, p.req)
	if errors.Is(err, source.ErrTooManyGroups) {
		if q.SourceMode == query.ModePushdown {
			return nil, false, &query.Error{Msg: "this query cannot be counted by the source (sourceMode pushdown): " + err.Error()}
		}
		return &Result{Notices: []Notice{{Info, "counted in the plugin from raw lines: the source refused the count for its number of groups (" + err.Error() + ")"}}}, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	for _, s := range cr.Series {
		if len(s.Counts) != p.req.N || len(s.Values) != len(p.req.GroupBy) {
			return nil, false, fmt.Errorf("source returned a series with %d buckets and %d labels, want %d and %d", len(s.Counts), len(s.Values), p.req.N, len(p.req.GroupBy))
		}
	}
	if p.buildWith != nil {
		if res, err = p.buildWith(ctx, src, cr); err != nil {
			return nil, false, err
		}
	} else {
		res = p.build(cr)
	}
	res.Notices = append([]Notice{{Info, "counted by the source (pushdown)"}}, res.Notices...)
	for _, pr := range cr.Problems {
		res.Notices = append(res.Notices, Notice{Warning, pr})
	}
	if n := costNotice(cr); n != "" {
		res.Notices = append(res.Notices, Notice{Info, n})
	}
	return res, true, nil
}

// costNotice says what a count at the source cost: requests, bytes the source scanned, and
// buckets served from its cache of finished buckets.
func costNotice(cr *source.CountResult) string {
	if cr.Requests == 0 && cr.CachedBuckets == 0 {
		return ""
	}
	text := fmt.Sprintf("counted by the source in %d %s, %s scanned", cr.Requests, plural(cr.Requests, "request", "requests"), humanBytes(cr.BytesScanned))
	if cr.PricePerGB > 0 {
		text += fmt.Sprintf(" (about $%.4f at $%g per GB)", float64(cr.BytesScanned)/1e9*cr.PricePerGB, cr.PricePerGB)
	}
	if cr.Buckets > 0 {
		text += fmt.Sprintf("; %d of %d buckets from the cache of finished buckets", cr.CachedBuckets, cr.Buckets)
	}
	return text
}

// humanBytes formats n bytes in B, KB, MB or GB (powers of 1000, as AWS bills).
func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f KB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

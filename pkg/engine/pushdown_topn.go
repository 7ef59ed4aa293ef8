package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// planTopNPush counts a topn query at the source: requests per groupBy combination and
// response code over the whole range (day buckets, added up), from which requests, errors
// (code >= 400) and denials (401, 403) follow exactly. The p99 column is a nearest-rank
// quantile, which neither LogQL (interpolating quantile_over_time) nor Logs Insights (pct() is
// not nearest-rank, no microsecond time arithmetic) computes. A source.LatencyRanker (Loki)
// finds the one latency each shown group's p99 reports (topNRankP99); otherwise, or when it
// cannot guarantee the plugin's result, the p99 is computed in the plugin from the raw lines
// of the groups shown only, pulled with the filter narrowed to their values (topNP99).
// Ordered by p99, every group must be ranked by its p99, so that query is counted from raw
// lines.
func planTopNPush(req Request) pushPlan {
	q := req.Query
	groupBy := append(slices.Clip(q.GroupBy), "responseStatus.code")
	if slices.Contains(q.GroupBy, "responseStatus.code") {
		groupBy = slices.Clone(q.GroupBy) // the code is already a dimension
	}
	codeAt := slices.Index(groupBy, "responseStatus.code")
	start := req.From.Truncate(wholeRangeStep)
	n := int(req.To.Sub(start)/wholeRangeStep) + 1
	p := pushPlan{
		req: source.CountRequest{From: req.From, To: req.To, Start: start, Step: wholeRangeStep, N: n, Filter: q.Filter, GroupBy: groupBy},
	}
	if q.SortBy == query.SortP99 {
		p.raw = "ordered by p99, which the source cannot compute exactly (nearest-rank over every request of every group)"
		return p
	}
	p.buildWith = func(ctx context.Context, src source.Source, cr *source.CountResult) (*Result, error) {
		t := newTopN(q)
		for _, s := range cr.Series {
			var total float64
			for _, c := range s.Counts {
				total += c
			}
			if total == 0 {
				continue
			}
			code, _ := strconv.Atoi(s.Values[codeAt])
			key := strings.Join(s.Values[:len(q.GroupBy)], string(keySep))
			st, ok := t.stats[key]
			if !ok {
				st = &topStats{}
				t.stats[key] = st
			}
			n := int64(total)
			st.requests += n
			if code >= 400 {
				st.errors += n
			}
			if code == 401 || code == 403 {
				st.denied += n
			}
		}
		top, _ := topNOrder(t.stats, q.SortBy, q.Limit)
		res := &Result{}
		if len(top) > 0 {
			stats, notices, err := topNLatencies(ctx, src, req, p.req, t, top)
			if err != nil {
				return nil, err
			}
			res.Stats = stats
			res.Notices = append(res.Notices, notices...)
			res.Notices = append(res.Notices, sourceNotices(stats)...)
		}
		t.finish(res)
		return res, nil
	}
	return p
}

// topNP99 fills the latencies of the top groups of t from raw lines: the query again, raw,
// with each groupBy dimension's include list narrowed to the values of the top groups (a
// superset of their events: every other filter is kept), so their p99 is the raw scan's.
func topNP99(ctx context.Context, src source.Source, req Request, t *topn, top []string) (Stats, string, error) {
	q2 := *req.Query
	q2.SourceMode = query.ModeRaw
	q2.Filter = narrowToGroups(req.Query.Filter, req.Query.GroupBy, top)
	req2 := req
	req2.Query = &q2
	agg, stats, err := scanAll(ctx, req2, func() aggregator { return newTopN(&q2) }, wholeSource(src, sourceRequest(req2)))
	if err != nil {
		return stats, "", err
	}
	raw := agg.(*topn)
	for _, key := range top {
		if s, ok := raw.stats[key]; ok {
			t.stats[key].latencies.merge(&s.latencies)
		}
	}
	return stats, fmt.Sprintf("counted requests, errors and denials by the source; p99 in the plugin from %d raw lines of the %d %s shown (the source cannot compute a nearest-rank p99 exactly)",
		stats.Source.LinesRead, len(top), plural(len(top), "group", "groups")), nil
}

// narrowToGroups returns f with the include list of each groupBy dimension that is a filter
// field replaced by the values of the keys (keeping its exclusions). A dimension is left as it
// is when a value cannot be an exact include: empty (missing), a glob or an exclusion.
func narrowToGroups(f query.Filter, groupBy []string, keys []string) query.Filter {
	for i, dim := range groupBy {
		var ff *query.FilterField
		for _, x := range query.FilterFields {
			// Not stages: a stages list replaces the default stage rule (query.RequestFinal).
			if x.Path == dim && x.Key != "stages" && (x.Kind == query.KindGlob || x.Kind == query.KindCode) {
				ff = x
			}
		}
		if ff == nil {
			continue
		}
		var values []string
		ok := true
		for _, k := range keys {
			v := strings.Split(k, string(keySep))[i]
			if v == "" || strings.ContainsAny(v, "*") || strings.HasPrefix(v, "!") {
				ok = false
				break
			}
			values = append(values, v)
		}
		if !ok {
			continue
		}
		slices.Sort(values)
		values = slices.Compact(values)
		_, exc := query.Split(ff.Values(&f))
		for _, e := range exc {
			values = append(values, "!"+e)
		}
		if list := filterList(&f, ff.Key); list != nil {
			*list = values
		}
	}
	return f
}

// filterList is the list of f under a filter field's JSON key (nil for others).
func filterList(f *query.Filter, key string) *query.StringList {
	switch key {
	case "verbs":
		return &f.Verbs
	case "users":
		return &f.Users
	case "namespaces":
		return &f.Namespaces
	case "resources":
		return &f.Resources
	case "subresources":
		return &f.Subresources
	case "apiGroups":
		return &f.APIGroups
	case "names":
		return &f.Names
	case "userAgents":
		return &f.UserAgents
	case "levels":
		return &f.Levels
	case "codes":
		return &f.Codes
	}
	return nil
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// Values counts the distinct values of a dimension over the requests that match f in
// [from, to], most frequent first, at most limit of them (GET /values, template variables).
// base carries the datasource's cache, index and line format (its Query and range are set
// here). The counts are the same whichever way they are made; the cheapest exact way is taken:
//   - a source that counts (Loki, CloudWatch) counts them per hour, grouped by the dimension,
//     where it can do so exactly (the finished hours come from its cache of finished buckets);
//   - audit files are read through their segments: the partial cache and the column index
//     answer what they hold, as for a topn by the dimension;
//   - otherwise every matching line is read.
func Values(ctx context.Context, src source.Source, base Request, dim *query.Dimension, f query.Filter, from, to time.Time, limit int) ([]ValueCount, Stats, error) {
	req := base
	req.From, req.To = from, to
	req.Query = &query.Query{QueryType: query.TypeTopN, GroupBy: []string{dim.Name}, Filter: f}
	req, _, err := resolveAuto(ctx, src, req)
	if err != nil {
		return nil, Stats{}, err
	}
	if vals, ok, err := countValues(ctx, src, req, dim, limit); ok || err != nil {
		return vals, Stats{}, err
	}
	if ss, ok := src.(source.SegmentScanner); ok && (req.Cache != nil || req.Index != nil) {
		q := req.Query
		agg, st, err := runSegments(ctx, ss, req, func() aggregator { return newTopN(q) })
		if err != nil {
			return nil, st, err
		}
		counts := map[string]int64{}
		for k, s := range agg.(*topn).stats {
			if k != "" {
				counts[k] = s.requests
			}
		}
		return topValues(counts, limit), st, nil
	}
	parts := make([]map[string]int64, workers(req.Workers))
	adds := make([]func(*audit.Record), len(parts))
	for i := range parts {
		counts := map[string]int64{}
		parts[i] = counts
		var scratch [16]byte
		adds[i] = func(r *audit.Record) {
			dim.Each(r, scratch[:], func(v []byte) {
				if len(v) > 0 {
					counts[string(v)]++
				}
			})
		}
	}
	st, err := scan(ctx, src, req, f.Compile(), dim.Needs, adds)
	if err != nil {
		return nil, st, err
	}
	counts := parts[0]
	for _, p := range parts[1:] {
		for k, n := range p {
			counts[k] += n
		}
	}
	return topValues(counts, limit), st, nil
}

// countValues counts the values at the source, per hour (ok false: the source cannot count
// them exactly, or refused for their number, and the lines must be read).
func countValues(ctx context.Context, src source.Source, req Request, dim *query.Dimension, limit int) ([]ValueCount, bool, error) {
	c, ok := src.(source.Counter)
	if !ok || req.notBare || (req.Envelope != envelope.Auto && !req.Envelope.PushdownExact()) {
		return nil, false, nil
	}
	groupBy := []string{dim.Name}
	if can, _ := c.CanCount(req.Query.Filter, groupBy); !can {
		return nil, false, nil
	}
	cr := source.CountRequest{From: req.From, To: req.To, Start: req.From.Truncate(time.Hour), Step: time.Hour,
		Filter: req.Query.Filter, GroupBy: groupBy}
	cr.N = int(req.To.Sub(cr.Start)/cr.Step) + 1
	res, err := c.Count(ctx, cr)
	if errors.Is(err, source.ErrTooManyGroups) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if len(res.Problems) > 0 {
		// The count is incomplete (a row cap): read the lines instead.
		return nil, false, nil
	}
	counts := map[string]int64{}
	for _, s := range res.Series {
		if len(s.Values) != 1 {
			return nil, false, fmt.Errorf("source returned a series with %d labels, want 1", len(s.Values))
		}
		if s.Values[0] == "" {
			continue
		}
		for _, n := range s.Counts {
			counts[s.Values[0]] += int64(n)
		}
	}
	return topValues(counts, limit), true, nil
}

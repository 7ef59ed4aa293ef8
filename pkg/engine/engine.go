// Package engine runs queries of the query model over audit lines from any source. It is pure
// Go: results are plain structs that the plugin package turns into Grafana data frames.
package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// Request is one query over a time range.
type Request struct {
	Query         *query.Query
	From, To      time.Time
	Interval      time.Duration // the panel's interval; may be zero
	MaxDataPoints int64         // may be zero
}

// Severity of a notice.
type Severity int

// Notice severities.
const (
	Info Severity = iota
	Warning
)

// Notice is a sentence about the result shown to the user: what was skipped or cut.
type Notice struct {
	Severity Severity
	Text     string
}

// Result is a query's answer. Exactly one of the typed results is set, by query type.
type Result struct {
	Series  *SeriesResult  // timeseries, latency (timeseries format)
	Heatmap *HeatmapResult // latency (heatmap format)
	Denied  *DeniedResult
	Matrix  *MatrixResult
	TopN    *TopNResult
	Events  *EventsResult
	Notices []Notice
	Stats   Stats
}

// Stats counts what the engine read.
type Stats struct {
	Source    source.Stats
	Malformed int64 // lines that were not audit events
	Matched   int64 // events that matched the filter and time range
}

// aggregator consumes matching records.
type aggregator interface {
	needs() audit.Fields
	add(r *audit.Record)
	finish(res *Result)
}

// Run runs one query over src.
func Run(ctx context.Context, src source.Source, req Request) (*Result, error) {
	q := req.Query
	if q == nil {
		return nil, errors.New("engine: nil query")
	}
	if !req.To.After(req.From) {
		return nil, &query.Error{Msg: fmt.Sprintf("empty time range: from %s is not before to %s", req.From.Format(time.RFC3339), req.To.Format(time.RFC3339))}
	}
	var agg aggregator
	switch q.QueryType {
	case query.TypeTimeSeries:
		agg = newTimeSeries(q, newBuckets(req))
	case query.TypeLatency:
		if q.Format == query.FormatHeatmap {
			agg = newHeatmap(q, newBuckets(req))
		} else {
			agg = newLatency(q, newBuckets(req))
		}
	case query.TypeDenied:
		agg = newDenied(q)
	case query.TypeMatrix:
		agg = newMatrix(q)
	case query.TypeTopN:
		agg = newTopN(q)
	case query.TypeEvents:
		agg = newEvents(q)
	default:
		return nil, &query.Error{Msg: fmt.Sprintf("unknown query type %q", q.QueryType)}
	}
	res := &Result{}
	stats, err := scan(ctx, src, req, q.Filter.Compile(), agg.needs(), agg.add)
	res.Stats = stats
	if err != nil {
		return nil, err
	}
	agg.finish(res)
	res.Notices = append(sourceNotices(stats), res.Notices...)
	return res, nil
}

// scan feeds every record of src that matches m and lies in [req.From, req.To] to add.
func scan(ctx context.Context, src source.Source, req Request, m *query.Matcher, needs audit.Fields, add func(*audit.Record)) (Stats, error) {
	sc := audit.NewScanner(needs | m.Needs())
	var rec audit.Record
	var st Stats
	from, to := req.From, req.To
	srcStats, err := src.Scan(ctx, source.Request{From: from, To: to}, func(line []byte) error {
		if !m.MatchLine(line) {
			return nil
		}
		if sc.Scan(line, &rec) != nil {
			st.Malformed++
			return nil
		}
		if rec.Time.Before(from) || rec.Time.After(to) || !m.Match(&rec) {
			return nil
		}
		st.Matched++
		add(&rec)
		return nil
	})
	st.Source = srcStats
	return st, err
}

func sourceNotices(st Stats) []Notice {
	var out []Notice
	if st.Malformed > 0 {
		out = append(out, Notice{Warning, fmt.Sprintf("skipped %d lines that are not audit events (malformed or truncated JSON)", st.Malformed)})
	}
	for _, p := range st.Source.Problems {
		out = append(out, Notice{Warning, p})
	}
	return out
}

// Values counts the distinct values of a dimension over the matching events, most frequent
// first, at most limit of them.
func Values(ctx context.Context, src source.Source, dim *query.Dimension, f query.Filter, from, to time.Time, limit int) ([]ValueCount, Stats, error) {
	counts := map[string]int64{}
	var scratch [16]byte
	st, err := scan(ctx, src, Request{From: from, To: to}, f.Compile(), dim.Needs, func(r *audit.Record) {
		dim.Each(r, scratch[:], func(v []byte) {
			if len(v) > 0 {
				counts[string(v)]++
			}
		})
	})
	if err != nil {
		return nil, st, err
	}
	return topValues(counts, limit), st, nil
}

// ValueCount is a value and how many requests had it.
type ValueCount struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

package loki

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// CanCount reports whether LogQL can count the query exactly: Loki buckets by its own
// timestamps, so they must be the events' stageTimestamp (ingestion lag 0), and every filter
// and dimension must be a field `| json` extracts.
func (s *Source) CanCount(f query.Filter, groupBy []string) (bool, string) {
	if s.cfg.Lag != 0 {
		return false, "Loki timestamps are ingestion times (an ingestion lag is configured), so Loki cannot count by the events' own time; stamp lines with stageTimestamp in Promtail/Alloy and set the lag to 0 to enable pushdown"
	}
	return canPush(f, groupBy)
}

// PreferCount estimates the lines of the range with /loki/api/v1/index/stats and prefers
// counting in Loki when pulling them would be slow or exceed the lines budget.
func (s *Source) PreferCount(ctx context.Context, req source.CountRequest) bool {
	n, err := s.estimateLines(ctx, req.From, req.To)
	if err != nil {
		// No estimate (old Loki, no index stats): prefer Loki for long ranges.
		return req.To.Sub(req.From) > 24*time.Hour
	}
	return n >= s.cfg.PushdownMinLines || n > s.cfg.MaxLines
}

// estimateLines sums the entries of the index statistics over the range (split like scans).
func (s *Source) estimateLines(ctx context.Context, from, to time.Time) (int64, error) {
	var total int64
	for lo := from; lo.Before(to); lo = lo.Add(s.cfg.MaxQueryLength) {
		hi := lo.Add(s.cfg.MaxQueryLength)
		if end := to.Add(time.Nanosecond); hi.After(end) {
			hi = end
		}
		var st struct {
			Entries int64 `json:"entries"`
		}
		p := url.Values{"query": {s.cfg.Selector}, "start": {nanos(lo)}, "end": {nanos(hi)}}
		if err := s.c.get(ctx, "/loki/api/v1/index/stats", p, &st); err != nil {
			return 0, err
		}
		total += st.Entries
	}
	return total, nil
}

// Count counts matching requests per bucket with LogQL metric queries, the finished buckets
// from the source's cache of them when it has one (Config.CountCacheBytes; see countcache).
func (s *Source) Count(ctx context.Context, req source.CountRequest) (*source.CountResult, error) {
	if ok, reason := s.CanCount(req.Filter, req.GroupBy); !ok {
		return nil, fmt.Errorf("cannot count in Loki: %s", reason)
	}
	return s.cache.Count(ctx, req, s.cfg.Now().Add(-s.cfg.FinishedAfter), s.count)
}

// count counts matching requests per bucket with LogQL metric queries. Loki's range vectors
// are left-open, right-closed: count_over_time(...[step]) evaluated at t counts entries in
// (t-step, t]. Evaluating at bucketEnd-1ns gives exactly the bucket [start, end). Buckets cut
// by From or To are counted with one instant query each over their exact part.
func (s *Source) count(ctx context.Context, req source.CountRequest) (*source.CountResult, error) {
	labels := make([]string, len(req.GroupBy))
	for i, g := range req.GroupBy {
		labels[i] = pushFields[g].label
	}
	return s.countBy(ctx, req, labels, func(rng string) string { return s.countQuery(req, rng) })
}

// countBy is count with the metric query query(range) summed by labels (the series' Values).
func (s *Source) countBy(ctx context.Context, req source.CountRequest, labels []string, query func(rng string) string) (*source.CountResult, error) {
	if req.N <= 0 || req.Step <= 0 {
		return &source.CountResult{}, nil
	}
	acc := &counts{labels: labels, n: req.N, index: map[string]int{}}
	res := &source.CountResult{}
	bucketStart := func(i int) time.Time { return req.Start.Add(time.Duration(i) * req.Step) }
	// Full buckets: [bs, be) inside [From, To].
	i0, i1 := 0, req.N
	for i0 < req.N && bucketStart(i0).Before(req.From) {
		i0++
	}
	for i1 > i0 && bucketStart(i1).Add(-time.Nanosecond).After(req.To) {
		i1--
	}
	if req.Step > s.cfg.MaxQueryLength {
		i0, i1 = 0, 0 // a bucket longer than max_query_length: every bucket in instant pieces
	}
	q := query(logqlDuration(req.Step))
	st := &countState{acc: acc, res: res, query: query}
	var jobs []func(ctx context.Context) error
	// Chunks of whole steps within max_query_length and the points limit.
	per := min(s.cfg.MaxPoints-1, int(s.cfg.MaxQueryLength/req.Step))
	per = max(per, 1)
	for c0 := i0; c0 < i1; c0 += per {
		c1 := min(c0+per, i1)
		jobs = append(jobs, func(ctx context.Context) error { return s.rangeCount(ctx, req, q, st, c0, c1) })
	}
	// Partial buckets: the first (cut by From) and the last (cut by To), in pieces no longer
	// than max_query_length, newest first: (hi-d, hi], then on.
	partial := func(i int) {
		lo, hi := bucketStart(i), bucketStart(i+1).Add(-time.Nanosecond)
		if lo.Before(req.From) {
			lo = req.From
		}
		if hi.After(req.To) {
			hi = req.To
		}
		for ; !hi.Before(lo); hi = hi.Add(-s.cfg.MaxQueryLength) {
			at, d := hi, min(hi.Sub(lo)+time.Nanosecond, s.cfg.MaxQueryLength)
			jobs = append(jobs, func(ctx context.Context) error { return s.instantCount(ctx, req, st, i, at, d) })
		}
	}
	for i := 0; i < i0 && i < req.N; i++ {
		partial(i)
	}
	for i := max(i1, i0); i < req.N; i++ {
		partial(i)
	}
	if err := runBounded(ctx, s.cfg.Parallelism, jobs); err != nil {
		return nil, err
	}
	res.Series = acc.series
	return res, nil
}

// countQuery is the LogQL metric query of req over range vectors of rng.
func (s *Source) countQuery(req source.CountRequest, rng string) string {
	if req.NotBare {
		return NotBareQuery(s.cfg.Selector, rng)
	}
	return CountQuery(s.cfg.Selector, req.Filter, req.GroupBy, s.cfg.CompactJSON, rng)
}

// NotBareLines implements source.BareChecker: it counts, per bucket of Loki's timestamps, the
// lines of the window a scan of [from, to] reads (widened by the ingestion lag) that may hold an
// audit event in an envelope. Finished buckets come from the cache of finished buckets, and the
// unfinished ones are shared with the queries of the next source.CheckShare.
func (s *Source) NotBareLines(ctx context.Context, from, to time.Time) (*source.CountResult, error) {
	req := source.CheckRequest(from.Add(-s.cfg.Lag), to.Add(s.cfg.Lag))
	now := s.cfg.Now()
	return s.cache.CountShared(ctx, req, now.Add(-s.cfg.FinishedAfter), now, source.CheckShare, s.count)
}

// countState is what the requests of one count add to, from several goroutines.
type countState struct {
	mu    sync.Mutex
	acc   *counts
	res   *source.CountResult
	query func(rng string) string
}

// answered records one answer's cost and warnings.
func (st *countState) answered(resp *queryResponse) {
	st.res.Requests++
	st.res.BytesScanned += resp.Data.Stats.Summary.TotalBytesProcessed
	st.res.Problems = appendWarnings(st.res.Problems, resp.Warnings)
}

// runBounded runs jobs, at most n at once (n <= 1: one after the other), and returns the first
// error; after an error the jobs not yet started are skipped and the others cancelled.
func runBounded(ctx context.Context, n int, jobs []func(context.Context) error) error {
	if n <= 1 || len(jobs) <= 1 {
		for _, j := range jobs {
			if err := j(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := j(ctx); err != nil {
				once.Do(func() { first = err; cancel(err) })
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// rangeCount adds the full buckets [c0, c1) with one range query, each bucket evaluated at its
// end minus 1 ns.
func (s *Source) rangeCount(ctx context.Context, req source.CountRequest, q string, st *countState, c0, c1 int) error {
	bucketStart := func(i int) time.Time { return req.Start.Add(time.Duration(i) * req.Step) }
	first := bucketStart(c0 + 1).Add(-time.Nanosecond) // evaluation time of bucket c0
	last := bucketStart(c1).Add(-time.Nanosecond)      // evaluation time of bucket c1-1
	p := url.Values{"query": {q}, "start": {nanos(first)}, "end": {nanos(last)},
		"step": {strconv.FormatFloat(req.Step.Seconds(), 'f', -1, 64)}}
	var resp queryResponse
	if err := s.c.get(ctx, "/loki/api/v1/query_range", p, &resp); err != nil {
		return err
	}
	if resp.Data.ResultType != "matrix" {
		return remoteErr(nil, "loki answered a %q result to a metric query", resp.Data.ResultType)
	}
	var series []matrixSeries
	if err := json.Unmarshal(resp.Data.Result, &series); err != nil {
		return remoteErr(err, "cannot decode Loki's matrix")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.answered(&resp)
	firstSec := float64(first.UnixNano()) / 1e9
	for _, m := range distinctSeries(series, func(m matrixSeries) map[string]string { return m.Metric }) {
		for _, v := range m.Values {
			sec, n, err := parseSample(v)
			if err != nil {
				return err
			}
			i := c0 + int(math.Round((sec-firstSec)/req.Step.Seconds()))
			if i < c0 || i >= c1 {
				continue
			}
			st.acc.add(m.Metric, i, n)
		}
	}
	return nil
}

// instantCount adds to bucket i the requests of (at-d, at], counted by one instant query.
func (s *Source) instantCount(ctx context.Context, req source.CountRequest, st *countState, i int, at time.Time, d time.Duration) error {
	resp, vec, err := s.instantVector(ctx, st.query(logqlDuration(d)), at)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.answered(resp)
	for _, v := range distinctSeries(vec, func(v vectorSample) map[string]string { return v.Metric }) {
		_, n, err := parseSample(v.Value)
		if err != nil {
			return err
		}
		st.acc.add(v.Metric, i, n)
	}
	return nil
}

// instantVector evaluates the metric query q at t and returns Loki's answer and its vector.
func (s *Source) instantVector(ctx context.Context, q string, t time.Time) (*queryResponse, []vectorSample, error) {
	var resp queryResponse
	if err := s.c.get(ctx, "/loki/api/v1/query", url.Values{"query": {q}, "time": {nanos(t)}}, &resp); err != nil {
		return nil, nil, err
	}
	if resp.Data.ResultType != "vector" {
		return nil, nil, remoteErr(nil, "loki answered a %q result to an instant metric query", resp.Data.ResultType)
	}
	var vec []vectorSample
	if err := json.Unmarshal(resp.Data.Result, &vec); err != nil {
		return nil, nil, remoteErr(err, "cannot decode Loki's vector")
	}
	return &resp, vec, nil
}

// counts accumulates series by the values of their labels.
type counts struct {
	labels []string
	n      int
	index  map[string]int
	series []source.CountSeries
}

func (c *counts) add(metric map[string]string, i int, n float64) {
	values := make([]string, len(c.labels))
	for j, l := range c.labels {
		values[j] = metric[l]
	}
	k := strings.Join(values, "\x00")
	idx, ok := c.index[k]
	if !ok {
		idx = len(c.series)
		c.index[k] = idx
		c.series = append(c.series, source.CountSeries{Values: values, Counts: make([]float64, c.n)})
	}
	c.series[idx].Counts[i] += n
}

// distinctSeries keeps the first series of each label set. Loki never answers one label set
// twice; a repeat (replicas the querier failed to merge) would count its requests twice.
func distinctSeries[T any](all []T, metric func(T) map[string]string) []T {
	seen := make(map[string]struct{}, len(all))
	out := all[:0:0]
	for _, x := range all {
		k := streamKey(metric(x))
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, x)
	}
	return out
}

func appendWarnings(problems, warnings []string) []string {
	for _, w := range warnings {
		problems = append(problems, "Loki: "+w)
	}
	return problems
}

// logqlDuration formats d in the largest LogQL unit that is exact.
func logqlDuration(d time.Duration) string {
	switch {
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

package source

import (
	"context"
	"errors"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// Counter is implemented by sources that can count requests themselves — Loki with LogQL
// metric queries, CloudWatch Logs Insights with `stats count(*) by bin(...)` — so that
// timeseries counts over ranges too large to pull line by line are computed where the data
// lives. The engine decides when to use it (pkg/engine/pushdown.go); counts must equal what the
// engine computes from the raw lines of the same events (each request once, default stages).
type Counter interface {
	// CanCount reports whether the filter and dimensions can be counted exactly by the source;
	// reason says why not (shown in a notice when pushdown was asked for).
	CanCount(f query.Filter, groupBy []string) (ok bool, reason string)
	// PreferCount reports whether, in automatic mode, counting at the source is better than
	// pulling lines for this range (for example by estimated volume).
	PreferCount(ctx context.Context, req CountRequest) bool
	// Count counts matching requests per Step-wide bucket and per groupBy combination.
	Count(ctx context.Context, req CountRequest) (*CountResult, error)
}

// BareChecker is implemented by remote sources (Loki, CloudWatch) that can count the lines of
// a range that hold an audit event in an envelope, so that the engine knows whether the
// source's own line filters and counting are exact under the automatic line format (package
// envelope): a docker, Fluent Bit or AKS envelope escapes the event, and a literal of the event
// no longer occurs in the line as it is; a LogQL `| json` or Logs Insights parses the envelope.
// The lines counted are those that do not start as a bare event (envelope.BareStartRE) and may
// hold one (envelope.EventHintRE). Lines that match neither are rejected alike by the engine
// and the source.
type BareChecker interface {
	// NotBareLines counts, per bucket of the source's choosing, the lines that a scan of
	// [from, to] would read and that may hold an event in an envelope. Only the total
	// matters; Requests and BytesScanned say what the check cost.
	NotBareLines(ctx context.Context, from, to time.Time) (*CountResult, error)
}

// CheckShare is how long a BareChecker keeps the check's unfinished buckets for the next
// query (countcache.CountShared): every query of a dashboard refresh asks the same check, and
// the source then answers it once a refresh. A line in an envelope that arrives within it is
// seen by the check of the next refresh, as one arriving just after a check always is.
const CheckShare = 30 * time.Second

// CheckRequest is the count request of a BareChecker over [from, to]: the range widened to
// whole buckets (counting more lines than the range holds only errs towards the exact path),
// 5 minutes wide for ranges up to two days, an hour up to 60 days, else a day. Whole buckets
// are cached once finished (countcache), so a refresh checks only the unfinished tail.
func CheckRequest(from, to time.Time) CountRequest {
	step := 24 * time.Hour
	switch d := to.Sub(from); {
	case d <= 48*time.Hour:
		step = 5 * time.Minute
	case d <= 60*24*time.Hour:
		step = time.Hour
	}
	start := from.Truncate(step)
	n := int(to.Sub(start)/step) + 1
	return CountRequest{From: start, To: start.Add(time.Duration(n)*step - time.Nanosecond), Start: start, Step: step, N: n, NotBare: true}
}

// ErrTooManyGroups is matched (errors.Is) by a Count error when the source refused the count
// because it would return more series than it allows (Loki's max_query_series, default 500):
// the engine then counts from raw lines instead, or says so under sourceMode pushdown.
var ErrTooManyGroups = errors.New("more groups than the source returns for one query")

// CountRequest is a request count over a time range.
type CountRequest struct {
	// From and To bound the events by their own stageTimestamp, inclusive.
	From, To time.Time
	// Start is the first bucket's start (epoch-aligned, <= From); buckets are Step wide and
	// N of them cover [Start, To].
	Start time.Time
	Step  time.Duration
	N     int
	// Filter and GroupBy are those of the query (GroupBy holds canonical dimension names).
	Filter  query.Filter
	GroupBy []string
	// NotBare counts the lines that may hold an event in an envelope (BareChecker), by the
	// source's own timestamps, instead; Filter and GroupBy are then empty.
	NotBare bool
}

// CountResult is what a Counter counted.
type CountResult struct {
	Series []CountSeries
	// Problems are sentences for notices: partial results, limits hit.
	Problems []string
	// What the count cost, for the frame's notices: requests sent to the source, bytes it
	// scanned (Logs Insights statistics.bytesScanned, Loki stats.summary.totalBytesProcessed),
	// and how many of Buckets came from a cache of finished buckets (countcache).
	Requests      int
	BytesScanned  int64
	CachedBuckets int
	Buckets       int
	// PricePerGB is what the source bills per GB (10^9 bytes) scanned, for an estimate of the
	// count's cost (0: not billed by bytes scanned).
	PricePerGB float64
}

// CountSeries is one combination of groupBy values (in GroupBy order; "" for a missing value)
// with its count per bucket (len N).
type CountSeries struct {
	Values []string
	Counts []float64
}

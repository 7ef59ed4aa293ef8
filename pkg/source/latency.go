package source

import (
	"context"
	"time"
)

// LatencyRanker is implemented by sources that can find one order statistic of the request
// latencies of a few groups without sending their lines (Loki: metric queries over each line's
// latency computed by LogQL, then only the lines near the rank, projected to their latency).
// The engine uses it for the p99 column of a counted topn (pkg/engine/pushdown_topn.go).
type LatencyRanker interface {
	// LatencyAtRank returns, for each of groups (values in req.GroupBy order, "" for a missing
	// value), how many of its requests have a latency (terminal stage, both timestamps, not
	// negative; long-running requests only with includeLongRunning) and, when there are n > 0,
	// the latency at 0-based rank rank(n) of them in ascending order, exactly as the plugin
	// computes them from the same lines. When the source cannot guarantee that for every
	// group (a timestamp it may read differently), Inexact says why and nothing else is set
	// but the cost.
	LatencyAtRank(ctx context.Context, req CountRequest, includeLongRunning bool, groups [][]string, rank func(n int) int) (*LatencyRanks, error)
}

// LatencyRanks is what a LatencyRanker found: per group, in the order asked.
type LatencyRanks struct {
	N       []int
	At      []time.Duration
	Inexact string
	// What it cost: requests sent, bytes the source scanned and bytes of lines it sent back.
	Requests     int
	BytesScanned int64
	LinesRead    int64
	BytesRead    int64
	Problems     []string
}

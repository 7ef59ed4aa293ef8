package engine

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// topNQuantile is the quantile of the topn p99 column (topn.finish).
const topNQuantile = 0.99

// p99Rank is the 0-based rank of the element the p99 column reports among n latencies:
// quantile's nearest rank for an exact cell, and the rank whose sketch bin a sketched cell
// reports (samples.quantile), the same formula.
func p99Rank(n int) int {
	return min(max(int(math.Ceil(topNQuantile*float64(n)-1e-9)), 1), n) - 1
}

// topNRankP99 fills the latencies of the top groups of t with what a source.LatencyRanker
// found: the latency at each group's nearest rank, as the one sample of a cell that holds
// it exactly (a group with at most ExactSamples latencies) or in a sketch's bin (more: the
// raw cell is a sketch, whose answer is the bin of that same element), so that finish
// reports what the raw lines give. ok is false with the ranker's reason when it could not
// answer exactly; the caller then reads the raw lines.
func topNRankP99(ctx context.Context, lr source.LatencyRanker, req Request, cr source.CountRequest, t *topn, top []string) (stats Stats, notice string, ok bool, err error) {
	groups := make([][]string, len(top))
	for i, key := range top {
		groups[i] = strings.Split(key, string(keySep))
	}
	cr.GroupBy = req.Query.GroupBy
	lr2, err := lr.LatencyAtRank(ctx, cr, req.Query.IncludeLongRunning, groups, p99Rank)
	if err != nil {
		return stats, "", false, err
	}
	if lr2.Inexact != "" {
		return stats, lr2.Inexact, false, nil
	}
	for i, key := range top {
		n := lr2.N[i]
		if n == 0 {
			continue
		}
		t.stats[key].latencies.standFor(lr2.At[i].Seconds(), n)
	}
	stats.Source = source.Stats{FilesScanned: lr2.Requests, LinesRead: lr2.LinesRead, BytesRead: lr2.BytesRead, Problems: lr2.Problems}
	notice = fmt.Sprintf("counted requests, errors, denials and the p99 latency by the source: a latency histogram of the %d %s shown, then %d of their lines projected to their latency (%d %s; the histogram scanned %s)",
		len(top), plural(len(top), "group", "groups"), lr2.LinesRead, lr2.Requests, plural(lr2.Requests, "request", "requests"), humanBytes(lr2.BytesScanned))
	return stats, notice, true, nil
}

// topNLatencies fills the latencies of the top groups of t: by the source when it is a
// source.LatencyRanker that answers exactly (topNRankP99), else from their raw lines
// (topNP99), saying why.
func topNLatencies(ctx context.Context, src source.Source, req Request, cr source.CountRequest, t *topn, top []string) (Stats, []Notice, error) {
	var notices []Notice
	if lr, ok := src.(source.LatencyRanker); ok {
		stats, text, ranked, err := topNRankP99(ctx, lr, req, cr, t, top)
		if err != nil || ranked {
			return stats, []Notice{{Info, text}}, err
		}
		notices = append(notices, Notice{Info, "the p99 latency is computed from raw lines: " + text})
	}
	stats, text, err := topNP99(ctx, src, req, t, top)
	return stats, append(notices, Notice{Info, text}), err
}

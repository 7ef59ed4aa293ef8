package loki

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// The latency of a request in LogQL. A line template (label_format) computes each line's
// latency in nanoseconds as the plugin does (pkg/audit: stageTimestamp − requestReceivedTimestamp
// on a terminal stage, negative ones left out) with Loki's template functions toDate (sprig:
// a parse error is swallowed and gives the zero time) and unixEpochNanos; the timestamps are
// first checked to be in the one form in which Go's RFC 3339 layout and the plugin's parser
// read the same instant (UTC 'Z', up to 9 fractional digits, fields in range) and to parse,
// so a line whose latency LogQL might get wrong is marked "x" instead, and any such line makes
// the answer inexact (the engine then reads the raw lines).
const (
	latLabel    = "k8sa_lat"
	bucketLabel = "k8sa_b"
	// tsLayout is time.RFC3339; toDate also reads a fraction after the seconds.
	tsLayout = "2006-01-02T15:04:05Z07:00"
	tsRE     = `(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?Z`
	// maxQuerySeries is Loki's default max_query_series, which a histogram stays within.
	maxQuerySeries = 500
)

var latencyFields = []pushField{
	{"k8sa_recv", "requestReceivedTimestamp"},
	{"k8sa_stagets", "stageTimestamp"},
	{"k8sa_auditid", "auditID"},
	pushFields["verb"],
	pushFields["objectRef.subresource"],
}

// latencyTemplate is the label_format template of latLabel: the latency in nanoseconds, or
// "x" when a timestamp is missing, not in the checked form (one regexReplaceAll over both:
// Loki compiles its regex at every call) or does not parse.
func latencyTemplate() string {
	recv, stage := latencyFields[0].label, latencyFields[1].label
	re := strconv.Quote("^" + tsRE + " " + tsRE + "$")
	return `{{ $r := toDate "` + tsLayout + `" .` + recv + ` }}{{ $s := toDate "` + tsLayout + `" .` + stage + ` }}` +
		"{{ if and (eq (regexReplaceAll " + re + " (print ." + recv + ` " " .` + stage + `) "") "") (not $r.IsZero) (not $s.IsZero) }}` +
		"{{ sub (unixEpochNanos $s) (unixEpochNanos $r) }}{{ else }}x{{ end }}"
}

// latencyPipeline is the pipeline of the latency-eligible lines of the groups (the count's
// pipeline, terminal stages, long-running requests left out unless asked for) with latLabel.
func (s *Source) latencyPipeline(req source.CountRequest, includeLongRunning bool, groups [][]string) string {
	var b strings.Builder
	b.WriteString(countPipeline(s.cfg.Selector, req.Filter, req.GroupBy, s.cfg.CompactJSON, latencyFields))
	b.WriteString(" | " + pushFields["stage"].label + "=~" + strconv.Quote(audit.StageResponseComplete+"|"+audit.StagePanic))
	if !includeLongRunning {
		// audit.IsLongRunning
		b.WriteString(" | " + pushFields["verb"].label + `!~"` + strings.Join(audit.LongRunningVerbs, "|") + `"`)
		b.WriteString(" | " + pushFields["objectRef.subresource"].label + `!~"` + strings.Join(audit.LongRunningSubresources, "|") + `"`)
	}
	b.WriteString(" | " + groupFilter(req.GroupBy, groups, nil))
	b.WriteString(" | label_format " + latLabel + "=" + strconv.Quote(latencyTemplate()))
	return b.String()
}

// groupFilter is a label filter expression keeping the lines of the groups, each also with
// its latency in its bucket's [lo, hi) when buckets is set.
func groupFilter(groupBy []string, groups [][]string, buckets []rankBucket) string {
	alts := make([]string, len(groups))
	for i, g := range groups {
		var conds []string
		for j, dim := range groupBy {
			conds = append(conds, pushFields[dim].label+"="+strconv.Quote(g[j]))
		}
		if buckets != nil {
			conds = append(conds, latLabel+">="+strconv.FormatInt(buckets[i].lo, 10))
			if hi := buckets[i].hi; hi >= 0 {
				conds = append(conds, latLabel+"<"+strconv.FormatInt(hi, 10))
			}
		}
		alts[i] = "(" + strings.Join(conds, " and ") + ")"
	}
	return "(" + strings.Join(alts, " or ") + ")"
}

// groupCond is the template condition that a line is of group g.
func groupCond(groupBy []string, g []string) string {
	conds := make([]string, len(groupBy))
	for j, dim := range groupBy {
		conds[j] = "(eq ." + pushFields[dim].label + " " + strconv.Quote(g[j]) + ")"
	}
	return "(and " + strings.Join(conds, " ") + ")"
}

// bucketTemplate is the label_format template of bucketLabel over latLabel: "x" (not read
// exactly), "n" (negative: no latency), else the index of the first threshold above it.
func bucketTemplate(thresholds []int64) string {
	var b strings.Builder
	b.WriteString(`{{ if eq .` + latLabel + ` "x" }}x{{ else }}{{ $l := int .` + latLabel + ` }}{{ if lt $l 0 }}n`)
	for i, t := range thresholds {
		fmt.Fprintf(&b, "{{ else if lt $l %d }}%d", t, i)
	}
	fmt.Fprintf(&b, "{{ else }}%d{{ end }}{{ end }}", len(thresholds))
	return b.String()
}

// histogramThresholds are m thresholds from 100 µs to 100 s, geometric.
func histogramThresholds(m int) []int64 {
	const lo, hi = 1e5, 1e11
	out := make([]int64, m)
	for i := range out {
		out[i] = int64(math.Round(lo * math.Pow(hi/lo, float64(i)/float64(max(m-1, 1)))))
	}
	return slices.Compact(out)
}

// rankBucket is the histogram bucket of a group that holds its rank: size latencies in
// [lo, hi) (hi < 0: unbounded), the rank being the within-th of them.
type rankBucket struct {
	lo, hi       int64
	size, within int
}

// locate returns the bucket of counts (per bucket) that holds rank r; bounds is bucket k's.
func locate(counts []int, r int, bounds func(k int) (lo, hi int64)) rankBucket {
	k := 0
	for ; r >= counts[k]; k++ {
		r -= counts[k]
	}
	lo, hi := bounds(k)
	return rankBucket{lo: lo, hi: hi, size: counts[k], within: r}
}

// LatencyAtRank implements source.LatencyRanker: a histogram of the groups' latencies counted
// by Loki over the whole range (split as counts are); when the buckets holding the groups'
// ranks have more lines than a page, a second histogram inside each large one; then the lines
// of those buckets, projected to their latency, from which the order statistic follows.
func (s *Source) LatencyAtRank(ctx context.Context, req source.CountRequest, includeLongRunning bool, groups [][]string, rank func(n int) int) (*source.LatencyRanks, error) {
	if ok, reason := s.CanCount(req.Filter, req.GroupBy); !ok {
		return nil, fmt.Errorf("cannot count in Loki: %s", reason)
	}
	res := &source.LatencyRanks{N: make([]int, len(groups)), At: make([]time.Duration, len(groups))}
	m := maxQuerySeries/max(len(groups), 1) - 3 // thresholds: m+1 buckets, "n" and "x" per group
	switch {
	case len(groups) == 0:
		return res, nil
	case len(req.GroupBy) == 0:
		res.Inexact = "no groups"
		return res, nil
	case m < 2:
		res.Inexact = fmt.Sprintf("%d groups are more than one Loki histogram can hold (max_query_series %d)", len(groups), maxQuerySeries)
		return res, nil
	}
	buckets, lats, err := s.latencies(ctx, req, includeLongRunning, groups, rank, histogramThresholds(m), res)
	if why, ok := rejected(err); ok {
		res.Inexact = why
		return res, nil
	}
	if err != nil || res.Inexact != "" {
		return res, err
	}
	for i, b := range buckets {
		if res.N[i] == 0 {
			continue
		}
		if len(lats[i]) != b.size {
			res.Inexact = fmt.Sprintf("Loki sent %d latencies of a group whose histogram bucket holds %d", len(lats[i]), b.size)
			return res, nil
		}
		slices.Sort(lats[i])
		res.At[i] = time.Duration(lats[i][b.within])
	}
	return res, nil
}

// latencies sets res.N (or res.Inexact) from the histogram over thresholds, and returns each
// group's bucket holding its rank and the latencies of its lines in it.
func (s *Source) latencies(ctx context.Context, req source.CountRequest, includeLongRunning bool, groups [][]string, rank func(n int) int, thresholds []int64, res *source.LatencyRanks) ([]rankBucket, [][]int64, error) {
	counts, bad, err := s.histogram(ctx, req, groups, s.latencyPipeline(req, includeLongRunning, groups)+
		" | label_format "+bucketLabel+"="+strconv.Quote(bucketTemplate(thresholds)), len(thresholds)+1, res)
	if err != nil {
		return nil, nil, err
	}
	if bad > 0 {
		res.Inexact = fmt.Sprintf("%d %s of the groups shown %s a timestamp that LogQL may read differently from the plugin (missing, or not RFC 3339 in UTC)",
			bad, plural(bad, "request", "requests"), plural(bad, "has", "have"))
		return nil, nil, nil
	}
	buckets := make([]rankBucket, len(groups))
	for i, c := range counts {
		for _, x := range c {
			res.N[i] += x
		}
		if res.N[i] > 0 {
			buckets[i] = locate(c, rank(res.N[i]), func(k int) (int64, int64) {
				lo, hi := int64(0), int64(-1)
				if k > 0 {
					lo = thresholds[k-1]
				}
				if k < len(thresholds) {
					hi = thresholds[k]
				}
				return lo, hi
			})
		}
	}
	if err := s.refine(ctx, req, includeLongRunning, groups, buckets, res); err != nil || res.Inexact != "" {
		return nil, nil, err
	}
	lats, err := s.pullLatencies(ctx, req, includeLongRunning, groups, buckets, res)
	return buckets, lats, err
}

// refine splits, when the buckets hold more lines than a page, each bounded bucket of more than
// one line into even sub-buckets counted by a second histogram of its group's lines in it,
// and narrows buckets to the sub-bucket that holds the rank.
func (s *Source) refine(ctx context.Context, req source.CountRequest, includeLongRunning bool, groups [][]string, buckets []rankBucket, res *source.LatencyRanks) error {
	total := 0
	var idx []int
	for i, b := range buckets {
		total += b.size
		if b.size > 1 && b.hi > b.lo+1 {
			idx = append(idx, i)
		}
	}
	sub := maxQuerySeries / max(len(idx), 1)
	if total <= s.cfg.PageSize || len(idx) == 0 || sub < 2 {
		return nil
	}
	gs, bs, widths := make([][]string, len(idx)), make([]rankBucket, len(idx)), make([]int64, len(idx))
	var tmpl strings.Builder
	for j, i := range idx {
		gs[j], bs[j] = groups[i], buckets[i]
		widths[j] = (bs[j].hi - bs[j].lo + int64(sub) - 1) / int64(sub)
		if j > 0 {
			tmpl.WriteString("{{ else }}")
		}
		fmt.Fprintf(&tmpl, "{{ if %s }}{{ div (sub .%s %d) %d }}", groupCond(req.GroupBy, gs[j]), latLabel, bs[j].lo, widths[j])
	}
	tmpl.WriteString(strings.Repeat("{{ end }}", len(idx)))
	counts, _, err := s.histogram(ctx, req, gs, s.latencyPipeline(req, includeLongRunning, gs)+` | `+latLabel+`!="x" | `+groupFilter(req.GroupBy, gs, bs)+
		" | label_format "+bucketLabel+"="+strconv.Quote(tmpl.String()), sub, res)
	if err != nil {
		return err
	}
	for j, i := range idx {
		b, w := bs[j], widths[j]
		if n := sumInts(counts[j]); n != b.size {
			res.Inexact = fmt.Sprintf("Loki counted %d latencies in a histogram bucket of %d", n, b.size)
			return nil
		}
		buckets[i] = locate(counts[j], b.within, func(k int) (int64, int64) {
			lo := b.lo + int64(k)*w
			return lo, min(lo+w, b.hi)
		})
	}
	return nil
}

func sumInts(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}

// histogram counts the lines of pipeline (ending with a label_format of bucketLabel: "x", "n"
// or 0..n-1) per group and bucket over the whole range, and how many are "x"; what it cost is
// added to res.
func (s *Source) histogram(ctx context.Context, req source.CountRequest, groups [][]string, pipeline string, n int, res *source.LatencyRanks) (counts [][]int, bad int, err error) {
	hreq := req
	hreq.Start, hreq.Step, hreq.N = req.From, req.To.Sub(req.From)+time.Nanosecond, 1
	labels := make([]string, 0, len(req.GroupBy)+1)
	for _, g := range req.GroupBy {
		labels = append(labels, pushFields[g].label)
	}
	labels = append(labels, bucketLabel)
	hist, err := s.countBy(ctx, hreq, labels, func(rng string) string { return sumBy(labels, pipeline, rng) })
	if err != nil {
		return nil, 0, err
	}
	res.Requests += hist.Requests
	res.BytesScanned += hist.BytesScanned
	res.Problems = append(res.Problems, hist.Problems...)
	index := groupIndex(groups)
	counts = make([][]int, len(groups))
	for i := range counts {
		counts[i] = make([]int, n)
	}
	for _, se := range hist.Series {
		gi, ok := index[strings.Join(se.Values[:len(req.GroupBy)], "\x00")]
		if !ok {
			continue
		}
		c := int(se.Counts[0])
		switch b := se.Values[len(req.GroupBy)]; b {
		case "x":
			bad += c
		case "n":
		default:
			k, err := strconv.Atoi(b)
			if err != nil || k < 0 || k >= n {
				return nil, 0, remoteErr(nil, "loki answered a histogram bucket %q", b)
			}
			counts[gi][k] += c
		}
	}
	return counts, bad, nil
}

func groupIndex(groups [][]string) map[string]int {
	index := make(map[string]int, len(groups))
	for i, g := range groups {
		index[strings.Join(g, "\x00")] = i
	}
	return index
}

// rejected reports whether Loki refused a latency query as a bad request (a Loki without one of
// its template functions or stages, a lower max_query_series), and says so.
func rejected(err error) (string, bool) {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		return ae.Error(), true
	}
	return "", false
}

// pullLatencies reads the latencies of the lines of each group with latencies in its bucket,
// one line per request: its latency and auditID, so that two requests of one stream with the
// same time and latency stay two lines. What it cost is added to res.
func (s *Source) pullLatencies(ctx context.Context, req source.CountRequest, includeLongRunning bool, groups [][]string, buckets []rankBucket, res *source.LatencyRanks) ([][]int64, error) {
	var want [][]string
	var wantBuckets []rankBucket
	for i, g := range groups {
		if buckets[i].size > 0 {
			want, wantBuckets = append(want, g), append(wantBuckets, buckets[i])
		}
	}
	out := make([][]int64, len(groups))
	if len(want) == 0 {
		return out, nil
	}
	// Every label the pipeline extracts or formats but the groups'.
	drop := []string{latLabel}
	for _, pf := range pushFields {
		drop = append(drop, pf.label)
	}
	for _, pf := range latencyFields {
		drop = append(drop, pf.label)
	}
	slices.Sort(drop)
	drop = slices.DeleteFunc(slices.Compact(drop), func(l string) bool {
		return slices.ContainsFunc(req.GroupBy, func(g string) bool { return pushFields[g].label == l })
	})
	q := s.latencyPipeline(req, includeLongRunning, want) + ` | ` + latLabel + `!="x" | ` + groupFilter(req.GroupBy, want, wantBuckets) +
		` | line_format "{{.` + latLabel + `}} {{.` + latencyFields[2].label + `}}" | drop ` + strings.Join(drop, ", ")
	index := groupIndex(groups)
	st, err := s.scanEntries(ctx, q, req.From, req.To.Add(time.Nanosecond), func(stream string, _ int64, line []byte) error {
		labels := parseStreamKey(stream)
		values := make([]string, len(req.GroupBy))
		for j, g := range req.GroupBy {
			values[j] = labels[pushFields[g].label]
		}
		gi, ok := index[strings.Join(values, "\x00")]
		if !ok {
			return nil
		}
		lat, _, _ := strings.Cut(string(line), " ")
		v, err := strconv.ParseInt(lat, 10, 64)
		if err != nil {
			return remoteErr(err, "loki sent a latency %q", lat)
		}
		out[gi] = append(out[gi], v)
		return nil
	})
	res.Requests += st.FilesScanned
	res.LinesRead += st.LinesRead
	res.BytesRead += st.BytesRead
	res.Problems = append(res.Problems, st.Problems...)
	return out, err
}

// parseStreamKey inverts streamKey.
func parseStreamKey(k string) map[string]string {
	out := map[string]string{}
	for k != "" {
		name, rest, ok := strings.Cut(k, "=")
		if !ok {
			break
		}
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			break
		}
		out[name], _ = strconv.Unquote(q)
		k = strings.TrimPrefix(rest[len(q):], ",")
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

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
		b.WriteString(" | " + pushFields["verb"].label + `!~"watch|proxy"`)
		b.WriteString(" | " + pushFields["objectRef.subresource"].label + `!~"attach|exec|proxy|log|portforward"`)
	}
	b.WriteString(" | " + s.groupFilter(req.GroupBy, groups, nil))
	b.WriteString(" | label_format " + latLabel + "=" + strconv.Quote(latencyTemplate()))
	return b.String()
}

// groupFilter is a label filter expression keeping the lines of the groups, each also with
// its latency in [lo, hi) when ranges is set (hi < 0: unbounded).
func (s *Source) groupFilter(groupBy []string, groups [][]string, ranges [][2]int64) string {
	alts := make([]string, len(groups))
	for i, g := range groups {
		var conds []string
		for j, dim := range groupBy {
			conds = append(conds, pushFields[dim].label+"="+strconv.Quote(g[j]))
		}
		if ranges != nil {
			conds = append(conds, latLabel+">="+strconv.FormatInt(ranges[i][0], 10))
			if hi := ranges[i][1]; hi >= 0 {
				conds = append(conds, latLabel+"<"+strconv.FormatInt(hi, 10))
			}
		}
		alts[i] = "(" + strings.Join(conds, " and ") + ")"
	}
	return "(" + strings.Join(alts, " or ") + ")"
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

// LatencyAtRank implements source.LatencyRanker: one histogram of the groups' latencies
// counted by Loki over the whole range (split as counts are), then the lines of each group's
// bucket holding its rank, projected to their latency, from which the order statistic follows.
func (s *Source) LatencyAtRank(ctx context.Context, req source.CountRequest, includeLongRunning bool, groups [][]string, rank func(n int) int) (*source.LatencyRanks, error) {
	if ok, reason := s.CanCount(req.Filter, req.GroupBy); !ok {
		return nil, fmt.Errorf("cannot count in Loki: %s", reason)
	}
	res := &source.LatencyRanks{N: make([]int, len(groups)), At: make([]time.Duration, len(groups))}
	if len(groups) == 0 {
		return res, nil
	}
	m := maxQuerySeries/len(groups) - 3 // thresholds: m+1 buckets, "n" and "x" per group
	if m < 2 {
		res.Inexact = fmt.Sprintf("%d groups are more than one Loki histogram can hold (max_query_series %d)", len(groups), maxQuerySeries)
		return res, nil
	}
	thresholds := histogramThresholds(m)
	pipeline := s.latencyPipeline(req, includeLongRunning, groups)
	hreq := req
	hreq.Start, hreq.Step, hreq.N = req.From, req.To.Sub(req.From)+time.Nanosecond, 1
	labels := make([]string, 0, len(req.GroupBy)+1)
	for _, g := range req.GroupBy {
		labels = append(labels, pushFields[g].label)
	}
	labels = append(labels, bucketLabel)
	hist, err := s.countBy(ctx, hreq, labels, func(rng string) string {
		return sumBy(labels, pipeline+" | label_format "+bucketLabel+"="+strconv.Quote(bucketTemplate(thresholds)), rng)
	})
	if why, ok := rejected(err); ok {
		res.Inexact = why
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	res.Requests, res.BytesScanned, res.Problems = hist.Requests, hist.BytesScanned, hist.Problems
	index := map[string]int{}
	for i, g := range groups {
		index[strings.Join(g, "\x00")] = i
	}
	counts := make([][]int, len(groups)) // per group and bucket
	for i := range counts {
		counts[i] = make([]int, len(thresholds)+1)
	}
	bad := 0
	for _, se := range hist.Series {
		gi, ok := index[strings.Join(se.Values[:len(req.GroupBy)], "\x00")]
		if !ok {
			continue
		}
		n := int(se.Counts[0])
		switch b := se.Values[len(req.GroupBy)]; b {
		case "x":
			bad += n
		case "n":
		default:
			k, err := strconv.Atoi(b)
			if err != nil || k < 0 || k > len(thresholds) {
				return nil, remoteErr(nil, "loki answered a histogram bucket %q", b)
			}
			counts[gi][k] += n
		}
	}
	if bad > 0 {
		res.Inexact = fmt.Sprintf("%d %s of the groups shown %s a timestamp that LogQL may read differently from the plugin (missing, or not RFC 3339 in UTC)",
			bad, plural(bad, "request", "requests"), plural(bad, "has", "have"))
		return res, nil
	}
	// Each group's rank: the bucket holding it, and the rank within it.
	ranges := make([][2]int64, len(groups))
	within := make([]int, len(groups))
	inBucket := make([]int, len(groups))
	for i, c := range counts {
		for _, x := range c {
			res.N[i] += x
		}
		if res.N[i] == 0 {
			ranges[i] = [2]int64{0, 0} // nothing to pull
			continue
		}
		r := rank(res.N[i])
		k := 0
		for ; r >= c[k]; k++ {
			r -= c[k]
		}
		lo, hi := int64(0), int64(-1)
		if k > 0 {
			lo = thresholds[k-1]
		}
		if k < len(thresholds) {
			hi = thresholds[k]
		}
		ranges[i], within[i], inBucket[i] = [2]int64{lo, hi}, r, c[k]
	}
	lats, st, err := s.pullLatencies(ctx, req, includeLongRunning, groups, ranges)
	res.Requests += st.FilesScanned
	res.LinesRead, res.BytesRead = st.LinesRead, st.BytesRead
	res.Problems = append(res.Problems, st.Problems...)
	if why, ok := rejected(err); ok {
		res.Inexact = why
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	for i := range groups {
		if res.N[i] == 0 {
			continue
		}
		if len(lats[i]) != inBucket[i] {
			res.Inexact = fmt.Sprintf("Loki sent %d latencies of a group whose histogram bucket holds %d", len(lats[i]), inBucket[i])
			return res, nil
		}
		slices.Sort(lats[i])
		res.At[i] = time.Duration(lats[i][within[i]])
	}
	return res, nil
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

// pullLatencies reads the latencies of the lines of each group in its range (a group with the
// empty range [0, 0) is not read), one line per request: its latency and auditID, so that two
// requests of one stream with the same time and latency stay two lines.
func (s *Source) pullLatencies(ctx context.Context, req source.CountRequest, includeLongRunning bool, groups [][]string, ranges [][2]int64) ([][]int64, source.Stats, error) {
	var want [][]string
	var wantRanges [][2]int64
	for i, g := range groups {
		if ranges[i] != [2]int64{0, 0} {
			want, wantRanges = append(want, g), append(wantRanges, ranges[i])
		}
	}
	out := make([][]int64, len(groups))
	if len(want) == 0 {
		return out, source.Stats{}, nil
	}
	index := map[string]int{}
	for i, g := range groups {
		index[strings.Join(g, "\x00")] = i
	}
	drop := []string{pushFields["stage"].label, pushFields["responseStatus.code"].label, latLabel}
	for _, pf := range latencyFields {
		drop = append(drop, pf.label)
	}
	for _, ff := range pushFields {
		if !slices.Contains(req.GroupBy, ff.path) {
			drop = append(drop, ff.label)
		}
	}
	slices.Sort(drop)
	drop = slices.DeleteFunc(slices.Compact(drop), func(l string) bool {
		return slices.ContainsFunc(req.GroupBy, func(g string) bool { return pushFields[g].label == l })
	})
	q := s.latencyPipeline(req, includeLongRunning, want) + ` | ` + latLabel + `!="x" | ` + s.groupFilter(req.GroupBy, want, wantRanges) +
		` | line_format "{{.` + latLabel + `}} {{.` + latencyFields[2].label + `}}" | drop ` + strings.Join(drop, ", ")
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
	return out, st, err
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

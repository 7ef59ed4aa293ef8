package cloudwatch

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// MaxInsightsRows is the most rows one Logs Insights query returns.
const MaxInsightsRows = 10000

// insightsFields maps the dimensions Insights can group by exactly to their field names as
// Logs Insights discovers them in the JSON message (nested keys joined with ".", array elements
// by index). Every name is back-ticked in queries: some contain "/" or "-".
var insightsFields = map[string]string{
	"verb":                      "verb",
	"user.username":             "user.username",
	"impersonatedUser.username": "impersonatedUser.username",
	"objectRef.resource":        "objectRef.resource",
	"objectRef.namespace":       "objectRef.namespace",
	"objectRef.name":            "objectRef.name",
	"objectRef.subresource":     "objectRef.subresource",
	"objectRef.apiGroup":        "objectRef.apiGroup",
	"objectRef.apiVersion":      "objectRef.apiVersion",
	"responseStatus.code":       "responseStatus.code",
	"userAgent":                 "userAgent",
	"sourceIPs":                 "sourceIPs.0",
	"stage":                     "stage",
	"level":                     "level",
	"decision":                  "annotations.authorization.k8s.io/decision",
}

// CanCount reports whether the filter and dimensions can be counted exactly by Logs Insights:
// include lists of exact values on plain fields, codes and code classes, allow/forbid
// decisions, and any stages; no globs, exclusions, groups, user kinds, source IPs or search.
func (s *Source) CanCount(f query.Filter, groupBy []string) (bool, string) {
	for _, d := range groupBy {
		if _, ok := insightsFields[d]; !ok {
			return false, fmt.Sprintf("Logs Insights cannot group by %s exactly", d)
		}
	}
	_, reason := insightsFilter(f)
	return reason == "", reason
}

// PreferCount prefers Insights for ranges longer than Config.InsightsAfter: pulling every event
// of a long range through FilterLogEvents (5 requests/s) is slower than one query.
func (s *Source) PreferCount(_ context.Context, req source.CountRequest) bool {
	return req.To.Sub(req.From) > s.cfg.InsightsAfter
}

// Count counts requests with Logs Insights queries over every configured log group: one
// query, or, when a query returns Insights' maximum of MaxInsightsRows rows (its answer is cut),
// one per half of its range, halved again as needed (see countRange).
//
// Finished buckets come from the source's cache of them when it has one
// (Config.CountCacheBytes; see countcache).
func (s *Source) Count(ctx context.Context, req source.CountRequest) (*source.CountResult, error) {
	if ok, reason := s.CanCount(req.Filter, req.GroupBy); !ok {
		return nil, &Error{Kind: KindInvalid, Op: "StartQuery", Msg: reason}
	}
	res, err := s.cache.Count(ctx, req, s.now().Add(-s.cfg.FinishedAfter), s.count)
	if res != nil {
		res.PricePerGB = s.cfg.PricePerGB
	}
	return res, err
}

// NotBareLines implements source.BareChecker: one Logs Insights query counts, per bucket of
// @timestamp (source.CheckRequest), the messages of the window a scan of [from, to] reads
// (FilterLogEvents, widened by TimestampSlack) that may hold an audit event in an envelope.
// Finished buckets come from the cache of finished buckets, so a refresh checks only the
// unfinished tail, and that is shared with the queries of the next source.CheckShare.
func (s *Source) NotBareLines(ctx context.Context, from, to time.Time) (*source.CountResult, error) {
	req := source.CheckRequest(from.Add(-TimestampSlack), to.Add(TimestampSlack))
	now := s.now()
	res, err := s.cache.CountShared(ctx, req, now.Add(-s.cfg.FinishedAfter), now, source.CheckShare, s.countNotBare)
	if res != nil {
		res.PricePerGB = s.cfg.PricePerGB
	}
	return res, err
}

// binLayout is how Logs Insights writes the value of bin(...) in its results.
const binLayout = "2006-01-02 15:04:05.000"

// countNotBare counts the messages of req's buckets that may hold an event in an envelope, by
// @timestamp. The query's window is wider than the buckets it asks for (runQuery widens it by
// TimestampSlack); bin() puts each message in its own hour, and hours outside req are dropped.
func (s *Source) countNotBare(ctx context.Context, req source.CountRequest) (*source.CountResult, error) {
	bin := "bin(" + strconv.FormatInt(int64(req.Step/time.Second), 10) + "s)"
	q := fmt.Sprintf("filter @logStream like /^%s/\n| filter @message not like /%s/\n| filter @message like /%s/\n| stats count(*) as lines by %s\n| limit %d",
		s.streamPattern(), envelope.BareStartRE, envelope.EventHintRE, bin, MaxInsightsRows)
	rows, scanned, err := s.runQuery(ctx, req, q)
	if err != nil {
		return nil, err
	}
	counts := make([]float64, req.N)
	res := &source.CountResult{Requests: 1, BytesScanned: scanned, Series: []source.CountSeries{{Counts: counts}}}
	if len(rows) >= MaxInsightsRows {
		res.Problems = append(res.Problems, fmt.Sprintf("Logs Insights returned its maximum of %d rows counting the lines that are not bare audit events", MaxInsightsRows))
	}
	for _, row := range rows {
		vals := map[string]string{}
		for _, f := range row {
			vals[aws.ToString(f.Field)] = aws.ToString(f.Value)
		}
		t, err := time.Parse(binLayout, vals[bin])
		n, err2 := strconv.ParseFloat(vals["lines"], 64)
		if err != nil || err2 != nil || math.IsNaN(n) {
			// Unreadable: counted as not bare, so the engine takes the exact path.
			counts[0]++
			res.Problems = append(res.Problems, fmt.Sprintf("skipped an unreadable Logs Insights row (%s %q, lines %q)", bin, vals[bin], vals["lines"]))
			continue
		}
		if i := int(t.Sub(req.Start) / req.Step); !t.Before(req.Start) && i < req.N {
			counts[i] += n
		}
	}
	return res, nil
}

// count counts req with Insights queries (see Count).
func (s *Source) count(ctx context.Context, req source.CountRequest) (*source.CountResult, error) {
	res := &source.CountResult{}
	acc := &insightsCounts{req: req, res: res, byKey: map[string]int{}}
	if err := s.countRange(ctx, acc, req.From, req.To, 0); err != nil {
		return nil, err
	}
	return res, nil
}

// Splitting a range whose answer hit the row cap: at most maxSplitDepth halvings, never into
// pieces shorter than minSplit (rows of one instant cannot be split by time).
const (
	maxSplitDepth = 12
	minSplit      = time.Second
)

// countRange counts [from, to] into acc with one query; a cut answer (MaxInsightsRows rows) is
// dropped and both halves of the range are counted instead. The halves share no event (the
// query keeps events by their own time, to the microsecond), so their counts add up.
func (s *Source) countRange(ctx context.Context, acc *insightsCounts, from, to time.Time, depth int) error {
	sub := acc.req
	sub.From, sub.To = from, to
	q, gran, err := s.InsightsQuery(sub)
	if err != nil {
		return err
	}
	rows, scanned, err := s.runQuery(ctx, sub, q)
	if err != nil {
		return err
	}
	acc.res.Requests++
	acc.res.BytesScanned += scanned
	var problems []string
	if len(rows) >= MaxInsightsRows && depth < maxSplitDepth && to.Sub(from) >= 2*minSplit {
		mid := from.Add(to.Sub(from) / 2).Truncate(time.Microsecond)
		acc.splits++
		if err := s.countRange(ctx, acc, from, mid.Add(-time.Microsecond), depth+1); err != nil {
			return err
		}
		return s.countRange(ctx, acc, mid, to, depth+1)
	}
	if len(rows) >= MaxInsightsRows {
		problems = append(problems, fmt.Sprintf("Logs Insights returned its maximum of %d rows for %s to %s, even after splitting the range %d times: the counts are incomplete; use a longer interval or fewer groupBy dimensions",
			MaxInsightsRows, from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), acc.splits))
	}
	acc.res.Problems = append(acc.res.Problems, problems...)
	acc.add(rows, gran)
	return nil
}

// insightsCounts adds the rows of Insights answers up into series.
type insightsCounts struct {
	req    source.CountRequest
	res    *source.CountResult
	byKey  map[string]int
	splits int
}

// add adds one answer's rows.
func (a *insightsCounts) add(rows [][]types.ResultField, gran granule) {
	req, res, byKey := a.req, a.res, a.byKey
	// Insights answers one row per bucket and group: a row seen twice is a repeat of the
	// answer, and adding it would double its requests.
	seenRows := make(map[string]struct{}, len(rows))
	for _, row := range rows {
		rk := rowKey(row)
		if _, dup := seenRows[rk]; dup {
			continue
		}
		seenRows[rk] = struct{}{}
		vals := map[string]string{}
		for _, f := range row {
			vals[aws.ToString(f.Field)] = aws.ToString(f.Value)
		}
		bucket := vals["bucket"]
		if len(bucket) > 10 && bucket[10] == ' ' { // "2006-01-02 15:04:05" as some log pipelines write it
			bucket = bucket[:10] + "T" + bucket[11:]
		}
		t, err := time.Parse(gran.layout, bucket)
		if err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("skipped a Logs Insights row with an unreadable time bucket %q", vals["bucket"]))
			continue
		}
		i := int(t.Sub(req.Start) / req.Step)
		if t.Before(req.Start) || i >= req.N {
			continue
		}
		n, err := strconv.ParseFloat(vals["requests"], 64)
		if err != nil || math.IsNaN(n) {
			res.Problems = append(res.Problems, fmt.Sprintf("skipped a Logs Insights row with an unreadable count %q", vals["requests"]))
			continue
		}
		values := make([]string, len(req.GroupBy))
		for j := range req.GroupBy {
			values[j] = vals[groupAlias(j)]
		}
		key := strings.Join(values, "\x00")
		k, ok := byKey[key]
		if !ok {
			k = len(res.Series)
			byKey[key] = k
			res.Series = append(res.Series, source.CountSeries{Values: values, Counts: make([]float64, req.N)})
		}
		res.Series[k].Counts[i] += n
	}
}

// rowKey identifies a result row by its fields and values.
func rowKey(row []types.ResultField) string {
	var b strings.Builder
	for _, f := range row {
		b.WriteString(aws.ToString(f.Field))
		b.WriteByte(0)
		b.WriteString(aws.ToString(f.Value))
		b.WriteByte(0)
	}
	return b.String()
}

// granule is the stageTimestamp prefix the query groups by: the coarsest of day, hour, minute
// or second that divides the bucket step, so that every granule falls in exactly one bucket.
type granule struct {
	size   time.Duration
	length int // characters of the RFC 3339 stageTimestamp
	layout string
}

var granules = []granule{
	{24 * time.Hour, 10, "2006-01-02"},
	{time.Hour, 13, "2006-01-02T15"},
	{time.Minute, 16, "2006-01-02T15:04"},
	{time.Second, 19, "2006-01-02T15:04:05"},
}

func pickGranule(step time.Duration) (granule, bool) {
	for _, g := range granules {
		if step >= g.size && step%g.size == 0 {
			return g, true
		}
	}
	return granule{}, false
}

// groupAlias is the name of the j-th groupBy column in the query's results.
func groupAlias(j int) string { return "g" + strconv.Itoa(j) }

// microLayout is how kube-apiserver writes stageTimestamp (metav1.MicroTime, always UTC).
const microLayout = "2006-01-02T15:04:05.000000Z"

// InsightsQuery builds the Logs Insights query of req. Requests are counted by their own event
// time, as the engine does (stageTimestamp, else the v1alpha1/v1beta1 timestamp or
// metadata.creationTimestamp) — not @timestamp, the time CloudWatch received the line, which can
// be seconds later and would move requests across buckets. The query keeps the events whose time
// lies in [From, To] by string comparison with kube-apiserver's fixed-width UTC form
// (2006-01-02T15:04:05.000000Z), cuts the time to the granule and groups by it; Count adds the
// granules up into buckets. Timestamps in another form (no fraction, a zone offset) are still
// bucketed right but can be misjudged at the very edges of the range, within the same second.
func (s *Source) InsightsQuery(req source.CountRequest) (string, granule, error) {
	g, ok := pickGranule(req.Step)
	if !ok {
		return "", g, &Error{Kind: KindInvalid, Op: "StartQuery", Msg: fmt.Sprintf("Logs Insights cannot count in %s intervals: use whole seconds", req.Step)}
	}
	cond, reason := insightsFilter(req.Filter)
	if reason != "" {
		return "", g, &Error{Kind: KindInvalid, Op: "StartQuery", Msg: reason}
	}
	from := req.From.UTC()
	if t := from.Truncate(time.Microsecond); !t.Equal(from) {
		from = t.Add(time.Microsecond)
	}
	to := req.To.UTC().Truncate(time.Microsecond)
	var b strings.Builder
	fmt.Fprintf(&b, "filter @logStream like /^%s/\n", s.streamPattern())
	b.WriteString("| fields coalesce(`stageTimestamp`, `timestamp`, `metadata.creationTimestamp`) as eventTime\n")
	fmt.Fprintf(&b, "| filter eventTime >= %q and eventTime <= %q\n", from.Format(microLayout), to.Format(microLayout))
	for _, c := range cond {
		fmt.Fprintf(&b, "| filter %s\n", c)
	}
	fmt.Fprintf(&b, "| fields substr(eventTime, 0, %d) as bucket\n", g.length)
	b.WriteString("| stats count(*) as requests by bucket")
	for j, d := range req.GroupBy {
		fmt.Fprintf(&b, ", `%s` as %s", insightsFields[d], groupAlias(j))
	}
	fmt.Fprintf(&b, "\n| limit %d", MaxInsightsRows)
	return b.String(), g, nil
}

// insightsFilter returns the filter's conditions in Logs Insights syntax, or a reason why it
// cannot be expressed exactly. Each field is rendered from its row in query.FilterFields.
func insightsFilter(f query.Filter) ([]string, string) {
	var conds []string
	for _, ff := range query.FilterFields {
		values := ff.Values(&f)
		if len(values) == 0 {
			continue
		}
		if ff.Push.Insights == query.PushNone {
			return nil, fmt.Sprintf("Logs Insights cannot filter on %s exactly (%s)", ff.Key, whyNotInsights[ff.Kind])
		}
		if !ff.Pushable(ff.Push.Insights, values) {
			if len(ff.PluginOnly) > 0 {
				return nil, fmt.Sprintf("Logs Insights can count %s values only as exact includes, and not %s", ff.Name, strings.Join(ff.PluginOnly, ", "))
			}
			return nil, fmt.Sprintf("Logs Insights counting needs exact %s values (no * or !)", ff.Name)
		}
		field := insightsFields[ff.Path]
		if ff.Kind == query.KindCode {
			var ors []string
			for _, c := range values {
				r, err := query.ParseCode(c)
				if err != nil {
					return nil, err.Error()
				}
				if r.Lo == r.Hi {
					ors = append(ors, fmt.Sprintf("`%s` = %d", field, r.Lo))
				} else {
					ors = append(ors, fmt.Sprintf("(`%s` >= %d and `%s` <= %d)", field, r.Lo, field, r.Hi))
				}
			}
			conds = append(conds, "("+strings.Join(ors, " or ")+")")
			continue
		}
		lits := make([]string, len(values))
		for i, v := range values {
			lits[i] = strconv.Quote(v)
		}
		conds = append(conds, fmt.Sprintf("`%s` in [%s]", field, strings.Join(lits, ", ")))
	}
	if len(f.Stages) == 0 {
		conds = append(conds, stageRuleInsights(query.RequestFinal))
	}
	return conds, ""
}

// whyNotInsights says why a kind of field cannot be pushed to Logs Insights.
var whyNotInsights = map[query.FieldKind]string{
	query.KindGroups:  "a list field",
	query.KindIP:      "addresses and networks are compared in the plugin",
	query.KindDerived: "derived in the plugin",
	query.KindSearch:  "the plugin searches the raw line",
}

// stageRuleInsights renders the default stage rule (query.RequestFinal) as a filter condition.
func stageRuleInsights(r query.StageRule) string {
	lits := make([]string, len(r.Stages))
	for i, st := range r.Stages {
		lits[i] = strconv.Quote(st)
	}
	return fmt.Sprintf("(`%s` in [%s] or (`%s` = %q and `%s` = %d))", insightsFields["stage"], strings.Join(lits, ", "),
		insightsFields["stage"], r.OrStage, insightsFields["responseStatus.code"], r.OrCode)
}

// runQuery runs one Insights query, waiting for a slot first, and returns its rows and the
// bytes it scanned (statistics.bytesScanned).
func (s *Source) runQuery(ctx context.Context, req source.CountRequest, q string) ([][]types.ResultField, int64, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	defer func() { <-s.slots }()

	if err := s.wait(ctx); err != nil {
		return nil, 0, err
	}
	start := req.From.Add(-TimestampSlack).Unix()
	end := req.To.Add(TimestampSlack).Add(time.Second - 1).Unix()
	started, err := s.client.StartQuery(ctx, &cloudwatchlogs.StartQueryInput{
		LogGroupNames: slices.Clone(s.cfg.LogGroups),
		StartTime:     aws.Int64(start),
		EndTime:       aws.Int64(end),
		QueryString:   aws.String(q),
		Limit:         aws.Int32(MaxInsightsRows),
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		return nil, 0, classify(err, "StartQuery", strings.Join(s.cfg.LogGroups, ", "))
	}
	id := aws.ToString(started.QueryId)
	delay := s.poll
	for {
		select {
		case <-ctx.Done():
			s.stopQuery(ctx, id)
			return nil, 0, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*3/2, s.maxPoll)
		if err := s.wait(ctx); err != nil {
			s.stopQuery(ctx, id)
			return nil, 0, err
		}
		out, err := s.client.GetQueryResults(ctx, &cloudwatchlogs.GetQueryResultsInput{QueryId: aws.String(id)})
		if err != nil {
			s.stopQuery(ctx, id) // no longer polled: stop it, it counts against the account's quota
			if ctx.Err() != nil {
				return nil, 0, ctx.Err()
			}
			return nil, 0, classify(err, "GetQueryResults", "")
		}
		switch out.Status {
		case types.QueryStatusComplete:
			var scanned int64
			if out.Statistics != nil {
				scanned = int64(out.Statistics.BytesScanned)
			}
			return out.Results, scanned, nil
		case types.QueryStatusFailed, types.QueryStatusCancelled, types.QueryStatusTimeout:
			return nil, 0, &Error{Kind: KindQueryFailed, Op: "GetQueryResults", Code: string(out.Status),
				Msg: fmt.Sprintf("the Logs Insights query %s ended with status %s: %s", id, out.Status, statusHint(out.Status))}
		}
		// Scheduled, Running, Unknown: keep polling.
	}
}

func statusHint(st types.QueryStatus) string {
	switch st {
	case types.QueryStatusTimeout:
		return "it ran longer than the Logs Insights limit; use a shorter range"
	case types.QueryStatusCancelled:
		return "it was cancelled outside this request (another user or StopQuery)"
	}
	return "retry; if it persists, check the query in the CloudWatch console"
}

// stopQuery asks CloudWatch to stop a query whose request was cancelled, so that it is no
// longer billed nor counted against the concurrency quota.
func (s *Source) stopQuery(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = s.client.StopQuery(ctx, &cloudwatchlogs.StopQueryInput{QueryId: aws.String(id)})
}

var regexpSpecial = regexp.MustCompile(`[\\/.+*?()|\[\]{}^$]`)

// regexpQuote escapes s for a /regex/ literal.
func regexpQuote(s string) string { return regexpSpecial.ReplaceAllString(s, `\$0`) }

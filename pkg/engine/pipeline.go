package engine

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// AllOrigins names the one origin of sources that cannot tell where lines came from.
const AllOrigins = "(all)"

// PipelineRow is the health of one origin (file or stream) of audit lines.
type PipelineRow struct {
	Origin string
	// Format is the line format detected in the origin (package envelope: "bare", "cri",
	// "docker", ...), the most frequent first when there are several ("cri, bare").
	Format                                 string
	Events, Requests, Malformed, Truncated int64
	First, Last                            time.Time
	// LongestGap is the longest stretch without events between First and Last, at the
	// resolution of the query's interval.
	LongestGap time.Duration
	// LagP50 and LagMax are how long after the event the source received it (Loki's
	// timestamp, CloudWatch's ingestion time); HasLag is false for sources that cannot tell.
	LagP50, LagMax time.Duration
	HasLag         bool
}

// PipelineResult describes the audit pipeline per origin.
type PipelineResult struct {
	Rows   []PipelineRow
	Series *SeriesResult // events per second per origin (timeseries format)
}

type originStats struct {
	row    PipelineRow
	counts []float64   // events per bucket
	lines  formatLines // lines read by envelope format (envelope.Unwrapper.Lines)
	lags   samples     // seconds from the event to its arrival at the source
}

// formatLines counts lines by envelope format, as envelope.Unwrapper.Lines does.
type formatLines = [len(envelope.Unwrapper{}.Lines)]int64

func newOriginStats(origin string, b *buckets) *originStats {
	return &originStats{row: PipelineRow{Origin: origin}, counts: make([]float64, b.n)}
}

// add counts an event of the origin that matched the query.
func (o *originStats) add(rec *audit.Record, b *buckets) {
	o.row.Events++
	if query.IsRequestFinal(rec) {
		o.row.Requests++
	}
	if v, ok := rec.Annotation("audit.k8s.io/truncated"); ok && string(v) == "true" {
		o.row.Truncated++
	}
	o.row.First, o.row.Last = widen(o.row.First, o.row.Last, rec.Time, rec.Time)
	if i := b.index(rec.Time); i >= 0 {
		o.counts[i]++
	}
}

// absorb adds p (of the same step, its buckets off buckets after o's) without changing it.
func (o *originStats) absorb(p *originStats, off int) {
	o.row.Events += p.row.Events
	o.row.Requests += p.row.Requests
	o.row.Malformed += p.row.Malformed
	o.row.Truncated += p.row.Truncated
	o.row.First, o.row.Last = widen(o.row.First, o.row.Last, p.row.First, p.row.Last)
	addShifted(o.counts, p.counts, off)
	for f, n := range p.lines {
		o.lines[f] += n
	}
}

// pipelineNeeds are the fields pipelineHealth reads besides its filter's. Every stage is read
// (events, not requests), and requests are counted by the one rule every other query uses,
// query.IsRequestFinal: it needs the code (the lone ResponseStarted event of a failed
// authentication is a request), which the stage filter alone does not ask for.
var pipelineNeeds = audit.Fields(0).With(audit.FieldAnnotations, audit.FieldStage, audit.FieldCode)

// runPipeline answers pipelineHealth over a source without segments (and over files without a
// cache or index, or for a text search): it needs each line's origin, so it reads the source
// itself, in one goroutine (the work per line is small). Files with a cache are answered per
// segment (pipeline_segments.go).
func runPipeline(ctx context.Context, src source.Source, req Request) (*Result, error) {
	q := req.Query
	m := q.Filter.Compile()
	b := newBuckets(req)
	sc := audit.NewScanner(m.Needs() | pipelineNeeds)
	var rec audit.Record
	origins := map[string]*originStats{}
	var st Stats
	get := func(origin string) *originStats {
		o, ok := origins[origin]
		if !ok {
			o = newOriginStats(origin, b)
			origins[origin] = o
		}
		return o
	}
	// One unwrapper per origin: CRI partial lines are joined within their file or stream.
	envs := map[string]*envelope.Unwrapper{}
	visit := func(origin string, arrived time.Time, line []byte) error {
		env, ok := envs[origin]
		if !ok {
			env = envelope.New(req.Envelope)
			envs[origin] = env
		}
		if line, ok = env.Unwrap(line); !ok || !m.MatchLine(line) {
			return nil
		}
		if sc.Scan(line, &rec) != nil {
			st.Malformed++
			get(origin).row.Malformed++
			return nil
		}
		if rec.Time.Before(req.From) || rec.Time.After(req.To) || !m.Match(&rec) {
			return nil
		}
		st.Matched++
		o := get(origin)
		o.add(&rec, b)
		if !arrived.IsZero() {
			o.lags.add(arrived.Sub(rec.Time).Seconds())
		}
		return nil
	}
	var err error
	srcReq := sourceRequest(req) // the filter only where line filters are exact
	if osrc, ok := src.(source.OriginScanner); ok {
		st.Source, err = osrc.ScanOrigins(ctx, srcReq, visit)
	} else {
		st.Source, err = src.Scan(ctx, srcReq, func(line []byte) error { return visit(AllOrigins, time.Time{}, line) })
	}
	if err != nil {
		return nil, err
	}
	for origin, env := range envs {
		if n := env.Incomplete(); n > 0 {
			st.Malformed += n
			get(origin).row.Malformed += n
		}
		if o, ok := origins[origin]; ok {
			o.lines = env.Lines
		}
	}
	res := &Result{Stats: st}
	finishPipeline(q, b, origins, res)
	res.Notices = append(sourceNotices(st), res.Notices...)
	return res, nil
}

// finishPipeline makes the result of pipelineHealth from the stats of each origin: a row for
// each origin that had an event in the range or a line that was not one, the limit busiest.
// It changes origins' counts.
func finishPipeline(q *query.Query, b *buckets, origins map[string]*originStats, res *Result) {
	maps.DeleteFunc(origins, func(_ string, o *originStats) bool { return o.row.Events == 0 && o.row.Malformed == 0 })
	top, rest := topKeys(origins, func(o *originStats) float64 { return float64(o.row.Events) }, q.Limit)
	out := &PipelineResult{}
	for _, k := range top {
		o := origins[k]
		o.row.LongestGap = longestGap(o.counts, b, o.row.First, o.row.Last)
		o.row.Format = detectedFormats(&o.lines)
		if p50, ok := o.lags.quantile(0.5); ok {
			lagMax, _ := o.lags.quantile(1)
			o.row.HasLag = true
			o.row.LagP50 = time.Duration(p50 * float64(time.Second))
			o.row.LagMax = time.Duration(lagMax * float64(time.Second))
		}
		out.Rows = append(out.Rows, o.row)
	}
	if q.Format == query.FormatTimeSeries {
		series := &SeriesResult{Times: b.times(), Step: b.step, Unit: "eps"}
		for _, k := range top {
			series.Series = append(series.Series, Series{Name: "events", Labels: []Label{{"origin", k}}, Values: scaled(origins[k].counts, 1/b.step.Seconds())})
		}
		res.Series = series
	} else {
		res.Pipeline = out
	}
	if len(rest) > 0 {
		res.Notices = append(res.Notices, Notice{Info, fmt.Sprintf("showing the %d busiest of %d origins", len(top), len(top)+len(rest))})
	}
}

// longestGap is the longest run of empty buckets between the first and the last event.
func longestGap(counts []float64, b *buckets, first, last time.Time) time.Duration {
	i0, i1 := b.index(first), b.index(last)
	if i0 < 0 || i1 < 0 {
		return 0
	}
	longest, run := 0, 0
	for _, c := range counts[i0 : i1+1] {
		if c == 0 {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return time.Duration(longest) * b.step
}

// detectedFormats names the formats of lines (counted by an envelope.Unwrapper), the most
// frequent first ("" when none).
func detectedFormats(lines *formatLines) string {
	var fs []envelope.Format
	for _, f := range envelope.Formats() {
		if lines[f] > 0 && f != envelope.Auto {
			fs = append(fs, f)
		}
	}
	slices.SortStableFunc(fs, func(a, b envelope.Format) int { return cmp.Compare(lines[b], lines[a]) })
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.String()
	}
	return strings.Join(names, ", ")
}

package engine

import (
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// pipelineHealth over the segments of files: each segment is one origin (its file), so its
// partial is one originStats, kept in the Cache like the partials of the other types and added
// to the query's under the segment's name as it is now (absorbSegment: a rotation renames a
// cached segment). What the read of a segment counted besides its events (lines by envelope
// format, lines that were not events) comes with the partial (unwrapped), and a read that ends
// in CRI partial lines keeps nothing of them (scanSegment), so a partial extended by the bytes
// appended since counts what one read of the whole file counts.

// pipeline is the aggregator of pipelineHealth over segments. A segment's partial holds one
// origin, ""; the query's holds one per segment name.
type pipeline struct {
	q       *query.Query
	b       *buckets
	origins map[string]*originStats
}

var (
	_ partialAgg      = (*pipeline)(nil)
	_ segmentAbsorber = (*pipeline)(nil)
	_ unwrapCounter   = (*pipeline)(nil)
)

func newPipeline(req Request) func() aggregator {
	q, b := req.Query, newBuckets(req)
	return func() aggregator { return &pipeline{q: q, b: b, origins: map[string]*originStats{}} }
}

// pipelineRaw reports whether runPipeline answers req over src: sources without segments, files
// read without a cache or index (Run would read them whole, without origins), and text searches
// where there is an index (while a segment's index is built its lines that are not events are
// counted whether or not they match the search; the raw read counts only those that match).
func pipelineRaw(src source.Source, req Request) bool {
	_, segmented := src.(source.SegmentScanner)
	return !segmented || (req.Cache == nil && req.Index == nil) || (req.Index != nil && req.Query.Filter.Compile().NeedsLine())
}

func (p *pipeline) origin(name string) *originStats {
	o, ok := p.origins[name]
	if !ok {
		o = newOriginStats(name, p.b)
		p.origins[name] = o
	}
	return o
}

func (p *pipeline) needs() audit.Fields { return pipelineNeeds }

func (p *pipeline) add(r *audit.Record) { p.origin("").add(r, p.b) }

func (p *pipeline) merge(other aggregator) { p.absorb(other) }

func (p *pipeline) absorb(other aggregator) {
	o := other.(*pipeline)
	off := shift(o.b, p.b)
	for name, theirs := range o.origins {
		p.origin(name).absorb(theirs, off)
	}
}

func (p *pipeline) absorbSegment(seg source.Segment, other aggregator) {
	o := other.(*pipeline)
	off := shift(o.b, p.b)
	for _, theirs := range o.origins {
		p.origin(seg.Name).absorb(theirs, off)
	}
}

func (p *pipeline) unwrapped(lines formatLines, malformed int64) {
	o := p.origin("")
	for f, n := range lines {
		o.lines[f] += n
	}
	o.row.Malformed += malformed
}

func (p *pipeline) cost() int {
	c := 0
	for name, o := range p.origins {
		c += mapEntry + len(name) + len(o.counts)*floatBytes + 256
	}
	return c
}

func (p *pipeline) finish(res *Result) { finishPipeline(p.q, p.b, p.origins, res) }

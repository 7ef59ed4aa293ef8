package engine

import (
	"context"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// RoleIndex remembers the role writes read for the RBAC look-back of detections, and the time
// interval it has read, so that dashboard refreshes and alert evaluations read only what is new
// rather than the whole look-back each time. One index belongs to one datasource instance (one
// source); it is safe for concurrent queries, which wait for each other's look-back reads.
type RoleIndex struct {
	mu       sync.Mutex
	from, to time.Time // the interval read, [from, to); zero when nothing was read
	writes   []detect.RoleWrite
	built    time.Time // when the interval was first read
	reads    int       // look-back scans run, for tests
	// Now returns the current time (default time.Now): the index is read afresh once it is
	// older than roleIndexMaxAge.
	Now func() time.Time
}

// roleIndexMaxAge bounds how long what the index read is trusted: a role write that reaches
// Loki or CloudWatch late (after its stretch was read) or a log restored from a backup is seen
// at the next rebuild.
const roleIndexMaxAge = time.Hour

// roleFilter selects the events RoleWriteOf can use; the search string lets sources and the
// line pre-filter skip everything else cheaply (every role event has `"...roles"` in it).
var roleFilter = query.Filter{
	Resources: query.StringList{"roles", "clusterroles"},
	Verbs:     query.StringList{"create", "update", "patch", "delete"},
	Search:    `roles"`,
}

// roleHistory returns the role writes before req.From, reading at least [req.From-lookback,
// req.From). A segmented source with a cache answers it segment by segment like any query, so
// each segment's role writes are read once and kept with the other partials (and found from
// its column index); other sources keep what they read in req.Roles.
func roleHistory(ctx context.Context, src source.Source, req Request, lookback time.Duration) ([]detect.RoleWrite, Stats, error) {
	from := req.From
	if ss, ok := src.(source.SegmentScanner); ok && req.Cache != nil {
		return segmentRoleHistory(ctx, ss, req, from.Add(-lookback), from)
	}
	ix := req.Roles
	if ix == nil {
		ix = &RoleIndex{}
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	need := from.Add(-lookback)
	var st Stats
	read := func(a, b time.Time) error {
		if !b.After(a) {
			return nil
		}
		ws, s, err := scanRoles(ctx, src, a, b)
		// Malformed lines are not counted: they cannot be placed in time, so the look-back
		// would report the range's own malformed lines a second time.
		st.Source.Problems = append(st.Source.Problems, s.Source.Problems...)
		if err != nil {
			return err
		}
		ix.reads++
		ix.writes = append(ix.writes, ws...)
		return nil
	}
	now := time.Now
	if ix.Now != nil {
		now = ix.Now
	}
	switch {
	case ix.from.IsZero() || need.After(ix.to) || from.Before(ix.from) || now().Sub(ix.built) > roleIndexMaxAge:
		// Nothing read yet, no overlap with what was, or read too long ago: start again.
		ix.writes = nil
		ix.built = now()
		if err := read(need, from); err != nil {
			ix.from, ix.to, ix.writes = time.Time{}, time.Time{}, nil
			return nil, st, err
		}
		ix.from, ix.to = need, from
	default:
		if err := read(need, ix.from); err != nil {
			return nil, st, err
		}
		ix.from = minTime(ix.from, need)
		if err := read(ix.to, from); err != nil {
			return nil, st, err
		}
		ix.to = maxTime(ix.to, from)
	}
	slices.SortStableFunc(ix.writes, func(a, b detect.RoleWrite) int { return a.Time.Compare(b.Time) })
	// Everything known before from: older writes than the look-back only make the answer better.
	n, _ := slices.BinarySearchFunc(ix.writes, from, func(w detect.RoleWrite, t time.Time) int {
		if w.Time.Before(t) {
			return -1
		}
		return 1
	})
	return slices.Clone(ix.writes[:n]), st, nil
}

// roleLookbackQuery is the look-back as a query, for its segment partials' fingerprint. Its
// filter has no search: a text search cannot be answered from a column index, and the filter's
// fields can (the partials' rows are then read back from the file).
var roleLookbackQuery = &query.Query{QueryType: "rbacLookback", Filter: query.Filter{Resources: roleFilter.Resources, Verbs: roleFilter.Verbs}}

// segmentRoleHistory reads the role writes in [from, to) through the segment cache.
func segmentRoleHistory(ctx context.Context, ss source.SegmentScanner, req Request, from, to time.Time) ([]detect.RoleWrite, Stats, error) {
	if !to.After(from) {
		return nil, Stats{}, nil
	}
	// The engine's ranges are inclusive; the look-back ends just before the range.
	r := Request{Query: roleLookbackQuery, From: from, To: to.Add(-time.Nanosecond), Cache: req.Cache, Index: req.Index}
	agg, st, err := runSegments(ctx, ss, r, func() aggregator { return &roleWrites{} })
	var out Stats // as for a plain look-back read: its problems, not its malformed lines
	out.Source.Problems = st.Source.Problems
	if err != nil {
		return nil, out, err
	}
	ws := slices.Clone(agg.(*roleWrites).writes)
	slices.SortStableFunc(ws, func(a, b detect.RoleWrite) int { return a.Time.Compare(b.Time) })
	return ws, out, nil
}

// roleWrites collects the role writes of a range: the look-back's aggregator, kept per segment.
type roleWrites struct{ writes []detect.RoleWrite }

func (w *roleWrites) needs() audit.Fields { return detect.RoleNeeds }

func (w *roleWrites) add(r *audit.Record) {
	if rw, ok := detect.RoleWriteOf(r); ok {
		w.writes = append(w.writes, rw)
	}
}

func (w *roleWrites) merge(other aggregator) { w.absorb(other) }
func (w *roleWrites) absorb(other aggregator) {
	w.writes = append(w.writes, other.(*roleWrites).writes...)
}
func (w *roleWrites) finish(*Result) {}
func (w *roleWrites) cost() int {
	c := cap(w.writes) * int(unsafe.Sizeof(detect.RoleWrite{}))
	for _, rw := range w.writes {
		c += len(rw.Key)
	}
	return c
}

// wants: the index finds the role writes by resource and verb, and only their lines are read.
func (w *roleWrites) wants(r *audit.Record) bool {
	return slices.Contains(roleFilter.Resources, string(r.Str(audit.FieldResource))) &&
		slices.Contains(roleFilter.Verbs, string(r.Str(audit.FieldVerb)))
}

// scanRoles reads the role writes in [from, to).
func scanRoles(ctx context.Context, src source.Source, from, to time.Time) ([]detect.RoleWrite, Stats, error) {
	var mu sync.Mutex
	var out []detect.RoleWrite
	add := func(r *audit.Record) {
		if !r.Time.Before(to) {
			return
		}
		if w, ok := detect.RoleWriteOf(r); ok {
			mu.Lock()
			out = append(out, w)
			mu.Unlock()
		}
	}
	q := &query.Query{Filter: roleFilter}
	st, err := scan(ctx, src, Request{Query: q, From: from, To: to}, q.Filter.Compile(), detect.RoleNeeds, []func(*audit.Record){add})
	return out, st, err
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

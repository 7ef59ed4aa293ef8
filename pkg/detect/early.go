package detect

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// Window rules decide over the candidates of the whole range, but a candidate's decision only
// depends on the candidates of its key within the rule's window of it: a cluster of a key's
// candidates (each within the window of the one before) whose neighbours are farther than the
// window is decided alone, and gives the same findings whatever comes before or after it.
// When a segment's detector is released (the engine keeps it as the segment's partial), every
// cluster that lies within the events it observed, a window and edgeSlack away from their first
// and last time, is decided then: its findings are kept (packed, emitted at Finish in the
// rule's place, so that they pass the allow-lists and the profile there and come in the same
// order), its candidates dropped, and only the clusters near the edges stay open for the
// merge with the segments before and after. Before clustering, the candidates that cannot
// change a decision (Rule.live: in no window that holds the threshold; a workload change with
// no RBAC change before it within the window) are left out, so that an operator reading
// secrets every minute all day does not make a day-long cluster. The states decide alike: the
// permission sweep's buckets between two where its pairing starts afresh, the runs of buckets
// of tool uses and of the rules on requests from outside (and a run still going on keeps its
// ends, its middle folded into one cell). A detector that merges released ones (the engine's
// merge of the segments, in time order) decides the same over the time merged so far after
// each merge. So a detector holds about a window of candidates at each edge, however long the
// range; what stays open past that is a burst that keeps the threshold for as long as the
// range (its candidates are all needed to count it) and the role writes and bindings of
// binding-to-wildcard-role, which has no window.
//
// That holds while no other segment merged holds events of the time a decision depended on:
// files of one API server follow each other in time (rotations), with a few milliseconds of
// jitter at their seams. Files of several API servers written at the same time break it; the
// merged detector sees it (their spans meet a decided zone) and says so in a notice.

// edgeSlack is how far into a segment's time a decision waits for events of the segments
// before and after it: lines are written in about stageTimestamp order, a few milliseconds
// apart at most, so the last lines of a file and the first of the next overlap that much.
const edgeSlack = time.Minute

// timeSpan is the time of the events a detector observed (Unix nanoseconds; lo > hi when none,
// lo = noTime when an event had no time) and the zone its early decisions depended on
// (zlo > zhi when none): no event of another detector merged with it may lie in the zone.
type timeSpan struct {
	lo, hi, zlo, zhi int64
	// late: an event observed after the early decisions fell in the zone.
	late bool
	// released: the detector was released (Release), done observing: a segment's partial.
	released bool
}

func newSpan() timeSpan {
	return timeSpan{lo: math.MaxInt64, hi: math.MinInt64, zlo: math.MaxInt64, zhi: math.MinInt64}
}

func (s *timeSpan) saw(t time.Time) {
	n := int64(noTime)
	if !t.IsZero() {
		n = t.UnixNano()
	}
	s.lo, s.hi = min(s.lo, n), max(s.hi, n)
	if n >= s.zlo && n <= s.zhi {
		s.late = true
	}
}

func (s *timeSpan) empty() bool   { return s.lo > s.hi }
func (s *timeSpan) decided() bool { return s.zlo <= s.zhi }

// widen adds o's events to s.
func (s *timeSpan) widen(o timeSpan) { s.lo, s.hi = min(s.lo, o.lo), max(s.hi, o.hi) }

// meets reports whether o holds events in s's zone.
func (s *timeSpan) meets(o *timeSpan) bool {
	return s.decided() && !o.empty() && o.lo <= s.zhi && o.hi >= s.zlo
}

// bounds are what a detector may decide early: the time [lo, hi] (Unix nanoseconds) no other
// detector's events reach into, and the span whose zone widens over what was decided.
type bounds struct {
	lo, hi int64
	s      *timeSpan
}

// holds reports whether [from, to] lies within the bounds.
func (b bounds) holds(from, to int64) bool { return from >= b.lo && to <= b.hi }

// zone widens the decided zone over [from, to].
func (b bounds) zone(from, to int64) { b.s.zlo, b.s.zhi = min(b.s.zlo, from), max(b.s.zhi, to) }

// takeRuns removes from buckets (of window) the runs of adjacent buckets (bucketRuns) whose
// buckets before and after lie within b, so that no other detector can add to them, and
// returns their cells in time order. Of the runs it leaves, the cells of the buckets after the
// first that lie within b are folded into one (a copy, by cp), at the last one's bucket: a
// credential used from outside every few minutes all day keeps the cells of its run's ends.
func takeRuns[C any, P runCell[C]](buckets map[int64]*C, window time.Duration, b bounds, cp func(*C) *C) [][]*C {
	w := int64(window)
	lower := func(id int64) int64 { return id - P(buckets[id]).folded() }
	var runs [][]*C
	for _, ids := range adjacentRuns[C, P](buckets) {
		if from, to := (lower(ids[0])-1)*w, (ids[len(ids)-1]+2)*w; b.holds(from, to) {
			runs = append(runs, cellsOf(buckets, ids))
			for _, id := range ids {
				delete(buckets, id)
			}
			b.zone(from, to)
			continue
		}
		var inside []int64
		for _, id := range ids[1:] {
			if b.holds(lower(id)*w, (id+1)*w) {
				inside = append(inside, id)
			}
		}
		if len(inside) < 2 {
			continue
		}
		first, last := inside[0], inside[len(inside)-1]
		b.zone(lower(first)*w, (last+1)*w)
		fold := cp(buckets[first])
		for _, id := range inside[1:] {
			P(fold).add(buckets[id])
			delete(buckets, id)
		}
		delete(buckets, first)
		buckets[last] = fold
	}
	return runs
}

// keptSets are packed entries by rule id: a detector's own, which it appends to while it
// observes, and those of detectors it merged, read and never written (merging a kept
// segment's detector costs a slice header per rule, not a copy).
type keptSets struct {
	own    map[string][]kept
	merged map[string][][]kept
}

func newKeptSets() keptSets { return keptSets{own: map[string][]kept{}, merged: map[string][][]kept{}} }

func (k *keptSets) merge(o *keptSets) {
	for id, cs := range o.own {
		if len(cs) > 0 {
			k.merged[id] = append(k.merged[id], cs[:len(cs):len(cs)])
		}
	}
	for id, css := range o.merged {
		k.merged[id] = append(k.merged[id], css...)
	}
}

// count is how many entries k holds.
func (k *keptSets) count() int {
	n := 0
	for _, cs := range k.own {
		n += len(cs)
	}
	for _, css := range k.merged {
		for _, cs := range css {
			n += len(cs)
		}
	}
	return n
}

// all are rule id's entries, the own first, then the merged in the order they were merged.
func (k *keptSets) all(id string) [][]kept { return append([][]kept{k.own[id]}, k.merged[id]...) }

// decideEarly decides the window rules' candidates that no event outside the time of the
// detector and of those it merged can change. With fold (a segment's detector, released after
// merging its workers' raw detectors) it then packs what it keeps into a new string table (the
// old ones hold the strings of every candidate) and takes the merged detectors' time as its
// own; without (a detector merging released ones: the engine's merge of the segments) it keeps
// referring to what it merged. A detector that observed an event without a time decides
// nothing.
func (d *Detector) decideEarly(fold bool) {
	whole := d.span
	for _, p := range d.parts {
		whole.widen(p)
	}
	if whole.empty() || whole.lo == noTime {
		return
	}
	b := bounds{lo: whole.lo + int64(edgeSlack), hi: whole.hi - int64(edgeSlack), s: &d.span}
	tab := d.tab
	if fold {
		tab = newStrtab()
	}
	keep := func(ks []kept) []kept {
		out := slices.Clone(ks)
		for i := range out {
			if fold {
				out[i] = tab.repack(&out[i])
			}
		}
		return out
	}
	cands := map[string][]kept{}
	for _, rule := range d.rules {
		if rule.decide == nil {
			continue
		}
		all := byTime(d.cands.all(rule.ID))
		var closed []kept
		if rule.apart != nil {
			if w := rule.apart(d.cfg); w > 0 {
				var live func([]kept) []bool
				if rule.live != nil {
					live = func(cs []kept) []bool { return rule.live(cs, d.cfg) }
				}
				all, closed = splitClosed(all, int64(w), b, live)
			}
		}
		if len(all) > 0 {
			cands[rule.ID] = keep(all)
		}
		if len(closed) > 0 {
			early := keep(d.early.own[rule.ID])
			rule.decide(closed, d.cfg, func(f Finding) { early = append(early, tab.keep(candidate{f: f})) })
			d.early.own[rule.ID] = early
		}
	}
	d.cands = keptSets{own: cands, merged: map[string][][]kept{}}
	for _, s := range d.states {
		if s != nil {
			s.early(b)
		}
	}
	d.openAfter, d.mergedSince = d.open(), 0
	if !fold {
		return
	}
	for i := range d.found {
		d.found[i].k = tab.repack(&d.found[i].k)
	}
	for k, h := range d.held {
		h.k = tab.repack(&h.k)
		d.held[k] = h
	}
	for i := range d.heldNoID {
		d.heldNoID[i].k = tab.repack(&d.heldNoID[i].k)
	}
	d.tab = tab
	d.span.lo, d.span.hi, d.parts = whole.lo, whole.hi, nil
}

// splitClosed splits time-sorted candidates into those still open and the clusters (per key,
// candidates each within w of the one before, farther than w from the others) that lie
// within b a window away from their ends, both in the order of cands, and widens b's zone
// over what the closed clusters depended on. Before that it leaves out the candidates that
// live (when set) does not mark and whose window lies within b: an
// operator reading secrets all day forms a cluster as long as the day, but none of it matters.
func splitClosed(cands []kept, w int64, b bounds, live func([]kept) []bool) (open, closed []kept) {
	const (
		isOpen = iota
		isClosed
		isLeftOut
	)
	state := make([]int8, len(cands))
	inside := func(from, to int64) bool { return b.holds(from-w, to+w) }
	zone := func(from, to int64) { b.zone(from-w, to+w) }
	for _, idx := range keyPlaces(cands) {
		if live != nil {
			cs := make([]kept, len(idx))
			for j, i := range idx {
				cs[j] = cands[i]
			}
			marks := live(cs)
			n := 0
			for j, i := range idx {
				if t := cands[i].t; !marks[j] && inside(t, t) {
					state[i] = isLeftOut
					zone(t, t)
					continue
				}
				idx[n] = i
				n++
			}
			idx = idx[:n]
		}
		for a := 0; a < len(idx); {
			b := a
			for b+1 < len(idx) && cands[idx[b+1]].t-cands[idx[b]].t <= w {
				b++
			}
			if from, to := cands[idx[a]].t, cands[idx[b]].t; inside(from, to) {
				for _, i := range idx[a : b+1] {
					state[i] = isClosed
				}
				zone(from, to)
			}
			a = b + 1
		}
	}
	for i := range cands {
		switch state[i] {
		case isOpen:
			open = append(open, cands[i])
		case isClosed:
			closed = append(closed, cands[i])
		}
	}
	return open, closed
}

// keyPlaces are the places of cands, per key.
func keyPlaces(cands []kept) map[string][]int {
	places := map[string][]int{}
	for i := range cands {
		places[cands[i].key] = append(places[cands[i].key], i)
	}
	return places
}

// repack copies k into t.
func (t *strtab) repack(k *kept) kept {
	return t.keep(candidate{key: k.key, item: k.item, f: k.finding()})
}

// meetParts counts the spans of parts whose events lie in another's decided zone: other
// detectors' spans, about to be merged into d. Those of one detector were counted when it
// merged them.
func (d *Detector) meetParts(other *Detector) {
	d.overlaps += other.overlaps
	mine := append([]timeSpan{d.span}, d.parts...)
	for _, s := range append([]timeSpan{other.span}, other.parts...) {
		for _, p := range mine {
			if p.meets(&s) || s.meets(&p) {
				d.overlaps++
			}
		}
	}
}

// overlapNotice says when the detector, or those it merged, held events of the time another's
// early decisions depended on (files of several API servers written at the same time): those
// decisions did not see them.
func (d *Detector) overlapNotice() string {
	n := d.overlaps
	for _, s := range append([]timeSpan{d.span}, d.parts...) {
		if s.late {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return "window rules (bursts, sequences) were decided within segments (files) before merging them, and " + strconv.Itoa(n) +
		" segments hold events of the time another's decisions depended on (files of several API servers written at the same time?): " +
		"bursts spread over those files may be missed or split"
}

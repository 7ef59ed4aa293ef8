package detect

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// ruleState is the state a rule keeps while events are observed when its evidence does not fit
// one candidate per event: the permission sweep summarises every read of every principal, which
// as candidates would hold one finding per request.
type ruleState interface {
	observe(e *event)
	merge(other ruleState) // other is of the same type; it is not changed, nor shared with the result
	decide(emit func(Finding))
	// early decides what lies within b (see early.go), keeps its findings for decide and drops
	// its cells.
	early(b bounds)
	held() int // how many cells the state holds
}

// Sweep defaults: this many distinct resource types read by one principal within about one
// burst window, some forbidden and some allowed, is a permission sweep.
const (
	sweepTypes     = 10
	sweepForbidden = 3
)

// sweepState is the state of permission-enumeration. For sweeps: per principal and burst-window
// bucket, the resource types the principal read and whether each read was allowed or forbidden.
// Memory grows with principals × resource types × buckets, not with requests: a controller
// listing the same ten resources all day adds ten entries per bucket. For uses of enumeration
// tools and rules reviews: per principal, what was used and bucket, the first use and a count,
// so that one run of a tool making hundreds of requests is one finding.
type sweepState struct {
	window time.Duration
	types  int
	users  map[string]map[int64]*sweepCell
	uses   map[useKey]map[int64]*useCell
	// decidedUses and decidedSweeps are the findings early decided.
	decidedUses, decidedSweeps []Finding
	// tools caches which enumeration tool (index, or -1) a user agent names: clusters have a
	// few hundred distinct user agents, and a map lookup is cheaper than searching each one for
	// every tool name on every event.
	tools map[string]int
}

// maxCachedAgents bounds the user-agent cache against logs with a distinct agent per request.
const maxCachedAgents = 4096

// useKey is a principal and what it used: "tool rakkess" or "rules review".
type useKey struct{ user, what string }

type useCell struct {
	first Finding
	last  time.Time
	n     int
	// before is how many buckets before its own the cell stands for (folded into it: early.go).
	before int64
}

func (c *useCell) folded() int64 { return c.before }

// add folds o, the cell of the next bucket (or buckets), into c.
func (c *useCell) add(o *useCell) {
	c.n += o.n
	c.last = o.last
	c.before += o.before + 1
}

type sweepCell struct {
	allowed     map[string]struct{}
	forbidden   map[string]Finding // the newest forbidden read of each resource type
	first, last time.Time          // of the reads in the cell
}

func (c *sweepCell) saw(t time.Time) {
	if c.first.IsZero() || t.Before(c.first) {
		c.first = t
	}
	if t.After(c.last) {
		c.last = t
	}
}

func newSweepState(cfg Config) ruleState {
	return &sweepState{window: cfg.BurstWindow, types: cfg.SweepThreshold, users: map[string]map[int64]*sweepCell{},
		uses: map[useKey]map[int64]*useCell{}, tools: map[string]int{}}
}

// enumerationUse names what e used to enumerate permissions: a known tool (by user agent), or a
// rules review (SelfSubjectRulesReview: every permission at once, as `kubectl auth can-i
// --list` asks) by a principal outside the control plane.
func (s *sweepState) enumerationUse(e *event) (string, bool) {
	if !e.final {
		return "", false
	}
	tool, ok := s.tools[string(e.ua)]
	if !ok {
		tool = -1
		ua := e.lowerUA()
		for i, t := range enumerationToolBytes {
			if bytes.Contains(ua, t) {
				tool = i
				break
			}
		}
		if len(s.tools) < maxCachedAgents {
			s.tools[string(e.ua)] = tool
		}
	}
	if tool >= 0 {
		return "enumeration tool " + enumerationTools[tool], true
	}
	if e.is("selfsubjectrulesreviews") && string(e.verb) == "create" && e.succeeded() && !isSystemUser(e.kind) {
		return "listed every permission it has (SelfSubjectRulesReview, as kubectl auth can-i --list)", true
	}
	return "", false
}

func (s *sweepState) observeUse(e *event) {
	what, ok := s.enumerationUse(e)
	if !ok {
		return
	}
	k := useKey{string(e.user), what}
	buckets := s.uses[k]
	if buckets == nil {
		buckets = map[int64]*useCell{}
		s.uses[k] = buckets
	}
	b := e.r.Time.UnixNano() / int64(s.window)
	c := buckets[b]
	if c == nil {
		buckets[b] = &useCell{first: e.finding(what), last: e.r.Time, n: 1}
		return
	}
	c.n++
	if e.r.Time.Before(c.first.Time) {
		c.first = e.finding(what)
	}
	if e.r.Time.After(c.last) {
		c.last = e.r.Time
	}
}

// decideUses makes one finding per principal and run of adjacent buckets in which it used a
// tool or a rules review: the first use, with how many requests and for how long.
func (s *sweepState) decideUses(emit func(Finding)) {
	for _, f := range s.decidedUses {
		emit(f)
	}
	for _, k := range s.useKeys() {
		for _, cells := range bucketRuns(s.uses[k]) {
			emit(useRun(cells))
		}
	}
}

// useKeys are the principals and what they used, sorted.
func (s *sweepState) useKeys() []useKey {
	return slices.SortedFunc(maps.Keys(s.uses), func(x, y useKey) int {
		return cmp.Or(cmp.Compare(x.user, y.user), cmp.Compare(x.what, y.what))
	})
}

// useRun is the finding of a run of buckets of one principal's use.
func useRun(cells []*useCell) Finding {
	run := *cells[0]
	for _, c := range cells[1:] {
		run.add(c)
	}
	f := run.first
	if run.n > 1 {
		f.Detail += fmt.Sprintf(": %d requests within %s", run.n, run.last.Sub(f.Time).Round(time.Second))
	}
	return f
}

// sweepRead reports whether e is a read a sweep is made of, by a principal that is not part of
// the control plane.
func sweepRead(e *event) bool {
	if !e.final || len(e.resource) == 0 || e.code == 0 || e.code == 401 {
		return false
	}
	switch string(e.sub) {
	case "exec", "attach", "portforward", "proxy":
		return false // a connection (kubectl exec is a GET since 1.30), not a read
	}
	switch string(e.verb) {
	case "get", "list", "watch":
	default:
		return false
	}
	switch e.kind {
	case audit.UserSystem, audit.UserNode, audit.UserAnonymous:
		return false
	case audit.UserServiceAccount:
		return !strings.HasPrefix(string(e.user), "system:serviceaccount:kube-system:")
	}
	return true
}

func (s *sweepState) observe(e *event) {
	s.observeUse(e)
	if !sweepRead(e) {
		return
	}
	buckets := s.users[string(e.user)]
	if buckets == nil {
		buckets = map[int64]*sweepCell{}
		s.users[string(e.user)] = buckets
	}
	b := e.r.Time.UnixNano() / int64(s.window)
	c := buckets[b]
	if c == nil {
		c = &sweepCell{allowed: map[string]struct{}{}, forbidden: map[string]Finding{}}
		buckets[b] = c
	}
	c.saw(e.r.Time)
	res := e.resource
	if len(e.sub) > 0 {
		res = []byte(resourceName(e.resource, e.sub))
	}
	if e.code == 403 {
		if f, ok := c.forbidden[string(res)]; !ok || e.r.Time.After(f.Time) {
			c.forbidden[string(res)] = e.finding("")
		}
		return
	}
	if _, ok := c.allowed[string(res)]; !ok {
		c.allowed[string(res)] = struct{}{}
	}
}

func (s *sweepState) merge(other ruleState) {
	o := other.(*sweepState)
	s.decidedUses = append(s.decidedUses, o.decidedUses...)
	s.decidedSweeps = append(s.decidedSweeps, o.decidedSweeps...)
	// Nothing of o is shared with s: a cached partial is merged into many queries' states.
	for k, obuckets := range o.uses {
		buckets := s.uses[k]
		if buckets == nil {
			buckets = make(map[int64]*useCell, len(obuckets))
			s.uses[k] = buckets
		}
		for b, oc := range obuckets {
			c := buckets[b]
			if c == nil {
				cp := *oc
				buckets[b] = &cp
				continue
			}
			c.n += oc.n
			if oc.first.Time.Before(c.first.Time) {
				c.first = oc.first
			}
			if oc.last.After(c.last) {
				c.last = oc.last
			}
		}
	}
	for user, obuckets := range o.users {
		buckets := s.users[user]
		if buckets == nil {
			buckets = make(map[int64]*sweepCell, len(obuckets))
			s.users[user] = buckets
		}
		for b, oc := range obuckets {
			c := buckets[b]
			if c == nil {
				c = &sweepCell{allowed: make(map[string]struct{}, len(oc.allowed)), forbidden: make(map[string]Finding, len(oc.forbidden))}
				buckets[b] = c
			}
			c.saw(oc.first)
			c.saw(oc.last)
			for r := range oc.allowed {
				c.allowed[r] = struct{}{}
			}
			keepNewest(c.forbidden, oc.forbidden)
		}
	}
}

// decide looks at every two adjacent buckets of a principal (so a sweep that straddles a bucket
// edge is seen whole): enough distinct resource types, enough of them forbidden and at least one
// allowed make one finding; the buckets it used are not used again.
func (s *sweepState) decide(emit func(Finding)) {
	s.decideUses(emit)
	for _, f := range s.decidedSweeps {
		emit(f)
	}
	for _, user := range sortedKeys(s.users) {
		buckets := s.users[user]
		s.decideSweeps(buckets, slices.Sorted(maps.Keys(buckets)), emit)
	}
}

// decideSweeps decides the buckets ids (sorted) of one principal.
func (s *sweepState) decideSweeps(buckets map[int64]*sweepCell, ids []int64, emit func(Finding)) {
	for i := 0; i < len(ids); i++ {
		cells := []*sweepCell{buckets[ids[i]]}
		if i+1 < len(ids) && ids[i+1] == ids[i]+1 {
			cells = append(cells, buckets[ids[i+1]])
		}
		if f, ok := s.sweep(cells); ok {
			emit(f)
			i += len(cells) - 1
		}
	}
}

// sweep judges the reads of cells (one bucket, or two adjacent ones) together: enough distinct
// resource types, enough of them forbidden and at least one allowed are a sweep. Each of
// these only grows with more reads, so a bucket that is no sweep with the next is none alone.
func (s *sweepState) sweep(cells []*sweepCell) (Finding, bool) {
	allowed, forbidden := map[string]struct{}{}, map[string]Finding{}
	var whole sweepCell
	for _, c := range cells {
		whole.saw(c.first)
		whole.saw(c.last)
		for r := range c.allowed {
			allowed[r] = struct{}{}
		}
		keepNewest(forbidden, c.forbidden)
	}
	types := len(forbidden)
	for r := range allowed {
		if _, ok := forbidden[r]; !ok {
			types++
		}
	}
	if types < s.types || len(forbidden) < sweepForbidden || len(allowed) == 0 {
		return Finding{}, false
	}
	return sweepFinding(forbidden, allowed, types, whole.last.Sub(whole.first).Round(time.Second)), true
}

// early decides the runs of a principal's uses, and the stretches of its sweep buckets, that
// lie within b. decide takes a principal's buckets in order, each with the next when adjacent,
// and skips the next after a sweep; so it starts afresh at a bucket whose bucket before is
// empty, or is no sweep with it (then it is not taken by a sweep either), and the buckets
// between two such fresh starts are decided alone. Their cells are dropped; the buckets before
// a fresh start then stand alone, and, being no sweep with it, are none alone.
func (s *sweepState) early(b bounds) {
	for _, k := range s.useKeys() {
		for _, cells := range takeRuns(s.uses[k], s.window, b, func(c *useCell) *useCell { cp := *c; return &cp }) {
			s.decidedUses = append(s.decidedUses, useRun(cells))
		}
		if len(s.uses[k]) == 0 {
			delete(s.uses, k)
		}
	}
	for _, user := range sortedKeys(s.users) {
		buckets := s.users[user]
		ids := slices.Sorted(maps.Keys(buckets))
		if len(ids) == 0 {
			continue
		}
		w := int64(s.window)
		fresh := func(j int) bool { // whether decide starts afresh at ids[j] (or after the last)
			id := ids[min(j, len(ids)-1)]
			if j == len(ids) {
				id++
			}
			if !b.holds(id*w-w, id*w+w) {
				return false
			}
			if j == len(ids) || j == 0 || ids[j-1] != id-1 {
				return true
			}
			_, sweep := s.sweep([]*sweepCell{buckets[ids[j-1]], buckets[id]})
			return !sweep
		}
		start := -1
		for j := 0; j <= len(ids); j++ {
			if !fresh(j) {
				continue
			}
			if start >= 0 && j > start {
				s.decideSweeps(buckets, ids[start:j], func(f Finding) { s.decidedSweeps = append(s.decidedSweeps, f) })
				for _, id := range ids[start:j] {
					delete(buckets, id)
				}
				b.zone(ids[start]*w-w, ids[j-1]*w+2*w)
			}
			start = j
		}
		if len(buckets) == 0 {
			delete(s.users, user)
		}
	}
}

func (s *sweepState) held() int {
	n := 0
	for _, b := range s.users {
		n += len(b)
	}
	for _, b := range s.uses {
		n += len(b)
	}
	return n
}

// keepNewest adds from's findings to into, keeping the newest of each resource type.
func keepNewest(into, from map[string]Finding) {
	for r, f := range from {
		if g, ok := into[r]; !ok || f.Time.After(g.Time) {
			into[r] = f
		}
	}
}

// sweepFinding is the newest forbidden read, with what was forbidden and allowed around it.
func sweepFinding(forbidden map[string]Finding, allowed map[string]struct{}, types int, within time.Duration) Finding {
	names := make([]string, 0, len(forbidden))
	var f Finding
	for r, g := range forbidden {
		names = append(names, r)
		if g.Time.After(f.Time) || g.Time.Equal(f.Time) && g.AuditID > f.AuditID {
			f = g
		}
	}
	sort.Strings(names)
	ok := make([]string, 0, len(allowed))
	for r := range allowed {
		ok = append(ok, r)
	}
	sort.Strings(ok)
	f.Detail = fmt.Sprintf("read %d resource types within %s: %d forbidden (%s), %d allowed (%s)",
		types, within, len(names), short(names), len(ok), short(ok))
	return f
}

// short joins at most six names.
func short(names []string) string {
	if len(names) <= 6 {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:6], ", ") + fmt.Sprintf(", … %d more", len(names)-6)
}

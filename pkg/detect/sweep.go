package detect

import (
	"fmt"
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
	merge(other ruleState) // other is of the same type and is not used afterwards
	decide(emit func(Finding))
}

// Sweep defaults: this many distinct resource types read by one principal within about one
// burst window, some forbidden and some allowed, is a permission sweep.
const (
	sweepTypes     = 10
	sweepForbidden = 3
)

// sweepState is, per principal and burst-window bucket, the resource types the principal read
// and whether each read was allowed or forbidden. Memory grows with principals × resource types
// × buckets, not with requests: a controller listing the same ten resources all day adds ten
// entries per bucket.
type sweepState struct {
	window time.Duration
	types  int
	users  map[string]map[int64]*sweepCell
}

type sweepCell struct {
	allowed   map[string]struct{}
	forbidden map[string]Finding // the newest forbidden read of each resource type
}

func newSweepState(cfg Config) ruleState {
	return &sweepState{window: cfg.BurstWindow, types: cfg.SweepThreshold, users: map[string]map[int64]*sweepCell{}}
}

// sweepRead reports whether e is a read a sweep is made of, by a principal that is not part of
// the control plane.
func sweepRead(e *event) bool {
	if !e.final || len(e.resource) == 0 || e.code == 0 || e.code == 401 {
		return false
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
	for user, obuckets := range other.(*sweepState).users {
		buckets := s.users[user]
		if buckets == nil {
			s.users[user] = obuckets
			continue
		}
		for b, oc := range obuckets {
			c := buckets[b]
			if c == nil {
				buckets[b] = oc
				continue
			}
			for r := range oc.allowed {
				c.allowed[r] = struct{}{}
			}
			for r, f := range oc.forbidden {
				if g, ok := c.forbidden[r]; !ok || f.Time.After(g.Time) {
					c.forbidden[r] = f
				}
			}
		}
	}
}

// decide looks at every two adjacent buckets of a principal (so a sweep that straddles a bucket
// edge is seen whole): enough distinct resource types, enough of them forbidden and at least one
// allowed make one finding; the buckets it used are not used again.
func (s *sweepState) decide(emit func(Finding)) {
	for _, user := range sortedKeys(s.users) {
		buckets := s.users[user]
		ids := make([]int64, 0, len(buckets))
		for b := range buckets {
			ids = append(ids, b)
		}
		slices.Sort(ids)
		for i := 0; i < len(ids); i++ {
			cells := []*sweepCell{buckets[ids[i]]}
			if i+1 < len(ids) && ids[i+1] == ids[i]+1 {
				cells = append(cells, buckets[ids[i+1]])
			}
			allowed, forbidden := map[string]struct{}{}, map[string]Finding{}
			for _, c := range cells {
				for r := range c.allowed {
					allowed[r] = struct{}{}
				}
				for r, f := range c.forbidden {
					if g, ok := forbidden[r]; !ok || f.Time.After(g.Time) {
						forbidden[r] = f
					}
				}
			}
			types := len(forbidden)
			for r := range allowed {
				if _, ok := forbidden[r]; !ok {
					types++
				}
			}
			if types < s.types || len(forbidden) < sweepForbidden || len(allowed) == 0 {
				continue
			}
			emit(sweepFinding(forbidden, allowed, types, s.window*time.Duration(len(cells))))
			i += len(cells) - 1
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

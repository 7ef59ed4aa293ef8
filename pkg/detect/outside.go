package detect

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// Rules on where a request came from, judged against Config.ClusterNetworks.
const (
	TokenOutsideRule     = "token-outside-cluster"
	AnonymousOutsideRule = "anonymous-outside-cluster"
)

// outsideState is the state of a rule about requests from outside the cluster's networks
// (a stolen service-account token used from a laptop, anonymous probes from the internet): per
// principal (and source IP, perAddress) and burst-window bucket, the first request, how many
// there were and from which addresses, so that one use that goes on for hours is one finding and
// memory grows with principals × addresses × buckets, not with requests. Without cluster
// networks nothing is judged; unjudged counts the requests from outside the private ranges, for
// the notice.
type outsideState struct {
	nets   []netip.Prefix
	window time.Duration
	about  func(e *event) bool // the requests the rule is about
	// perAddress: one finding per principal and address (a credential); else per principal,
	// naming its addresses (anonymous probes come from many).
	perAddress bool
	detail     func(ips []string) string // of a run, from its addresses (sorted)
	cells      map[outsideKey]map[int64]*outsideCell
	decided    []Finding // the runs early decided
	unjudged   int
	// inside caches whether a source IP is inside the networks (or, without them, private):
	// a cluster has a few thousand addresses, and a map lookup is cheaper than parsing.
	inside map[string]bool
}

type outsideKey struct{ user, ip string }

type outsideCell struct {
	first    Finding
	last     time.Time
	n        int
	allowedN int // requests that succeeded
	ips      map[string]struct{}
	// before is how many buckets before its own the cell stands for (folded into it: early.go).
	before int64
}

func (c *outsideCell) folded() int64 { return c.before }

// add folds o, the cell of the next bucket (or buckets), into c.
func (c *outsideCell) add(o *outsideCell) {
	c.n += o.n
	c.allowedN += o.allowedN
	c.last = o.last
	maps.Copy(c.ips, o.ips)
	c.before += o.before + 1
}

// copy is c with its own set of addresses.
func (c *outsideCell) copy() *outsideCell {
	cp := *c
	cp.ips = maps.Clone(c.ips)
	return &cp
}

// maxCachedIPs bounds the address cache against logs with a new address per request.
const maxCachedIPs = 8192

// newOutsideState: buckets are the burst window, or minWindow when that is longer.
func newOutsideState(about func(e *event) bool, perAddress bool, minWindow time.Duration, detail func(ips []string) string) func(cfg Config) ruleState {
	return func(cfg Config) ruleState {
		return &outsideState{nets: parseNetworks(cfg.ClusterNetworks), window: max(cfg.BurstWindow, minWindow), about: about,
			perAddress: perAddress, detail: detail, cells: map[outsideKey]map[int64]*outsideCell{}, inside: map[string]bool{}}
	}
}

// parseNetworks reads CIDRs and single IPs; what is neither is left out (the settings are
// validated before).
func parseNetworks(ns []string) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range ns {
		n = strings.TrimSpace(n)
		if p, err := netip.ParsePrefix(n); err == nil {
			out = append(out, p.Masked())
		} else if ip, err := netip.ParseAddr(n); err == nil {
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	return out
}

// private reports the addresses no client outside a private network can have: RFC 1918,
// unique-local, loopback, link-local and carrier-grade NAT.
func private(a netip.Addr) bool {
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || nonPublic[0].Contains(a)
}

// isInside reports whether ip is inside the cluster networks (without them: private).
// Loopback is always inside (the API server's own host), and so is an address that does not
// parse: nothing can be said of it.
func (s *outsideState) isInside(ip []byte) bool {
	if in, ok := s.inside[string(ip)]; ok {
		return in
	}
	in := true
	if a, err := netip.ParseAddr(string(ip)); err == nil {
		a = a.Unmap()
		switch {
		case a.IsLoopback():
			in = true
		case len(s.nets) == 0:
			in = private(a)
		default:
			in = slices.ContainsFunc(s.nets, func(p netip.Prefix) bool { return p.Contains(a) })
		}
	}
	if len(s.inside) < maxCachedIPs {
		s.inside[string(ip)] = in
	}
	return in
}

func (s *outsideState) observe(e *event) {
	if !e.final || !s.about(e) {
		return
	}
	ip := e.r.SourceIP()
	if len(ip) == 0 || s.isInside(ip) {
		return
	}
	if len(s.nets) == 0 {
		s.unjudged++
		return
	}
	k := outsideKey{user: string(e.user)}
	if s.perAddress {
		k.ip = string(ip)
	}
	buckets := s.cells[k]
	if buckets == nil {
		buckets = map[int64]*outsideCell{}
		s.cells[k] = buckets
	}
	b := e.r.Time.UnixNano() / int64(s.window)
	c := buckets[b]
	if c == nil {
		c = &outsideCell{first: s.finding(e), last: e.r.Time, ips: map[string]struct{}{}}
		buckets[b] = c
	} else if e.r.Time.Before(c.first.Time) || e.r.Time.Equal(c.first.Time) && string(e.r.Str(audit.FieldAuditID)) < c.first.AuditID {
		c.first = s.finding(e)
	}
	if _, ok := c.ips[string(ip)]; !ok {
		c.ips[string(ip)] = struct{}{}
	}
	if e.r.Time.After(c.last) {
		c.last = e.r.Time
	}
	c.n++
	if e.succeeded() {
		c.allowedN++
	}
}

// finding is the first request of a run: who, from where, with which client. The object is
// left out (a run touches many), so that the runs of one principal and address group into one
// finding.
func (s *outsideState) finding(e *event) Finding {
	f := e.finding("")
	f.Verb, f.Resource, f.Namespace, f.Name = "", "", "", ""
	return f
}

func (s *outsideState) merge(other ruleState) {
	o := other.(*outsideState)
	s.unjudged += o.unjudged
	s.decided = append(s.decided, o.decided...)
	for k, obuckets := range o.cells { // copied, never shared: o may be a cached partial's
		buckets := s.cells[k]
		if buckets == nil {
			buckets = make(map[int64]*outsideCell, len(obuckets))
			s.cells[k] = buckets
		}
		for b, oc := range obuckets {
			c := buckets[b]
			if c == nil {
				buckets[b] = oc.copy()
				continue
			}
			for ip := range oc.ips {
				c.ips[ip] = struct{}{}
			}
			if oc.first.Time.Before(c.first.Time) || oc.first.Time.Equal(c.first.Time) && oc.first.AuditID < c.first.AuditID {
				c.first = oc.first
			}
			if oc.last.After(c.last) {
				c.last = oc.last
			}
			c.n += oc.n
			c.allowedN += oc.allowedN
		}
	}
}

// decide makes one finding per principal, address and run of adjacent buckets: the run's first
// request, with how many requests it held and over how long.
func (s *outsideState) decide(emit func(Finding)) {
	for _, f := range s.decided {
		emit(f)
	}
	for _, k := range s.keys() {
		for _, cells := range bucketRuns(s.cells[k]) {
			emit(s.run(cells))
		}
	}
}

// keys are the principals (and addresses) of the cells, sorted.
func (s *outsideState) keys() []outsideKey {
	return slices.SortedFunc(maps.Keys(s.cells), func(a, b outsideKey) int {
		return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.ip, b.ip))
	})
}

// run is the finding of a run of adjacent buckets of one principal (and address).
func (s *outsideState) run(cells []*outsideCell) Finding {
	run := cells[0].copy()
	for _, c := range cells[1:] {
		run.add(c)
	}
	f := run.first
	f.Count, f.FirstSeen, f.LastSeen = run.n, f.Time, run.last
	f.Detail = s.detail(slices.Sorted(maps.Keys(run.ips)))
	if run.allowedN == 0 {
		f.Detail += " (every request denied or failed)"
	}
	return f
}

// early decides the runs that lie within b (see early.go).
func (s *outsideState) early(b bounds) {
	for _, k := range s.keys() {
		for _, cells := range takeRuns(s.cells[k], s.window, b, (*outsideCell).copy) {
			s.decided = append(s.decided, s.run(cells))
		}
		if len(s.cells[k]) == 0 {
			delete(s.cells, k)
		}
	}
}

func (s *outsideState) held() int {
	n := 0
	for _, b := range s.cells {
		n += len(b)
	}
	return n
}

// outsideNotice says what the rules about requests from outside could not judge for want of
// cluster networks.
func (d *Detector) outsideNotice() string {
	var ids []string
	n := 0
	for i, r := range d.rules {
		if s, ok := d.states[i].(*outsideState); ok && s.unjudged > 0 {
			ids = append(ids, r.ID)
			n += s.unjudged
		}
	}
	if n == 0 {
		return ""
	}
	verb := " needs"
	if len(ids) > 1 {
		verb = " need"
	}
	return andList(ids) + verb + " the cluster's networks (detections.clusterNetworks: node, pod and control-plane CIDRs): " +
		strconv.Itoa(n) + " requests by service accounts, nodes or anonymous users came from addresses outside the private ranges and were not judged"
}

var outsideRules = []*Rule{
	{
		ID: TokenOutsideRule, Title: "Service-account or node credential used from outside the cluster", Severity: High,
		Prefilter:   &Prefilter{Users: []string{"system:serviceaccount:*", "system:node:*"}},
		Description: "A service-account token or a node's credentials, which live inside the cluster, were used from an address outside the cluster's networks (detections.clusterNetworks): a stolen credential. One finding per principal, address and run of use.",
		Fields:      []string{"user", "source IP", "user agent", "detail"},
		state: newOutsideState(func(e *event) bool {
			return e.kind == audit.UserServiceAccount || e.kind == audit.UserNode
		}, true, 0, func(ips []string) string { return "credential used from " + ips[0] + ", outside the cluster networks" }),
	},
	{
		ID: AnonymousOutsideRule, Title: "Anonymous requests from outside the cluster", Severity: Low,
		// No prefilter: anonymous includes requests without a user name, which a filter cannot name.
		Description: "An anonymous request (system:anonymous, or one that failed authentication) reached the API server from an address outside the cluster's networks (detections.clusterNetworks): the endpoint is reachable from there, and someone is probing it. One finding per hour (or burst window, if longer) of such requests, naming the addresses.",
		Fields:      []string{"source IP", "user agent", "detail"},
		state: newOutsideState(func(e *event) bool { return e.kind == audit.UserAnonymous },
			false, time.Hour, func(ips []string) string {
				if len(ips) == 1 {
					return "anonymous requests from " + ips[0] + ", outside the cluster networks"
				}
				return "anonymous requests from " + strconv.Itoa(len(ips)) + " addresses outside the cluster networks: " + short(ips)
			}),
	},
}

func init() { catalogue = append(catalogue, outsideRules...) }

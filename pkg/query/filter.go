package query

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

var (
	validStages    = []string{audit.StageRequestReceived, audit.StageResponseStarted, audit.StageResponseComplete, audit.StagePanic}
	validDecisions = []string{audit.DecisionAllow, audit.DecisionForbid, "none"}
	validLevels    = []string{"None", "Metadata", "Request", "RequestResponse"}
)

func (f *Filter) validate() error {
	check := func(name string, values []string, valid []string) error {
		for _, v := range values {
			p := strings.TrimPrefix(v, "!")
			if strings.Contains(p, "*") {
				continue
			}
			if !slices.Contains(valid, p) {
				return errorf("unknown %s %q: use one of %s", name, p, strings.Join(valid, ", "))
			}
		}
		return nil
	}
	kinds := make([]string, len(audit.UserKinds))
	for i, k := range audit.UserKinds {
		kinds[i] = string(k)
	}
	if err := check("stage", f.Stages, validStages); err != nil {
		return err
	}
	if err := check("decision", f.Decisions, validDecisions); err != nil {
		return err
	}
	if err := check("user kind", f.UserKinds, kinds); err != nil {
		return err
	}
	if err := check("level", f.Levels, validLevels); err != nil {
		return err
	}
	for _, c := range f.Codes {
		if _, err := parseCode(c); err != nil {
			return err
		}
	}
	for _, v := range f.SourceIPs {
		p := strings.TrimPrefix(v, "!")
		if strings.Contains(p, "*") {
			continue // a glob on the text: 10.0.*
		}
		if _, ok := parseNetwork(p); ok {
			continue
		}
		if strings.Contains(p, "/") {
			return errorf("invalid sourceIPs network %q: use a CIDR such as 10.0.0.0/8 or 2001:db8::/32", v)
		}
		return errorf("invalid sourceIPs value %q: use an IP address (10.0.0.1), a CIDR (10.0.0.0/8) or a glob (10.0.*)", v)
	}
	return nil
}

// parseNetwork reads a CIDR, or an IP address as the network of that one address.
func parseNetwork(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		ip = ip.Unmap().WithZone("")
		return netip.PrefixFrom(ip, ip.BitLen()), true
	}
	return netip.Prefix{}, false
}

// Matcher is a compiled filter.
type Matcher struct {
	search []byte
	needs  audit.Fields
	checks []func(r *audit.Record) bool
}

// Compile compiles the filter. Stages default to the terminal ones when none are given.
func (f *Filter) Compile() *Matcher {
	m := &Matcher{needs: audit.Fields(0).With(audit.FieldStage)}
	if f.Search != "" {
		m.search = []byte(f.Search)
	}
	str := func(values []string, field audit.Field) {
		if sm := newStringMatcher(values); sm != nil {
			m.needs = m.needs.With(field)
			m.checks = append(m.checks, func(r *audit.Record) bool { return sm.match(r.Str(field)) })
		}
	}
	str(f.Verbs, audit.FieldVerb)
	str(f.Users, audit.FieldUsername)
	str(f.Namespaces, audit.FieldNamespace)
	str(f.Resources, audit.FieldResource)
	str(f.Subresources, audit.FieldSubresource)
	str(f.APIGroups, audit.FieldAPIGroup)
	str(f.Names, audit.FieldName)
	str(f.UserAgents, audit.FieldUserAgent)
	str(f.Levels, audit.FieldLevel)
	if len(f.Stages) > 0 {
		str(f.Stages, audit.FieldStage)
	} else {
		m.needs = m.needs.With(audit.FieldCode)
		m.checks = append(m.checks, IsRequestFinal)
	}
	if sm := newStringMatcher(f.Groups); sm != nil {
		m.needs = m.needs.With(audit.FieldGroups)
		m.checks = append(m.checks, func(r *audit.Record) bool {
			included, excluded := !sm.hasIncludes(), false
			r.EachGroup(func(g []byte) {
				if sm.excluded(g) {
					excluded = true
				} else if sm.included(g) {
					included = true
				}
			})
			return included && !excluded
		})
	}
	if im := newIPMatcher(f.SourceIPs); im != nil {
		m.needs = m.needs.With(audit.FieldSourceIPs)
		m.checks = append(m.checks, func(r *audit.Record) bool { return im.match(r.SourceIP()) })
	}
	if sm := newStringMatcher(f.UserKinds); sm != nil {
		m.needs = m.needs.With(audit.FieldUsername)
		m.checks = append(m.checks, func(r *audit.Record) bool { return sm.match(userKindBytes[r.UserKind()]) })
	}
	if sm := newStringMatcher(f.Decisions); sm != nil {
		m.needs = m.needs.With(audit.FieldAnnotations)
		none := []byte("none")
		m.checks = append(m.checks, func(r *audit.Record) bool {
			d := r.Decision()
			if len(d) == 0 {
				d = none
			}
			return sm.match(d)
		})
	}
	if cm := newCodeMatcher(f.Codes); cm != nil {
		m.needs = m.needs.With(audit.FieldCode)
		m.checks = append(m.checks, func(r *audit.Record) bool { return cm.match(r.Code) })
	}
	return m
}

// IsRequestFinal reports whether r is the one event that completes its request: a
// ResponseComplete or Panic event, or the lone ResponseStarted event kube-apiserver writes for a
// request that failed authentication (code 401). Needs FieldStage and FieldCode.
func IsRequestFinal(r *audit.Record) bool {
	return r.IsTerminal() || (r.Code == 401 && string(r.Stage()) == audit.StageResponseStarted)
}

// Needs is the set of fields the matcher reads.
func (m *Matcher) Needs() audit.Fields { return m.needs }

// MatchLine is a cheap test on the raw line, before decoding: false means the event cannot
// match.
func (m *Matcher) MatchLine(line []byte) bool {
	return m.search == nil || bytes.Contains(line, m.search)
}

// Match tests a decoded record (scanned with at least Needs()).
func (m *Matcher) Match(r *audit.Record) bool {
	for _, c := range m.checks {
		if !c(r) {
			return false
		}
	}
	return true
}

// stringMatcher matches a value against include and exclude patterns.
type stringMatcher struct {
	incExact, excExact map[string]struct{}
	incGlob, excGlob   [][]string // patterns split at '*'
}

func newStringMatcher(values []string) *stringMatcher {
	if len(values) == 0 {
		return nil
	}
	sm := &stringMatcher{incExact: map[string]struct{}{}, excExact: map[string]struct{}{}}
	for _, v := range values {
		exclude := strings.HasPrefix(v, "!")
		p := strings.TrimPrefix(v, "!")
		exact, glob := &sm.incExact, &sm.incGlob
		if exclude {
			exact, glob = &sm.excExact, &sm.excGlob
		}
		if strings.Contains(p, "*") {
			*glob = append(*glob, strings.Split(p, "*"))
		} else {
			(*exact)[p] = struct{}{}
		}
	}
	return sm
}

func (sm *stringMatcher) hasIncludes() bool { return len(sm.incExact) > 0 || len(sm.incGlob) > 0 }

func (sm *stringMatcher) included(v []byte) bool {
	if _, ok := sm.incExact[string(v)]; ok {
		return true
	}
	for _, g := range sm.incGlob {
		if globMatch(g, v) {
			return true
		}
	}
	return false
}

func (sm *stringMatcher) excluded(v []byte) bool {
	if _, ok := sm.excExact[string(v)]; ok {
		return true
	}
	for _, g := range sm.excGlob {
		if globMatch(g, v) {
			return true
		}
	}
	return false
}

func (sm *stringMatcher) match(v []byte) bool {
	if sm.excluded(v) {
		return false
	}
	return !sm.hasIncludes() || sm.included(v)
}

// globMatch matches v against a pattern split at its '*' wildcards.
func globMatch(parts []string, v []byte) bool {
	if !bytes.HasPrefix(v, []byte(parts[0])) {
		return false
	}
	v = v[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := bytes.Index(v, []byte(p))
		if i < 0 {
			return false
		}
		v = v[i+len(p):]
	}
	return len(v) >= len(last) && bytes.HasSuffix(v, []byte(last))
}

// ipMatcher matches a source IP against networks (CIDRs, and IP addresses as one-address
// networks, compared as addresses: ::ffff:10.0.0.1 is 10.0.0.1) and globs (compared as text),
// each included or excluded (!). Exclusions win; without includes everything not excluded
// matches.
type ipMatcher struct {
	globs    *stringMatcher
	inc, exc []netip.Prefix
}

func newIPMatcher(values []string) *ipMatcher {
	if len(values) == 0 {
		return nil
	}
	im := &ipMatcher{}
	var globs []string
	for _, v := range values {
		p := strings.TrimPrefix(v, "!")
		n, ok := parseNetwork(p)
		switch {
		case !ok:
			globs = append(globs, v) // globs; anything else was rejected by validate
		case strings.HasPrefix(v, "!"):
			im.exc = append(im.exc, n)
		default:
			im.inc = append(im.inc, n)
		}
	}
	im.globs = newStringMatcher(globs)
	return im
}

func (im *ipMatcher) match(v []byte) bool {
	var ip netip.Addr
	if len(im.inc)+len(im.exc) > 0 {
		if a, err := netip.ParseAddr(string(v)); err == nil {
			ip = a.Unmap().WithZone("")
		}
	}
	in := func(nets []netip.Prefix) bool {
		if !ip.IsValid() {
			return false
		}
		for _, n := range nets {
			if n.Contains(ip) {
				return true
			}
		}
		return false
	}
	if in(im.exc) || (im.globs != nil && im.globs.excluded(v)) {
		return false
	}
	if len(im.inc) == 0 && (im.globs == nil || !im.globs.hasIncludes()) {
		return true
	}
	return in(im.inc) || (im.globs != nil && im.globs.included(v))
}

// codeRange is an inclusive range of response codes.
type codeRange struct{ lo, hi int }

func parseCode(s string) (codeRange, error) {
	p := strings.ToLower(strings.TrimPrefix(s, "!"))
	if len(p) == 3 && p[1:] == "xx" && p[0] >= '1' && p[0] <= '5' {
		base := int(p[0]-'0') * 100
		return codeRange{base, base + 99}, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 999 {
		return codeRange{}, errorf("invalid code %q: use a code such as 403 or a class such as 4xx", s)
	}
	return codeRange{n, n}, nil
}

type codeMatcher struct{ inc, exc []codeRange }

func newCodeMatcher(values []string) *codeMatcher {
	if len(values) == 0 {
		return nil
	}
	cm := &codeMatcher{}
	for _, v := range values {
		r, err := parseCode(v)
		if err != nil {
			continue // validated earlier
		}
		if strings.HasPrefix(v, "!") {
			cm.exc = append(cm.exc, r)
		} else {
			cm.inc = append(cm.inc, r)
		}
	}
	return cm
}

func (cm *codeMatcher) match(code int) bool {
	for _, r := range cm.exc {
		if code >= r.lo && code <= r.hi {
			return false
		}
	}
	if len(cm.inc) == 0 {
		return true
	}
	for _, r := range cm.inc {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

// NeedsLine reports whether matching needs the raw line (a text search), not only decoded
// fields: such a filter cannot be answered from a column index.
func (m *Matcher) NeedsLine() bool { return m.search != nil }

package query

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

func (f *Filter) validate() error {
	for _, ff := range FilterFields {
		values := ff.Values(f)
		switch {
		case ff.Valid != nil:
			for _, v := range values {
				p := strings.TrimPrefix(v, "!")
				if strings.Contains(p, "*") {
					continue
				}
				if !slices.Contains(ff.Valid, p) {
					return errorf("unknown %s %q: use one of %s", ff.Name, p, strings.Join(ff.Valid, ", "))
				}
			}
		case ff.Kind == KindCode:
			for _, c := range values {
				if _, err := ParseCode(c); err != nil {
					return err
				}
			}
		case ff.Kind == KindIP:
			for _, v := range values {
				if err := validateIP(v); err != nil {
					return err
				}
			}
		}
	}
	return f.validateSearch()
}

func validateIP(v string) error {
	p := strings.TrimPrefix(v, "!")
	if strings.Contains(p, "*") {
		return nil // a glob on the text: 10.0.*
	}
	if _, ok := parseNetwork(p); ok {
		return nil
	}
	if strings.Contains(p, "/") {
		return errorf("invalid sourceIPs network %q: use a CIDR such as 10.0.0.0/8 or 2001:db8::/32", v)
	}
	return errorf("invalid sourceIPs value %q: use an IP address (10.0.0.1), a CIDR (10.0.0.0/8) or a glob (10.0.*)", v)
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
	search *searcher
	needs  audit.Fields
	checks []func(r *audit.Record) bool
}

// Compile compiles the filter. Stages default to the request-final rule (RequestFinal) when
// none are given.
func (f *Filter) Compile() *Matcher {
	m := &Matcher{needs: audit.Fields(0).With(audit.FieldStage)}
	m.compileSearch(f)
	for _, ff := range FilterFields {
		values := ff.Values(f)
		if ff.Key == "stages" && len(values) == 0 {
			m.needs = m.needs.With(audit.FieldCode)
			m.checks = append(m.checks, IsRequestFinal)
			continue
		}
		if len(values) == 0 || ff.Kind == KindSearch {
			continue
		}
		m.needs = m.needs.With(ff.Field)
		m.checks = append(m.checks, ff.check(values))
	}
	return m
}

// check compiles the test of one field with values.
func (ff *FilterField) check(values []string) func(r *audit.Record) bool {
	switch ff.Kind {
	case KindGroups:
		sm := newStringMatcher(values)
		return func(r *audit.Record) bool {
			included, excluded := !sm.hasIncludes(), false
			r.EachGroup(func(g []byte) {
				if sm.excluded(g) {
					excluded = true
				} else if sm.included(g) {
					included = true
				}
			})
			return included && !excluded
		}
	case KindIP:
		im := newIPMatcher(values)
		return func(r *audit.Record) bool { return im.match(r.SourceIP()) }
	case KindCode:
		cm := newCodeMatcher(values)
		return func(r *audit.Record) bool { return cm.match(r.Code) }
	case KindDerived:
		sm := newStringMatcher(values)
		value := derivedValues[ff.Path]
		return func(r *audit.Record) bool { return sm.match(value(r)) }
	}
	sm := newStringMatcher(values)
	field := ff.Field
	return func(r *audit.Record) bool { return sm.match(r.Str(field)) }
}

// derivedValues computes the derived fields' values.
var derivedValues = map[string]func(r *audit.Record) []byte{
	"userKind": func(r *audit.Record) []byte { return userKindBytes[r.UserKind()] },
	"decision": func(r *audit.Record) []byte {
		if d := r.Decision(); len(d) > 0 {
			return d
		}
		return decisionNoneBytes
	},
}

var decisionNoneBytes = []byte(DecisionNone)

// IsRequestFinal reports whether r is the one event that completes its request (the default
// stage rule, RequestFinal): a ResponseComplete or Panic event, or the lone ResponseStarted
// event kube-apiserver writes for a request that failed authentication (code 401). Needs
// FieldStage and FieldCode.
func IsRequestFinal(r *audit.Record) bool { return RequestFinal.Match(r.Stage(), r.Code) }

// Needs is the set of fields the matcher reads.
func (m *Matcher) Needs() audit.Fields { return m.needs }

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

type codeMatcher struct{ inc, exc []CodeRange }

func newCodeMatcher(values []string) *codeMatcher {
	if len(values) == 0 {
		return nil
	}
	cm := &codeMatcher{}
	for _, v := range values {
		r, err := ParseCode(v)
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
		if code >= r.Lo && code <= r.Hi {
			return false
		}
	}
	if len(cm.inc) == 0 {
		return true
	}
	for _, r := range cm.inc {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// FilterOf builds a filter from lists by the filter's JSON keys (FilterField.Key).
func FilterOf(lists map[string][]string) (Filter, error) {
	var f Filter
	b, err := json.Marshal(lists)
	if err != nil {
		return f, err
	}
	err = json.Unmarshal(b, &f)
	return f, err
}

// NarrowedBy is what a source may be asked for when the engine needs only the events of f that
// also match p: a superset of f AND p. Per field of p (include values only): where f has no
// include values, p's are added to f's exclusions; where both include, the includes are f's
// exact values that p also lists (strings compare exactly; not codes, where 403 and 0403 are
// one), or, when f's includes hold a glob or a code class (a dashboard variable's All, `*`) and
// p's do not, p's; otherwise f's. Either side's includes alone hold every event of the
// conjunction. f's exclusions always stay. The engine still applies f
// exactly, so p only narrows what is read.
func (f Filter) NarrowedBy(p Filter) Filter {
	lists := map[string][]string{}
	for _, ff := range FilterFields {
		fv := ff.Values(&f)
		if ff.Kind == KindSearch {
			continue
		}
		if pv := ff.Values(&p); len(pv) > 0 {
			fv = narrowValues(ff, fv, pv)
		}
		if len(fv) > 0 {
			lists[ff.Key] = fv
		}
	}
	out, err := FilterOf(lists)
	if err != nil {
		return f // cannot happen: lists come from a filter
	}
	// The search is not narrowed (the loop leaves it out) and AuditIDs is not in the filter's
	// JSON (FilterOf cannot set it): both are kept as they are.
	out.Search, out.SearchMode, out.AuditIDs = f.Search, f.SearchMode, f.AuditIDs
	return out
}

// narrowValues is one field of NarrowedBy: f's values fv narrowed by p's includes pv.
func narrowValues(ff *FilterField, fv, pv []string) []string {
	inc, exc := Split(fv)
	excl := make([]string, len(exc))
	for i, e := range exc {
		excl[i] = "!" + e
	}
	// A glob, or a code class (4xx), matches more than one value.
	glob := func(vs []string) bool {
		return slices.ContainsFunc(vs, func(v string) bool {
			return strings.Contains(v, "*") || ff.Kind == KindCode && strings.ContainsAny(v, "xX")
		})
	}
	switch {
	case len(inc) == 0, glob(inc) && !glob(pv):
		return append(excl, pv...)
	case !glob(inc) && ff.Kind == KindGlob:
		// Exact strings on one value: the events of both lists hold a value in both.
		var both []string
		for _, v := range inc {
			if slices.Contains(pv, v) {
				both = append(both, v)
			}
		}
		if len(both) > 0 {
			return append(excl, both...)
		}
	}
	return fv
}

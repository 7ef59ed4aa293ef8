package detect

import (
	"slices"
	"strings"
)

// Prefilter is what a rule can ever look at, as data in the terms of the query filter (pkg/query
// Filter: verbs, users, namespaces, resources, subresources, names, codes): a superset of every
// event the rule judges, collects, keeps state on or counts for its notices. Each list holds
// include values (exact, or `*` globs; codes also classes such as 4xx) and no exclusions; an
// empty list leaves its field unconstrained. A source asked for a detections query over a few
// rules sends only the lines of their prefilters (Loki line filters, CloudWatch filter
// patterns); every rule then runs over those lines exactly as over the whole log.
//
// A rule whose Prefilter is nil needs every event (a sweep over every read, any anonymous
// request whatever its user name): a selection holding it is read whole.
type Prefilter struct {
	Verbs, Users, Namespaces, Resources, Subresources, Names, Codes []string
}

// fields lists the prefilter's lists by the query filter's JSON keys, in a stable order.
func (p *Prefilter) fields() []struct {
	Key    string
	Values *[]string
} {
	return []struct {
		Key    string
		Values *[]string
	}{
		{"verbs", &p.Verbs}, {"users", &p.Users}, {"namespaces", &p.Namespaces}, {"resources", &p.Resources},
		{"subresources", &p.Subresources}, {"names", &p.Names}, {"codes", &p.Codes},
	}
}

// Each calls fn with each constrained field's query filter key and values.
func (p *Prefilter) Each(fn func(key string, values []string)) {
	for _, f := range p.fields() {
		if len(*f.Values) > 0 {
			fn(f.Key, *f.Values)
		}
	}
}

// String is the prefilter as notices name it: "resources pods; subresources attach, exec".
func (p *Prefilter) String() string {
	var parts []string
	p.Each(func(key string, values []string) { parts = append(parts, key+" "+strings.Join(values, ", ")) })
	return strings.Join(parts, "; ")
}

// UnionPrefilter is a prefilter that holds every event any of rules can look at: per field, the
// union of the rules' values when every rule constrains the field, else nothing. ok is false
// when no prefilter is possible: a rule has none (or one with an exclusion), or the union
// constrains no field.
func UnionPrefilter(rules []*Rule) (u *Prefilter, ok bool) {
	if len(rules) == 0 {
		return nil, false
	}
	u = &Prefilter{}
	for _, r := range rules {
		if r.Prefilter == nil {
			return nil, false
		}
	}
	constrained := false
	for i, f := range u.fields() {
		var all []string
		every := true
		for _, r := range rules {
			vs := *r.Prefilter.fields()[i].Values
			if len(vs) == 0 || slices.ContainsFunc(vs, func(v string) bool { return strings.HasPrefix(v, "!") }) {
				every = false
				break
			}
			all = append(all, vs...)
		}
		if !every {
			continue
		}
		slices.Sort(all)
		*f.Values = slices.Compact(all)
		constrained = true
	}
	if !constrained {
		return nil, false
	}
	return u, true
}

// Values the rules' prefilters share.
var (
	writeVerbs    = []string{"create", "update", "patch"}
	changeVerbs   = []string{"create", "update", "patch", "delete"}
	rbacResources = []string{"clusterroles", "roles", "clusterrolebindings", "rolebindings"}
)

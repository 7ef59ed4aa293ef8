package detect

import (
	"slices"
	"strings"
	"testing"
)

// TestPrefilterDeclarations: every rule declares a prefilter of include values, or is one of the
// rules that need every event; a rule that reads request bodies keeps in its prefilter every
// change its body notice counts (writes of its resources), so that the notice is the same over
// the prefiltered lines.
func TestPrefilterDeclarations(t *testing.T) {
	whole := []string{"anonymous-allowed", "impersonation-privileged", "permission-enumeration", AnonymousOutsideRule}
	for _, r := range Rules() {
		if r.Prefilter == nil {
			if !slices.Contains(whole, r.ID) {
				t.Errorf("%s has no prefilter", r.ID)
			}
			continue
		}
		if slices.Contains(whole, r.ID) {
			t.Errorf("%s has a prefilter: %s", r.ID, r.Prefilter)
		}
		r.Prefilter.Each(func(key string, values []string) {
			for _, v := range values {
				if v == "" || strings.HasPrefix(v, "!") {
					t.Errorf("%s: %s value %q: prefilters hold include values only", r.ID, key, v)
				}
			}
		})
		if len(r.NeedsBody) == 0 {
			continue
		}
		p := r.Prefilter
		for _, res := range r.NeedsBody {
			if len(p.Resources) > 0 && !slices.Contains(p.Resources, res) {
				t.Errorf("%s reads bodies of %s, which its prefilter leaves out", r.ID, res)
			}
		}
		for _, v := range writeVerbs {
			if len(p.Verbs) > 0 && !slices.Contains(p.Verbs, v) {
				t.Errorf("%s reads bodies of changes, but its prefilter leaves out %s", r.ID, v)
			}
		}
		if len(p.Subresources) > 0 || len(p.Codes) > 0 || len(p.Users) > 0 || len(p.Namespaces) > 0 || len(p.Names) > 0 {
			t.Errorf("%s reads bodies: its prefilter must keep every change of its resources: %s", r.ID, p)
		}
	}
}

func TestUnionPrefilter(t *testing.T) {
	pick := func(ids ...string) []*Rule {
		var out []*Rule
		for _, id := range ids {
			r, ok := Lookup(id)
			if !ok {
				t.Fatalf("no rule %s", id)
			}
			out = append(out, r)
		}
		return out
	}
	for _, c := range []struct {
		rules []*Rule
		want  string // "" for no prefilter
	}{
		{pick("exec-into-pod"), "resources pods; subresources attach, exec"},
		{pick("exec-into-pod", "risky-exec-command", "port-forward"), "resources pods; subresources attach, exec, portforward"},
		{pick("many-secrets-read", "secrets-list-wide"), "verbs get, list, watch; resources secrets"},
		{pick("many-secrets-read", "node-proxy"), "resources nodes, secrets"},
		{pick("exec-into-pod", "denied-burst"), ""},           // no field constrained by both
		{pick("exec-into-pod", "permission-enumeration"), ""}, // a rule that needs every event
		{pick("denied-burst"), "codes 401, 403"},
		{Rules(), ""},
		{nil, ""},
	} {
		u, ok := UnionPrefilter(c.rules)
		got := ""
		if ok {
			got = u.String()
		}
		if got != c.want {
			t.Errorf("%d rules: union %q, want %q", len(c.rules), got, c.want)
		}
	}
	// An exclusion cannot be united with includes: the field is left unconstrained.
	a := &Rule{ID: "a", Prefilter: &Prefilter{Users: []string{"!system:*"}, Verbs: []string{"get"}}}
	b := &Rule{ID: "b", Prefilter: &Prefilter{Users: []string{"alice"}, Verbs: []string{"list"}}}
	if u, ok := UnionPrefilter([]*Rule{a, b}); !ok || u.String() != "verbs get, list" {
		t.Errorf("union with an exclusion: %v %v", u, ok)
	}
}

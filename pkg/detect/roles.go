package detect

import (
	"sort"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// RoleRule is the id of the rule that needs role writes from before the queried range.
const RoleRule = "binding-to-wildcard-role"

// RoleWrite is one successful write of a role's rules, which binding-to-wildcard-role needs to
// judge the bindings that refer to the role. Audit logs hold no RBAC state, so the rule knows
// a role only from its writes: within the range, and (through Config.RoleHistory) from a
// look-back before it.
type RoleWrite struct {
	Key     string // Kind/namespace/name, e.g. "ClusterRole//ops" or "Role/team-a/reader"
	Time    time.Time
	Wild    bool // its rules allow every verb or every resource
	Deleted bool
}

// RoleNeeds are the fields RoleWriteOf reads.
var RoleNeeds = audit.Fields(0).With(audit.FieldVerb, audit.FieldStage, audit.FieldResource, audit.FieldNamespace,
	audit.FieldName, audit.FieldCode, audit.FieldStageTimestamp, audit.FieldRequestObject, audit.FieldUsername)

// RoleWriteOf returns the role write r records: the completed, successful create, update, patch
// or delete of a Role or ClusterRole. A patch that does not touch the rules is no write of them;
// a write audited at Metadata level (no body) cannot be judged and is left out.
func RoleWriteOf(r *audit.Record) (RoleWrite, bool) {
	var e event
	e.reset(r)
	return roleWrite(&e)
}

func roleWrite(e *event) (RoleWrite, bool) {
	if !e.final || !e.succeeded() || !e.is("clusterroles", "roles") || len(e.sub) > 0 {
		return RoleWrite{}, false
	}
	kind, ns := "ClusterRole", ""
	if e.is("roles") {
		kind, ns = "Role", string(e.ns)
	}
	w := RoleWrite{Time: e.r.Time}
	name := string(e.name)
	switch string(e.verb) {
	case "delete":
		if name == "" {
			return RoleWrite{}, false
		}
		w.Deleted = true
	case "create", "update", "patch":
		r, ok := decodeBody[role](e.r.RequestObject())
		if !ok || r.Rules == nil && string(e.verb) == "patch" {
			return RoleWrite{}, false
		}
		if name == "" {
			name = r.Metadata.Name
		}
		w.Wild = wildcardRules(r.Rules)
	default:
		return RoleWrite{}, false
	}
	w.Key = kind + "/" + ns + "/" + name
	return w, true
}

// roleItem encodes a role write in a candidate's item.
func roleItem(w RoleWrite) string {
	switch {
	case w.Deleted:
		return "role:deleted"
	case w.Wild:
		return "role:wild"
	}
	return "role:safe"
}

// roleTimeline is every known write of each role, oldest first.
type roleTimeline map[string][]RoleWrite

func newRoleTimeline(history []RoleWrite, cands []kept) roleTimeline {
	t := roleTimeline{}
	for _, w := range history {
		t[w.Key] = append(t[w.Key], w)
	}
	for _, c := range cands {
		if strings.HasPrefix(c.item, "role:") {
			t[c.key] = append(t[c.key], RoleWrite{Key: c.key, Time: c.time(), Wild: c.item == "role:wild", Deleted: c.item == "role:deleted"})
		}
	}
	for _, ws := range t {
		sort.SliceStable(ws, func(i, j int) bool { return ws[i].Time.Before(ws[j].Time) })
	}
	return t
}

// at is what was known of the role when a binding to it was written: its last write before,
// or, for a binding written ahead of its role, the role's first write after. known is false
// when no write of the role was seen at all.
func (t roleTimeline) at(key string, when time.Time) (w RoleWrite, known bool) {
	ws := t[key]
	if len(ws) == 0 {
		return RoleWrite{}, false
	}
	i := sort.Search(len(ws), func(i int) bool { return ws[i].Time.After(when) })
	if i == 0 {
		return ws[0], true
	}
	return ws[i-1], true
}

// wellKnownRole reports the roles every cluster has from its start, which no look-back sees
// written and which hold no wildcards (cluster-admin is reported by binding-privileged).
func wellKnownRole(key string) bool {
	kind, rest, _ := strings.Cut(key, "/")
	_, name, _ := strings.Cut(rest, "/")
	if kind != "ClusterRole" {
		return false
	}
	switch name {
	case "admin", "edit", "view", "cluster-admin":
		return true
	}
	return strings.HasPrefix(name, "system:") || strings.HasPrefix(name, "eks:")
}

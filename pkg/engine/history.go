package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// HistoryRow is one action on an object.
type HistoryRow struct {
	Time                                                  time.Time
	User, Verb, Resource, Subresource, Namespace, Name    string
	Decision, UserAgent, SourceIP, AuditID, Level, Change string
	Code                                                  int

	request, response []byte // bodies, for the change; only for writes
}

// HistoryResult is an object's history, oldest first.
type HistoryResult struct {
	Rows  []HistoryRow
	Total int
}

type history struct {
	keep largest[HistoryRow]
}

func newHistory(q *query.Query) *history { return &history{keep: largest[HistoryRow]{limit: q.Limit}} }

func (h *history) needs() audit.Fields {
	return audit.Fields(0).With(audit.FieldUsername, audit.FieldVerb, audit.FieldResource, audit.FieldSubresource,
		audit.FieldNamespace, audit.FieldName, audit.FieldCode, audit.FieldAnnotations, audit.FieldUserAgent,
		audit.FieldSourceIPs, audit.FieldLevel, audit.FieldRequestObject, audit.FieldResponseObject)
}

func (h *history) add(r *audit.Record) {
	id := r.Str(audit.FieldAuditID)
	if !h.keep.wants(r.Time.UnixNano(), id) {
		return
	}
	row := HistoryRow{
		Time: r.Time, User: string(r.Username()), Verb: string(r.Verb()), Resource: string(r.Resource()),
		Subresource: string(r.Subresource()), Namespace: string(r.Str(audit.FieldNamespace)), Name: string(r.Str(audit.FieldName)),
		Decision: string(r.Decision()), UserAgent: string(r.Str(audit.FieldUserAgent)), SourceIP: string(r.SourceIP()),
		AuditID: string(id), Level: string(r.Str(audit.FieldLevel)), Code: r.Code,
	}
	switch row.Verb {
	case "create", "update", "patch", "delete":
		row.request, row.response = bytes.Clone(r.RequestObject()), bytes.Clone(r.ResponseObject())
	}
	h.keep.push(r.Time.UnixNano(), string(id), row)
}

func (h *history) merge(other aggregator) { h.keep.merge(&other.(*history).keep) }

func (h *history) finish(res *Result) {
	rows := h.keep.sorted()
	slices.Reverse(rows) // oldest first
	states := map[string]map[string]any{}
	unknown := 0
	for i := range rows {
		row := &rows[i]
		key := row.Resource + "/" + row.Namespace + "/" + row.Name
		row.Change = describeChange(row, states, key)
		if row.Change == "" && (row.Verb == "update" || row.Verb == "patch" || row.Verb == "create") && row.Code < 400 && len(row.request) == 0 {
			unknown++
		}
		row.request, row.response = nil, nil
	}
	res.History = &HistoryResult{Rows: rows, Total: h.keep.total}
	if h.keep.total > len(rows) {
		res.Notices = append(res.Notices, truncNotice("actions", len(rows), h.keep.total))
	}
	if unknown > 0 {
		res.Notices = append(res.Notices, Notice{Info, fmt.Sprintf("%d changes were audited at Metadata level: what changed is unknown (needs Request or RequestResponse level)", unknown)})
	}
}

// describeChange says what an action changed, from the audited bodies: the fields that differ
// from the object's last known state, or the patch itself.
func describeChange(row *HistoryRow, states map[string]map[string]any, key string) string {
	if row.Code >= 400 {
		return ""
	}
	decode := func(b []byte) map[string]any {
		var m map[string]any
		if len(b) == 0 || gojson.Unmarshal(b, &m) != nil {
			return nil
		}
		return m
	}
	req, resp := decode(row.request), decode(row.response)
	after := resp
	if after == nil && row.Verb != "patch" {
		after = req
	}
	prev := states[key]
	if after != nil && row.Subresource == "" {
		states[key] = after
	}
	switch row.Verb {
	case "delete":
		delete(states, key)
		return "deleted"
	case "create":
		if row.Subresource != "" || req == nil {
			return ""
		}
		return "created"
	case "patch":
		if prev != nil && after != nil {
			if d := diff(prev, after); d != "" {
				return d
			}
		}
		if len(row.request) > 0 {
			return "patch " + truncate(compact(row.request), 400)
		}
	case "update":
		if prev != nil && after != nil {
			return diff(prev, after)
		}
	}
	return ""
}

// ignoredPaths change on every write and say nothing about intent.
var ignoredPaths = []string{"metadata.resourceVersion", "metadata.managedFields", "metadata.generation", "status",
	"metadata.creationTimestamp", "metadata.uid", "metadata.selfLink"}

const maxDiffs = 20

// diff lists the paths whose values differ between two objects: "spec.replicas: 2 → 3".
func diff(a, b map[string]any) string {
	var out []string
	var walk func(prefix string, x, y any)
	walk = func(prefix string, x, y any) {
		if slices.Contains(ignoredPaths, prefix) || len(out) > maxDiffs {
			return
		}
		xm, xok := x.(map[string]any)
		ym, yok := y.(map[string]any)
		if xok && yok {
			keys := map[string]bool{}
			for k := range xm {
				keys[k] = true
			}
			for k := range ym {
				keys[k] = true
			}
			sorted := make([]string, 0, len(keys))
			for k := range keys {
				sorted = append(sorted, k)
			}
			sort.Strings(sorted)
			for _, k := range sorted {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, xm[k], ym[k])
			}
			return
		}
		xs, ys := jsonText(x), jsonText(y)
		if xs == ys {
			return
		}
		switch {
		case x == nil:
			out = append(out, prefix+" added: "+truncate(ys, 60))
		case y == nil:
			out = append(out, prefix+" removed")
		default:
			out = append(out, prefix+": "+truncate(xs, 60)+" → "+truncate(ys, 60))
		}
	}
	walk("", a, b)
	if len(out) > maxDiffs {
		out = append(out[:maxDiffs], "…")
	}
	return strings.Join(out, "; ")
}

func jsonText(v any) string {
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

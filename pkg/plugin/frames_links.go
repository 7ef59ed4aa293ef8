package plugin

import (
	"slices"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// Data links from rows to the queries that explain them (docs/query-model.md, "Links"). They
// are Grafana internal links: a query of this datasource, opened in Explore (split view from
// Explore) over the panel's time range, with the row's values put in by Grafana
// (${__value.raw} is the cell's value, ${__data.fields.x} the value of field x on its row).

// allStages reads every stage of a request, so that the raw event shows all it wrote; without
// RequestReceived they are the stages detections judge.
var allStages = []string{audit.StageRequestReceived, audit.StageResponseStarted, audit.StageResponseComplete, audit.StagePanic}

// rowLinks are the links of a table's fields, by field name. Findings differ in their object
// history link: a finding's resource carries the subresource ("pods/exec"), so the link reads
// every object of that name in the namespace; and it reads the stages findings are judged on
// (an exec's ResponseStarted may be all a log holds of it), so the finding's event is in it.
func rowLinks(uid string, finding bool) map[string][]data.DataLink {
	link := func(title string, q map[string]any) data.DataLink {
		q["schemaVersion"] = query.SchemaVersion
		return data.DataLink{Title: title, Internal: &data.InternalDataLink{DatasourceUID: uid, Query: q}}
	}
	object := map[string]any{"namespaces": []string{"${__data.fields.namespace}"}, "names": []string{"${__value.raw}"}}
	if finding {
		object["stages"] = allStages[1:]
	} else {
		object["resources"] = []string{"${__data.fields.resource}"}
	}
	return map[string][]data.DataLink{
		"auditID": {link("Raw event", map[string]any{
			"queryType": query.TypeEvents, "format": query.FormatLogs,
			"auditIDs": []string{"${__value.raw}"},
			"filter":   map[string]any{"stages": allStages},
		})},
		"name": {link("Object history", map[string]any{
			"queryType": query.TypeObjectHistory,
			"filter":    object,
		})},
		"user": {link("User activity", map[string]any{
			"queryType": query.TypeEvents, "format": query.FormatLogs,
			"filter": map[string]any{"users": []string{"${__value.raw}"}},
		})},
	}
}

// linkedTypes are the query types whose table rows link to the raw event, the object's history
// and the user's activity. An object's own history links only to raw events.
var linkedTypes = map[query.Type][]string{
	query.TypeDenied:        {"auditID", "name", "user"},
	query.TypeEvents:        {"auditID", "name", "user"},
	query.TypeDetections:    {"auditID", "name", "user"},
	query.TypeObjectHistory: {"auditID", "user"},
}

// withLinks adds the row links of the query's type to its frames (addLinks).
func withLinks(q *query.Query, frames data.Frames, uid string) data.Frames {
	for _, f := range frames {
		addLinks(q, f, uid)
	}
	return frames
}

// addLinks puts the row links on the fields of f that have them. A table needs the fields a
// link reads: the object history link is set only when the frame has resource and namespace.
// Without the datasource's UID (a query not sent by Grafana) there is nothing to link to.
func addLinks(q *query.Query, f *data.Frame, uid string) {
	names, ok := linkedTypes[q.QueryType]
	if !ok || uid == "" || f.Meta == nil || f.Meta.Type != data.FrameTypeTable {
		return
	}
	has := map[string]bool{}
	for _, fld := range f.Fields {
		has[fld.Name] = true
	}
	links := rowLinks(uid, q.QueryType == query.TypeDetections)
	for _, fld := range f.Fields {
		if !slices.Contains(names, fld.Name) || fld.Name == "name" && (!has["resource"] || !has["namespace"]) {
			continue
		}
		if fld.Config == nil {
			fld.Config = &data.FieldConfig{}
		}
		fld.Config.Links = append(fld.Config.Links, links[fld.Name]...)
	}
}

package plugin

import (
	"bytes"
	"encoding/json"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// The raw field of events frames: each event's whole line, request and response bodies
// included, as a Loki user sees it. Only the rows returned carry it (the query's limit), read
// from the lines the events query keeps anyway; nothing more is kept while scanning.

// rawJSON is the table's raw field: the line as JSON, referencing the kept line. A line the
// scanner accepted but that is not valid JSON (the scanner reads only what it needs) is a
// JSON string of its text, so that it cannot break the response.
func rawJSON(events []*audit.Record) []json.RawMessage {
	out := make([]json.RawMessage, len(events))
	for i, e := range events {
		line := bytes.TrimSpace(e.Line)
		if json.Valid(line) {
			out[i] = line
		} else {
			out[i], _ = json.Marshal(string(line))
		}
	}
	return out
}

// rawStrings is the logs frame's raw field: the line as text, shown in Explore's log details.
func rawStrings(events []*audit.Record) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = string(bytes.TrimSpace(e.Line))
	}
	return out
}

package engine

import (
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// TestEventsByAuditID: auditIDs selects the events of those requests only, every stage when
// the filter asks for every stage, and counts only them.
func TestEventsByAuditID(t *testing.T) {
	src := lines{
		ev{at: 1 * time.Second, verb: "get", user: "a", code: 200, id: "1"}.line(),
		ev{at: 2 * time.Second, verb: "get", user: "b", code: 403, id: "2"}.line(),
		ev{at: 3 * time.Second, verb: "get", user: "c", code: 200, id: "3"}.line(),
	}
	res := run(t, src, `{"queryType":"events","auditIDs":["2","3"]}`, 0)
	var got []string
	for _, e := range res.Events.Events {
		got = append(got, string(e.Str(audit.FieldAuditID)))
	}
	if len(got) != 2 || got[0] != "3" || got[1] != "2" || res.Events.Total != 2 {
		t.Errorf("events %v, total %d; want [3 2], 2", got, res.Events.Total)
	}
	if res := run(t, src, `{"queryType":"events","auditIDs":["nope"]}`, 0); len(res.Events.Events) != 0 {
		t.Errorf("an unknown auditID found %d events", len(res.Events.Events))
	}
}

package plugin

import (
	"encoding/json"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// TestRawField: both events formats carry each row's whole event, bodies included.
func TestRawField(t *testing.T) {
	ds := linkedDatasource(t)
	for _, q := range []string{`{"queryType":"events","format":"table","limit":500}`, `{"queryType":"events","limit":500}`} {
		f := queryFrame(t, ds, q)
		bodies := 0
		for i := range f.Rows() {
			var ev struct {
				AuditID        string          `json:"auditID"`
				Stage          string          `json:"stage"`
				RequestObject  json.RawMessage `json:"requestObject"`
				ResponseObject json.RawMessage `json:"responseObject"`
			}
			if err := json.Unmarshal([]byte(stringAt(f, "raw", i)), &ev); err != nil {
				t.Fatalf("%s row %d: raw is not the event: %v", q, i, err)
			}
			id := stringAt(f, "auditID", i)
			if id == "" { // logs: the id field is auditID/stage
				id = stringAt(f, "id", i)[:len(ev.AuditID)]
			}
			if ev.AuditID != id {
				t.Errorf("%s row %d: raw is of %s, the row of %s", q, i, ev.AuditID, id)
			}
			if len(ev.RequestObject) > 0 || len(ev.ResponseObject) > 0 {
				bodies++
			}
		}
		if bodies == 0 {
			t.Errorf("%s: no raw event has a request or response body", q)
		}
	}
}

// TestRawJSONOfInvalidLine: a line the scanner accepts but that is not valid JSON is a JSON
// string in the table's raw field, so it cannot break the response.
func TestRawJSONOfInvalidLine(t *testing.T) {
	line := []byte(`{"auditID":"x","stage":"ResponseComplete","stageTimestamp":"2024-05-01T10:00:00Z","odd":tru}`)
	r, err := audit.Decode(line)
	if err != nil {
		t.Skipf("the scanner rejects the line: %v", err)
	}
	raw := rawJSON([]*audit.Record{r})[0]
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s != string(line) {
		t.Errorf("raw = %s, want the line as a JSON string", raw)
	}
}

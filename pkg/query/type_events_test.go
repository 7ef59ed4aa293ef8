package query

import (
	"slices"
	"strings"
	"testing"
)

// TestAuditIDs: events queries select requests by auditID; other types and globs are errors
// that say why.
func TestAuditIDs(t *testing.T) {
	q, err := Parse([]byte(`{"queryType":"events","auditIDs":["a1", "", "b2"]}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(q.AuditIDs, []string{"a1", "b2"}) {
		t.Errorf("auditIDs %v", q.AuditIDs)
	}
	if q, err := Parse([]byte(`{"queryType":"events","auditIDs":"a1"}`), ""); err != nil || !slices.Equal(q.AuditIDs, []string{"a1"}) {
		t.Errorf("a single auditID: %v, %v", q, err)
	}
	for raw, want := range map[string]string{
		`{"queryType":"denied","auditIDs":["a1"]}`: "use it with queryType events",
		`{"queryType":"events","auditIDs":["a*"]}`: "matched exactly",
		`{"queryType":"events","auditIDs":["!a"]}`: "matched exactly",
	} {
		if _, err := Parse([]byte(raw), ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want an error saying %q", raw, err, want)
		}
	}
}

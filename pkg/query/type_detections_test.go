package query

import (
	"strings"
	"testing"
)

// TestDetectionsGroupBy: detections in their timeseries format take groupBy dimensions of the
// finding (its labels beside rule and severity); others are an error naming those that work.
// The table format ignores groupBy (its rows are the findings).
func TestDetectionsGroupBy(t *testing.T) {
	q, err := Parse([]byte(`{"queryType":"detections","format":"timeseries","rules":["exec-into-pod"],"groupBy":["user","objectRef.namespace"]}`), "")
	if err != nil || strings.Join(q.GroupBy, ",") != "user.username,objectRef.namespace" {
		t.Fatalf("groupBy %v err %v", q, err)
	}
	_, err = Parse([]byte(`{"queryType":"detections","format":"timeseries","groupBy":["decision"]}`), "")
	if err == nil || !strings.Contains(err.Error(), "detections cannot be grouped by decision: use objectRef.name, objectRef.namespace") {
		t.Errorf("groupBy decision: %v", err)
	}
	if _, err := Parse([]byte(`{"queryType":"detections","format":"table","groupBy":["decision"]}`), ""); err != nil {
		t.Errorf("table format: %v", err)
	}
}

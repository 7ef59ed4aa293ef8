package query

import (
	"maps"
	"os"
	"slices"
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

// TestEditorKnowsFindingDimensions: the query editor offers detections' groupBy dimensions from
// FINDING_DIMENSIONS in src/components/editor/model.ts, which must be the backend's.
func TestEditorKnowsFindingDimensions(t *testing.T) {
	b, err := os.ReadFile("../../src/components/editor/model.ts")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	i := strings.Index(src, "FINDING_DIMENSIONS: readonly string[] = [")
	if i < 0 {
		t.Fatal("src/components/editor/model.ts has no FINDING_DIMENSIONS")
	}
	list, _, _ := strings.Cut(src[i:], "];")
	var got []string
	for _, part := range strings.Split(list, "'")[1:] {
		if p := strings.TrimSpace(part); p != "" && p != "," {
			got = append(got, p)
		}
	}
	if want := slices.Sorted(maps.Keys(findingDimensions)); !slices.Equal(got, want) {
		t.Errorf("the editor's FINDING_DIMENSIONS %v, the backend's %v", got, want)
	}
}

package detect

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// TestMergeLeavesOtherUnchanged: the engine keeps a segment's detector and merges it into
// every later query's detector, concurrently, without copying it first. Each merge must give
// the same findings, and must leave the kept detector as it was.
func TestMergeLeavesOtherUnchanged(t *testing.T) {
	var buf bytes.Buffer
	start := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 5, Start: start, Duration: time.Hour, Requests: 4000, Incident: true}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{BurstThreshold: 3}
	sc := audit.NewScanner(Needs)
	// Two kept partials, as two workers of one segment.
	kept := []*Detector{New(Rules(), cfg), New(Rules(), cfg)}
	lines := bytes.Split(buf.Bytes(), []byte("\n"))
	for i := range 20 { // one run of an enumeration tool: a stateful rule's cell in both partials
		lines = append(lines, ev(time.Duration(i)*time.Second, "ResponseComplete", "list", "mallory", sweepResources[i%len(sweepResources)], "", "team-a", "", 200,
			map[string]any{"userAgent": "rakkess/v0.5.0", "auditID": fmt.Sprintf("rakkess-%d", i)}))
	}
	for i, l := range lines {
		var r audit.Record
		if len(l) == 0 || sc.Scan(l, &r) != nil {
			continue
		}
		kept[i%2].Observe(&r) // interleaved, so both hold the same principals and buckets
	}
	for _, d := range kept {
		d.Release()
	}
	answer := func() []Finding {
		d := New(Rules(), cfg)
		for _, k := range kept {
			d.Merge(k)
		}
		fs, _ := d.Finish()
		return fs
	}
	want := answer()
	if len(want) == 0 {
		t.Fatal("no findings in the incident log")
	}
	var wg sync.WaitGroup
	got := make([][]Finding, 4)
	for i := range got {
		wg.Go(func() { got[i] = answer() })
	}
	wg.Wait()
	opts := cmp.AllowUnexported(Finding{})
	for i, fs := range append(got, answer()) {
		if diff := cmp.Diff(want, fs, opts); diff != "" {
			t.Fatalf("merge %d of the same kept detectors differs (-first +later):\n%s", i+1, diff)
		}
	}
}

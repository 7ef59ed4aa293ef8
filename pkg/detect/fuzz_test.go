package detect

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// FuzzDetect feeds arbitrary audit lines, two at a time and split between two detectors that
// are then merged (as the engine's workers do), to every rule: nothing may panic, and every
// finding names its rule; the stream rules' findings (one per request) are the same as one
// detector's that saw every line. Seeds: every real fixture line. Run longer with
//
//	go test -run '^$' -fuzz FuzzDetect -fuzztime 60s ./pkg/detect/
func FuzzDetect(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/audit/*.jsonl")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		lines := bytes.Split(b, []byte("\n"))
		for i := 0; i+1 < len(lines); i += 2 {
			f.Add(lines[i], lines[i+1])
		}
	}
	sc := audit.NewScanner(Needs)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		cfg := Config{SweepThreshold: 2, BurstThreshold: 1, SecretsThreshold: 1}
		d1, d2, one := New(Rules(), cfg), New(Rules(), cfg), New(Rules(), cfg)
		for i, line := range [][]byte{a, b, a} {
			var r audit.Record
			if sc.Scan(line, &r) != nil {
				continue
			}
			one.Observe(&r)
			if i%2 == 0 {
				d1.Observe(&r)
			} else {
				d2.Observe(&r)
			}
		}
		d1.Merge(d2)
		fs, _ := d1.Finish()
		for _, x := range fs {
			if x.RuleID == "" || x.Severity == "" {
				t.Fatalf("finding without a rule: %+v", x)
			}
		}
		// The stream rules (one finding per request, whichever stages arrive) give the same
		// findings merged as from one detector.
		streams := func(fs []Finding) []string {
			var out []string
			for _, x := range fs {
				if r, _ := Lookup(x.RuleID); r.stream {
					out = append(out, x.RuleID+" "+x.AuditID+" "+x.Time.String()+" "+x.Detail)
				}
			}
			slices.Sort(out)
			return out
		}
		all, _ := one.Finish()
		if got, want := streams(fs), streams(all); !slices.Equal(got, want) {
			t.Fatalf("merged stream findings %q, one detector %q", got, want)
		}
	})
}

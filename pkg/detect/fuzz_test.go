package detect

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// FuzzDetect feeds arbitrary audit lines, two at a time and split between two detectors that
// are then merged (as the engine's workers do), to every rule: nothing may panic, and every
// finding names its rule. Seeds: every real fixture line. Run longer with
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
		d1, d2 := New(Rules(), Config{SweepThreshold: 2, BurstThreshold: 1, SecretsThreshold: 1}), New(Rules(), Config{SweepThreshold: 2, BurstThreshold: 1, SecretsThreshold: 1})
		for i, line := range [][]byte{a, b, a} {
			var r audit.Record
			if sc.Scan(line, &r) != nil {
				continue
			}
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
	})
}

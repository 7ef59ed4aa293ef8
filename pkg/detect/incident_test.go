package detect

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// TestGeneratedIncident: the generator's scripted intrusion (auditgen Options.Incident, used for
// the sample data) is found by the rules it was written for, and the same log without it is
// not (apart from what the generated humans do every day).
func TestGeneratedIncident(t *testing.T) {
	start := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)
	write := func(incident bool) []Finding {
		var buf bytes.Buffer
		if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 3, Start: start, Duration: time.Hour, Requests: 3000, Incident: incident}); err != nil {
			t.Fatal(err)
		}
		fs, _ := observe(t, Config{}, bytes.Split(buf.Bytes(), []byte("\n"))...)
		return fs
	}
	attacker := func(fs []Finding) map[string]bool {
		rules := map[string]bool{}
		for _, f := range fs {
			if f.SourceIP == "203.0.113.66" {
				rules[f.RuleID] = true
			}
		}
		return rules
	}
	got := attacker(write(true))
	for _, want := range []string{"permission-enumeration", "denied-burst", "exec-into-pod", "risky-exec-command", "role-dangerous",
		"binding-to-wildcard-role", "privileged-workload", "system-namespace-workload", "rbac-then-workload"} {
		if !got[want] {
			t.Errorf("the incident did not trigger %s (it triggered %v)", want, slices.Sorted(func(yield func(string) bool) {
				for k := range got {
					if !yield(k) {
						return
					}
				}
			}))
		}
	}
	if quiet := attacker(write(false)); len(quiet) != 0 {
		t.Errorf("without the incident: %v", quiet)
	}
}

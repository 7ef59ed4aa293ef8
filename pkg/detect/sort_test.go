package detect

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sortFindings makes n findings over a day with many ties on the time, the rule and the
// auditID, as a refresh's findings have (bursts share a second, rules share an event).
func sortFindings(n int, seed uint64) []Finding {
	r := rand.New(rand.NewPCG(seed, 1))
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rules := []string{"denied-burst", "secret-read", "exec-into-pod", "privileged-pod"}
	fs := make([]Finding, n)
	for i := range fs {
		t := base.Add(time.Duration(r.IntN(86400)) * time.Second)
		if r.IntN(2) == 0 {
			t = t.Add(time.Duration(r.IntN(3)) * time.Microsecond)
		}
		fs[i] = Finding{
			Time:    t,
			RuleID:  rules[r.IntN(len(rules))],
			AuditID: "a" + strconv.Itoa(r.IntN(n/2+1)),
			Count:   i, // the place it came in, to see ties keep their order
		}
	}
	return fs
}

// TestSortNewestFirstStable checks the key sort against a stable sort on the whole order:
// newest first, then rule, then auditID, ties in the order they came.
func TestSortNewestFirstStable(t *testing.T) {
	for _, n := range []int{0, 1, 2, 17, 500, 5000} {
		for seed := range uint64(5) {
			fs := sortFindings(n, seed)
			want := slices.Clone(fs)
			slices.SortStableFunc(want, func(a, b Finding) int {
				if c := b.Time.Compare(a.Time); c != 0 {
					return c
				}
				if c := strings.Compare(a.RuleID, b.RuleID); c != 0 {
					return c
				}
				return strings.Compare(a.AuditID, b.AuditID)
			})
			sortNewestFirst(fs)
			for i := range fs {
				if !fs[i].Time.Equal(want[i].Time) || fs[i].RuleID != want[i].RuleID || fs[i].AuditID != want[i].AuditID || fs[i].Count != want[i].Count {
					t.Fatalf("n=%d seed=%d: place %d is %v %s %s #%d, want %v %s %s #%d", n, seed, i,
						fs[i].Time, fs[i].RuleID, fs[i].AuditID, fs[i].Count, want[i].Time, want[i].RuleID, want[i].AuditID, want[i].Count)
				}
			}
		}
	}
}

// BenchmarkSortNewestFirst sorts as many findings as a day of the generated scale log gives
// each detections query (21,679).
func BenchmarkSortNewestFirst(b *testing.B) {
	src := sortFindings(21679, 7)
	fs := make([]Finding, len(src))
	b.ReportAllocs()
	for b.Loop() {
		copy(fs, src)
		sortNewestFirst(fs)
	}
}

package detect

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

var update = flag.Bool("update", false, "rewrite testdata/long.golden")

// longStart is where the generated logs of these tests begin.
var longStart = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// longLog generates a log of hours hours with perHour requests an hour (the scripted intrusion
// included) and returns its lines.
func longLog(t testing.TB, hours, perHour int) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 7, Start: longStart, Duration: time.Duration(hours) * time.Hour,
		Requests: hours * perHour, Incident: true}); err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
}

// feed scans lines and gives each event to the detector at returns (by its place in lines).
func feed(lines [][]byte, at func(i int) *Detector) {
	sc := audit.NewScanner(Needs)
	var r audit.Record
	for i, l := range lines {
		if sc.Scan(l, &r) == nil {
			at(i).Observe(&r)
		}
	}
}

// longConfigs are the configurations the long-log tests run: the defaults (with cluster
// networks, so that the rules on requests from outside judge), and low thresholds, so that
// every window rule decides many bursts and sweeps.
var longConfigs = map[string]Config{
	"defaults": {ClusterNetworks: []string{"10.0.0.0/16", "172.16.0.0/12"}},
	"low":      {ClusterNetworks: []string{"10.0.0.0/16"}, BurstThreshold: 3, SecretsThreshold: 3, SweepThreshold: 4, BurstWindow: 2 * time.Minute},
}

// wholeRange is the reference: one detector observes every record and decides at Finish.
func wholeRange(cfg Config, recs [][]byte) ([]Finding, []string) {
	d := New(Rules(), cfg)
	feed(recs, func(int) *Detector { return d })
	return d.Finish()
}

// bySegments observes recs the way the engine does over files: segments of per records, each
// read by workers detectors fed batches of 64 records in turn, merged and released (a kept
// partial), then every segment merged into one detector. observed, when set, is called after
// each merge with the released segment's detector and the one it was merged into.
func bySegments(cfg Config, recs [][]byte, per, workers int, observed func(seg, final *Detector)) ([]Finding, []string) {
	final := New(Rules(), cfg)
	for lo := 0; lo < len(recs); lo += per {
		seg := recs[lo:min(lo+per, len(recs))]
		ws := make([]*Detector, workers)
		for w := range ws {
			ws[w] = New(Rules(), cfg)
		}
		feed(seg, func(i int) *Detector { return ws[i/64%workers] })
		for _, w := range ws[1:] {
			ws[0].Merge(w)
		}
		ws[0].Release()
		final.Merge(ws[0])
		if observed != nil {
			observed(ws[0], final)
		}
	}
	return final.Finish()
}

// withMergeSlack runs f with mergeSlack set to n. Tests that call it do not run in parallel.
func withMergeSlack[T, U any](n int, f func() (T, U)) (T, U) {
	defer func(old int) { mergeSlack = old }(mergeSlack)
	mergeSlack = n
	return f()
}

// digest is a hash of findings and notices, for the golden file.
func digest(t *testing.T, fs []Finding, notices []string) string {
	t.Helper()
	type exported struct {
		Finding
		Groups       []string
		GenerateName string
	}
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, f := range fs {
		if err := enc.Encode(exported{f, f.groups, f.generateName}); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Encode(notices); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestEarlyDecisionsSameFindings: every rule over a day of generated log split into many
// segments (each read by several workers, kept and merged as the engine's cache does) gives
// exactly the findings, in the same order, and the notices of one detector that observed the
// whole range and decided everything at Finish; and those are the findings of the code before
// window rules decided early (testdata/long.golden, written by 6e04578 with -update).
func TestEarlyDecisionsSameFindings(t *testing.T) {
	hours, perHour := 24, 2500
	if raceDetector || testing.Short() {
		hours, perHour = 8, 1000
	}
	recs := longLog(t, hours, perHour)
	var lines []string
	perRule := map[string]int{}
	for _, name := range []string{"defaults", "low"} {
		cfg := longConfigs[name]
		want, wantNotes := wholeRange(cfg, recs)
		if len(want) < 100 {
			t.Fatalf("%s: only %d findings in the long log", name, len(want))
		}
		for _, f := range want {
			perRule[f.RuleID]++
		}
		// slack: the merging detector decides early as soon as what it merged is as much as
		// its last decision left open (0), or as it does for a real cluster's log
		// (mergeSlack), which this one is too small to reach.
		for _, seg := range []struct{ per, workers, slack int }{
			{len(recs) / 40, 3, 0}, {len(recs) / 7, 1, 0}, {1500, 2, 0}, {1500, 2, 200}, {len(recs) / 40, 3, mergeSlack},
		} {
			got, gotNotes := withMergeSlack(seg.slack, func() ([]Finding, []string) { return bySegments(cfg, recs, seg.per, seg.workers, nil) })
			opts := cmp.AllowUnexported(Finding{})
			if diff := cmp.Diff(want, got, opts); diff != "" {
				t.Errorf("%s, segments of %d records, %d workers, slack %d: findings differ from the whole range's (-whole +segments):\n%s", name, seg.per, seg.workers, seg.slack, diff)
			}
			if diff := cmp.Diff(wantNotes, gotNotes); diff != "" {
				t.Errorf("%s, segments of %d records, slack %d: notices differ (-whole +segments):\n%s", name, seg.per, seg.slack, diff)
			}
		}
		lines = append(lines, fmt.Sprintf("%s %d %s %d %d", name, hours, digest(t, want, wantNotes), len(want), len(wantNotes)))
	}
	for _, id := range []string{"denied-burst", "many-secrets-read", "rbac-then-workload", "permission-enumeration", RoleRule, TokenOutsideRule, AnonymousOutsideRule} {
		if perRule[id] == 0 {
			t.Errorf("no %s finding in the long log: nothing of it was compared", id)
		}
	}
	checkGolden(t, filepath.Join("testdata", "long.golden"), fmt.Sprint(hours), lines)
}

// checkGolden compares lines with those of the golden file whose second field is size (the
// file holds the lines of every size: the race detector's runs use a shorter log); -update
// rewrites them.
func checkGolden(t *testing.T, golden, size string, lines []string) {
	t.Helper()
	old, err := os.ReadFile(golden)
	if err != nil && !*update {
		t.Fatal(err)
	}
	var want, others []string
	for _, l := range strings.Split(strings.TrimSpace(string(old)), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == size {
			want = append(want, l)
		} else if len(f) > 1 {
			others = append(others, l)
		}
	}
	if *update {
		if err := os.WriteFile(golden, []byte(strings.Join(append(others, lines...), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("the whole range's findings are not those of before (%s; -golden +now):\n%s", golden, diff)
	}
}

// held counts what a detector holds for its window rules: open candidates, and the states'
// cells (per principal and time bucket).
func held(d *Detector) (cands, cells int) {
	for _, r := range d.rules {
		for _, p := range d.cands.all(r.ID) {
			cands += len(p)
		}
	}
	for _, s := range d.states {
		if c, ok := s.(interface{ held() int }); ok {
			cells += c.held()
		}
	}
	return cands, cells
}

// TestOpenCandidatesBounded: over segments of the same size (ten minutes of log, each read by
// two workers), what the detectors keep open for the window rules (each released segment's,
// and the merging detector's after each merge) over a day of log is about what they keep over
// an hour, while what one detector of the whole range collects grows 24 times. What stays open
// is what lies near the range's ends and the ends of runs still going on (a credential used
// from outside the cluster networks every few minutes all day keeps a cell at each end of its
// run and one for its middle). The merging detector decides here as soon as what it merged is as
// much as its last decision left open (mergeSlack 0): this log is too small to reach the slack a real cluster's merges accumulate first, which
// adds a constant to the bound (TestMergeSlackBounds).
func TestOpenCandidatesBounded(t *testing.T) {
	perHour := 6000
	if raceDetector || testing.Short() {
		perHour = 1500
	}
	cfg := longConfigs["defaults"]
	type counts struct{ cands, cells int }
	maxHeld := func(hours int) (most, whole counts) {
		lines := longLog(t, hours, perHour)
		d := New(Rules(), cfg)
		feed(lines, func(int) *Detector { return d })
		whole.cands, whole.cells = held(d)
		withMergeSlack(0, func() ([]Finding, []string) {
			return bySegments(cfg, lines, len(lines)/hours/6, 2, func(seg, final *Detector) {
				for _, d := range []*Detector{seg, final} {
					c, s := held(d)
					most.cands, most.cells = max(most.cands, c), max(most.cells, s)
				}
			})
		})
		return most, whole
	}
	most1, whole1 := maxHeld(1)
	most24, whole24 := maxHeld(24)
	t.Logf("open candidates at most: 1 h %d, 24 h %d (one detector of the range: %d, %d); state cells at most: 1 h %d, 24 h %d (%d, %d)",
		most1.cands, most24.cands, whole1.cands, whole24.cands, most1.cells, most24.cells, whole1.cells, whole24.cells)
	if whole24.cands < 15*whole1.cands || whole24.cells < 15*whole1.cells {
		t.Fatalf("the day's log collects %+v, the hour's %+v: not a longer range", whole24, whole1)
	}
	if most24.cands > 2*most1.cands || most24.cands > whole24.cands/20 {
		t.Errorf("open candidates grow with the range: at most %d over 1 h, %d over 24 h (of %d)", most1.cands, most24.cands, whole24.cands)
	}
	if most24.cells > 2*most1.cells || most24.cells > whole24.cells/20 {
		t.Errorf("state cells grow with the range: at most %d over 1 h, %d over 24 h (of %d)", most1.cells, most24.cells, whole24.cells)
	}
}

// TestOverlappingSegmentsNoticed: the logs of two API servers over the same hours, each
// released as a segment and merged, meet each other's early decisions: the findings may then
// differ from one detector's over both, and a notice says so. Segments that follow each other
// give no notice (TestEarlyDecisionsSameFindings).
func TestOverlappingSegmentsNoticed(t *testing.T) {
	cfg := longConfigs["defaults"]
	final := New(Rules(), cfg)
	for seed := range uint64(2) {
		var buf bytes.Buffer
		if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 20 + seed, Start: longStart, Duration: 3 * time.Hour, Requests: 3000}); err != nil {
			t.Fatal(err)
		}
		d := New(Rules(), cfg)
		feed(bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")), func(int) *Detector { return d })
		d.Release()
		if !d.span.decided() {
			t.Fatalf("server %d: nothing decided early over 3 hours", seed)
		}
		final.Merge(d)
	}
	_, notices := final.Finish()
	if !slices.ContainsFunc(notices, func(n string) bool { return strings.Contains(n, "decided within segments") }) {
		t.Errorf("no notice of segments of the same time: %q", notices)
	}
}

// TestMergeSlackBounds: with a slack, the merging detector lets what it merges accumulate up
// to the slack, and at most as much again as its last decision left open, before it decides:
// it holds at most twice what deciding after every merge holds, plus the slack, and decides
// less often.
func TestMergeSlackBounds(t *testing.T) {
	perHour := 3000
	if raceDetector || testing.Short() {
		perHour = 1000
	}
	cfg := longConfigs["defaults"]
	lines := longLog(t, 24, perHour)
	measure := func(slack int) (most, decisions int) {
		withMergeSlack(slack, func() ([]Finding, []string) {
			return bySegments(cfg, lines, len(lines)/24/6, 2, func(_, final *Detector) {
				c, s := held(final)
				most = max(most, c+s)
				if final.mergedSince == 0 {
					decisions++
				}
			})
		})
		return most, decisions
	}
	every, n0 := measure(0)
	const slack = 500
	most, n := measure(slack)
	t.Logf("merging detector holds at most %d (slack 0, %d decisions), %d (slack %d, %d decisions)", every, n0, most, slack, n)
	if most > 2*every+slack {
		t.Errorf("with slack %d the merging detector held %d, more than twice %d plus the slack", slack, most, every)
	}
	if n == 0 || n*2 > n0 {
		t.Errorf("with slack %d the merging detector decided %d times of %d merges", slack, n, n0)
	}
}

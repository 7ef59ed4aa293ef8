package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/index"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
)

var r0 = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

func rbacLine(at time.Duration, verb, resource, ns, name string, body any) string {
	return auditgen.RBACWrite(r0.Add(at), verb, resource, ns, name, body)
}

func clusterRole(name string, verbs ...string) map[string]any {
	return auditgen.ClusterRole(name, []string{"pods"}, verbs)
}

func bindingTo(name, role string) map[string]any {
	return auditgen.ClusterRoleBinding(name, role, "mallory@example.com")
}

// countingSource counts the scans a source answers and can fail the ones that start before a time.
type countingSource struct {
	source.Source
	scans     int
	failUntil time.Time
}

func (c *countingSource) Scan(ctx context.Context, req source.Request, fn source.LineFunc) (source.Stats, error) {
	c.scans++
	if req.From.Before(c.failUntil) {
		return source.Stats{}, errors.New("loki: 429 too many outstanding requests")
	}
	return c.Source.Scan(ctx, req, fn)
}

// TestRBACLookback: a binding written now to a wildcard role written yesterday is found only
// with a look-back; a role made safe or deleted before the binding is not reported; the role
// index reads each stretch of the log once across refreshes.
func TestRBACLookback(t *testing.T) {
	lines := []string{
		rbacLine(0, "create", "clusterroles", "", "ops-wide", clusterRole("ops-wide", "*")),
		rbacLine(time.Hour, "create", "clusterroles", "", "was-wide", clusterRole("was-wide", "*")),
		rbacLine(2*time.Hour, "update", "clusterroles", "", "was-wide", clusterRole("was-wide", "get")),
		rbacLine(3*time.Hour, "create", "clusterroles", "", "gone", clusterRole("gone", "*")),
		rbacLine(4*time.Hour, "delete", "clusterroles", "", "gone", nil),
		// A label patch is no write of the rules.
		rbacLine(5*time.Hour, "patch", "clusterroles", "", "ops-wide", map[string]any{"metadata": map[string]any{"labels": map[string]string{"team": "ops"}}}),
		// The day after, within the queried range:
		rbacLine(20*time.Hour, "create", "clusterrolebindings", "", "b1", bindingTo("b1", "ops-wide")),
		rbacLine(20*time.Hour+time.Minute, "create", "clusterrolebindings", "", "b2", bindingTo("b2", "was-wide")),
		rbacLine(20*time.Hour+2*time.Minute, "create", "clusterrolebindings", "", "b3", bindingTo("b3", "gone")),
		rbacLine(20*time.Hour+3*time.Minute, "create", "clusterrolebindings", "", "b4", bindingTo("b4", "installed-long-ago")),
		rbacLine(20*time.Hour+4*time.Minute, "create", "clusterrolebindings", "", "b5", bindingTo("b5", "view")),
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs, err := file.New(file.Config{Paths: []string{dir}}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		t.Fatal(err)
	}
	src := &countingSource{Source: fs}
	q, err := parseQuery(`{"queryType":"detections","rules":["binding-to-wildcard-role"]}`)
	if err != nil {
		t.Fatal(err)
	}
	from, to := r0.Add(19*time.Hour), r0.Add(21*time.Hour)
	runWith := func(lookback time.Duration, ix *RoleIndex, from, to time.Time) *Result {
		t.Helper()
		res, err := Run(context.Background(), src, Request{Query: q, From: from, To: to, Detect: detect.Config{RoleLookback: lookback}, Roles: ix})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	names := func(res *Result) (out []string) {
		for _, f := range res.Detections.Findings {
			out = append(out, f.Name+": "+f.Detail)
		}
		return out
	}

	res := runWith(0, nil, from, to)
	if len(res.Detections.Findings) != 0 {
		t.Errorf("without look-back: %v", names(res))
	}
	if n := noticeText(res); !strings.Contains(n, "4 bindings grant roles whose rules were not written within the range, so they could not be judged: ClusterRole gone, ClusterRole installed-long-ago, ClusterRole ops-wide, ClusterRole was-wide") {
		t.Errorf("notices without look-back: %s", n)
	}

	ix := &RoleIndex{}
	res = runWith(24*time.Hour, ix, from, to)
	want := "b1: grants ClusterRole ops-wide, whose rules use wildcards (role written 2026-11-20T08:00:00Z)"
	if got := names(res); len(got) != 1 || got[0] != want {
		t.Errorf("with look-back: %v, want %s", got, want)
	}
	if n := noticeText(res); !strings.Contains(n, "1 bindings grant roles whose rules were not written within the range or the 24h0m0s RBAC look-back before it, so they could not be judged: ClusterRole installed-long-ago") {
		t.Errorf("notices with look-back: %s", n)
	}
	if ix.reads != 1 {
		t.Errorf("look-back reads %d", ix.reads)
	}

	// A refresh ten minutes later reads only the ten new minutes of look-back; an earlier
	// query inside what was read reads nothing; a query a week later starts again.
	scans := src.scans
	runWith(24*time.Hour, ix, from.Add(10*time.Minute), to.Add(10*time.Minute))
	if ix.reads != 2 || src.scans != scans+2 || !ix.from.Equal(from.Add(-24*time.Hour)) || !ix.to.Equal(from.Add(10*time.Minute)) {
		t.Errorf("refresh: reads %d scans %d, index [%s, %s)", ix.reads, src.scans-scans, ix.from, ix.to)
	}
	res = runWith(24*time.Hour, ix, from.Add(-time.Hour), to)
	if ix.reads != 3 || len(res.Detections.Findings) != 1 {
		t.Errorf("earlier start: reads %d, %v", ix.reads, names(res))
	}
	runWith(24*time.Hour, ix, from.Add(7*24*time.Hour), to.Add(7*24*time.Hour))
	if ix.reads != 4 || !ix.from.Equal(from.Add(6*24*time.Hour)) {
		t.Errorf("a week later: reads %d, index from %s", ix.reads, ix.from)
	}

	// An index older than an hour is read afresh.
	clock := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	aged := &RoleIndex{Now: func() time.Time { return clock }}
	runWith(24*time.Hour, aged, from, to)
	clock = clock.Add(50 * time.Minute)
	runWith(24*time.Hour, aged, from.Add(time.Minute), to.Add(time.Minute))
	if aged.reads != 2 || !aged.from.Equal(from.Add(-24*time.Hour)) {
		t.Errorf("within the hour: reads %d, index from %s", aged.reads, aged.from)
	}
	clock = clock.Add(11 * time.Minute)
	runWith(24*time.Hour, aged, from.Add(2*time.Minute), to.Add(2*time.Minute))
	if aged.reads != 3 || !aged.from.Equal(from.Add(2*time.Minute-24*time.Hour)) {
		t.Errorf("after an hour: reads %d, index from %s", aged.reads, aged.from)
	}

	// A look-back that cannot be read leaves the range's findings and says so.
	src.failUntil = from
	res = runWith(24*time.Hour, &RoleIndex{}, from, to)
	if n := noticeText(res); !strings.Contains(n, "the 24h0m0s RBAC look-back could not be read (loki: 429 too many outstanding requests)") ||
		!strings.Contains(n, "were not written within the range, so") {
		t.Errorf("failed look-back notices: %s", n)
	}
}

func noticeText(res *Result) string {
	var out []string
	for _, n := range res.Notices {
		out = append(out, n.Text)
	}
	return strings.Join(out, "\n")
}

// TestRoleIndexConcurrentPanels: a dashboard's detections panels query at once with one
// datasource's index; each gets the same answer, and the look-back is read once per stretch.
func TestRoleIndexConcurrentPanels(t *testing.T) {
	lines := []string{
		rbacLine(0, "create", "clusterroles", "", "ops-wide", clusterRole("ops-wide", "*")),
		rbacLine(20*time.Hour, "create", "clusterrolebindings", "", "b1", bindingTo("b1", "ops-wide")),
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := file.New(file.Config{Paths: []string{dir}}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		t.Fatal(err)
	}
	ix := &RoleIndex{}
	from, to := r0.Add(19*time.Hour), r0.Add(21*time.Hour)
	const panels = 6
	found := make(chan int, panels)
	for range panels {
		go func() {
			q, err := parseQuery(`{"queryType":"detections"}`)
			if err != nil {
				found <- -1
				return
			}
			res, err := Run(context.Background(), src, Request{Query: q, From: from, To: to, Detect: detect.Config{RoleLookback: 24 * time.Hour}, Roles: ix})
			if err != nil {
				found <- -1
				return
			}
			n := 0
			for _, f := range res.Detections.Findings {
				if f.RuleID == detect.RoleRule {
					n++
				}
			}
			found <- n
		}()
	}
	for range panels {
		if n := <-found; n != 1 {
			t.Errorf("a panel found %d bindings to wildcard roles, want 1", n)
		}
	}
	if ix.reads != 1 {
		t.Errorf("look-back read %d times for %d panels", ix.reads, panels)
	}
}

// segmentCounter counts the segment reads of a file source.
type segmentCounter struct {
	*file.Source
	scans, readBacks int
}

func (c *segmentCounter) ScanSegment(ctx context.Context, seg source.Segment, from int64, complete bool, fn source.LineAtFunc) (source.SegmentScan, error) {
	c.scans++
	return c.Source.ScanSegment(ctx, seg, from, complete, fn)
}

func (c *segmentCounter) ReadLines(ctx context.Context, seg source.Segment, offsets []int64, fn source.LineFunc) error {
	c.readBacks++
	return c.Source.ReadLines(ctx, seg, offsets, fn)
}

// TestRBACLookbackFromSegments: over files with a cache, the look-back is one more query of
// the segment cache: the same findings as the role index gives, found from the column index
// (only the role writes' lines are read back), and a refresh ten minutes later reads nothing.
func TestRBACLookbackFromSegments(t *testing.T) {
	yesterday := []string{
		rbacLine(0, "create", "clusterroles", "", "ops-wide", clusterRole("ops-wide", "*")),
		rbacLine(time.Hour, "create", "clusterroles", "", "was-wide", clusterRole("was-wide", "*")),
		rbacLine(2*time.Hour, "update", "clusterroles", "", "was-wide", clusterRole("was-wide", "get")),
		rbacLine(3*time.Hour, "create", "clusterroles", "", "gone", clusterRole("gone", "*")),
		rbacLine(4*time.Hour, "delete", "clusterroles", "", "gone", nil),
	}
	for i := range 200 { // other traffic, which the index lets the look-back skip
		yesterday = append(yesterday, rbacLine(5*time.Hour+time.Duration(i)*time.Second, "get", "clusterroles", "", "view", nil))
	}
	today := []string{
		rbacLine(20*time.Hour, "create", "clusterrolebindings", "", "b1", bindingTo("b1", "ops-wide")),
		rbacLine(20*time.Hour+time.Minute, "create", "clusterrolebindings", "", "b2", bindingTo("b2", "was-wide")),
		rbacLine(20*time.Hour+2*time.Minute, "create", "clusterrolebindings", "", "b3", bindingTo("b3", "gone")),
	}
	dir := t.TempDir()
	for name, lines := range map[string][]string{"audit.log.1": yesterday, "audit.log": today} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := file.New(file.Config{Paths: []string{dir}}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		t.Fatal(err)
	}
	src := &segmentCounter{Source: fs}
	store, err := index.Open(t.TempDir(), 1<<30, "")
	if err != nil {
		t.Fatal(err)
	}
	q, err := parseQuery(`{"queryType":"detections","rules":["binding-to-wildcard-role"]}`)
	if err != nil {
		t.Fatal(err)
	}
	cache := NewCache(0)
	from, to := r0.Add(19*time.Hour), r0.Add(21*time.Hour)
	run := func(s source.Source, from, to time.Time, c *Cache) []string {
		t.Helper()
		res, err := Run(context.Background(), s, Request{Query: q, From: from, To: to, Detect: detect.Config{RoleLookback: 24 * time.Hour}, Roles: &RoleIndex{}, Cache: c, Index: store})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range res.Detections.Findings {
			out = append(out, f.Name+": "+f.Detail)
		}
		return out
	}
	want := run(struct{ source.Source }{fs}, from, to, nil) // no segments: the role index
	if len(want) != 1 || !strings.HasPrefix(want[0], "b1: grants ClusterRole ops-wide") {
		t.Fatalf("role index: %v", want)
	}
	// Cold: each segment is read whole once (for the look-back or the range), building its index.
	if got := run(src, from, to, cache); !slices.Equal(got, want) {
		t.Errorf("through segments: %v, want %v", got, want)
	}
	if src.scans != 2 {
		t.Errorf("cold: %d segment scans, want 2 (one per file)", src.scans)
	}
	// Another range of the same day, with an empty cache: the look-back is answered from the
	// rotation's index, reading back only its five role writes.
	src.scans, src.readBacks = 0, 0
	if got := run(src, from.Add(-time.Hour), to, NewCache(0)); !slices.Equal(got, want) {
		t.Errorf("from the index: %v, want %v", got, want)
	}
	if src.readBacks == 0 {
		t.Errorf("from the index: no lines read back (%d scans)", src.scans)
	}
	// A refresh ten minutes later: everything from the cache.
	src.scans, src.readBacks = 0, 0
	if got := run(src, from.Add(10*time.Minute), to.Add(10*time.Minute), cache); !slices.Equal(got, want) {
		t.Errorf("refresh: %v, want %v", got, want)
	}
	if src.scans != 0 || src.readBacks != 0 {
		t.Errorf("refresh: %d segment scans, %d read-backs, want none", src.scans, src.readBacks)
	}
}

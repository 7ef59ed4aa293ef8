package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// exactSource is a remote source at its most selective: it sends only the lines that match the
// filter it is given, tested exactly (a line filter or filter pattern sends more). Lines that
// do not decode are sent, as a line filter may. delivered counts what it sent.
type exactSource struct {
	lines
	delivered int
	filters   []*query.Filter
}

func (s *exactSource) Scan(ctx context.Context, req source.Request, fn source.LineFunc) (source.Stats, error) {
	s.filters = append(s.filters, req.Filter)
	var m *query.Matcher
	if req.Filter != nil {
		m = req.Filter.Compile()
	}
	var sc *audit.Scanner
	if m != nil {
		sc = audit.NewScanner(m.Needs())
	}
	var st source.Stats
	var rec audit.Record
	for _, l := range s.lines {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if m != nil && sc.Scan([]byte(l), &rec) == nil && !m.Match(&rec) {
			continue
		}
		s.delivered++
		st.LinesRead++
		if err := fn([]byte(l)); err != nil {
			return st, err
		}
	}
	return st, nil
}

// incidentLines is a generated busy log with the scripted intrusion, malformed lines and the
// default mix of audit levels; without: its ResponseStarted events left out (a policy that
// omits that stage), for the notice the stream rules give then.
func incidentLines(t testing.TB, withoutStarted bool) lines {
	t.Helper()
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 5, Start: t0, Duration: 2 * time.Hour, Requests: 4000, Incident: true}); err != nil {
		t.Fatal(err)
	}
	var out lines
	for _, l := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		if withoutStarted && strings.Contains(l, `"stage":"ResponseStarted"`) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// fixtureLines are the audit events of testdata/audit (real samples of many rules' cases).
func fixtureLines(t testing.TB) lines {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "audit", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	var out lines
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
	}
	return out
}

// timeSpan is a range holding every event of ls.
func timeSpan(ls lines) (from, to time.Time) {
	for _, l := range ls {
		if tm, ok := audit.LineTime([]byte(l)); ok {
			from, to = widen(from, to, tm, tm)
		}
	}
	return from.Add(-time.Minute), to.Add(time.Minute)
}

// prefilterSets are the rule selections the prefilter is tested on: every rule alone, a few
// sets, a severity and every rule.
func prefilterSets() [][]string {
	var sets [][]string
	for _, r := range detect.Rules() {
		sets = append(sets, []string{r.ID})
	}
	return append(sets,
		[]string{"exec-into-pod", "risky-exec-command", "port-forward"},
		[]string{"secret-read-unexpected", "secrets-list-wide", "many-secrets-read"},
		[]string{"binding-privileged", detect.RoleRule, "role-dangerous", "system-role-modified", "rbac-then-workload"},
		[]string{"exec-into-pod", "denied-burst"},
		[]string{"privileged-workload", "system-namespace-workload", "nodeport-service", "configmap-credentials"},
		[]string{"system-identity-public-ip", detect.TokenOutsideRule},
		[]string{"*"},
		nil,
	)
}

// TestDetectionsPrefilterSameResult: for every rule alone, sets of rules and all of them, in
// both formats, with and without the query's own filter (exclusions and globs too), detections
// over a source that sends only the prefiltered lines equal detections over the whole log:
// findings and notices (the one that says the read was narrowed aside). Single rules with a
// prefilter are sent fewer lines.
func TestDetectionsPrefilterSameResult(t *testing.T) {
	cfg := detect.Config{ClusterNetworks: []string{"10.0.0.0/8", "172.16.0.0/12"}, Profile: detect.ProfileKnownGood}
	filters := []string{``, `,"filter":{"users":["!system:kube-*"],"namespaces":["!kube-public"]}`, `,"filter":{"resources":["pods","secrets","*roles"],"users":["*"]}`,
		// The security dashboard's variables at All, and at one value.
		`,"filter":{"namespaces":["*"],"users":["*"],"verbs":["*"],"resources":["*"],"userKinds":["*"]}`,
		`,"filter":{"namespaces":["*"],"users":["*"],"verbs":["get"],"resources":["secrets"],"userKinds":["*"]}`}
	if raceDetector { // no filter, and the dashboard's at All
		filters = []string{filters[0], filters[3]}
	}
	for _, set := range []string{"incident", "incident without ResponseStarted", "testdata/audit"} {
		withoutStarted := set == "incident without ResponseStarted"
		var data lines
		if set == "testdata/audit" {
			data = fixtureLines(t)
		} else {
			data = incidentLines(t, withoutStarted)
		}
		from, to := timeSpan(data)
		sets := prefilterSets()
		if raceDetector { // a few rules, sets and all
			sets = [][]string{{"exec-into-pod"}, {"denied-burst"}, {"privileged-workload"}, {"exec-into-pod", "risky-exec-command", "port-forward"}, nil}
			if set != "incident without ResponseStarted" {
				continue
			}
		}
		for _, rules := range sets {
			for fi, filter := range filters {
				if fi > 0 && len(rules) == 1 && !slices.Contains([]string{"exec-into-pod", "denied-burst", detect.RoleRule, "many-secrets-read", "privileged-workload"}, rules[0]) {
					continue // the query's filter is combined on a few selections only
				}
				for _, format := range []string{"table", "timeseries"} {
					ids := `"rules":` + jsonList(rules)
					if rules == nil {
						ids = `"rules":[]`
					}
					raw := fmt.Sprintf(`{"queryType":"detections","format":%q,"limit":10000,%s%s}`, format, ids, filter)
					name := raw + " over " + set
					var own query.Filter
					run := func(src source.Source) *Result {
						q, err := query.Parse([]byte(raw), "")
						if err != nil {
							t.Fatal(err)
						}
						own = q.Filter
						res, err := Run(context.Background(), src, Request{Query: q, From: from, To: to, Interval: time.Minute, MaxDataPoints: 300, Detect: cfg, Workers: 2})
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						return res
					}
					want := run(data)
					narrow := &exactSource{lines: data}
					got := run(narrow)
					stripPrefilterNotice(want) // a source without segments: it may filter lines
					narrowed := stripPrefilterNotice(got)
					if d := cmp.Diff(want, got, cmpopts.IgnoreFields(Result{}, "Stats"), cmpopts.IgnoreUnexported(detect.Finding{}), cmpopts.EquateEmpty()); d != "" {
						t.Errorf("%s: whole log vs prefiltered (-whole +prefiltered):\n%.4000s", name, d)
					}
					if format == "table" && fi == 0 && !withoutStarted {
						t.Logf("%s", set)
						t.Logf("%v: %d findings, %d notices; the source sent %d of %d lines", rules, want.Detections.Total, len(want.Notices), narrow.delivered, len(data))
					}
					rs, _ := detectionRules(&query.Query{Rules: rules})
					p, _ := detectionsPrefilter(rs)
					hasPrefilter := p != nil
					if pushable := hasPrefilter && prefilterPushable(p); narrowed != pushable {
						t.Errorf("%s: prefilter notice %v, pushable prefilter %v", name, narrowed, pushable)
					}
					if hasPrefilter && len(rules) == 1 && narrow.delivered*10 > len(data)*6 {
						t.Errorf("%s: the source sent %d of %d lines", name, narrow.delivered, len(data))
					}
					if !hasPrefilter && !cmp.Equal(*narrow.filters[0], own, cmpopts.EquateEmpty()) {
						t.Errorf("%s: no prefilter, yet the source was asked for %+v, not the query's filter %+v", name, *narrow.filters[0], own)
					}
				}
			}
		}
	}
}

// stripPrefilterNotice removes the notice that the read was narrowed, reporting whether it was there.
func stripPrefilterNotice(res *Result) bool {
	found := false
	var keep []Notice
	for _, n := range res.Notices {
		if strings.HasPrefix(n.Text, prefilterNoticePrefix) {
			found = true
			continue
		}
		keep = append(keep, n)
	}
	res.Notices = keep
	return found
}

func jsonList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// TestDetectionsPrefilterKeepsEnvelopesExact: a single-rule detections query gives the source
// its rules' prefilter with the query's filter only where the source gets a filter at all:
// bare lines, not an envelope that escapes the event (docker), whose literals would not match.
func TestDetectionsPrefilterKeepsEnvelopesExact(t *testing.T) {
	var bare lines
	for i, sub := range []string{"exec", "", "exec", "log"} {
		e := ev{at: time.Duration(i) * 7 * time.Minute, verb: "create", user: "alice", code: 101, resource: "pods", sub: sub, ns: "prod", name: "web"}
		bare = append(bare, e.line())
	}
	var out bytes.Buffer
	ew, _ := auditgen.NewEnvelopeWriter(&out, auditgen.EnvelopeDocker)
	ew.Write([]byte(strings.Join(bare, "\n") + "\n"))
	docker := lines(strings.Split(strings.TrimSpace(out.String()), "\n"))
	raw := `{"queryType":"detections","rules":["exec-into-pod"],"filter":{"users":["!bob"]}}`
	var want *Result
	for _, tc := range []struct {
		src    lines
		env    envelope.Format
		filter bool
	}{{bare, envelope.Bare, true}, {bare, envelope.Auto, true}, {docker, envelope.Docker, false}} {
		src := &filterSeen{countingLines: &countingLines{lines: tc.src}}
		q, err := parseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), src, Request{Query: q, From: t0.Add(-time.Minute), To: t0.Add(time.Hour), Envelope: tc.env})
		if err != nil {
			t.Fatal(err)
		}
		if got := stripPrefilterNotice(res); got != tc.filter {
			t.Errorf("%s: prefilter notice %v, want %v", tc.env, got, tc.filter)
		}
		if want == nil {
			want = res
		} else if d := cmp.Diff(want, res, cmpopts.IgnoreFields(Result{}, "Stats"), cmpopts.IgnoreUnexported(detect.Finding{})); d != "" {
			t.Errorf("%s: (-bare +got):\n%s", tc.env, d)
		}
		for _, r := range src.filters {
			switch {
			case !tc.filter && r.Filter != nil:
				t.Errorf("%s: the source was given a filter: %+v", tc.env, r.Filter)
			case tc.filter && (r.Filter == nil || !slices.Equal(r.Filter.Resources, []string{"pods"}) ||
				!slices.Equal(r.Filter.Subresources, []string{"attach", "exec"}) || !slices.Equal(r.Filter.Users, []string{"!bob"})):
				t.Errorf("%s: the source was given %+v, want the rule's prefilter and the query's filter", tc.env, r.Filter)
			}
		}
	}
	if want.Detections == nil || want.Detections.Total != 1 || want.Detections.Findings[0].Count != 2 {
		t.Errorf("findings %+v, want the two execs (grouped)", want.Detections)
	}
}

package loki_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// incidentLog is 6 h of a generated busy log with the scripted intrusion and malformed lines.
func incidentLog(t testing.TB) []string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 7, Start: genStart, Duration: 6 * time.Hour, Requests: 3000, Incident: true, MalformedEvery: 500}); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
}

// TestDetectionsPrefilterEqualsFile: detections of every rule alone, of sets of rules and of
// all of them, table and timeseries, read from Loki through the rules' line prefilters equal
// the file's (the notices that say what was skipped or narrowed aside), and a single rule pulls
// a small part of the lines.
func TestDetectionsPrefilterEqualsFile(t *testing.T) {
	lines := incidentLog(t)
	srv := lokitest.New()
	defer srv.Close()
	load(srv, lines, noLag)
	lk := newSource(t, srv, nil)
	file := fileSource(t, lines)
	from, to := genStart.Add(-time.Minute), genStart.Add(6*time.Hour+time.Minute)
	var sets [][]string
	for _, r := range detect.Rules() {
		sets = append(sets, []string{r.ID})
	}
	sets = append(sets, []string{"exec-into-pod", "risky-exec-command", "port-forward"},
		[]string{"secret-read-unexpected", "secrets-list-wide", "many-secrets-read"},
		[]string{"binding-privileged", detect.RoleRule, "role-dangerous", "rbac-then-workload"}, nil)
	if raceEnabled { // the rules the pull is checked on, a set, and all
		sets = [][]string{{"exec-into-pod"}, {"many-secrets-read"}, {"denied-burst"}, sets[len(sets)-4], nil}
	}
	pulled := map[string]int64{}
	narrowedOrSkipped := func(n engine.Notice) bool {
		return strings.HasPrefix(n.Text, "skipped") || strings.HasPrefix(n.Text, "asked the source only for")
	}
	for _, rules := range sets {
		ids := `[]`
		if rules != nil {
			ids = `["` + strings.Join(rules, `","`) + `"]`
		}
		for _, format := range []string{"table", "timeseries"} {
			js := fmt.Sprintf(`{"queryType":"detections","format":%q,"limit":10000,"rules":%s}`, format, ids)
			req := engine.Request{Query: parse(t, js), From: from, To: to, Interval: 5 * time.Minute, MaxDataPoints: 1000,
				Detect: detect.Config{ClusterNetworks: []string{"10.0.0.0/8"}}}
			want, err := engine.Run(context.Background(), file, req)
			if err != nil {
				t.Fatal(err)
			}
			req.Query = parse(t, js)
			got, err := engine.Run(context.Background(), lk, req)
			if err != nil {
				t.Fatal(err)
			}
			narrowed := slices.ContainsFunc(got.Notices, func(n engine.Notice) bool { return strings.HasPrefix(n.Text, "asked the source only for") })
			want.Notices = slices.DeleteFunc(want.Notices, narrowedOrSkipped)
			got.Notices = slices.DeleteFunc(got.Notices, narrowedOrSkipped)
			if d := diffResults(got, want); d != "" {
				t.Errorf("%s: Loki differs from the file (-file +loki):\n%.3000s", js, d)
			}
			if format == "table" {
				pulled[ids] = got.Stats.Source.LinesRead
				if got.Detections.Total > 0 || narrowed {
					t.Logf("%s: %d findings, %d of %d lines pulled (narrowed %v)", ids, got.Detections.Total, got.Stats.Source.LinesRead, len(lines), narrowed)
				}
			}
		}
	}
	// The security dashboard's query with its variables at All (`*`) and one rule picked: the
	// prefilter's exact values stand in for the `*`.
	before := len(srv.Queries())
	dash := `{"queryType":"detections","format":"table","rules":["many-secrets-read"],"severities":["*"],` +
		`"filter":{"namespaces":["*"],"users":["*"],"verbs":["*"],"resources":["*"],"userKinds":["*"]}}`
	res, err := engine.Run(context.Background(), lk, engine.Request{Query: parse(t, dash), From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(srv.Queries()[before:], func(q string) bool {
		return strings.Contains(q, `"resource\":\"(secrets)\""`) && strings.Contains(q, `"verb\":\"(get)\""`)
	}) || res.Stats.Source.LinesRead != pulled[`["many-secrets-read"]`] {
		t.Errorf("the dashboard's query pulled %d lines (the rule alone %d): %q", res.Stats.Source.LinesRead, pulled[`["many-secrets-read"]`], srv.Queries()[before:])
	}
	all := pulled["[]"]
	for _, c := range []struct {
		ids    string
		filter string
	}{
		{`["exec-into-pod"]`, `"subresource\":\"(attach|exec)\""`},
		{`["many-secrets-read"]`, `"resource\":\"(secrets)\""`},
		{`["denied-burst"]`, `"code\":(401|403)[,}]`},
	} {
		if pulled[c.ids]*10 > all {
			t.Errorf("%s pulled %d lines, all rules %d", c.ids, pulled[c.ids], all)
		}
		if !slices.ContainsFunc(srv.Queries(), func(q string) bool { return strings.Contains(q, c.filter) }) {
			t.Errorf("%s: no query holds %s", c.ids, c.filter)
		}
	}
}

// BenchmarkDetectionsPrefilter: detections of single rules and of a few sets over 24 h of a
// generated busy log with the scripted intrusion in lokitest, against all rules (no prefilter
// possible: the whole range is pulled): lines pulled and bytes Loki sent back.
//
//	go test -run '^$' -bench DetectionsPrefilter -benchtime 1x ./pkg/source/loki/
func BenchmarkDetectionsPrefilter(b *testing.B) {
	start := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 11, Start: start, Duration: 24 * time.Hour, Requests: 30000, Incident: true}); err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	srv := lokitest.New()
	defer srv.Close()
	load(srv, lines, noLag)
	purl, requests, bytesOut, _ := meteredProxy(b, srv.URL)
	lk := newSource(b, srv, func(c *loki.Config) { c.URL = purl })
	from, to := start, start.Add(24*time.Hour)
	run := func(rules string) (reqs, out, pulled int64, findings int) {
		b.Helper()
		requests.Store(0)
		bytesOut.Store(0)
		js := `{"queryType":"detections","limit":10000,"rules":` + rules + `}`
		res, err := engine.Run(context.Background(), lk, engine.Request{Query: parse(b, js), From: from, To: to})
		if err != nil {
			b.Fatalf("%s: %v", js, err)
		}
		return requests.Load(), bytesOut.Load(), res.Stats.Source.LinesRead, res.Detections.Total
	}
	b.Logf("log: %d lines, %d bytes over 24 h", len(lines), buf.Len())
	for range b.N {
		ar, ab, al, af := run(`[]`)
		b.Logf("all rules: %d requests, %d lines, %d bytes, %d findings", ar, al, ab, af)
		for _, c := range []struct{ name, rules string }{
			{"exec-into-pod", `["exec-into-pod"]`},
			{"risky-exec-command", `["risky-exec-command"]`},
			{"secret-read-unexpected", `["secret-read-unexpected"]`},
			{"many-secrets-read", `["many-secrets-read"]`},
			{"secrets", `["secret*","many-secrets-read"]`},
			{"denied-burst", `["denied-burst"]`},
			{"binding-to-wildcard-role", `["binding-to-wildcard-role"]`},
			{"privileged-workload", `["privileged-workload"]`},
			{"token-outside-cluster", `["token-outside-cluster"]`},
		} {
			r, o, l, f := run(c.rules)
			b.Logf("%s: %d requests, %d lines, %d bytes (%.2f %% of all rules'), %d findings", c.name, r, l, o, 100*float64(o)/float64(ab), f)
			b.ReportMetric(100*float64(o)/float64(ab), c.name+"-%all-bytes")
		}
	}
}

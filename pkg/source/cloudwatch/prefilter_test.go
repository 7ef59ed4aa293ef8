package cloudwatch_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
)

// TestDetectionsPrefilterEqualsFile: detections of every rule alone, of sets of rules and of
// all of them, table and timeseries, read from CloudWatch through the rules' filter patterns
// equal the file's (the notice that says the read was narrowed aside), and a single rule reads
// a small part of the events.
func TestDetectionsPrefilterEqualsFile(t *testing.T) {
	fx := loadFixtures(t)
	srv := newServer(t, fx)
	srv.PageSize = 500
	cw := newSource(t, srv, nil, cloudwatch.Options{})
	fs, err := file.New(file.Config{Paths: []string{writeFile(t, fx)}}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		t.Fatal(err)
	}
	var sets [][]string
	for _, r := range detect.Rules() {
		sets = append(sets, []string{r.ID})
	}
	sets = append(sets, []string{"exec-into-pod", "risky-exec-command", "port-forward"},
		[]string{"binding-privileged", detect.RoleRule, "role-dangerous", "system-role-modified"}, nil)
	if raceEnabled { // the rules the read is checked on, a set, and all
		sets = [][]string{{"exec-into-pod"}, {"many-secrets-read"}, {"denied-burst"}, {"role-dangerous"}, sets[len(sets)-3], nil}
	}
	rng := equivalenceRanges[0]
	read := map[string]int64{}
	for _, rules := range sets {
		ids := `[]`
		if rules != nil {
			ids = `["` + strings.Join(rules, `","`) + `"]`
		}
		for _, format := range []string{"table", "timeseries"} {
			raw := fmt.Sprintf(`{"queryType":"detections","format":%q,"limit":10000,"rules":%s}`, format, ids)
			run := func(src source.Source) *engine.Result {
				q, err := query.Parse([]byte(raw), "")
				if err != nil {
					t.Fatal(err)
				}
				req := engine.Request{Query: q, From: rng[0], To: rng[1], Interval: time.Minute, MaxDataPoints: 1000, Workers: 1,
					Detect: detect.Config{ClusterNetworks: []string{"10.0.0.0/8"}}}
				res, err := engine.Run(testCtx(t), src, req)
				if err != nil {
					t.Fatalf("%s: %v", raw, err)
				}
				return res
			}
			want, got := run(fs), run(cw)
			lines := got.Stats.Source.LinesRead
			got.Notices = slices.DeleteFunc(got.Notices, func(n engine.Notice) bool { return strings.HasPrefix(n.Text, "asked the source only for") })
			want.Stats, got.Stats = engine.Stats{}, engine.Stats{}
			if d := cmp.Diff(want, got, cmpopts.EquateEmpty(), cmpopts.IgnoreUnexported(detect.Finding{})); d != "" {
				t.Errorf("%s: CloudWatch differs from the file (-file +cloudwatch):\n%.3000s", raw, d)
			}
			if format == "table" {
				read[ids] = lines
				t.Logf("%s: %d findings, %d of %d events read", ids, want.Detections.Total, lines, len(fx))
			}
		}
	}
	for _, ids := range []string{`["exec-into-pod"]`, `["many-secrets-read"]`, `["denied-burst"]`, `["role-dangerous"]`} {
		if read[ids]*5 > read["[]"] {
			t.Errorf("%s read %d events, all rules %d", ids, read[ids], read["[]"])
		}
	}
}

// BenchmarkDetectionsPrefilter: detections of single rules and of a set over 24 h of a
// generated busy log with the scripted intrusion in cwtest, against all rules (no prefilter
// possible: the whole range is read): FilterLogEvents pages, events read and bytes sent back.
//
//	go test -run '^$' -bench DetectionsPrefilter -benchtime 1x ./pkg/source/cloudwatch/
func BenchmarkDetectionsPrefilter(b *testing.B) {
	start := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 11, Start: start, Duration: 24 * time.Hour, Requests: 30000, Incident: true}); err != nil {
		b.Fatal(err)
	}
	var fx []fixture
	for l := range strings.SplitSeq(strings.TrimRight(buf.String(), "\n"), "\n") {
		if tm, ok := audit.LineTime([]byte(l)); ok {
			fx = append(fx, fixture{l, tm.UnixMilli()})
		}
	}
	srv := newServer(b, fx)
	purl, m := meteredCloudWatch(b, srv.URL)
	cw := newSource(b, srv, func(c *cloudwatch.Config) { c.Endpoint = purl }, cloudwatch.Options{})
	from, to := start, start.Add(24*time.Hour)
	run := func(rules string) (pages, out, read int64, findings int) {
		b.Helper()
		m.reset()
		q, err := query.Parse([]byte(`{"queryType":"detections","limit":10000,"rules":`+rules+`}`), "")
		if err != nil {
			b.Fatal(err)
		}
		res, err := engine.Run(context.Background(), cw, engine.Request{Query: q, From: from, To: to})
		if err != nil {
			b.Fatalf("%s: %v", rules, err)
		}
		return m.pages.Load(), m.bytesOut.Load(), res.Stats.Source.LinesRead, res.Detections.Total
	}
	b.Logf("log: %d events, %d bytes over 24 h", len(fx), buf.Len())
	for range b.N {
		ap, ab, al, af := run(`[]`)
		b.Logf("all rules: %d pages, %d events, %d bytes, %d findings", ap, al, ab, af)
		for _, c := range []struct{ name, rules string }{
			{"exec-into-pod", `["exec-into-pod"]`},
			{"secrets", `["secret*","many-secrets-read"]`},
			{"denied-burst", `["denied-burst"]`},
			{"binding-to-wildcard-role", `["binding-to-wildcard-role"]`},
		} {
			p, o, l, f := run(c.rules)
			b.Logf("%s: %d pages, %d events, %d bytes (%.2f %% of all rules'), %d findings", c.name, p, l, o, 100*float64(o)/float64(ab), f)
			b.ReportMetric(100*float64(o)/float64(ab), c.name+"-%all-bytes")
		}
	}
}

// TestEventsByAuditIDReadsOnlyTheirEvents: an events query with auditIDs (the raw-event link of
// tables and findings) asks CloudWatch only for those requests' events (a filter pattern on
// the auditID), and its result is the file's.
func TestEventsByAuditIDReadsOnlyTheirEvents(t *testing.T) {
	fx := loadFixtures(t)
	srv := newServer(t, fx)
	cw := newSource(t, srv, nil, cloudwatch.Options{})
	fs, err := file.New(file.Config{Paths: []string{writeFile(t, fx)}}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range []fixture{fx[0], fx[len(fx)/2], fx[len(fx)-1]} {
		r, err := audit.Decode([]byte(f.line))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, string(r.Str(audit.FieldAuditID)))
	}
	rng := equivalenceRanges[0]
	for _, format := range []string{"logs", "table"} {
		raw := `{"queryType":"events","format":"` + format + `","limit":1000,"auditIDs":["` + strings.Join(ids, `","`) + `"]}`
		run := func(src source.Source) *engine.Result {
			q, err := query.Parse([]byte(raw), "")
			if err != nil {
				t.Fatal(err)
			}
			res, err := engine.Run(testCtx(t), src, engine.Request{Query: q, From: rng[0], To: rng[1], Interval: time.Minute, MaxDataPoints: 1000})
			if err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			return res
		}
		want, got := run(fs), run(cw)
		read := got.Stats.Source.LinesRead
		skipped := func(n engine.Notice) bool { return strings.HasPrefix(n.Text, "skipped") }
		want.Notices = slices.DeleteFunc(want.Notices, skipped)
		want.Stats, got.Stats = engine.Stats{}, engine.Stats{}
		if d := cmp.Diff(want, got, cmpopts.EquateEmpty(), cmp.Exporter(func(reflect.Type) bool { return true })); d != "" {
			t.Errorf("%s: CloudWatch differs from the file (-file +cloudwatch):\n%.3000s", format, d)
		}
		if len(want.Events.Events) < len(ids) {
			t.Fatalf("%s: %d events for %d requests", format, len(want.Events.Events), len(ids))
		}
		t.Logf("%s: read %d of %d events", format, read, len(fx))
		if read > int64(4*len(ids)) {
			t.Errorf("%s: read %d of %d events for the events of %d requests", format, read, len(fx), len(ids))
		}
	}
}

package loki_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// wrap returns lines in an envelope format (auditgen), each stamped with the time of the bare
// line it came from (a line without one takes the previous line's).
func wrap(t *testing.T, lines []string, format string) ([]string, []time.Time) {
	t.Helper()
	var buf bytes.Buffer
	ew, err := auditgen.NewEnvelopeWriter(&buf, format)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var stamps []time.Time
	prev := genStart
	for _, l := range lines {
		if ts, ok := audit.LineTime([]byte(l)); ok {
			prev = ts
		}
		buf.Reset()
		if _, err := ew.Write([]byte(l + "\n")); err != nil {
			t.Fatal(err)
		}
		if buf.Len() == 0 {
			continue // GKE writes one entry per request
		}
		for _, w := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
			out = append(out, w)
			stamps = append(stamps, prev)
		}
	}
	return out, stamps
}

func pushStamped(srv *lokitest.Server, lines []string, stamps []time.Time) {
	for i, l := range lines {
		host := []string{"master-1", "master-2"}[i%2]
		srv.Push(map[string]string{"job": "kubernetes-audit", "host": host}, stamps[i], l)
	}
}

// checks counts the queries that asked Loki for the lines that may hold an event in an
// envelope (source.BareChecker).
func checks(qs []string) int {
	n := 0
	for _, q := range qs {
		if strings.Contains(q, "protoPayload") {
			n++
		}
	}
	return n
}

// TestAutoFormatExactOverEnvelopes: under the default line format (auto), events that reach
// Loki in an envelope (docker, Fluent Bit, AKS, CRI, GKE) give the same answer from Loki as
// from a file of the same lines, for every query type: the engine first counts in Loki the
// lines that may hold an event in an envelope, finds some, and then gives Loki neither line
// filters (a literal of the event is escaped in the line) nor a count to make (`| json` would
// parse the envelope). sourceMode pushdown is refused with the reason.
func TestAutoFormatExactOverEnvelopes(t *testing.T) {
	// Every query pulls every line through lokitest: under -race, a fifth of the lines (any
	// subset is a log both sources hold), and the execs that a search looks for.
	bare := generated(t)
	if raceEnabled {
		bare = slices.DeleteFunc(slices.Clone(bare), func(l string) bool {
			return len(l)%5 != 0 && !strings.Contains(l, `"subresource":"exec"`)
		})
	}
	from, to := genStart.Add(-time.Minute), genStart.Add(6*time.Hour+time.Minute)
	for _, format := range []string{auditgen.EnvelopeDocker, auditgen.EnvelopeFluentBit, auditgen.EnvelopeAKS, auditgen.EnvelopeCRI, auditgen.EnvelopeGKE} {
		t.Run(format, func(t *testing.T) {
			lines, stamps := wrap(t, bare, format)
			srv := lokitest.New()
			defer srv.Close()
			pushStamped(srv, lines, stamps)
			lk := newSource(t, srv, nil)
			fs := fileSource(t, lines)
			for _, js := range allQueries {
				req := engine.Request{Query: parse(t, js), From: from, To: to, Interval: 5 * time.Minute, MaxDataPoints: 1000}
				got, err := engine.Run(context.Background(), lk, req)
				if strings.Contains(js, `"pushdown"`) {
					if err == nil || !strings.Contains(err.Error(), "not bare audit JSON") {
						t.Errorf("%s: sourceMode pushdown over %s lines: err %v, want a refusal", js, format, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", js, err)
				}
				req.Query = parse(t, js)
				want, err := engine.Run(context.Background(), fs, req)
				if err != nil {
					t.Fatal(err)
				}
				if want.Stats.Matched == 0 && format != auditgen.EnvelopeGKE { // GKE logs final stages only
					t.Fatalf("%s: the query matched nothing in the %s file", js, format)
				}
				if !slices.ContainsFunc(got.Notices, func(n engine.Notice) bool { return strings.Contains(n.Text, "not bare audit JSON (line format auto)") }) {
					t.Errorf("%s: no notice that the lines are not bare: %v", js, got.Notices)
				}
				drop := func(n engine.Notice) bool {
					return strings.HasPrefix(n.Text, "skipped") || strings.Contains(n.Text, "not bare audit JSON")
				}
				got.Notices = slices.DeleteFunc(got.Notices, drop)
				want.Notices = slices.DeleteFunc(want.Notices, drop)
				if d := diffResults(got, want); d != "" {
					t.Errorf("%s over %s lines: Loki differs from the file (-file +loki):\n%.2000s", js, format, d)
				}
			}
			for _, q := range srv.Queries() {
				if strings.Contains(q, "| json") || strings.Contains(q, `|= "`) {
					t.Errorf("a query parsed or filtered the %s envelope: %s", format, q)
					break
				}
			}
		})
	}
}

// TestAutoFormatMixedAndBare: one docker line among bare ones is enough to keep the filters in
// the plugin; over bare lines (malformed ones included) auto counts in Loki, and a second run
// asks Loki for no check at all (the check's buckets are whole, finished and cached).
func TestAutoFormatMixedAndBare(t *testing.T) {
	bare := generated(t)
	from, to := genStart.Add(-time.Minute), genStart.Add(6*time.Hour+time.Minute)
	js := `{"queryType":"timeseries","sourceMode":"auto","groupBy":["verb"],"filter":{"verbs":["get","list"]}}`

	mixed := slices.Clone(bare)
	docker, _ := wrap(t, mixed[700:701], auditgen.EnvelopeDocker)
	mixed[700] = docker[0]
	_, stamps := wrap(t, mixed, auditgen.EnvelopeBare)
	srv := lokitest.New()
	defer srv.Close()
	pushStamped(srv, mixed, stamps)
	lk := newSource(t, srv, nil)
	req := engine.Request{Query: parse(t, js), From: from, To: to, Interval: 5 * time.Minute, MaxDataPoints: 1000}
	got, err := engine.Run(context.Background(), lk, req)
	if err != nil {
		t.Fatal(err)
	}
	req.Query = parse(t, js)
	want, err := engine.Run(context.Background(), fileSource(t, mixed), req)
	if err != nil {
		t.Fatal(err)
	}
	if got.Notices[0].Text != "1 line of this range is not bare audit JSON (line format auto): the plugin unwraps and filters every line itself, and the source neither filters nor counts them" {
		t.Errorf("notices %v", got.Notices)
	}
	if d := cmp.Diff(want.Series, got.Series); d != "" {
		t.Errorf("mixed lines: Loki differs from the file (-file +loki):\n%s", d)
	}

	srv2 := lokitest.New()
	defer srv2.Close()
	load(srv2, bare, noLag)
	lk2 := newSource(t, srv2, func(c *loki.Config) { c.PushdownMinLines = 1; c.CountCacheBytes = 1 << 20 })
	for run := range 2 {
		before := len(srv2.Queries())
		req.Query = parse(t, js)
		res, err := engine.Run(context.Background(), lk2, req)
		if err != nil {
			t.Fatal(err)
		}
		if res.Notices[0].Text != "counted by the source (pushdown)" {
			t.Errorf("run %d over bare lines: notices %v, want a count in Loki", run, res.Notices)
		}
		n := checks(srv2.Queries()[before:])
		if run == 0 && n == 0 {
			t.Error("no check of the line format was sent")
		}
		if run == 1 && n > 0 {
			t.Errorf("second run sent %d checks, want none (the check's buckets are whole, finished and cached): %q", n, srv2.Queries()[before:])
		}
	}
}

package engine

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// filterSeen records the filter a scan was given.
type filterSeen struct {
	*countingLines
	filters []*source.Request
}

func (f *filterSeen) Scan(ctx context.Context, req source.Request, fn source.LineFunc) (source.Stats, error) {
	f.filters = append(f.filters, &req)
	return f.countingLines.Scan(ctx, req, fn)
}

// TestEnvelopeKeepsRemoteFiltersExact: a source whose lines are in an envelope that escapes
// the event (docker) is neither asked to count (it would parse the envelope) nor given the
// filter for its line filters (a literal of the event is escaped in the line); the answer is
// the bare one. Bare, CRI and auto lines keep both.
func TestEnvelopeKeepsRemoteFiltersExact(t *testing.T) {
	var bare lines
	for i, verb := range []string{"get", "get", "list", "watch", "get", "delete"} {
		bare = append(bare, ev{at: time.Duration(i) * 7 * time.Minute, verb: verb, user: "u", code: 200}.line())
	}
	var out bytes.Buffer
	ew, _ := auditgen.NewEnvelopeWriter(&out, auditgen.EnvelopeDocker)
	ew.Write([]byte(strings.Join(bare, "\n") + "\n"))
	var docker lines
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		docker = append(docker, l)
	}
	raw := `{"groupBy":["verb"],"queryType":"timeseries"}`
	want := run(t, &countingLines{lines: bare}, strings.Replace(raw, "{", `{"sourceMode":"raw",`, 1), 5*time.Minute)
	for _, tc := range []struct {
		src    lines
		env    envelope.Format
		counts int
		filter bool
	}{
		{bare, envelope.Auto, 1, true},
		{bare, envelope.Bare, 1, true},
		{docker, envelope.Docker, 0, false},
	} {
		src := &filterSeen{countingLines: &countingLines{lines: tc.src, prefer: true}}
		q, err := parseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), src, Request{Query: q, From: t0, To: t0.Add(time.Hour), Interval: 5 * time.Minute, Envelope: tc.env})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want.Series, res.Series); diff != "" {
			t.Errorf("%s: (-bare +got):\n%s", tc.env, diff)
		}
		if src.counts != tc.counts {
			t.Errorf("%s: Count called %d times, want %d", tc.env, src.counts, tc.counts)
		}
		for _, r := range src.filters {
			if (r.Filter != nil) != tc.filter {
				t.Errorf("%s: scan filter %v, want one: %v", tc.env, r.Filter, tc.filter)
			}
		}
		if tc.counts == 0 && !strings.Contains(res.Notices[0].Text, "docker envelope") {
			t.Errorf("%s: notices %+v", tc.env, res.Notices)
		}
	}
}

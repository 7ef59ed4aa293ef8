package loki_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// topNLines are the requests of a few namespaces, each of one verb per index class, with
// latencies that repeat (ties) and requests in RequestReceived and ResponseComplete stages:
// "big" holds more than engine.ExactSamples requests (its p99 is a sketch's), "mid" and
// "small" fewer, "tie" one latency only, "watch" only long-running requests (no p99), and
// "neg" a request that ended before it was received (no latency). mut may change a line.
func topNLines(mut func(ns string, i int, line string) string) []string {
	var lines []string
	at := genStart
	add := func(ns, verb, sub string, i int, lat time.Duration, code int) {
		at = at.Add(211 * time.Millisecond)
		recv := at.Add(-lat)
		id := fmt.Sprintf("%s-%s-%d", ns, verb, i)
		uri := "/api/v1/namespaces/" + ns + "/pods"
		obj := `"objectRef":{"resource":"pods","namespace":"` + ns + `"`
		if sub != "" {
			obj += `,"subresource":"` + sub + `"`
		}
		obj += `}`
		ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }
		lines = append(lines, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"`+id+`","stage":"RequestReceived","requestURI":"`+uri+
			`","verb":"`+verb+`","user":{"username":"u"},`+obj+`,"requestReceivedTimestamp":"`+ts(recv)+`","stageTimestamp":"`+ts(recv)+`"}`)
		line := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + id + `","stage":"ResponseComplete","requestURI":"` + uri +
			`","verb":"` + verb + `","user":{"username":"u"},` + obj + `,"responseStatus":{"code":` + fmt.Sprint(code) +
			`},"requestReceivedTimestamp":"` + ts(recv) + `","stageTimestamp":"` + ts(at) + `"}`
		if mut != nil {
			line = mut(ns, i, line)
		}
		lines = append(lines, line)
	}
	verbs := []string{"get", "list", "create"}
	for i := range 5000 {
		// Latencies on a 100 µs grid with a long tail: many ties.
		lat := time.Duration((i*7919)%300+1)*100*time.Microsecond + time.Duration(i%97/90)*time.Duration(i%13)*time.Second
		add("big", verbs[i%3], "", i, lat, []int{200, 200, 404, 403}[i%4])
		if i < 400 {
			add("mid", verbs[i%2], "", i, time.Duration(i*i%1000)*time.Millisecond, []int{200, 500, 401}[i%3])
		}
		if i < 60 {
			add("tie", "get", "", i, 5*time.Millisecond, 200)
			add("watch", "watch", "", i, time.Minute, 200)
			add("watch", "get", "exec", i, time.Minute, 101)
		}
		if i < 3 {
			add("small", "delete", "", i, time.Duration(i+1)*time.Second, 200)
			add("neg", "get", "", i, time.Duration(i-1)*time.Second, 200)
		}
	}
	return lines
}

var topNQueries = []string{
	`{"queryType":"topn","sourceMode":"pushdown","groupBy":["objectRef.namespace"],"limit":20}`,
	`{"queryType":"topn","sourceMode":"pushdown","groupBy":["objectRef.namespace","verb"],"sortBy":"errors","limit":6}`,
	`{"queryType":"topn","sourceMode":"pushdown","groupBy":["verb","responseStatus.code"],"sortBy":"denied","limit":50}`,
	`{"queryType":"topn","sourceMode":"pushdown","groupBy":["objectRef.namespace"],"includeLongRunning":true,"limit":10,"filter":{"verbs":["!list"]}}`,
	`{"queryType":"topn","sourceMode":"pushdown","groupBy":["objectRef.subresource","objectRef.namespace"],"limit":4}`,
}

// TestTopNP99ByLoki: the p99 column of a counted topn comes from Loki's histogram of the
// groups' latencies and a few projected lines, and equals the file's (exact and sketched
// cells, ties, long-running requests, a negative latency), in a handful of requests. With
// pages of 40 lines, the buckets holding the ranks are split by a second histogram.
func TestTopNP99ByLoki(t *testing.T) {
	lines := topNLines(nil)
	for _, pageSize := range []int{0, 40} {
		srv := lokitest.New()
		defer srv.Close()
		load(srv, lines, noLag)
		lk := newSource(t, srv, func(c *loki.Config) { c.PageSize = pageSize })
		from, to := genStart.Add(-time.Minute), genStart.Add(time.Hour)
		sketched := false
		for _, js := range topNQueries {
			before := len(srv.Queries())
			want, got := fileAndLoki(t, lines, lk, js, from, to)
			if d := diffResults(got, want); d != "" {
				t.Errorf("page %d, %s: Loki differs from the file (-file +loki):\n%.3000s", pageSize, js, d)
			}
			if !slices.ContainsFunc(got.Notices, func(n engine.Notice) bool { return strings.Contains(n.Text, "p99 latency by the source") }) {
				t.Errorf("page %d, %s: p99 not computed by Loki: %v", pageSize, js, got.Notices)
			}
			sketched = sketched || slices.ContainsFunc(want.Notices, func(n engine.Notice) bool { return strings.HasPrefix(n.Text, "quantiles of") })
			queries := srv.Queries()[before:]
			refined := slices.ContainsFunc(queries, func(q string) bool { return strings.Contains(q, "div (sub") })
			t.Logf("page %d, %s: %d requests, refined %v, %d lines pulled of %d", pageSize, js, len(queries), refined, got.Stats.Source.LinesRead, len(lines))
			if got.Stats.Source.LinesRead*20 > int64(len(lines)) {
				t.Errorf("page %d, %s: pulled %d of %d lines", pageSize, js, got.Stats.Source.LinesRead, len(lines))
			}
			if refined != (pageSize == 40) {
				t.Errorf("page %d, %s: refined %v", pageSize, js, refined)
			}
		}
		if !sketched {
			t.Error("no sketched group: the test data does not reach engine.ExactSamples")
		}
	}
}

// TestTopNP99FallsBack: when a line's timestamps may be read differently by LogQL (an offset
// instead of Z, a missing requestReceivedTimestamp) or Loki refuses the histogram (a lower
// max_query_series), the p99 comes from raw lines and says why, and the result is still the
// file's.
func TestTopNP99FallsBack(t *testing.T) {
	for name, mut := range map[string]func(ns string, i int, line string) string{
		"series": nil,
		"offset": func(ns string, i int, line string) string {
			if ns == "mid" && i == 7 {
				return strings.Replace(line, `Z"}`, `+00:00"}`, 1)
			}
			return line
		},
		"missing": func(ns string, i int, line string) string {
			if ns == "small" && i == 1 {
				head, _, _ := strings.Cut(line, `,"requestReceivedTimestamp"`)
				_, tail, _ := strings.Cut(line, `,"stageTimestamp"`)
				return head + `,"stageTimestamp"` + tail
			}
			return line
		},
	} {
		t.Run(name, func(t *testing.T) {
			lines := topNLines(mut)
			srv := lokitest.New()
			defer srv.Close()
			if mut == nil {
				srv.Limits.MaxQuerySeries = 20
			}
			load(srv, lines, noLag)
			lk := newSource(t, srv, func(c *loki.Config) { c.PageSize = 2000 })
			js := topNQueries[0]
			want, got := fileAndLoki(t, lines, lk, js, genStart.Add(-time.Minute), genStart.Add(time.Hour))
			i := slices.IndexFunc(got.Notices, func(n engine.Notice) bool {
				return strings.HasPrefix(n.Text, "the p99 latency is computed from raw lines: ")
			})
			if i < 0 {
				t.Fatalf("no fallback notice: %v", got.Notices)
			}
			t.Log(got.Notices[i].Text)
			got.Notices = slices.Delete(got.Notices, i, i+1)
			if d := diffResults(got, want); d != "" {
				t.Errorf("Loki differs from the file (-file +loki):\n%.3000s", d)
			}
		})
	}
}

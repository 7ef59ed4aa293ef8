package loki_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// newestVsFull runs js over src as it is (events and denied read newest first where they can)
// and under sourceMode raw (today's full read), and fails unless rows, notices (but the
// newest-first one) and the events matched are the same. It returns the newest-first notice
// ("" when the query was read in full).
func newestVsFull(t *testing.T, src source.Source, js string, from, to time.Time) string {
	t.Helper()
	req := engine.Request{Query: parse(t, js), From: from, To: to, Interval: time.Minute, MaxDataPoints: 1000}
	got, err := engine.Run(context.Background(), src, req)
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	req.Query = parse(t, strings.Replace(js, "{", `{"sourceMode":"raw",`, 1))
	want, err := engine.Run(context.Background(), src, req)
	if err != nil {
		t.Fatalf("%s raw: %v", js, err)
	}
	var info string
	got.Notices = slices.DeleteFunc(got.Notices, func(n engine.Notice) bool {
		if strings.HasPrefix(n.Text, engine.NewestNoticePrefix) {
			info = n.Text
			return true
		}
		return false
	})
	if got.Stats.Matched != want.Stats.Matched {
		t.Errorf("%s: events matched %d, full read %d", js, got.Stats.Matched, want.Stats.Matched)
	}
	if !slices.Equal(got.Notices, want.Notices) {
		t.Errorf("%s: notices\n%+v\nfull read\n%+v", js, got.Notices, want.Notices)
	}
	if d := diffResults(got, want); d != "" {
		t.Errorf("%s: newest first differs from the full read (-full +newest):\n%.3000s", js, d)
	}
	if (want.Events == nil || len(want.Events.Events) == 0) && (want.Denied == nil || len(want.Denied.Rows) == 0) {
		t.Errorf("%s: no rows: the test data is too thin", js)
	}
	return info
}

// genLines is auditgen's log without malformed lines (the newest-first path then applies).
func genLines(t testing.TB, start time.Time, d time.Duration, requests, malformedEvery int) []string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 7, Start: start, Duration: d, Requests: requests, MalformedEvery: malformedEvery}); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
}

// TestNewestEqualsFullRead: events (logs and table) and denied read newest first equal the
// full read, whether the read stops early or covers the range (N larger than the matches),
// with a literal search (lines Loki sends that the plugin rejects: paging goes on) and with
// filters LogQL cannot count (read in full).
func TestNewestEqualsFullRead(t *testing.T) {
	requests := 3000
	if raceEnabled {
		requests = 1500
	}
	lines := genLines(t, genStart, 6*time.Hour, requests, 0)
	srv := lokitest.New()
	defer srv.Close()
	srv.Limits.MaxEntriesLimitPerQuery = 500
	load(srv, lines, noLag)
	lk := newSource(t, srv, func(c *loki.Config) { c.PageSize = 500 })
	from, to := genStart.Add(-time.Minute), genStart.Add(6*time.Hour+time.Minute)
	for _, c := range []struct {
		js    string
		early bool // the read stops before the range's start
		path  bool // read newest first at all
	}{
		{`{"queryType":"events","limit":50}`, true, true},
		{`{"queryType":"events","format":"table","limit":700}`, true, true},
		{`{"queryType":"events","format":"table","limit":300,"filter":{"stages":["RequestReceived","ResponseStarted"],"levels":["Metadata"]}}`, true, true},
		{`{"queryType":"events","limit":20,"filter":{"search":"kube-system"}}`, true, true},
		{`{"queryType":"events","limit":5000,"filter":{"verbs":["delete"]}}`, false, true}, // N > matches
		{`{"queryType":"denied","limit":5}`, true, true},
		{`{"queryType":"denied","limit":1000}`, false, true},
		{`{"queryType":"denied","limit":3,"filter":{"codes":["403"]}}`, true, true},
		{`{"queryType":"denied","limit":3,"filter":{"codes":["4xx"]}}`, false, false}, // rows are not the filter's matches
		{`{"queryType":"events","limit":20,"filter":{"search":"namespaces/kube-[a-z]+/pods","searchMode":"regex"}}`, false, false},
	} {
		info := newestVsFull(t, lk, c.js, from, to)
		switch {
		case c.path != (info != ""):
			t.Errorf("%s: newest-first notice %q, want the path %v", c.js, info, c.path)
		case c.path && c.early != strings.Contains(info, "the rest of the range"):
			t.Errorf("%s: notice %q, want an early stop %v", c.js, info, c.early)
		}
	}
}

// TestNewestTiesAcrossPages: runs of 35 events share one stageTimestamp (and Loki timestamp)
// across the edges of pages of up to 40, in two streams; the N-th row falls among them. No tie
// is lost or repeated.
func TestNewestTiesAcrossPages(t *testing.T) {
	srv := lokitest.New()
	defer srv.Close()
	srv.Limits.MaxEntriesLimitPerQuery = 40
	at := genStart.Add(time.Hour)
	var lines []string
	for i := range 600 {
		ts := at.Add(-time.Duration(i/35) * time.Second) // 35 at `at`, 35 a second before, ...
		code := []int{200, 403, 401}[i%3]
		lines = append(lines, eventLine(fmt.Sprintf("id-%04d", (i*7919)%600), "ResponseComplete", ts, code))
	}
	load(srv, lines, noLag)
	lk := newSource(t, srv, func(c *loki.Config) { c.PageSize = 40 })
	from, to := genStart, genStart.Add(2*time.Hour)
	for _, js := range []string{
		`{"queryType":"events","limit":30}`,
		`{"queryType":"events","format":"table","limit":260}`,
		`{"queryType":"denied","limit":90}`,
		`{"queryType":"denied","limit":170}`,
	} {
		if info := newestVsFull(t, lk, js, from, to); !strings.Contains(info, "the rest of the range") {
			t.Errorf("%s: notice %q, want an early stop", js, info)
		}
	}
}

// TestNewestMalformedLines: lines that are not audit events (auditgen's malformed lines:
// truncated events, legacy text, JSON that is not an event) among the events: the full read
// counts them in a notice, which the newest-first path must give alike, or not apply.
func TestNewestMalformedLines(t *testing.T) {
	requests := 2000
	if raceEnabled {
		requests = 1000
	}
	lines := genLines(t, genStart, 6*time.Hour, requests, 300)
	srv := lokitest.New()
	defer srv.Close()
	load(srv, lines, noLag)
	lk := newSource(t, srv, nil)
	from, to := genStart.Add(-time.Minute), genStart.Add(6*time.Hour+time.Minute)
	for _, js := range []string{
		`{"queryType":"events","limit":50}`,
		`{"queryType":"events","format":"table","limit":500}`,
		`{"queryType":"denied","limit":5}`,
	} {
		t.Logf("%s: %q", js, newestVsFull(t, lk, js, from, to))
	}
	// Malformed lines only before the newest rows: the rest of the range is checked.
	srv2 := lokitest.New()
	defer srv2.Close()
	clean := genLines(t, genStart, 6*time.Hour, requests, 0)
	load(srv2, clean, noLag)
	srv2.Push(map[string]string{"job": "kubernetes-audit", "host": "master-1", "filename": "/var/log/kubernetes/audit/audit.log"},
		genStart.Add(time.Minute), `{"kind":"Event","stage":"ResponseComplete","responseStatus":{"code":403},"verb":"get"`)
	lk2 := newSource(t, srv2, func(c *loki.Config) { c.PageSize = 200 })
	for _, js := range []string{`{"queryType":"events","limit":50}`, `{"queryType":"denied","limit":5}`} {
		if info := newestVsFull(t, lk2, js, from, to); info != "" {
			t.Errorf("%s: read newest first (%q) though the rest of the range holds a malformed line", js, info)
		}
	}
}

// TestScanNewestWithinLag: Loki stamps lines up to the ingestion lag later or earlier than
// their stageTimestamp; a keeper of the newest N stopping at ScanNewest's bound keeps the N
// newest of all lines.
func TestScanNewestWithinLag(t *testing.T) {
	lines := genLines(t, genStart, 6*time.Hour, 3000, 0)
	srv := lokitest.New()
	defer srv.Close()
	srv.Limits.MaxEntriesLimitPerQuery = 200
	const lag = 3 * time.Minute
	load(srv, lines, func(i int) time.Duration { return time.Duration((i*7919)%361-180) * time.Second }) // within ±3m
	lk := newSource(t, srv, func(c *loki.Config) { c.PageSize = 200; c.Lag = lag })
	times := func(ls []string) []int64 {
		var out []int64
		for _, l := range ls {
			if ts, ok := audit.LineTime([]byte(l)); ok {
				out = append(out, ts.UnixNano())
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i] > out[j] })
		return out
	}
	from, to := genStart, genStart.Add(6*time.Hour)
	var in []string
	for _, l := range lines {
		if ts, ok := audit.LineTime([]byte(l)); ok && !ts.Before(from) && !ts.After(to) {
			in = append(in, l)
		}
	}
	all := times(in)
	for _, n := range []int{1, 10, 150, 900} {
		var got []string
		st, unread, err := lk.ScanNewest(context.Background(), source.Request{From: from, To: to}, n, func(l []byte) error {
			if ts, ok := audit.LineTime(l); ok && !ts.Before(from) && !ts.After(to) {
				got = append(got, string(l))
			}
			return nil
		}, func(bound time.Time) bool {
			ts := times(got)
			return len(ts) >= n && bound.UnixNano() < ts[n-1]
		})
		if err != nil {
			t.Fatal(err)
		}
		if unread == nil {
			t.Errorf("n=%d: read the whole range (%d requests)", n, st.FilesScanned)
		}
		if g := times(got); len(g) < n || !slices.Equal(g[:n], all[:n]) {
			t.Errorf("n=%d: the newest %d differ from the full read's", n, n)
		}
	}
}

// TestNewestFewRequests: the newest rows of a big range cost a few requests and a small
// share of the bytes of the full read.
func TestNewestFewRequests(t *testing.T) {
	start := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	requests, limit := 20000, 100
	if raceEnabled {
		requests, limit = 4000, 20 // the race detector slows lokitest tenfold
	}
	lines := genLines(t, start, 24*time.Hour, requests, 0)
	srv := lokitest.New()
	defer srv.Close()
	for i, l := range lines {
		ts, _ := audit.LineTime([]byte(l))
		srv.Push(map[string]string{"job": "kubernetes-audit", "host": []string{"a", "b"}[i%2]}, ts, l)
	}
	purl, sent, bytesOut, _ := meteredProxy(t, srv.URL)
	lk := newSource(t, srv, func(c *loki.Config) { c.URL = purl })
	from, to := start, start.Add(24*time.Hour)
	for _, c := range []struct {
		js      string
		maxReqs int64
		maxPct  int64 // of the bytes of the full read
	}{
		{fmt.Sprintf(`{"queryType":"denied","limit":%d}`, limit), 5, 1},
		// 100 of about 20000 requests (20 of 4000 under -race): a page of 113 lines.
		{fmt.Sprintf(`{"queryType":"events","limit":%d}`, limit), 5, 1},
	} {
		cost := func(js string) (int64, int64) {
			sent.Store(0)
			bytesOut.Store(0)
			if _, err := engine.Run(context.Background(), lk, engine.Request{Query: parse(t, js), From: from, To: to}); err != nil {
				t.Fatal(err)
			}
			return sent.Load(), bytesOut.Load()
		}
		nr, nb := cost(c.js)
		_, fb := cost(`{"queryType":"events","sourceMode":"raw","limit":1}`)
		t.Logf("%s: %d requests, %d bytes (%.2f %% of the full read)", c.js, nr, nb, 100*float64(nb)/float64(fb))
		if nr > c.maxReqs || nb*100 > fb*c.maxPct {
			t.Errorf("%s: %d requests, %d bytes of %d", c.js, nr, nb, fb)
		}
	}
}

// eventLine is a compact audit event.
func eventLine(id, stage string, at time.Time, code int) string {
	ts := at.UTC().Format("2006-01-02T15:04:05.000000Z")
	return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + id + `","stage":"` + stage +
		`","requestURI":"/api/v1/namespaces/default/pods","verb":"get","user":{"username":"alice","groups":["system:authenticated"]},"sourceIPs":["10.0.0.1"],"userAgent":"kubectl","objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":` +
		fmt.Sprint(code) + `},"requestReceivedTimestamp":"` + ts + `","stageTimestamp":"` + ts + `"}`
}

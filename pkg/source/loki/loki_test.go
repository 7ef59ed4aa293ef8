package loki_test

// These tests run the Loki source against lokitest, a local server that speaks Loki's HTTP API
// and enforces its limits (no Loki binary can be installed here, and Loki's code is AGPL: it
// is never imported). See lokitest's package comment for what it implements.

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/grafana/grafana-plugin-sdk-go/backend/httpclient"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

const selector = `{job="kubernetes-audit"}`

var genStart = time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)

// generated returns a realistic audit log: ~2000 requests (several thousand events) over 6h,
// with malformed lines.
func generated(t testing.TB) []string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 7, Start: genStart, Duration: 6 * time.Hour, Requests: 2000, MalformedEvery: 400}); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
}

// load pushes lines into srv in two streams (two apiservers), stamped with the event time
// plus lag(i); lines without a time take the previous line's stamp.
func load(srv *lokitest.Server, lines []string, lag func(i int) time.Duration) {
	prev := genStart
	for i, l := range lines {
		ts, ok := audit.LineTime([]byte(l))
		if !ok {
			ts = prev
		}
		prev = ts
		host := []string{"master-1", "master-2"}[i%2]
		srv.Push(map[string]string{"job": "kubernetes-audit", "host": host, "filename": "/var/log/kubernetes/audit/audit.log"}, ts.Add(lag(i)), l)
	}
	// Another stream the selector must not pick.
	srv.Push(map[string]string{"job": "nginx"}, genStart.Add(time.Minute), `{"verb":"get","stage":"ResponseComplete"}`)
}

func noLag(int) time.Duration { return 0 }

func newSource(t testing.TB, srv *lokitest.Server, mut func(*loki.Config)) *loki.Source {
	t.Helper()
	cfg := loki.Config{
		URL:         srv.URL,
		HTTP:        httpclient.Options{Timeouts: &httpclient.TimeoutOptions{Timeout: 10 * time.Second}},
		Selector:    selector,
		CompactJSON: true,
		RetryBase:   time.Millisecond,
	}
	if mut != nil {
		mut(&cfg)
	}
	s, err := loki.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func fileSource(t testing.TB, lines []string) source.Source {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := file.New(file.Config{Paths: []string{dir}}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func parse(t testing.TB, js string) *query.Query {
	t.Helper()
	q, err := query.Parse([]byte(js), "")
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return q
}

// allQueries covers every query type and format, with and without filters.
var allQueries = []string{
	`{"queryType":"timeseries"}`,
	`{"queryType":"timeseries","metric":"rate","groupBy":["verb"],"limit":50}`,
	`{"queryType":"timeseries","groupBy":["objectRef.namespace","responseStatus.code"],"limit":20,"filter":{"verbs":["get","list"],"users":["!system:*"]}}`,
	`{"queryType":"timeseries","groupBy":["user.groups"],"filter":{"codes":["4xx","5xx"],"resources":["pods","secrets","config*"]}}`,
	`{"queryType":"latency","quantiles":[0.5,0.9,0.99],"groupBy":["verb"]}`,
	`{"queryType":"latency","format":"heatmap"}`,
	`{"queryType":"denied","limit":1000}`,
	`{"queryType":"matrix","rows":"user.username","columns":"verb","limit":5}`,
	`{"queryType":"topn","groupBy":["objectRef.resource"],"limit":100}`,
	`{"queryType":"topn","groupBy":["userKind","decision"],"filter":{"search":"kube-system"}}`,
	`{"queryType":"events","limit":200}`,
	`{"queryType":"events","format":"table","limit":300,"filter":{"stages":["RequestReceived","ResponseStarted"],"levels":["Metadata"]}}`,
	`{"queryType":"latencyBreakdown"}`,
	`{"queryType":"deprecatedApis"}`,
	`{"queryType":"detections"}`,
	// Search modes: the decoded exec command line, any letter case, RE2.
	`{"queryType":"events","format":"table","limit":500,"filter":{"stages":["*"],"search":"ls -la /var/run/secrets"}}`,
	`{"queryType":"timeseries","groupBy":["verb"],"filter":{"search":"KUBE-SYSTEM","searchMode":"caseInsensitive"}}`,
	`{"queryType":"topn","groupBy":["verb"],"filter":{"search":"namespaces/kube-[a-z]+/(pods|secrets)","searchMode":"regex"}}`,
	// Pushdown: counted by Loki with LogQL metric queries, equal to the file's raw count.
	`{"queryType":"timeseries","sourceMode":"pushdown"}`,
	`{"queryType":"timeseries","sourceMode":"pushdown","metric":"rate","groupBy":["verb","responseStatus.code"],"limit":100}`,
	`{"queryType":"timeseries","sourceMode":"pushdown","groupBy":["objectRef.namespace"],"limit":100,"filter":{"verbs":["get","list","watch"],"users":["!system:*"],"codes":["2xx","!204"],"resources":["pods","config*"]}}`,
	`{"queryType":"timeseries","sourceMode":"pushdown","groupBy":["stage"],"filter":{"stages":["RequestReceived","ResponseStarted"],"search":"kube-system"}}`,
	`{"queryType":"timeseries","sourceMode":"pushdown","groupBy":["verb"],"filter":{"search":"KUBE-SYSTEM","searchMode":"caseInsensitive"}}`,
	`{"queryType":"matrix","sourceMode":"pushdown","rows":"user.username","columns":"verb","limit":5}`,
	`{"queryType":"matrix","sourceMode":"pushdown","rows":"objectRef.namespace","columns":"responseStatus.code","limit":50,"filter":{"verbs":["!watch"],"codes":["4xx","5xx"]}}`,
	`{"queryType":"timeseries","sourceMode":"pushdown","groupBy":["user.username","userAgent"],"limit":500,"filter":{"levels":["Metadata","Request"],"namespaces":["!kube-*"]}}`,
	// topn: requests, errors and denials counted by Loki, p99 from the top groups' raw lines.
	`{"queryType":"topn","sourceMode":"pushdown","groupBy":["objectRef.resource"],"limit":5}`,
	`{"queryType":"topn","sourceMode":"pushdown","groupBy":["user.username","verb"],"sortBy":"errors","limit":10,"filter":{"namespaces":["!kube-*"]}}`,
	`{"queryType":"topn","sourceMode":"pushdown","groupBy":["responseStatus.code","objectRef.namespace"],"sortBy":"denied","limit":1000}`,
	`{"queryType":"topn","sourceMode":"pushdown","groupBy":["stage","userAgent"],"limit":3,"filter":{"stages":["ResponseStarted","ResponseComplete"]}}`,
}

// TestEveryQueryTypeEqualsFile runs every query type over the same events from Loki (paged
// and split) and from a file: the results must be identical.
func TestEveryQueryTypeEqualsFile(t *testing.T) {
	lines := generated(t)
	srv := lokitest.New()
	defer srv.Close()
	srv.Limits.MaxQueryLength = 2 * time.Hour // forces range splits over the 6h
	load(srv, lines, noLag)
	lk := newSource(t, srv, func(c *loki.Config) { c.PageSize = 500; c.MaxQueryLength = 2 * time.Hour })
	fs := fileSource(t, lines)
	from, to := genStart.Add(-time.Minute), genStart.Add(6*time.Hour+time.Minute)
	for _, js := range allQueries {
		t.Run(js, func(t *testing.T) {
			req := engine.Request{Query: parse(t, js), From: from, To: to, Interval: 5 * time.Minute, MaxDataPoints: 1000}
			want, err := engine.Run(context.Background(), fs, req)
			if err != nil {
				t.Fatal(err)
			}
			req.Query = parse(t, js)
			got, err := engine.Run(context.Background(), lk, req)
			if err != nil {
				t.Fatal(err)
			}
			if want.Stats.Matched == 0 {
				t.Fatal("the query matched nothing: the test data is too thin")
			}
			if strings.Contains(js, `"pushdown"`) {
				// Counted by Loki: no lines reach the plugin, so no line statistics and no
				// notice about malformed lines.
				if len(got.Notices) == 0 || got.Notices[0].Text != "counted by the source (pushdown)" {
					t.Errorf("notices %v: not counted by the source", got.Notices)
				}
				// topn reads the raw lines of its top groups for their p99: the malformed lines
				// among those are reported as in raw mode.
				skipped := func(n engine.Notice) bool { return strings.HasPrefix(n.Text, "skipped") }
				want.Notices = slices.DeleteFunc(want.Notices, skipped)
				got.Notices = slices.DeleteFunc(got.Notices, skipped)
			} else {
				// Loki's line filters (the query's exact lists, the default stages) drop lines
				// before they reach the plugin — malformed ones too — but never a matching event.
				// denied pulls only the 401/403 lines (engine.narrowForSource), so it matches fewer.
				denied := strings.Contains(js, `"denied"`)
				if (got.Stats.Matched != want.Stats.Matched && !denied) || got.Stats.Matched > want.Stats.Matched || got.Stats.Malformed > want.Stats.Malformed {
					t.Errorf("matched %d malformed %d, file: matched %d malformed %d", got.Stats.Matched, got.Stats.Malformed, want.Stats.Matched, want.Stats.Malformed)
				}
				skipped := func(n engine.Notice) bool { return strings.HasPrefix(n.Text, "skipped") }
				want.Notices = slices.DeleteFunc(want.Notices, skipped)
				got.Notices = slices.DeleteFunc(got.Notices, skipped)
			}
			if d := diffResults(got, want); d != "" {
				t.Errorf("Loki result differs from the file result (-file +loki):\n%.3000s", d)
			}
		})
	}
	if n := srv.Requests("/loki/api/v1/query_range"); n < 3*len(allQueries) {
		t.Errorf("%d query_range requests: expected several pages and splits per query", n)
	}
}

// TestScanExactlyOnce checks that paging returns every entry exactly once, with many entries
// sharing the page-boundary timestamps, in several streams, over range splits.
func TestScanExactlyOnce(t *testing.T) {
	srv := lokitest.New()
	defer srv.Close()
	srv.Limits.MaxEntriesLimitPerQuery = 100
	srv.Limits.MaxQueryLength = time.Hour
	var want []string
	base := genStart
	for i := range 3000 {
		// Bursts of 37 lines per nanosecond stamp, two streams, identical lines in both.
		ts := base.Add(time.Duration(i/37) * 90 * time.Second)
		line := `{"n":` + strconv.Itoa(i%1500) + `}`
		host := []string{"a", "b"}[i/1500]
		srv.Push(map[string]string{"job": "kubernetes-audit", "host": host}, ts, line)
		want = append(want, line)
	}
	s := newSource(t, srv, func(c *loki.Config) { c.PageSize = 100; c.MaxQueryLength = time.Hour })
	var got []string
	st, err := s.Scan(context.Background(), source.Request{From: base, To: base.Add(3 * time.Hour)}, func(l []byte) error {
		got = append(got, string(l))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("got %d lines, want %d (each exactly once)", len(got), len(want))
	}
	if len(st.Problems) > 0 {
		t.Errorf("problems: %q", st.Problems)
	}
	if n := srv.Requests("/loki/api/v1/query_range"); n < 30 {
		t.Errorf("only %d requests for 3000 lines with pages of 100", n)
	}
}

// TestLagWidensTheWindow: Promtail without a timestamp stage stamps the read time; with the
// lag configured, events near the range's end are still found.
func TestLagWidensTheWindow(t *testing.T) {
	lines := generated(t)
	srv := lokitest.New()
	defer srv.Close()
	load(srv, lines, func(i int) time.Duration { return time.Duration(i%90) * time.Second })
	fs := fileSource(t, lines)
	from, to := genStart.Add(time.Hour), genStart.Add(2*time.Hour)
	req := engine.Request{Query: parse(t, `{"queryType":"topn","groupBy":["verb"]}`), From: from, To: to}
	want, err := engine.Run(context.Background(), fs, req)
	if err != nil {
		t.Fatal(err)
	}
	noLagSrc := newSource(t, srv, nil)
	short, err := engine.Run(context.Background(), noLagSrc, req)
	if err != nil {
		t.Fatal(err)
	}
	lagSrc := newSource(t, srv, func(c *loki.Config) { c.Lag = 2 * time.Minute })
	got, err := engine.Run(context.Background(), lagSrc, req)
	if err != nil {
		t.Fatal(err)
	}
	if got.Stats.Matched != want.Stats.Matched {
		t.Errorf("with lag: matched %d, want %d", got.Stats.Matched, want.Stats.Matched)
	}
	if short.Stats.Matched >= want.Stats.Matched {
		t.Errorf("without lag matched %d: the test does not exercise the lag (want fewer than %d)", short.Stats.Matched, want.Stats.Matched)
	}
	ok, reason := lagSrc.CanCount(query.Filter{}, nil)
	if ok || !strings.Contains(reason, "lag") {
		t.Errorf("CanCount with lag = %v %q", ok, reason)
	}
}

func TestMaxLinesBudget(t *testing.T) {
	lines := generated(t)
	srv := lokitest.New()
	defer srv.Close()
	load(srv, lines, noLag)
	s := newSource(t, srv, func(c *loki.Config) { c.MaxLines = 1000; c.PageSize = 300 })
	n := 0
	st, err := s.Scan(context.Background(), source.Request{From: genStart, To: genStart.Add(6 * time.Hour)}, func([]byte) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if n != 1000 || len(st.Problems) != 1 || !strings.Contains(st.Problems[0], "max lines") {
		t.Errorf("read %d lines, problems %q", n, st.Problems)
	}
}

func TestAuthAndTenant(t *testing.T) {
	srv := lokitest.New()
	defer srv.Close()
	srv.Tenant, srv.BasicUser, srv.BasicPass = "team-a", "grafana", "s3cret"
	load(srv, generated(t)[:50], noLag)
	req := source.Request{From: genStart, To: genStart.Add(6 * time.Hour)}
	scan := func(opts httpclient.Options) (int, error) {
		s := newSource(t, srv, func(c *loki.Config) { opts.Timeouts = c.HTTP.Timeouts; c.HTTP = opts })
		n := 0
		_, err := s.Scan(context.Background(), req, func([]byte) error { n++; return nil })
		return n, err
	}
	basic := &httpclient.BasicAuthOptions{User: "grafana", Password: "s3cret"}
	if n, err := scan(httpclient.Options{BasicAuth: basic, Header: http.Header{"X-Scope-OrgID": {"team-a"}}}); err != nil || n != 50 {
		t.Errorf("tenant + basic auth: %d lines, %v", n, err)
	}
	if n, err := scan(httpclient.Options{BasicAuth: basic, Header: http.Header{"X-Scope-OrgID": {"team-b"}}}); err != nil || n != 0 {
		t.Errorf("other tenant: %d lines, %v (want none)", n, err)
	}
	var ae *loki.APIError
	if _, err := scan(httpclient.Options{BasicAuth: basic}); !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("no tenant: %v, want a 401", err)
	}
	if _, err := scan(httpclient.Options{BasicAuth: &httpclient.BasicAuthOptions{User: "grafana", Password: "x"}, Header: http.Header{"X-Scope-OrgID": {"team-a"}}}); !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("bad password: %v, want a 401", err)
	}
	// Bearer token.
	srv2 := lokitest.New()
	defer srv2.Close()
	srv2.Bearer = "tok"
	load(srv2, generated(t)[:10], noLag)
	s := newSource(t, srv2, func(c *loki.Config) { c.HTTP.Header = http.Header{"Authorization": {"Bearer tok"}} })
	if h := s.Health(context.Background()); !h.OK {
		t.Errorf("bearer health: %s", h.Message)
	}
	s = newSource(t, srv2, nil)
	if h := s.Health(context.Background()); h.OK || !strings.Contains(h.Message, "refused") {
		t.Errorf("no token health: ok=%v %s", h.OK, h.Message)
	}
}

func TestErrors(t *testing.T) {
	lines := generated(t)[:200]
	req := source.Request{From: genStart, To: genStart.Add(6 * time.Hour)}
	count := func(s *loki.Source) (int, source.Stats, error) {
		n := 0
		st, err := s.Scan(context.Background(), req, func([]byte) error { n++; return nil })
		return n, st, err
	}
	t.Run("429 and 5xx are retried", func(t *testing.T) {
		srv := lokitest.New()
		defer srv.Close()
		load(srv, lines, noLag)
		srv.Fail(http.StatusTooManyRequests, 1, "too many outstanding requests", 0)
		srv.Fail(http.StatusServiceUnavailable, 1, "unavailable", 0)
		srv.Fail(http.StatusInternalServerError, 1, "rpc error", 0)
		n, _, err := count(newSource(t, srv, nil))
		if err != nil || n != len(lines) {
			t.Errorf("%d lines, %v", n, err)
		}
		if got := srv.Requests("/loki/api/v1/query_range"); got != 4 {
			t.Errorf("%d requests, want 4 (3 failures + 1)", got)
		}
	})
	t.Run("retries give up", func(t *testing.T) {
		srv := lokitest.New()
		defer srv.Close()
		load(srv, lines, noLag)
		srv.Fail(http.StatusTooManyRequests, 10, "too many outstanding requests", 0)
		_, _, err := count(newSource(t, srv, func(c *loki.Config) { c.Retries = 2 }))
		var ae *loki.APIError
		if !errors.As(err, &ae) || ae.Status != 429 || !strings.Contains(err.Error(), "rate limiting") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("400 is not retried", func(t *testing.T) {
		srv := lokitest.New()
		defer srv.Close()
		s := newSource(t, srv, func(c *loki.Config) { c.Selector = `{job=~".*"}` })
		_, _, err := count(s)
		var ae *loki.APIError
		if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(err.Error(), "rejected the query") {
			t.Errorf("err %v", err)
		}
		if n := srv.Requests("/loki/api/v1/query_range"); n != 1 {
			t.Errorf("%d requests", n)
		}
	})
	t.Run("page size above the server limit", func(t *testing.T) {
		srv := lokitest.New()
		defer srv.Close()
		_, _, err := count(newSource(t, srv, func(c *loki.Config) { c.PageSize = 6000 }))
		if err == nil || !strings.Contains(err.Error(), "max_entries_limit_per_query (6000 > 5000)") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := lokitest.New()
		defer srv.Close()
		srv.SetDelay(time.Second)
		_, _, err := count(newSource(t, srv, func(c *loki.Config) { c.HTTP.Timeouts = &httpclient.TimeoutOptions{Timeout: 100 * time.Millisecond} }))
		var te *loki.TimeoutError
		if !errors.As(err, &te) {
			t.Errorf("err %v, want a TimeoutError", err)
		}
	})
	t.Run("partial result", func(t *testing.T) {
		srv := lokitest.New()
		defer srv.Close()
		load(srv, lines, noLag)
		s := newSource(t, srv, func(c *loki.Config) { c.PageSize = 50; c.Retries = -1 })
		n := 0
		st, err := s.Scan(context.Background(), req, func([]byte) error {
			n++
			if n == 60 {
				srv.Fail(http.StatusBadGateway, 1, "bad gateway", 0)
			}
			return nil
		})
		if err != nil || n >= len(lines) || len(st.Problems) != 1 || !strings.Contains(st.Problems[0], "partial result") {
			t.Errorf("%d lines, err %v, problems %q", n, err, st.Problems)
		}
	})
	t.Run("cancellation", func(t *testing.T) {
		srv := lokitest.New()
		defer srv.Close()
		load(srv, lines, noLag)
		ctx, cancel := context.WithCancel(context.Background())
		s := newSource(t, srv, func(c *loki.Config) { c.PageSize = 10 })
		n := 0
		_, err := s.Scan(ctx, req, func([]byte) error {
			if n++; n == 15 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) || n > 20 {
			t.Errorf("%d lines, err %v", n, err)
		}
	})
}

func TestHealth(t *testing.T) {
	lines := generated(t)
	srv := lokitest.New()
	defer srv.Close()
	now := genStart.Add(7 * time.Hour)
	load(srv, lines, noLag)
	s := newSource(t, srv, func(c *loki.Config) { c.Now = func() time.Time { return now } })
	h := s.Health(context.Background())
	if !h.OK || h.Files != 2 || h.Newest.IsZero() || !strings.Contains(h.Message, "2 stream") || !strings.Contains(h.Message, h.Newest.Format(time.RFC3339Nano)) {
		t.Errorf("health %+v", h)
	}
	s = newSource(t, srv, func(c *loki.Config) { c.Now = func() time.Time { return now }; c.Selector = `{job="audit"}` })
	if h := s.Health(context.Background()); h.OK || !strings.Contains(h.Message, "matches no stream") || !strings.Contains(h.Message, "filename, host, job") {
		t.Errorf("health %+v", h)
	}
	s = newSource(t, srv, func(c *loki.Config) { c.Now = func() time.Time { return now }; c.Selector = `{job="nginx"}` })
	if h := s.Health(context.Background()); h.OK || !strings.Contains(h.Message, "not a Kubernetes audit event") {
		t.Errorf("health %+v", h)
	}
	srv.Close()
	if h := s.Health(context.Background()); h.OK || !strings.Contains(h.Message, "cannot reach Loki") {
		t.Errorf("health %+v", h)
	}
}

// BenchmarkScan measures lines/s through paging (pages of 5000, the default limit).
func BenchmarkScan(b *testing.B) {
	lines := generated(b)
	srv := lokitest.New()
	defer srv.Close()
	load(srv, lines, noLag)
	s := newSource(b, srv, nil)
	req := source.Request{From: genStart, To: genStart.Add(6 * time.Hour)}
	b.ResetTimer()
	var n int64
	for b.Loop() {
		st, err := s.Scan(context.Background(), req, func([]byte) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		n += st.LinesRead
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
}

// diffResults compares two results (NaN equal to NaN), ignoring the notices that say whether
// the source or the plugin counted and that a detections read was narrowed to its rules' lines.
func diffResults(got, want *engine.Result) string {
	strip := func(ns []engine.Notice) []engine.Notice {
		var out []engine.Notice
		for _, n := range ns {
			if !strings.HasPrefix(n.Text, "counted ") && !strings.HasPrefix(n.Text, "asked the source only for") &&
				!strings.HasPrefix(n.Text, engine.NewestNoticePrefix) {
				out = append(out, n)
			}
		}
		return out
	}
	g, w := *got, *want
	g.Notices, w.Notices = strip(g.Notices), strip(w.Notices)
	g.Stats, w.Stats = engine.Stats{}, engine.Stats{}
	return cmp.Diff(w, g, cmpopts.EquateNaNs(), cmpopts.EquateEmpty(), cmp.Exporter(func(reflect.Type) bool { return true }))
}

// TestPipelineHealthPerStream: pipelineHealth over Loki names each stream and measures how much
// later than its event Loki stamped each line.
func TestPipelineHealthPerStream(t *testing.T) {
	srv := lokitest.New()
	defer srv.Close()
	line := func(at time.Time) string {
		return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + at.Format(time.RFC3339Nano) +
			`","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"responseStatus":{"code":200},"stageTimestamp":"` +
			at.Format("2006-01-02T15:04:05.000000Z") + `"}`
	}
	for i := range 10 {
		at := genStart.Add(time.Duration(i) * time.Minute)
		srv.Push(map[string]string{"job": "kubernetes-audit", "host": "cp-1"}, at.Add(2*time.Second), line(at))
		srv.Push(map[string]string{"job": "kubernetes-audit", "host": "cp-2"}, at.Add(time.Duration(i)*time.Second), line(at.Add(time.Second)))
	}
	q, err := query.Parse([]byte(`{"queryType":"pipelineHealth"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := engine.Run(context.Background(), newSource(t, srv, nil), engine.Request{Query: q, From: genStart, To: genStart.Add(time.Hour), Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rows := res.Pipeline.Rows
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	for _, r := range rows {
		switch r.Origin {
		case `{host="cp-1",job="kubernetes-audit"}`:
			if !r.HasLag || r.LagP50 != 2*time.Second || r.LagMax != 2*time.Second || r.Events != 10 {
				t.Errorf("cp-1 %+v", r)
			}
		case `{host="cp-2",job="kubernetes-audit"}`:
			// Stamped 0..9 s after the event time minus 1 s: lags -1..8 s, median (nearest rank) 3 s.
			if !r.HasLag || r.LagMax != 8*time.Second || r.LagP50 != 3*time.Second {
				t.Errorf("cp-2 %+v", r)
			}
		default:
			t.Errorf("unexpected origin %q", r.Origin)
		}
	}
}

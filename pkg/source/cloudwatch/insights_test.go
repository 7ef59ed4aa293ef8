package cloudwatch_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch/cwtest"
)

// countReq is a one-minute-bucket count over the generated hour.
func countReq(f query.Filter, groupBy ...string) source.CountRequest {
	from, to := genStart.Add(90*time.Second), genStart.Add(50*time.Minute)
	return source.CountRequest{From: from, To: to, Start: from.Truncate(time.Minute), Step: time.Minute,
		N: int(to.Sub(from.Truncate(time.Minute))/time.Minute) + 1, Filter: f, GroupBy: groupBy}
}

func TestInsightsQueryText(t *testing.T) {
	src := newSource(t, newServer(t, nil), nil, cloudwatch.Options{})
	q, _, err := src.InsightsQuery(countReq(query.Filter{Verbs: []string{"delete"}, Codes: []string{"4xx"}}, "decision", "objectRef.resource"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", q)
	for _, want := range []string{
		"filter @logStream like /^kube-apiserver-audit/",
		"`verb` in [\"delete\"]",
		"(`responseStatus.code` >= 400 and `responseStatus.code` <= 499)",
		"`stage` in [\"ResponseComplete\", \"Panic\"] or (`stage` = \"ResponseStarted\" and `responseStatus.code` = 401)",
		"eventTime >= \"2025-03-01T10:01:30.000000Z\" and eventTime <= \"2025-03-01T10:50:00.000000Z\"",
		"substr(eventTime, 0, 16) as bucket",
		"stats count(*) as requests by bucket, `annotations.authorization.k8s.io/decision` as g0, `objectRef.resource` as g1",
		"| limit 10000",
	} {
		if !strings.Contains(q, want) {
			t.Errorf("query lacks %s", want)
		}
	}
}

func TestCanCount(t *testing.T) {
	src := newSource(t, newServer(t, nil), nil, cloudwatch.Options{})
	for _, tc := range []struct {
		f       query.Filter
		groupBy []string
		ok      bool
	}{
		{query.Filter{}, nil, true},
		{query.Filter{Verbs: []string{"get"}, Codes: []string{"5xx", "403"}, Decisions: []string{"forbid"}}, []string{"verb", "sourceIPs"}, true},
		{query.Filter{}, []string{"user.groups"}, false},
		{query.Filter{}, []string{"userKind"}, false},
		{query.Filter{Users: []string{"system:*"}}, nil, false},
		{query.Filter{Namespaces: []string{"!kube-system"}}, nil, false},
		{query.Filter{Search: "secret"}, nil, false},
		{query.Filter{Decisions: []string{"none"}}, nil, false},
	} {
		ok, reason := src.CanCount(tc.f, tc.groupBy)
		if ok != tc.ok || ok != (reason == "") {
			t.Errorf("%+v by %v: %v %q, want %v", tc.f, tc.groupBy, ok, reason, tc.ok)
		}
	}
}

// TestCountConcurrencyLimit: 12 panels at once with a limit of 3 — never more than 3 queries
// run, the rest wait, all succeed.
func TestCountConcurrencyLimit(t *testing.T) {
	srv := newServer(t, loadFixtures(t))
	srv.RunningPolls = 5
	src := newSource(t, srv, func(c *cloudwatch.Config) { c.MaxConcurrentInsights = 3 }, cloudwatch.Options{})
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = src.Count(testCtx(t), countReq(query.Filter{}, "verb"))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("query %d: %v", i, err)
		}
	}
	if n := srv.MaxConcurrentQueries(); n != 3 {
		t.Errorf("%d queries ran at once, want 3", n)
	}
	if n := srv.Calls("StartQuery"); n != 12 {
		t.Errorf("%d StartQuery calls", n)
	}
}

// TestCountAccountQuota: the account's quota (LimitExceededException) is retried by the SDK.
func TestCountAccountQuota(t *testing.T) {
	srv := newServer(t, loadFixtures(t)[:50])
	srv.Fault = func(op string, n int) *cwtest.Fault {
		if op == "StartQuery" && n <= 2 {
			return &cwtest.Fault{Code: "LimitExceededException", Message: "Account maximum query concurrency limit of [30] reached."}
		}
		return nil
	}
	if _, err := newSource(t, srv, nil, cloudwatch.Options{}).Count(testCtx(t), countReq(query.Filter{})); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls("StartQuery"); n != 3 {
		t.Errorf("%d StartQuery calls, want 3", n)
	}
}

func TestCountQueryEnds(t *testing.T) {
	for _, status := range []string{"Failed", "Cancelled", "Timeout"} {
		t.Run(status, func(t *testing.T) {
			srv := newServer(t, loadFixtures(t)[:50])
			srv.FinalStatus = status
			_, err := newSource(t, srv, nil, cloudwatch.Options{}).Count(testCtx(t), countReq(query.Filter{}))
			wantKind(t, err, cloudwatch.KindQueryFailed, status)
		})
	}
	t.Run("missing log group", func(t *testing.T) {
		srv := newServer(t, nil)
		_, err := newSource(t, srv, func(c *cloudwatch.Config) { c.LogGroups = []string{"/aws/eks/nope/cluster"} }, cloudwatch.Options{}).
			Count(testCtx(t), countReq(query.Filter{}))
		wantKind(t, err, cloudwatch.KindNotFound, "/aws/eks/nope/cluster")
	})
}

// TestCountRowCap: a result at Insights' 10,000-row cap comes with a problem, never silently.
func TestCountRowCap(t *testing.T) {
	srv := cwtest.New()
	t.Cleanup(srv.Close)
	for i := range 10050 {
		line := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"get","user":{"username":"u` +
			strings.Repeat("x", i%7) + string(rune('a'+i%26)) + strconv.Itoa(i) + `"},"stageTimestamp":"2025-03-01T10:10:00.000000Z"}`
		srv.Add(testGroup, auditStreams[0], cwtest.Event{Timestamp: genStart.Add(10 * time.Minute).UnixMilli(), Message: line})
	}
	res, err := newSource(t, srv, nil, cloudwatch.Options{}).Count(testCtx(t), countReq(query.Filter{}, "user.username"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Series) != 10000 || len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "10000 rows") {
		t.Errorf("%d series, problems %q", len(res.Series), res.Problems)
	}
}

// TestCountSplitsAtRowCap: 15,000 groups, over Insights' 10,000-row cap: the range is split
// and re-queried until every answer is whole; the counts are complete and exact, with no
// truncation problem.
func TestCountSplitsAtRowCap(t *testing.T) {
	srv := cwtest.New()
	t.Cleanup(srv.Close)
	const n = 15000
	for i := range n {
		at := genStart.Add(2*time.Minute + time.Duration(i)*40*time.Minute/n)
		line := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"get","user":{"username":"u` +
			strconv.Itoa(i) + `"},"stageTimestamp":"` + at.UTC().Format("2006-01-02T15:04:05.000000Z") + `"}`
		srv.Add(testGroup, auditStreams[i%len(auditStreams)], cwtest.Event{Timestamp: at.UnixMilli(), Message: line})
	}
	req := countReq(query.Filter{}, "user.username")
	req.Step, req.Start, req.N = time.Hour, genStart.Truncate(time.Hour), 2
	res, err := newSource(t, srv, nil, cloudwatch.Options{}).Count(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, s := range res.Series {
		for _, c := range s.Counts {
			total += c
		}
	}
	if len(res.Series) != n || total != n || len(res.Problems) != 0 {
		t.Errorf("%d series, %v requests, problems %q; want %d of 1 each and no problem", len(res.Series), total, res.Problems, n)
	}
	if q := srv.Calls("StartQuery"); q < 3 { // the whole range (cut), then its two halves
		t.Errorf("%d StartQuery calls: the range was not split", q)
	}
}

func TestPreferCount(t *testing.T) {
	src := newSource(t, newServer(t, nil), func(c *cloudwatch.Config) { c.InsightsAfter = time.Hour }, cloudwatch.Options{})
	short := source.CountRequest{From: genStart, To: genStart.Add(time.Hour)}
	long := source.CountRequest{From: genStart, To: genStart.Add(61 * time.Minute)}
	if src.PreferCount(context.Background(), short) || !src.PreferCount(context.Background(), long) {
		t.Error("PreferCount does not switch to Insights above InsightsAfter")
	}
}

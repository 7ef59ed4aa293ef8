package cloudwatch_test

// AWS cannot be reached from the tests: every test points the real AWS SDK client
// (cloudwatchlogs.Client, SigV4-signed with static credentials) at cwtest.Server, a local
// CloudWatch Logs endpoint that speaks the service's JSON 1.1 protocol (POST /, X-Amz-Target
// Logs_20140328.<Operation>, application/x-amz-json-1.1, errors as {"__type": ...}).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch/cwtest"
)

const (
	testCluster = "e2e-cluster"
	testGroup   = "/aws/eks/" + testCluster + "/cluster"
)

// auditStreams are EKS-style audit stream names (kube-apiserver-audit-<32 hex>); events are
// spread over them so that FilterLogEvents has to interleave.
var auditStreams = []string{
	"kube-apiserver-audit-96624a2fbc193d5ccd64f9f1ddbebbe3",
	"kube-apiserver-audit-71976ca11bea5d3083393f7d32dab75b",
	"kube-apiserver-audit-f01c77ed8078a670a2eb63af6f127163",
}

// genStart is where the generated busy hour starts.
var genStart = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// fixture is one audit line and the timestamp CloudWatch gives it.
type fixture struct {
	line string
	ts   int64 // ms
}

// loadFixtures returns the real events of testdata/audit (EKS samples included) and a generated
// busy hour, each with a CloudWatch timestamp a little after its stageTimestamp (CloudWatch
// stamps the line when it is shipped), cut to 100 ms so that many events share a millisecond.
// Lines without an event time are left out: CloudWatch has no such events.
func loadFixtures(t *testing.T) []fixture {
	t.Helper()
	var lines []string
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "audit", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in testdata/audit: %v", err)
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 8<<20)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				lines = append(lines, l)
			}
		}
	}
	var gen bytes.Buffer
	if _, err := auditgen.Write(&gen, auditgen.Options{Seed: 7, Start: genStart, Duration: time.Hour, Requests: 1500}); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(gen.String(), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	var out []fixture
	for i, l := range lines {
		tm, ok := audit.LineTime([]byte(l))
		if !ok {
			continue
		}
		delay := time.Duration(i%9) * 97 * time.Millisecond // 0 to 776 ms after the event
		ts := tm.Add(delay).Truncate(100 * time.Millisecond).UnixMilli()
		out = append(out, fixture{l, ts})
	}
	if len(out) < 1000 {
		t.Fatalf("only %d fixture events", len(out))
	}
	return out
}

// newServer starts a CloudWatch Logs server holding fixtures in the test log group, spread over
// the audit streams, plus non-audit streams of the same group that must never be read.
func newServer(t testing.TB, fx []fixture) *cwtest.Server {
	t.Helper()
	srv := cwtest.New()
	t.Cleanup(srv.Close)
	srv.AddGroup(testGroup)
	for i, f := range fx {
		srv.Add(testGroup, auditStreams[i%len(auditStreams)], cwtest.Event{Timestamp: f.ts, Message: f.line})
	}
	if len(fx) > 0 {
		srv.Add(testGroup, "kube-apiserver-5c3ee0e0bd1a6ae5b9c0b0c1d0a8a1f2", cwtest.Event{Timestamp: fx[0].ts, Message: `I0915 12:19:43.933124 1 scheduler.go:604] not an audit event`})
		srv.Add(testGroup, "authenticator-8c0c570ea5676c62c44d98da6189a02b", cwtest.Event{Timestamp: fx[0].ts, Message: `{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"get","stageTimestamp":"2025-03-01T10:00:00.000000Z"}`})
	}
	return srv
}

// fastRetries keeps the SDK's standard retryer (same retryable errors) with a 1 ms backoff.
func fastRetries(o *cloudwatchlogs.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = cloudwatch.MaxRetryAttempts
		so.RateLimiter = ratelimit.None
		so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
	})
}

// testConfig is a keys-authenticated configuration for srv.
func testConfig(srv *cwtest.Server) cloudwatch.Config {
	return cloudwatch.Config{
		Region:            cwtest.Region,
		AuthType:          cloudwatch.AuthKeys,
		AccessKey:         cwtest.AccessKey,
		SecretKey:         cwtest.SecretKey,
		Endpoint:          srv.URL,
		LogGroups:         []string{testGroup},
		RequestsPerSecond: 1000, // the rate limit has its own test
	}
}

func newSource(t testing.TB, srv *cwtest.Server, edit func(*cloudwatch.Config), opts cloudwatch.Options) *cloudwatch.Source {
	t.Helper()
	cfg := testConfig(srv)
	if edit != nil {
		edit(&cfg)
	}
	opts.ClientOptions = append(opts.ClientOptions, fastRetries)
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Millisecond
		opts.MaxPollInterval = 5 * time.Millisecond
	}
	src, err := cloudwatch.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// writeFile writes the fixture lines as an audit.log for the file source, in the order
// FilterLogEvents returns them (CloudWatch timestamp, then arrival), so that rows that tie on
// (time, auditID) come out of the engine in the same order from both sources.
func writeFile(t *testing.T, fx []fixture) string {
	t.Helper()
	dir := t.TempDir()
	sorted := append([]fixture(nil), fx...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].ts < sorted[j].ts })
	var b strings.Builder
	for _, f := range sorted {
		fmt.Fprintln(&b, f.line)
	}
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

package e2e

// The load harness: many concurrent dashboard queries against the built plugin binary over the
// plugin protocol, with the plugin's RSS sampled from /proc and its goroutines counted through
// the SDK's pprof server (GF_PLUGIN_PROFILING_ENABLED, as Grafana sets it when profiling is
// configured; the plugin itself serves no debug endpoint).
//
// TestLoadShort runs in CI: 20 concurrent queries for 10 s over the fixtures; no error, and the
// plugin's goroutines come back to their baseline. TestLoad is the real one, run by hand:
//
//	K8SAUDIT_LOAD=1 go test -run '^TestLoad$' -v -timeout 60m ./pkg/e2e/
//
// 100 concurrent queries for 5 minutes over a generated log of at least 500 MiB; it reports
// throughput, p50/p99 latency (all and per query type), RSS over time and the goroutines at
// the end, and fails unless there is no error, RSS stays flat (the last minute's mean at most
// 10 % above the second's) and goroutines come back to baseline. K8SAUDIT_LOAD_WORKERS,
// K8SAUDIT_LOAD_DURATION (a Go duration), K8SAUDIT_LOAD_MB and K8SAUDIT_LOAD_DIR (keep and
// reuse the generated log there) change it. docs/performance.md has the figures.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// loadConfig is one load run.
type loadConfig struct {
	workers     int           // queries in flight at once
	duration    time.Duration // how long the workers send queries
	sampleEvery time.Duration // RSS sampling period
	callTimeout time.Duration // per QueryData call
	// The queries' time ranges end at `end` plus a random offset under `jitter`, rounded to
	// 10 s: dashboards refreshing while time passes after the last event (the log does not
	// grow during the run), so each range cuts the log at a new place. They span one of spans.
	end    time.Time
	jitter time.Duration
	spans  []time.Duration
	// goroutineSlack is how many goroutines above the baseline count as "back to baseline"
	// (the pprof request's own connection, a gRPC stream being torn down).
	goroutineSlack int
	settle         time.Duration // how long goroutines may take to come back
}

// loadTarget is one dashboard query: its type (for the per-type figures) and its JSON model
// without time-dependent fields.
type loadTarget struct {
	queryType string
	model     map[string]any
}

// loadResult is what a run measured.
type loadResult struct {
	elapsed     time.Duration
	latencies   []time.Duration
	byType      map[string][]time.Duration
	errors      int64
	firstErrors []string
	rss         []rssSample
	baseline    int // plugin goroutines after the warm-up
	peak        int // plugin goroutines sampled during the load, the most
	after       int // plugin goroutines once settled
}

type rssSample struct {
	at  time.Duration // since the load started
	kiB int64
}

func TestLoadShort(t *testing.T) {
	h, debug := startProfiledPlugin(t)
	targets := dashboardTargets(t)
	cfg := loadConfig{
		workers: 20, duration: 10 * time.Second, sampleEvery: time.Second, callTimeout: callTimeout,
		end: rangeTo, jitter: 365 * 24 * time.Hour, spans: []time.Duration{rangeTo.Sub(rangeFrom), 3 * 365 * 24 * time.Hour},
		goroutineSlack: 5, settle: 30 * time.Second,
	}
	res := runLoad(t, h, debug, testDatasource(), targets, cfg)
	reportLoad(t, cfg, res)
	if res.errors != 0 {
		t.Errorf("%d of %d queries failed; first: %q", res.errors, len(res.latencies), res.firstErrors)
	}
	if len(res.latencies) < cfg.workers {
		t.Errorf("only %d queries answered in %s", len(res.latencies), cfg.duration)
	}
	if res.after > res.baseline+cfg.goroutineSlack {
		t.Errorf("goroutine leak: %d plugin goroutines %s after the load, baseline %d (+%d allowed)",
			res.after, cfg.settle, res.baseline, cfg.goroutineSlack)
	}
}

func TestLoad(t *testing.T) {
	if os.Getenv("K8SAUDIT_LOAD") == "" {
		t.Skip("the 5-minute load run: set K8SAUDIT_LOAD=1 (see load_test.go)")
	}
	workers := envInt(t, "K8SAUDIT_LOAD_WORKERS", 100)
	duration := envDuration(t, "K8SAUDIT_LOAD_DURATION", 5*time.Minute)
	dir, sum := envGeneratedLog(t, "K8SAUDIT_LOAD_MB", 500, "K8SAUDIT_LOAD_DIR")

	h, debug := startProfiledPlugin(t)
	cfg := loadConfig{
		workers: workers, duration: duration, sampleEvery: 5 * time.Second, callTimeout: 2 * time.Minute,
		end: sum.To.Truncate(time.Minute), jitter: time.Hour,
		spans:          []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour},
		goroutineSlack: 5, settle: time.Minute,
	}
	ds := fileDatasource(1, "e2e-load", dir)
	res := runLoad(t, h, debug, ds, dashboardTargets(t), cfg)
	reportLoad(t, cfg, res)

	if res.errors != 0 {
		t.Errorf("%d of %d queries failed; first: %q", res.errors, len(res.latencies), res.firstErrors)
	}
	if res.after > res.baseline+cfg.goroutineSlack {
		t.Errorf("goroutines not back to baseline: %d after, baseline %d", res.after, res.baseline)
	}
	// Flat: the last minute's mean RSS at most 10 % above the second minute's. Below it is no
	// growth: the second minute still holds the cold scans' garbage that the runtime hands back.
	if second, last, ok := rssMinutes(res.rss, duration); ok && float64(last) > 1.1*float64(second) {
		t.Errorf("RSS not flat: last minute %d MiB, second minute %d MiB (more than 10 %% up)", last>>10, second>>10)
	}
}

// startProfiledPlugin starts the plugin with the SDK's pprof server on a free local port and
// returns the URL of its goroutine profile.
func startProfiledPlugin(t *testing.T) (*host, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// The plugin process inherits the test's environment (pluginCommand).
	t.Setenv("GF_PLUGIN_PROFILING_ENABLED", "true")
	t.Setenv("GF_PLUGIN_PROFILING_PORT", strconv.Itoa(port))
	h := startPlugin(t)
	if h.pid == 0 {
		t.Fatal("the plugin's pid is unknown")
	}
	debug := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/goroutine?debug=1", port)
	// The SDK starts the pprof server beside the gRPC server: poll until it answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := pluginGoroutines(debug); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the plugin's pprof server does not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return h, debug
}

// pluginGoroutines reads the plugin's goroutine count from its goroutine profile (the first
// line is "goroutine profile: total N"). No keep-alive: an idle connection would hold a server
// goroutine and count.
var pprofClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func pluginGoroutines(url string) (int, error) {
	resp, err := pprofClient.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		return 0, err
	}
	n, ok := strings.CutPrefix(strings.TrimSpace(line), "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("GET %s: unexpected first line %q", url, line)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return strconv.Atoi(n)
}

// pluginRSS is the plugin process's resident set (VmRSS of /proc/<pid>/status), in KiB.
func pluginRSS(pid int) (int64, error) { return procStatusKiB(pid, "VmRSS") }

// procStatusKiB reads one of the kB fields of /proc/<pid>/status (VmRSS, VmHWM).
func procStatusKiB(pid int, name string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", name, pid)
}

// dashboardTargets are the queries of every panel of the bundled dashboards, with each
// template variable at "All" (dashboardQueries), plus the query types no dashboard panel uses.
func dashboardTargets(t *testing.T) []loadTarget {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "src", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bundled dashboards: %v", err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(filepath.Base(f), ".json")
	}
	var out []loadTarget
	add := func(m map[string]any) {
		delete(m, "refId")
		qt, _ := m["queryType"].(string)
		out = append(out, loadTarget{queryType: qt, model: m})
	}
	for _, q := range dashboardQueries(t, names...) {
		add(q.model)
	}
	add(map[string]any{"queryType": "objectHistory", "filter": map[string]any{"resources": []any{"configmaps"}, "namespaces": []any{"*"}}})
	add(map[string]any{"queryType": "events", "format": "logs", "limit": 1000, "filter": map[string]any{"codes": []any{"4xx", "5xx"}}})
	return out
}

// loadQuery is one QueryData request of a single panel query over [to-span, to].
func loadQuery(pctx *pluginv2.PluginContext, tg loadTarget, to time.Time, span time.Duration) (*pluginv2.QueryDataRequest, error) {
	const maxDataPoints = 1000 // a wide panel
	interval := max(span/maxDataPoints, time.Second)
	m := map[string]any{"refId": "A", "intervalMs": interval.Milliseconds(), "maxDataPoints": maxDataPoints}
	for k, v := range tg.model {
		m[k] = v
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	from := to.Add(-span)
	return &pluginv2.QueryDataRequest{
		PluginContext: pctx,
		Headers:       map[string]string{},
		Queries: []*pluginv2.DataQuery{{
			RefId: "A", QueryType: tg.queryType, MaxDataPoints: maxDataPoints, IntervalMS: interval.Milliseconds(),
			TimeRange: &pluginv2.TimeRange{FromEpochMS: from.UnixMilli(), ToEpochMS: to.UnixMilli()},
			Json:      body,
		}},
	}, nil
}

// callLoadQuery sends one request and says what went wrong, if anything.
func callLoadQuery(ctx context.Context, h *host, req *pluginv2.QueryDataRequest, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := h.data.QueryData(ctx, req)
	if err != nil {
		return fmt.Errorf("gRPC: %w", err)
	}
	r := resp.GetResponses()["A"]
	switch {
	case r == nil:
		return fmt.Errorf("no response for RefID A")
	case r.GetError() != "":
		return fmt.Errorf("status %d, source %q: %s", r.GetStatus(), r.GetErrorSource(), r.GetError())
	case len(r.GetFrames()) == 0:
		return fmt.Errorf("no frames")
	}
	return nil
}

// runLoad warms the plugin up (every target once over each span, so the partial cache holds
// the working set of the load's queries before RSS is sampled: a cache filling is not a
// leak, and its bound is a setting), takes the goroutine
// baseline, runs cfg.workers workers for cfg.duration while sampling RSS and goroutines, then
// polls the goroutines until they are back within the slack of the baseline or cfg.settle ends.
func runLoad(t *testing.T, h *host, debug string, ds datasource, targets []loadTarget, cfg loadConfig) loadResult {
	t.Helper()
	pctx := ds.pluginContext(t)
	warm := time.Now()
	for _, span := range cfg.spans {
		for _, tg := range targets {
			req, err := loadQuery(pctx, tg, cfg.end, span)
			if err != nil {
				t.Fatal(err)
			}
			if err := callLoadQuery(context.Background(), h, req, cfg.callTimeout); err != nil {
				t.Fatalf("warm-up %s %v: %v", tg.queryType, tg.model, err)
			}
		}
	}
	t.Logf("warm-up: %d queries one after another in %s", len(targets)*len(cfg.spans), time.Since(warm).Round(time.Millisecond))
	res := loadResult{byType: map[string][]time.Duration{}}
	var err error
	if res.baseline, err = pluginGoroutines(debug); err != nil {
		t.Fatal(err)
	}

	ctx, stop := context.WithTimeout(context.Background(), cfg.duration)
	defer stop()
	var (
		mu      sync.Mutex
		errs    atomic.Int64
		wg      sync.WaitGroup
		sampled = make(chan struct{})
	)
	start := time.Now()
	go func() { // RSS and goroutine sampler
		defer close(sampled)
		tick := time.NewTicker(cfg.sampleEvery)
		defer tick.Stop()
		for {
			if kib, err := pluginRSS(h.pid); err == nil {
				mu.Lock()
				res.rss = append(res.rss, rssSample{at: time.Since(start), kiB: kib})
				mu.Unlock()
			}
			if n, err := pluginGoroutines(debug); err == nil {
				mu.Lock()
				res.peak = max(res.peak, n)
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	for w := range cfg.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 13))
			var lat []time.Duration
			types := map[string][]time.Duration{}
			for i := 0; ctx.Err() == nil; i++ {
				tg := targets[(w+i*cfg.workers)%len(targets)] // every worker walks the targets, offset
				span := cfg.spans[rng.IntN(len(cfg.spans))]
				to := cfg.end.Add(time.Duration(rng.Int64N(int64(cfg.jitter)))).Truncate(10 * time.Second)
				req, err := loadQuery(pctx, tg, to, span)
				if err != nil {
					panic(err) // json.Marshal of a map decoded from JSON
				}
				began := time.Now()
				// Not ctx: a query in flight when the time is up runs to its end and counts.
				err = callLoadQuery(context.Background(), h, req, cfg.callTimeout)
				d := time.Since(began)
				if err != nil {
					if errs.Add(1) <= 5 {
						mu.Lock()
						res.firstErrors = append(res.firstErrors, fmt.Sprintf("%s: %v", tg.queryType, err))
						mu.Unlock()
					}
					continue
				}
				lat = append(lat, d)
				types[tg.queryType] = append(types[tg.queryType], d)
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			for k, v := range types {
				res.byType[k] = append(res.byType[k], v...)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	<-sampled
	res.errors = errs.Load()

	// Back to baseline: poll, never a fixed sleep.
	deadline := time.Now().Add(cfg.settle)
	for {
		n, err := pluginGoroutines(debug)
		if err != nil {
			t.Fatal(err)
		}
		res.after = n
		if n <= res.baseline+cfg.goroutineSlack || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return res
}

// quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1)+0.5)]
}

// rssMinutes are the mean RSS (KiB) of the second minute and of the last minute of the load;
// ok is false when the load was too short to have both.
func rssMinutes(samples []rssSample, duration time.Duration) (second, last int64, ok bool) {
	if duration < 3*time.Minute {
		return 0, 0, false
	}
	mean := func(from, to time.Duration) int64 {
		var sum, n int64
		for _, s := range samples {
			if s.at >= from && s.at < to {
				sum += s.kiB
				n++
			}
		}
		if n == 0 {
			return 0
		}
		return sum / n
	}
	second, last = mean(time.Minute, 2*time.Minute), mean(duration-time.Minute, duration+time.Minute)
	return second, last, second > 0 && last > 0
}

// reportLoad logs the figures of a run (t.Logf, shown with -v or when the test fails).
func reportLoad(t *testing.T, cfg loadConfig, res loadResult) {
	t.Helper()
	var b bytes.Buffer
	lat := slices.Clone(res.latencies)
	slices.Sort(lat)
	fmt.Fprintf(&b, "load: %d workers for %s: %d queries answered, %d errors, %.1f queries/s; latency p50 %s p99 %s max %s\n",
		cfg.workers, res.elapsed.Round(time.Second), len(lat), res.errors, float64(len(lat))/res.elapsed.Seconds(),
		quantile(lat, 0.5).Round(time.Millisecond), quantile(lat, 0.99).Round(time.Millisecond), quantile(lat, 1).Round(time.Millisecond))
	types := make([]string, 0, len(res.byType))
	for k := range res.byType {
		types = append(types, k)
	}
	slices.Sort(types)
	for _, k := range types {
		d := slices.Clone(res.byType[k])
		slices.Sort(d)
		fmt.Fprintf(&b, "  %-17s %6d queries  p50 %8s  p99 %8s\n", k, len(d),
			quantile(d, 0.5).Round(time.Millisecond), quantile(d, 0.99).Round(time.Millisecond))
	}
	b.WriteString("  RSS (MiB) over time:")
	step := max(1, len(res.rss)/20) // at most ~20 points
	for i, s := range res.rss {
		if i%step == 0 || i == len(res.rss)-1 {
			fmt.Fprintf(&b, " %s=%d", s.at.Round(time.Second), s.kiB>>10)
		}
	}
	b.WriteString("\n")
	if second, last, ok := rssMinutes(res.rss, cfg.duration); ok {
		fmt.Fprintf(&b, "  RSS mean: second minute %d MiB, last minute %d MiB (%+.1f %%)\n",
			second>>10, last>>10, 100*(float64(last)/float64(second)-1))
	}
	fmt.Fprintf(&b, "  plugin goroutines: baseline %d, peak sampled %d, after the load %d\n", res.baseline, res.peak, res.after)
	t.Log(b.String())
}

// generatedLog makes sure dir holds a generated rotated log of at least minBytes: it reuses one
// left there by an earlier run (a summary file records what it holds), else writes it with
// pkg/auditgen (a busy day of a cluster, with the scripted intrusion).
func generatedLog(t *testing.T, dir string, minBytes int64) auditgen.Summary {
	t.Helper()
	summaryPath := filepath.Join(dir, ".auditgen-summary.json")
	var sum auditgen.Summary
	if b, err := os.ReadFile(summaryPath); err == nil && json.Unmarshal(b, &sum) == nil && sum.Bytes >= minBytes {
		return sum
	}
	began := time.Now()
	o := auditgen.Options{
		Seed: 1, Start: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Duration: 24 * time.Hour,
		Requests: int(minBytes/1900) + 1, Incident: true, KubeMinor: 33, // ~2 KB a request
	}
	_, sum, err := auditgen.WriteRotated(dir, o, 20000, false)
	if err != nil {
		t.Fatalf("generate the log: %v", err)
	}
	if sum.Bytes < minBytes {
		t.Fatalf("generated %d bytes, want at least %d: raise the requests per byte estimate", sum.Bytes, minBytes)
	}
	b, err := json.Marshal(sum)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(summaryPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("generated %d MiB in %s", sum.Bytes>>20, time.Since(began).Round(time.Second))
	return sum
}

// envGeneratedLog is generatedLog of at least $mibVar MiB (default defMiB), in $dirVar when it is
// set (kept for the next run) or in a temporary directory; it logs what the log holds.
func envGeneratedLog(t *testing.T, mibVar string, defMiB int, dirVar string) (string, auditgen.Summary) {
	t.Helper()
	mib := envInt(t, mibVar, defMiB)
	dir := os.Getenv(dirVar)
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "logs")
	}
	sum := generatedLog(t, dir, int64(mib)<<20)
	t.Logf("log: %s, %d MiB in %d events of %d requests, %s to %s", dir, sum.Bytes>>20, sum.Events, sum.Requests,
		sum.From.Format(time.RFC3339), sum.To.Format(time.RFC3339))
	return dir, sum
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive Go duration", name, v)
	}
	return d
}

//go:build unix

package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/index"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
)

// The scale benchmarks run every target of the bundled overview (api-activity) and security
// dashboards over a generated 24-hour busy-cluster log, rotated every ~100 MB as
// kube-apiserver's default --audit-log-maxsize does, the last two rotations gzipped:
//
//	K8SAUDIT_SCALE_REQUESTS=1000000 go test -run '^$' -bench Scale -benchtime 3x ./pkg/engine/
//
// (1,000,000 requests is about 2 GiB; the default, 150,000, about 300 MB.) Each case is one
// dashboard refresh (every target, one after another, as Grafana's query runner sends them).
var (
	scaleOnce sync.Once
	scaleDir  string
	scaleSum  auditgen.Summary
	scaleErr  error
)

var scaleStart = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

func scaleLog(b *testing.B) (string, auditgen.Summary) {
	b.Helper()
	scaleOnce.Do(func() {
		n := 150_000
		if v, err := strconv.Atoi(os.Getenv("K8SAUDIT_SCALE_REQUESTS")); err == nil && v > 0 {
			n = v
		}
		if scaleDir, scaleErr = os.MkdirTemp("", "k8saudit-scale-"); scaleErr != nil {
			return
		}
		var files []string
		// ~2 KiB a request: rotate every ~100 MB.
		files, scaleSum, scaleErr = auditgen.WriteRotated(scaleDir, auditgen.Options{Seed: 24, Start: scaleStart, Duration: 24 * time.Hour, Requests: n, MalformedEvery: 5000}, 50_000, false)
		if scaleErr != nil {
			return
		}
		rotated := files[:len(files)-1]
		for _, p := range rotated[max(0, len(rotated)-2):] {
			if scaleErr = gzipFile(p); scaleErr != nil {
				return
			}
		}
	})
	if scaleErr != nil {
		b.Fatal(scaleErr)
	}
	return scaleDir, scaleSum
}

// dashboardTargets returns the targets of bundled dashboards with every variable at All.
func dashboardTargets(tb testing.TB, names ...string) []*query.Query {
	tb.Helper()
	_, self, _, _ := runtime.Caller(0)
	variable := regexp.MustCompile(`"\$\{?\w+\}?"`)
	var out []*query.Query
	for _, name := range names {
		raw, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "src", "dashboards", name+".json"))
		if err != nil {
			tb.Fatal(err)
		}
		var dash struct {
			Panels []struct {
				Targets []map[string]any `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &dash); err != nil {
			tb.Fatal(err)
		}
		for _, p := range dash.Panels {
			for _, target := range p.Targets {
				delete(target, "datasource")
				delete(target, "refId")
				j, _ := json.Marshal(target)
				q, err := query.Parse(variable.ReplaceAll(j, []byte(`"*"`)), "")
				if err != nil {
					tb.Fatalf("%s: %s: %v", name, j, err)
				}
				out = append(out, q)
			}
		}
	}
	return out
}

type scaleSetup struct {
	src     *file.Source
	queries []*query.Query
	bytes   int64 // bytes of log on disk
}

func newScale(b *testing.B) scaleSetup {
	dir, _ := scaleLog(b)
	src, err := file.New(file.Config{Paths: []string{dir}}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if info, err := e.Info(); err == nil {
			total += info.Size()
		}
	}
	return scaleSetup{src: src, queries: dashboardTargets(b, "api-activity", "security-detections"), bytes: total}
}

// refresh runs every target over [from, to] and returns the bytes of log and of index read.
func (s scaleSetup) refresh(b *testing.B, from, to time.Time, cache *engine.Cache, ix *index.Store) (logBytes, indexBytes int64) {
	b.Helper()
	for _, q := range s.queries {
		res, err := engine.Run(context.Background(), s.src, engine.Request{Query: q, From: from, To: to, Interval: time.Minute, MaxDataPoints: 1000, Cache: cache, Index: ix})
		if err != nil {
			b.Fatal(err)
		}
		if p := res.Stats.Segments.IndexProblem; p != "" {
			b.Fatal(p)
		}
		logBytes += res.Stats.Source.BytesRead
		indexBytes += res.Stats.Segments.IndexBytes
	}
	return logBytes, indexBytes
}

// scaleCacheBytes is the partial cache's bound: K8SAUDIT_SCALE_CACHE_MB, else the default.
func scaleCacheBytes() int64 {
	if v, err := strconv.Atoi(os.Getenv("K8SAUDIT_SCALE_CACHE_MB")); err == nil && v > 0 {
		return int64(v) << 20
	}
	return 0
}

func openStore(b *testing.B) *index.Store {
	st, err := index.Open(b.TempDir(), 1<<40, "")
	if err != nil {
		b.Fatal(err)
	}
	return st
}

var day = [2]time.Time{scaleStart, scaleStart.Add(24 * time.Hour)}

// BenchmarkScaleRefresh: one refresh of both dashboards over 24 h.
func BenchmarkScaleRefresh(b *testing.B) {
	s := newScale(b)
	b.Logf("%d targets over %d MB of log", len(s.queries), s.bytes>>20)
	// cpu-s/refresh is the process's CPU time per refresh (user and system), which other work
	// on the machine changes far less than the wall time.
	report := func(b *testing.B, logBytes, indexBytes int64, cpu0 float64) {
		b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/refresh")
		b.ReportMetric(float64(logBytes)/float64(s.bytes), "log-read/refresh-x-log")
		b.ReportMetric(float64(indexBytes)/1e6, "index-MB-read/refresh")
		b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
	}
	b.Run("no-cache-no-index", func(b *testing.B) { // the engine before segments
		var lb, ib int64
		cpu0 := cpuSeconds()
		for b.Loop() {
			lb, ib = s.refresh(b, day[0], day[1], nil, nil)
		}
		report(b, lb, ib, cpu0)
	})
	b.Run("cold-builds-index", func(b *testing.B) { // a new datasource: nothing cached or indexed
		var lb, ib int64
		cpu0 := cpuSeconds()
		for b.Loop() {
			b.StopTimer()
			st := openStore(b)
			b.StartTimer()
			lb, ib = s.refresh(b, day[0], day[1], engine.NewCache(0), st)
		}
		report(b, lb, ib, cpu0)
	})
	b.Run("index-only", func(b *testing.B) { // after a restart: the index on disk, no cache
		st := openStore(b)
		s.refresh(b, day[0], day[1], engine.NewCache(0), st)
		var lb, ib int64
		cpu0 := cpuSeconds()
		for b.Loop() {
			lb, ib = s.refresh(b, day[0], day[1], engine.NewCache(0), st)
		}
		_, size := st.Usage()
		b.ReportMetric(float64(size)/float64(s.bytes), "index-size/log")
		report(b, lb, ib, cpu0)
	})
	b.Run("warm", func(b *testing.B) { // the next refresh of an unchanged dashboard
		st := openStore(b)
		cache := engine.NewCache(scaleCacheBytes())
		s.refresh(b, day[0], day[1], cache, st)
		var lb, ib int64
		cpu0 := cpuSeconds()
		for b.Loop() {
			lb, ib = s.refresh(b, day[0], day[1], cache, st)
		}
		info := cache.Info()
		b.ReportMetric(float64(info.Bytes)/(1<<20), "cache-MiB")
		b.ReportMetric(float64(info.Evicted), "cache-evictions")
		report(b, lb, ib, cpu0)
	})
	b.Run("warm-moved", func(b *testing.B) { // a dashboard over the last 24 h: the range moves
		// Each refresh asks a minute later than the one before: the oldest segment is cut
		// at another time and answered again (from its index), and each question's findings
		// are finished again, once per refresh, for all its panels.
		st := openStore(b)
		cache := engine.NewCache(scaleCacheBytes())
		s.refresh(b, day[0], day[1], cache, st)
		var lb, ib int64
		cpu0 := cpuSeconds()
		moved := 0
		for b.Loop() {
			moved++
			shift := time.Duration(moved) * time.Minute
			lb, ib = s.refresh(b, day[0].Add(shift), day[1].Add(shift), cache, st)
		}
		info := cache.Info()
		b.ReportMetric(float64(info.Bytes)/(1<<20), "cache-MiB")
		report(b, lb, ib, cpu0)
	})
	b.Run("warm-index-off", func(b *testing.B) { // file.index: false, the cache on
		cache := engine.NewCache(0)
		s.refresh(b, day[0], day[1], cache, nil)
		var lb, ib int64
		cpu0 := cpuSeconds()
		for b.Loop() {
			lb, ib = s.refresh(b, day[0], day[1], cache, nil)
		}
		report(b, lb, ib, cpu0)
	})
	b.Run("last-hour-index-only", func(b *testing.B) { // 1 h of the 24 h, nothing cached
		st := openStore(b)
		s.refresh(b, day[0], day[1], engine.NewCache(0), st)
		_, dayIndex := s.refresh(b, day[0], day[1], engine.NewCache(0), st)
		var lb, ib int64
		cpu0 := cpuSeconds()
		for b.Loop() {
			lb, ib = s.refresh(b, day[1].Add(-time.Hour), day[1], engine.NewCache(0), st)
		}
		b.ReportMetric(float64(ib)/float64(dayIndex), "index-read/day-index-read")
		report(b, lb, ib, cpu0)
	})
}

// BenchmarkScaleColdQuery: the first query of a new datasource (timeseries by verb over 24 h),
// which reads every file and builds its index; MB/s is of raw log on disk.
func BenchmarkScaleColdQuery(b *testing.B) {
	s := newScale(b)
	q, err := query.Parse([]byte(`{"queryType":"timeseries","groupBy":["verb"]}`), "")
	if err != nil {
		b.Fatal(err)
	}
	for _, withIndex := range []bool{false, true} {
		name := "no-index"
		if withIndex {
			name = "building-index"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(s.bytes)
			// cpu-MB/s is of log per second of the process's CPU time (both cores), which other
			// work on the machine changes far less than the wall time MB/s is of.
			var cpu float64
			for b.Loop() {
				b.StopTimer()
				var st *index.Store
				if withIndex {
					st = openStore(b)
				}
				b.StartTimer()
				cpu0 := cpuSeconds()
				if _, err := engine.Run(context.Background(), s.src, engine.Request{Query: q, From: day[0], To: day[1], Interval: time.Minute, MaxDataPoints: 1000, Cache: engine.NewCache(0), Index: st}); err != nil {
					b.Fatal(err)
				}
				cpu += cpuSeconds() - cpu0
			}
			if cpu > 0 {
				b.ReportMetric(float64(s.bytes)*float64(b.N)/cpu/1e6, "cpu-MB/s")
			}
		})
	}
}

// BenchmarkScaleNewestTables: the newest rows of a day, a table of events and of 401/403
// requests, from the column index with nothing cached (a range that cuts every segment
// anew): log-read/log is the share of the log's bytes read back.
func BenchmarkScaleNewestTables(b *testing.B) {
	s := newScale(b)
	st := openStore(b)
	s.refresh(b, day[0], day[1], engine.NewCache(0), st) // builds the index
	for _, raw := range []string{`{"queryType":"events","format":"logs","limit":1000}`, `{"queryType":"denied","limit":100}`} {
		q, err := query.Parse([]byte(raw), "")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(q.QueryType), func(b *testing.B) {
			var read int64
			for b.Loop() {
				res, err := engine.Run(context.Background(), s.src, engine.Request{Query: q, From: day[0], To: day[1], Interval: time.Minute, MaxDataPoints: 1000, Cache: engine.NewCache(0), Index: st})
				if err != nil {
					b.Fatal(err)
				}
				read = res.Stats.Source.BytesRead
			}
			b.ReportMetric(float64(read)/float64(s.bytes), "log-read/log")
		})
	}
}

// BenchmarkScaleGrowth: audit.log grew by 1 % of the log since the last refresh.
func BenchmarkScaleGrowth(b *testing.B) {
	s := newScale(b)
	dir, sum := scaleLog(b)
	st := openStore(b)
	cache := engine.NewCache(0)
	to := day[1].Add(time.Hour)
	s.refresh(b, day[0], to, cache, st)
	var lb int64
	seed := uint64(100)
	for b.Loop() {
		b.StopTimer()
		seed++
		growLog(b, filepath.Join(dir, "audit.log"), seed, sum.Requests/100)
		b.StartTimer()
		lb, _ = s.refresh(b, day[0], to, cache, st)
	}
	b.ReportMetric(float64(lb)/float64(len(s.queries))/float64(s.bytes), "log-read/target/log")
}

func growLog(b *testing.B, p string, seed uint64, requests int) {
	fh, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	if _, err := auditgen.Write(fh, auditgen.Options{Seed: seed, Start: day[1].Add(-10 * time.Minute), Duration: 10 * time.Minute, Requests: requests}); err != nil {
		b.Fatal(err)
	}
}

// peakRSSMiB is the process's peak resident set (VmHWM), or 0 where /proc has none.
func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// cpuSeconds is the CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

package engine_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/index"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
)

// segmentQueries covers every query type; each goes through the segment cache (pipelineHealth
// with a partial per file, whose origin it is) and must answer as the raw scan does.
var segmentQueries = []string{
	`{"queryType":"timeseries","groupBy":["verb","user.groups"],"limit":20}`,
	`{"queryType":"timeseries","metric":"rate","filter":{"codes":["4xx","5xx"]}}`,
	`{"queryType":"latency","groupBy":["objectRef.resource"],"quantiles":[0.5,0.9,0.99],"limit":5}`,
	`{"queryType":"latency","format":"heatmap","includeLongRunning":true}`,
	`{"queryType":"denied","limit":50}`,
	`{"queryType":"matrix","limit":6}`,
	`{"queryType":"topn","groupBy":["user.username","verb"],"limit":25}`,
	`{"queryType":"topn","groupBy":["stage"],"limit":3}`, // one row past ExactSamples: a sketch
	`{"queryType":"latencyBreakdown"}`,
	`{"queryType":"latencyBreakdown","format":"table","limit":7}`,
	`{"queryType":"deprecatedApis","limit":5}`,
	`{"queryType":"objectHistory","limit":300,"filter":{"resources":["deployments","pods"],"namespaces":["*"]}}`,
	`{"queryType":"events","limit":40,"filter":{"stages":["RequestReceived","ResponseStarted","ResponseComplete","Panic"]}}`,
	`{"queryType":"detections","limit":500,"burstThreshold":3}`,
	`{"queryType":"detections","format":"timeseries"}`,
	`{"queryType":"detections","rules":["binding-to-wildcard-role","secret-read-unexpected"],"burstWindow":"10m"}`,
	`{"queryType":"pipelineHealth"}`,
}

var segStart = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// writeSegmentedLog writes a generated 3-hour log as kube-apiserver leaves it: rotations (the
// older half gzipped), audit.log, malformed lines and events over the source's line limit.
func writeSegmentedLog(t *testing.T, dir string) auditgen.Summary {
	t.Helper()
	return writeEnvelopedLog(t, dir, auditgen.EnvelopeBare)
}

func gzipInPlace(t *testing.T, p string) {
	t.Helper()
	if err := gzipFile(p); err != nil {
		t.Fatal(err)
	}
}

// gzipFile replaces p with p.gz, as --audit-log-compress does.
func gzipFile(p string) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(p+".gz", buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Remove(p)
}

func newFileSource(t testing.TB, dir string) *file.Source {
	t.Helper()
	// 512 KiB: the generator's huge events (> 1 MiB) are over-long lines, skipped and counted.
	src, err := file.New(file.Config{Paths: []string{dir}, MaxLineBytes: 512 << 10}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// resultsEqual compares everything but the read statistics.
func resultsEqual(t *testing.T, what string, want, got *engine.Result) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmpopts.EquateNaNs(), cmpopts.IgnoreFields(engine.Result{}, "Stats"),
		cmpopts.IgnoreUnexported(detect.Finding{}, engine.HistoryRow{})); diff != "" {
		t.Errorf("%s: raw scan vs segments (-raw +segments):\n%s", what, diff)
	}
}

type runner struct {
	t     *testing.T
	src   *file.Source
	cache *engine.Cache
	index *index.Store // nil: no column index
}

func (r runner) run(raw string, from, to time.Time, cache *engine.Cache) *engine.Result {
	r.t.Helper()
	q, err := query.Parse([]byte(raw), "")
	if err != nil {
		r.t.Fatal(err)
	}
	req := engine.Request{Query: q, From: from, To: to, Interval: time.Minute, MaxDataPoints: 600, Cache: cache}
	if cache != nil {
		req.Index = r.index
	}
	res, err := engine.Run(context.Background(), r.src, req)
	if err != nil {
		r.t.Fatalf("%s: %v", raw, err)
	}
	return res
}

// check runs every query raw and through the cache and requires the same results; it returns
// the segment stats of the cached runs by query.
func (r runner) check(what string, from, to time.Time) map[string]engine.Stats {
	r.t.Helper()
	out := map[string]engine.Stats{}
	for _, raw := range segmentQueries {
		want := r.run(raw, from, to, nil)
		got := r.run(raw, from, to, r.cache)
		resultsEqual(r.t, what+" "+raw, want, got)
		if got.Stats.Malformed != want.Stats.Malformed || got.Stats.Matched != want.Stats.Matched {
			r.t.Errorf("%s %s: malformed/matched %d/%d through segments, %d/%d raw", what, raw, got.Stats.Malformed, got.Stats.Matched, want.Stats.Malformed, want.Stats.Matched)
		}
		out[raw] = got.Stats
	}
	st := out[segmentQueries[0]]
	r.t.Logf("%s: %s; read %d bytes, %d from cache; malformed %d, over-long %d", what, st.Segments, st.Source.BytesRead, st.Segments.BytesCached, st.Malformed, st.Source.LinesTooLong)
	return out
}

// TestSegmentsEqualRawScan runs every query type raw and through the segment cache over a
// rotated, partly gzipped log with malformed and over-long lines, cold, warm, after audit.log
// grew, after a rotation, after a copytruncate and over a moved time range, and requires the
// same results each time.
func TestSegmentsEqualRawScan(t *testing.T) {
	t.Run("cache", func(t *testing.T) { testSegmentsEqualRawScan(t, false) })
	t.Run("cache and index", func(t *testing.T) { testSegmentsEqualRawScan(t, true) })
}

// openIndex opens an index store in a temporary directory.
func openIndex(t *testing.T) *index.Store {
	t.Helper()
	store, err := index.Open(t.TempDir(), 1<<30, "")
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// indexedRunner writes the segmented log and returns a runner over it with a cache and an index.
func indexedRunner(t *testing.T) runner {
	t.Helper()
	dir := t.TempDir()
	writeSegmentedLog(t, dir)
	return runner{t: t, src: newFileSource(t, dir), cache: engine.NewCache(0), index: openIndex(t)}
}

func testSegmentsEqualRawScan(t *testing.T, withIndex bool) {
	dir := t.TempDir()
	sum := writeSegmentedLog(t, dir)
	r := runner{t: t, src: newFileSource(t, dir), cache: engine.NewCache(0)}
	if withIndex {
		r.index = openIndex(t)
	}
	from, to := segStart.Add(-time.Minute), segStart.Add(4*time.Hour)
	ts := `{"queryType":"timeseries","groupBy":["verb","user.groups"],"limit":20}`

	cold := r.check("cold", from, to)
	if st := cold[ts]; st.Segments.Total < 5 || st.Segments.Scanned != st.Segments.Total || st.Malformed == 0 || st.Source.LinesTooLong == 0 {
		t.Fatalf("cold: want every segment read, malformed and over-long lines: %+v", st)
	}
	if st := cold[`{"queryType":"detections","limit":500,"burstThreshold":3}`]; st.Segments.Total == 0 {
		t.Errorf("detections did not go through the segment cache: %+v", st.Segments)
	}
	if !raceEnabled { // the smaller log under -race holds fewer than ExactSamples requests
		res := r.run(`{"queryType":"topn","groupBy":["stage"],"limit":3}`, from, to, r.cache)
		if !slices.ContainsFunc(res.Notices, func(n engine.Notice) bool { return strings.Contains(n.Text, "DDSketch") }) {
			t.Errorf("a topn row of %d requests was not a sketch: %v", sum.Requests, res.Notices)
		}
	}

	warm := r.check("warm", from, to)
	for raw, st := range warm {
		if st.Segments.Total == 0 {
			continue // not cacheable
		}
		if st.Segments.Cached != st.Segments.Total || st.Source.BytesRead != 0 {
			t.Errorf("warm %s: want every segment from the cache and nothing read: %+v, %d bytes read", raw, st.Segments, st.Source.BytesRead)
		}
	}

	// audit.log grows: only the appended bytes are read.
	active := filepath.Join(dir, "audit.log")
	before := fileSize(t, active)
	appendLog(t, active, 12, segStart.Add(3*time.Hour+time.Minute), 200)
	grown := r.check("grown", from, to)
	st := grown[ts]
	if st.Segments.Extended != 1 || st.Segments.Cached != st.Segments.Total-1 {
		t.Errorf("grown: want audit.log extended and the rest cached: %+v", st.Segments)
	}
	if appended := fileSize(t, active) - before; st.Source.BytesRead != appended {
		t.Errorf("grown: read %d bytes, want only the %d appended", st.Source.BytesRead, appended)
	}

	// A line being written (no newline yet) is read, not kept; once complete it is kept.
	appendInHalves(t, active, func(what string) { r.check(what, from, to) })

	// Rotation: audit.log is renamed (its identity and cached partials move with it) and a new
	// audit.log is created.
	rotate(t, dir)
	rot := r.check("rotated", from, to)[ts]
	if rot.Segments.Scanned != 1 || rot.Segments.Cached != rot.Segments.Total-1 {
		t.Errorf("rotated: want only the new audit.log read: %+v", rot.Segments)
	}

	// copytruncate: the same inode with new content is a new segment.
	if err := os.Truncate(active, 0); err != nil {
		t.Fatal(err)
	}
	appendLog(t, active, 15, segStart.Add(3*time.Hour+20*time.Minute), 50)
	ct := r.check("copytruncate", from, to)[ts]
	if ct.Segments.Scanned != 1 {
		t.Errorf("copytruncate: want the truncated audit.log read again: %+v", ct.Segments)
	}

	// A range moved by 7 minutes, cutting the first segments: those are read, the inner ones
	// still come from the cache on other buckets.
	moved := r.check("moved", segStart.Add(7*time.Minute), to.Add(7*time.Minute))[ts]
	if cut := moved.Segments.Scanned + moved.Segments.Indexed; moved.Segments.Cached == 0 || cut == 0 || (withIndex && moved.Source.BytesRead != 0) {
		t.Errorf("moved range: want cut segments read (from the index if there is one) and inner ones cached: %+v, %d bytes read", moved.Segments, moved.Source.BytesRead)
	}
	r.check("moved again", segStart.Add(7*time.Minute), to.Add(7*time.Minute))
	if sum.Events == 0 {
		t.Fatal("no events")
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// appendTo writes n generated requests starting at start.
func appendTo(t *testing.T, w *bytes.Buffer, seed uint64, start time.Time, n int) {
	t.Helper()
	if _, err := auditgen.Write(w, auditgen.Options{Seed: seed, Start: start, Duration: 2 * time.Minute, Requests: n, MalformedEvery: 37}); err != nil {
		t.Fatal(err)
	}
}

func appendLog(t *testing.T, p string, seed uint64, start time.Time, n int) {
	t.Helper()
	var buf bytes.Buffer
	appendTo(t, &buf, seed, start, n)
	fh, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// countingSource counts the segment reads of a file source.
type countingSource struct {
	*file.Source
	reads atomic.Int64
}

func (c *countingSource) ScanSegment(ctx context.Context, seg source.Segment, from int64, complete bool, fn source.LineAtFunc) (source.SegmentScan, error) {
	c.reads.Add(1)
	return c.Source.ScanSegment(ctx, seg, from, complete, fn)
}

// TestConcurrentPanelsBuildSegmentsOnce runs the same query from 8 goroutines on one cache:
// every segment is read once, and all answers are the raw scan's.
func TestConcurrentPanelsBuildSegmentsOnce(t *testing.T) {
	dir := t.TempDir()
	writeSegmentedLog(t, dir)
	src := &countingSource{Source: newFileSource(t, dir)}
	from, to := segStart, segStart.Add(4*time.Hour)
	raw := `{"queryType":"topn","groupBy":["user.username"],"limit":10}`
	q, err := query.Parse([]byte(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	want, err := engine.Run(context.Background(), src.Source, engine.Request{Query: q, From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	cache := engine.NewCache(0)
	var wg sync.WaitGroup
	results := make([]*engine.Result, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = engine.Run(context.Background(), src, engine.Request{Query: q, From: from, To: to, Cache: cache, Workers: 2})
		}()
	}
	wg.Wait()
	segs := 0
	for i, res := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		resultsEqual(t, fmt.Sprintf("panel %d", i), want, res)
		segs = res.Stats.Segments.Total
	}
	if got := src.reads.Load(); got != int64(segs) {
		t.Errorf("%d segment reads for %d segments and 8 panels: want each segment read once", got, segs)
	}
}

// TestCacheEvictsPastItsBound keeps a small cache under its bound.
func TestCacheEvictsPastItsBound(t *testing.T) {
	dir := t.TempDir()
	writeSegmentedLog(t, dir)
	r := runner{t: t, src: newFileSource(t, dir), cache: engine.NewCache(64 << 10)}
	from, to := segStart, segStart.Add(4*time.Hour)
	for _, raw := range segmentQueries[:6] {
		r.run(raw, from, to, r.cache)
	}
	info := r.cache.Info()
	if info.Bytes > info.Max || info.Evicted == 0 || info.Entries == 0 {
		t.Errorf("cache over its bound or never evicting: %+v", info)
	}
	r.check("small cache", from, to)
}

// TestIndexEqualsRawScan answers every query type from the column index (a new partial cache
// for each run, so that nothing comes from it) and requires the raw scan's results: first when
// the index is built, then read from it, after audit.log grew, and over a moved range.
// runRaw runs the query raw over [from, to] and returns its request (no cache, no index) and
// result.
func runRaw(t *testing.T, src source.Source, raw string, from, to time.Time) (engine.Request, *engine.Result) {
	t.Helper()
	q, err := query.Parse([]byte(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	req := engine.Request{Query: q, From: from, To: to, Interval: time.Minute, MaxDataPoints: 600}
	res, err := engine.Run(context.Background(), src, req)
	if err != nil {
		t.Fatal(err)
	}
	return req, res
}

func TestIndexEqualsRawScan(t *testing.T) {
	dir := t.TempDir()
	writeSegmentedLog(t, dir)
	store, err := index.Open(t.TempDir(), 1<<30, "512k")
	if err != nil {
		t.Fatal(err)
	}
	src := newFileSource(t, dir)
	from, to := segStart.Add(-time.Minute), segStart.Add(4*time.Hour)
	check := func(what string, from, to time.Time) map[string]engine.Stats {
		t.Helper()
		out := map[string]engine.Stats{}
		for _, raw := range segmentQueries {
			req, want := runRaw(t, src, raw, from, to)
			req.Cache, req.Index = engine.NewCache(0), store
			got, err := engine.Run(context.Background(), src, req)
			if err != nil {
				t.Fatal(err)
			}
			resultsEqual(t, what+" "+raw, want, got)
			if got.Stats.Malformed != want.Stats.Malformed || got.Stats.Matched != want.Stats.Matched {
				t.Errorf("%s %s: malformed/matched %d/%d from the index, %d/%d raw", what, raw, got.Stats.Malformed, got.Stats.Matched, want.Stats.Malformed, want.Stats.Matched)
			}
			if got.Stats.Segments.IndexProblem != "" {
				t.Errorf("%s %s: %s", what, raw, got.Stats.Segments.IndexProblem)
			}
			out[raw] = got.Stats
		}
		st := out[segmentQueries[0]]
		t.Logf("%s: %s; read %d bytes of log, %d of index", what, st.Segments, st.Source.BytesRead, st.Segments.IndexBytes)
		return out
	}
	ts := segmentQueries[0]
	built := check("building", from, to)[ts]
	logBytes := built.Source.BytesRead
	if built.Segments.IndexWritten != built.Segments.Total {
		t.Errorf("building: want an index written per segment: %+v", built.Segments)
	}
	read := check("indexed", from, to)
	for _, raw := range segmentQueries {
		st := read[raw]
		if st.Segments.Total == 0 {
			continue
		}
		columnar := st.Segments.Indexed == st.Segments.Total
		switch {
		case columnar && st.Segments.LinesReadBack == 0 && st.Source.BytesRead != 0:
			t.Errorf("%s: answered from the index but read %d bytes of log", raw, st.Source.BytesRead)
		case columnar && st.Source.BytesRead > logBytes/4:
			t.Errorf("%s: read back %d bytes of a %d-byte log", raw, st.Source.BytesRead, logBytes)
		}
		if !columnar && st.Segments.Indexed != 0 {
			t.Errorf("%s: partly from the index: %+v", raw, st.Segments)
		}
	}
	for _, raw := range []string{ts, segmentQueries[2], segmentQueries[3], segmentQueries[4], segmentQueries[5], segmentQueries[6], segmentQueries[8]} {
		if st := read[raw]; st.Segments.Indexed != st.Segments.Total {
			t.Errorf("%s: not answered from the index: %+v", raw, st.Segments)
		}
	}
	if st := read[segmentQueries[4]]; st.Segments.LinesReadBack == 0 || st.Source.BytesRead > logBytes/50 {
		t.Errorf("denied: want its rows read back, a small part of the log: %d lines, %d bytes of %d", st.Segments.LinesReadBack, st.Source.BytesRead, logBytes)
	}
	// events, limit 40: each segment reads back its newest 40 events (and any tied with the
	// 40th), not every event of the range.
	if st := read[segmentQueries[12]]; st.Segments.Indexed != st.Segments.Total || st.Segments.LinesReadBack > int64(41*st.Segments.Total) {
		t.Errorf("events: want at most its newest rows read back per segment: %+v", st.Segments)
	}
	files, size := store.Usage()
	t.Logf("index: %d files, %d bytes", files, size)

	active := filepath.Join(dir, "audit.log")
	before := fileSize(t, active)
	appendLog(t, active, 21, segStart.Add(3*time.Hour+time.Minute), 150)
	grown := check("grown", from, to)[ts]
	if appended := fileSize(t, active) - before; grown.Source.BytesRead != appended || grown.Segments.IndexWritten != 1 {
		t.Errorf("grown: read %d bytes (want the %d appended) and wrote %d indexes (want 1)", grown.Source.BytesRead, appended, grown.Segments.IndexWritten)
	}
	check("grown, indexed", from, to)
	moved := check("moved", segStart.Add(7*time.Minute), to.Add(7*time.Minute))[ts]
	if moved.Source.BytesRead != 0 {
		t.Errorf("moved range: read %d bytes of log; the index should answer the cut segment", moved.Source.BytesRead)
	}
}

// TestDamagedOrUnwritableIndex: a damaged index file is discarded and rebuilt, and an index
// directory that cannot be written makes queries read the files, with a notice; the answers
// are the raw scan's either way.
func TestDamagedOrUnwritableIndex(t *testing.T) {
	dir := t.TempDir()
	writeSegmentedLog(t, dir)
	src := newFileSource(t, dir)
	idxDir := t.TempDir()
	store, err := index.Open(idxDir, 1<<30, "")
	if err != nil {
		t.Fatal(err)
	}
	raw := segmentQueries[0]
	q, err := query.Parse([]byte(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	from, to := segStart.Add(-time.Minute), segStart.Add(4*time.Hour)
	run := func(store *index.Store) *engine.Result {
		t.Helper()
		req := engine.Request{Query: q, From: from, To: to, Interval: time.Minute, MaxDataPoints: 600}
		if store != nil {
			req.Cache, req.Index = engine.NewCache(0), store
		}
		res, err := engine.Run(context.Background(), src, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	want := run(nil)
	run(store) // builds the index
	ents, err := os.ReadDir(idxDir)
	if err != nil || len(ents) == 0 {
		t.Fatalf("no index files: %v", err)
	}
	for i, e := range ents[:2] {
		p := filepath.Join(idxDir, e.Name())
		data, _ := os.ReadFile(p)
		if i == 0 {
			data = data[:len(data)/2] // a cut file
		} else {
			data[len(data)-5] ^= 0xff // a damaged block
		}
		os.WriteFile(p, data, 0o600)
	}
	got := run(store)
	if got.Stats.Segments.IndexDiscarded != 2 || got.Stats.Segments.IndexWritten != 2 {
		t.Errorf("want 2 damaged indexes discarded and rebuilt: %+v", got.Stats.Segments)
	}
	if !dropNotice(got, engine.Info, "discarded 2 damaged column index files; rebuilt from the audit files") {
		t.Errorf("no notice of the discarded indexes: %+v", got.Notices)
	}
	resultsEqual(t, "damaged index", want, got)
	if again := run(store); again.Stats.Segments.Indexed != again.Stats.Segments.Total {
		t.Errorf("after the rebuild, want every segment from the index: %+v", again.Stats.Segments)
	}

	// The directory goes away under the store (a full or read-only disk): queries read the files.
	os.RemoveAll(idxDir)
	got = run(store)
	if got.Stats.Segments.IndexProblem == "" || got.Stats.Segments.Scanned != got.Stats.Segments.Total {
		t.Fatalf("want every segment read and the index problem said: %+v", got.Stats.Segments)
	}
	if !dropNotice(got, engine.Info, "the column index could not be used (") {
		t.Errorf("no notice about the index: %+v", got.Notices)
	}
	resultsEqual(t, "unwritable index", want, got)
}

// dropNotice removes the first notice of res that starts with text and reports whether there
// was one.
func dropNotice(res *engine.Result, sev engine.Severity, text string) bool {
	for i, n := range res.Notices {
		if n.Severity == sev && strings.HasPrefix(n.Text, text) {
			res.Notices = append(res.Notices[:i], res.Notices[i+1:]...)
			return true
		}
	}
	return false
}

// TestSpanIgnoresEventsWithoutTime: an event without a timestamp (kept by the decoder, outside
// every range) must not make the segment's time span forget its earliest event, or a partial
// kept for a wide range would be reused for a range that leaves that event out.
func TestSpanIgnoresEventsWithoutTime(t *testing.T) {
	dir := t.TempDir()
	at := func(ts time.Time, id string) string {
		return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + id + `","stage":"ResponseComplete","verb":"get",` +
			`"user":{"username":"alice"},"objectRef":{"resource":"pods","namespace":"default"},"responseStatus":{"code":200},` +
			`"requestReceivedTimestamp":"` + ts.Format(time.RFC3339Nano) + `","stageTimestamp":"` + ts.Format(time.RFC3339Nano) + `"}`
	}
	noTime := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"x","stage":"ResponseComplete","verb":"get","user":{"username":"alice"}}`
	log := at(segStart, "a") + "\n" + noTime + "\n" + at(segStart.Add(2*time.Hour), "b") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runner{t: t, src: newFileSource(t, dir), cache: engine.NewCache(0)}
	raw := `{"queryType":"topn","groupBy":["user.username"]}`
	r.run(raw, segStart.Add(-time.Minute), segStart.Add(3*time.Hour), r.cache) // keeps a partial
	from, to := segStart.Add(time.Hour), segStart.Add(3*time.Hour)
	resultsEqual(t, "narrower range", r.run(raw, from, to, nil), r.run(raw, from, to, r.cache))
}

// TestSegmentOutsideTheRangeIsKept: a file listed for a range but holding none of its events
// (an old rotation with a new mtime) is read once; later refreshes take its empty answer from
// the cache, and a range that does reach its events reads it again.
func TestSegmentOutsideTheRangeIsKept(t *testing.T) {
	dir := t.TempDir()
	var old bytes.Buffer
	appendTo(t, &old, 31, segStart.Add(-48*time.Hour), 50)
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), old.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runner{t: t, src: newFileSource(t, dir), cache: engine.NewCache(0)}
	raw := `{"queryType":"topn","groupBy":["user.username"]}`
	from, to := segStart, segStart.Add(time.Hour)
	first := r.run(raw, from, to, r.cache)
	second := r.run(raw, from, to.Add(time.Minute), r.cache)
	if first.Stats.Segments.Scanned != 1 || second.Stats.Segments.Cached != 1 || second.Stats.Source.BytesRead != 0 {
		t.Errorf("want the segment read once, then from the cache: %+v, then %+v (%d bytes read)", first.Stats.Segments, second.Stats.Segments, second.Stats.Source.BytesRead)
	}
	back := segStart.Add(-49 * time.Hour)
	resultsEqual(t, "a range reaching its events", r.run(raw, back, to, nil), r.run(raw, back, to, r.cache))
}

// TestIndexNewestRowsTies: a table of the newest N rows read back from the index reads the
// rows tied with the N-th too, since the tie is broken by fields the index does not hold
// (auditID, stage). Runs of events share one stageTimestamp across the cut in two segments;
// every limit gives the raw scan's rows and total.
func TestIndexNewestRowsTies(t *testing.T) {
	dir := t.TempDir()
	at := func(i int) time.Time { return segStart.Add(time.Duration(i/25) * time.Second) } // runs of 25
	write := func(name string, from, to int) {
		var buf bytes.Buffer
		for i := from; i < to; i++ {
			code := 200
			if i%3 == 0 {
				code = 403
			}
			fmt.Fprintf(&buf, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-%03d","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","user":{"username":"u%d"},"objectRef":{"resource":"pods","namespace":"default","name":"web","apiVersion":"v1"},"responseStatus":{"code":%d},"requestReceivedTimestamp":%q,"stageTimestamp":%q}`+"\n",
				(i*37)%1000, i%4, code, at(i).Add(-time.Millisecond).Format(time.RFC3339Nano), at(i).Format(time.RFC3339Nano))
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("audit-2026-11-25T00-00-00.000.log", 0, 300)
	write("audit.log", 300, 600)
	store, err := index.Open(t.TempDir(), 1<<30, "")
	if err != nil {
		t.Fatal(err)
	}
	src := newFileSource(t, dir)
	from, to := segStart.Add(-time.Minute), segStart.Add(time.Hour)
	for _, raw := range []string{
		`{"queryType":"events","limit":10}`, `{"queryType":"events","limit":30}`, `{"queryType":"events","limit":260}`,
		`{"queryType":"events","limit":5000}`, `{"queryType":"denied","limit":7}`, `{"queryType":"denied","limit":100}`,
		`{"queryType":"events","limit":12,"filter":{"users":["u1","u2"]}}`,
		`{"queryType":"objectHistory","limit":10,"filter":{"resources":["pods"],"namespaces":["default"],"names":["web"]}}`,
	} {
		req, want := runRaw(t, src, raw, from, to)
		q := req.Query
		req.Index = store
		for _, pass := range []string{"building", "indexed"} {
			req.Cache = engine.NewCache(0)
			got, err := engine.Run(context.Background(), src, req)
			if err != nil {
				t.Fatal(err)
			}
			resultsEqual(t, pass+" "+raw, want, got)
			// Past a quarter of a segment's events a plain read is cheaper (limits 260 and up).
			if small := q.Limit <= 30; pass == "indexed" && small && got.Stats.Segments.Indexed != 2 {
				t.Errorf("%s: want both segments from the index: %+v", raw, got.Stats.Segments)
			}
			if pass != "indexed" || raw != `{"queryType":"events","limit":10}` {
				continue
			}
			// audit.log, read first, holds the 10 newest (a run of 25 at one time, all read
			// back); the rotation's rows are older than the 10th, so none is read back.
			if n := got.Stats.Segments.LinesReadBack; n != 25 {
				t.Errorf("%s: read back %d lines, want the 25 of the newest run", raw, n)
			}
			// The partial left without the rotation's rows answers the same query again.
			again, err := engine.Run(context.Background(), src, req)
			if err != nil {
				t.Fatal(err)
			}
			resultsEqual(t, "again "+raw, want, again)
			if st := again.Stats.Segments; st.Cached != 2 {
				t.Errorf("%s again: want both segments from the cache: %+v", raw, st)
			}
			// A range that ends before audit.log's events needs the rotation's rows, which the
			// kept partial (same fingerprint, same cut of the rotation) lacks: it is read again.
			early := req
			early.To = at(299)
			_, want2 := runRaw(t, src, raw, from, early.To)
			got2, err := engine.Run(context.Background(), src, early)
			if err != nil {
				t.Fatal(err)
			}
			resultsEqual(t, "ending before audit.log "+raw, want2, got2)
			if len(want2.Events.Events) != 10 {
				t.Errorf("ending before audit.log: %d events, want 10", len(want2.Events.Events))
			}
		}
	}
}

package engine_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
)

// pipelineQueries are compared raw and through the segments: the table, the timeseries format,
// a limit under the number of files (a notice), a filter.
var pipelineQueries = []string{
	`{"queryType":"pipelineHealth"}`,
	`{"queryType":"pipelineHealth","format":"timeseries"}`,
	`{"queryType":"pipelineHealth","limit":3}`,
	`{"queryType":"pipelineHealth","filter":{"verbs":["get","list","watch"],"codes":["!401"],"stages":["RequestReceived","ResponseComplete"]}}`,
}

// writeEnvelopedLog is writeSegmentedLog with every file written in an envelope format
// (before the older half of the rotations is gzipped).
func writeEnvelopedLog(t *testing.T, dir, format string) auditgen.Summary {
	t.Helper()
	requests, per := 6000, 900
	if raceEnabled {
		requests, per = 1800, 300
	}
	files, sum, err := auditgen.WriteRotated(dir, auditgen.Options{Seed: 11, Start: segStart, Duration: 3 * time.Hour, Requests: requests, MalformedEvery: 250, HugeEvery: 900}, per, false)
	if err != nil {
		t.Fatal(err)
	}
	rotated := files[:len(files)-1]
	if len(rotated) < 4 {
		t.Fatalf("only %d rotations", len(rotated))
	}
	for _, p := range files {
		if format != auditgen.EnvelopeBare {
			wrapFile(t, p, format)
		}
	}
	for _, p := range rotated[:len(rotated)/2] {
		gzipInPlace(t, p)
	}
	return sum
}

// wrapFile rewrites the bare lines of p in an envelope format.
func wrapFile(t *testing.T, p, format string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ew, err := auditgen.NewEnvelopeWriter(&out, format)
	if err != nil {
		t.Fatal(err)
	}
	ew.Write(data)
	ew.Close()
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// appendInHalves appends generated lines to the file p in two writes, the first ending in the
// middle of a line (a line being written: read, not kept; once complete it is kept), and calls
// check after each.
func appendInHalves(t *testing.T, p string, check func(what string)) {
	t.Helper()
	fh, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var half bytes.Buffer
	appendTo(t, &half, 13, segStart.Add(3*time.Hour+5*time.Minute), 3)
	line := half.Bytes()
	fh.Write(line[:len(line)/2])
	check("half a line")
	fh.Write(line[len(line)/2:])
	check("line completed")
}

// rotate renames dir's audit.log as lumberjack does and writes a new one.
func rotate(t *testing.T, dir string) {
	t.Helper()
	active := filepath.Join(dir, "audit.log")
	rotatedName := filepath.Join(dir, "audit-"+segStart.Add(3*time.Hour+10*time.Minute).Format(auditgen.RotatedTimeLayout)+".log")
	if err := os.Rename(active, rotatedName); err != nil {
		t.Fatal(err)
	}
	appendLog(t, active, 14, segStart.Add(3*time.Hour+10*time.Minute), 100)
}

// checkPipeline runs pipelineQueries raw and through the segments and requires the same
// results and counts; it returns the stats of both for the first query.
func checkPipeline(r runner, what string, from, to time.Time) (raw, seg engine.Stats) {
	r.t.Helper()
	for i, q := range pipelineQueries {
		want := r.run(q, from, to, nil)
		got := r.run(q, from, to, r.cache)
		resultsEqual(r.t, what+" "+q, want, got)
		w, g := want.Stats, got.Stats
		if g.Malformed != w.Malformed || g.Matched != w.Matched || g.Source.LinesTooLong != w.Source.LinesTooLong || g.Source.FilesScanned != w.Source.FilesScanned {
			r.t.Errorf("%s %s: malformed/matched/too long/files %d/%d/%d/%d through segments, %d/%d/%d/%d raw", what, q,
				g.Malformed, g.Matched, g.Source.LinesTooLong, g.Source.FilesScanned, w.Malformed, w.Matched, w.Source.LinesTooLong, w.Source.FilesScanned)
		}
		if w.Segments.Total != 0 || g.Segments.Total == 0 {
			r.t.Errorf("%s %s: %d segments raw, %d through segments", what, q, w.Segments.Total, g.Segments.Total)
		}
		if i == 0 {
			raw, seg = w, g
		}
	}
	if res := r.run(pipelineQueries[0], from, to, r.cache); len(res.Pipeline.Rows) == 0 {
		r.t.Fatalf("%s: no rows", what)
	}
	return raw, seg
}

// TestPipelineHealthSegmentsEqualRaw: pipelineHealth through the segments (per file, cached)
// answers as the raw read of every file does, over rotated, partly gzipped logs with malformed
// and over-long lines, bare, CRI (events split over partial lines) and docker, cold, warm
// (nothing read), after audit.log grew (only the appended bytes read; bare lines after the
// envelope's: two formats in one file), with half a line appended, after a rotation and over
// a moved range, with and without the column index.
func TestPipelineHealthSegmentsEqualRaw(t *testing.T) {
	for _, format := range []string{auditgen.EnvelopeBare, auditgen.EnvelopeCRI, auditgen.EnvelopeDocker} {
		for _, withIndex := range []bool{false, true} {
			name := format
			if withIndex {
				name += " and index"
			}
			t.Run(name, func(t *testing.T) { testPipelineSegments(t, format, withIndex) })
		}
	}
}

func testPipelineSegments(t *testing.T, format string, withIndex bool) {
	dir := t.TempDir()
	writeEnvelopedLog(t, dir, format)
	r := runner{t: t, src: newFileSource(t, dir), cache: engine.NewCache(0)}
	if withIndex {
		r.index = openIndex(t)
	}
	from, to := segStart.Add(-time.Minute), segStart.Add(4*time.Hour)

	raw, cold := checkPipeline(r, "cold", from, to)
	if cold.Segments.Scanned != cold.Segments.Total || cold.Segments.Total < 5 || cold.Source.BytesRead != raw.Source.BytesRead || cold.Malformed == 0 {
		t.Errorf("cold: want every segment read once, as raw (%d bytes), with malformed lines: %+v, %d bytes, %d malformed", raw.Source.BytesRead, cold.Segments, cold.Source.BytesRead, cold.Malformed)
	}
	if format != auditgen.EnvelopeCRI && cold.Source.LinesTooLong == 0 {
		t.Errorf("cold: no over-long lines")
	}
	_, warm := checkPipeline(r, "warm", from, to)
	if warm.Segments.Cached != warm.Segments.Total || warm.Source.BytesRead != 0 || warm.Segments.BytesCached != raw.Source.BytesRead {
		t.Errorf("warm: want every segment from the cache, standing for the %d bytes raw reads, and nothing read: %+v, %d bytes read", raw.Source.BytesRead, warm.Segments, warm.Source.BytesRead)
	}

	active := filepath.Join(dir, "audit.log")
	before := fileSize(t, active)
	appendLog(t, active, 12, segStart.Add(3*time.Hour+time.Minute), 200)
	_, grown := checkPipeline(r, "grown", from, to)
	if appended := fileSize(t, active) - before; grown.Segments.Extended != 1 || grown.Segments.Cached != grown.Segments.Total-1 || grown.Source.BytesRead != appended {
		t.Errorf("grown: want audit.log extended by the %d bytes appended, the rest cached: %+v, %d bytes read", appended, grown.Segments, grown.Source.BytesRead)
	}

	appendInHalves(t, active, func(what string) { checkPipeline(r, what, from, to) })
	rotate(t, dir)
	if _, rot := checkPipeline(r, "rotated", from, to); rot.Segments.Scanned != 1 || rot.Segments.Cached != rot.Segments.Total-1 {
		t.Errorf("rotated: want only the new audit.log read (the renamed one named anew from the cache): %+v", rot.Segments)
	}
	checkPipeline(r, "moved", segStart.Add(7*time.Minute), to.Add(7*time.Minute))
	if _, again := checkPipeline(r, "moved again", segStart.Add(7*time.Minute), to.Add(7*time.Minute)); again.Source.BytesRead != 0 {
		t.Errorf("moved again: read %d bytes", again.Source.BytesRead)
	}
}

// TestPendingCRILinesAtTheEnd: audit.log (CRI) ends in the partial lines of an event whose
// last line is not written yet. Every query type (pipelineHealth among them) answers as the
// raw read does: the pending event counts as incomplete once, and once its end is written the
// extension joins it instead of counting it lost and its end malformed. The partial lines are
// not kept in the cached partial: the extension reads them again, and nothing before them.
func TestPendingCRILinesAtTheEnd(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(envelopeLog(t, []string{auditgen.EnvelopeCRI})[auditgen.EnvelopeCRI], "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	// The first event split over three or more partial lines: where its first line starts,
	// where its first line ends, and the middle of its second.
	var runStart, cut, half int
	for off, prev := 0, false; off < len(data); {
		end := off + bytes.IndexByte(data[off:], '\n') + 1
		p := bytes.Contains(data[off:min(end, off+64)], []byte(" stdout P "))
		next := end + bytes.IndexByte(data[end:], '\n') + 1
		if p && !prev && bytes.Contains(data[end:min(next, end+64)], []byte(" stdout P ")) {
			runStart, cut, half = off, end, end+(next-end)/2
			break
		}
		off, prev = end, p
	}
	if cut == 0 {
		t.Fatal("no event over three partial lines")
	}
	for _, withIndex := range []bool{false, true} {
		t.Run(map[bool]string{false: "cache", true: "cache and index"}[withIndex], func(t *testing.T) {
			dir := t.TempDir()
			active := filepath.Join(dir, "audit.log")
			if err := os.WriteFile(active, data[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
			r := runner{t: t, src: envelopeSource(t, dir), cache: engine.NewCache(0)}
			if withIndex {
				r.index = openIndex(t)
			}
			from, to := segStart.Add(-time.Minute), segStart.Add(3*time.Hour)
			// The stats of timeseries and pipelineHealth, each the first query of its fingerprint.
			check := func(what string) []engine.Stats {
				all := r.check(what, from, to)
				checkPipeline(r, what, from, to)
				return []engine.Stats{all[segmentQueries[0]], all[pipelineQueries[0]]}
			}
			if st := check("pending at the end"); st[1].Malformed == 0 {
				t.Errorf("the pending event is not counted: %+v", st[1])
			}
			for _, next := range []int{half, len(data)} {
				fh, err := os.OpenFile(active, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				fh.Write(data[fileSize(t, active):next])
				fh.Close()
				for i, st := range check("grown to " + strconv.Itoa(next)) {
					if want := int64(next - runStart); st.Segments.Extended != 1 || st.Source.BytesRead != want {
						t.Errorf("grown to %d, query %d: want audit.log extended from the partial lines at %d (%d bytes): %+v, %d bytes read", next, i, runStart, want, st.Segments, st.Source.BytesRead)
					}
				}
			}
		})
	}
}

// TestPipelineHealthSearch: a text search answers as the raw read does through the segments
// with a cache alone, and raw where there is an index (whose build counts every malformed line).
func TestPipelineHealthSearch(t *testing.T) {
	dir := t.TempDir()
	writeEnvelopedLog(t, dir, auditgen.EnvelopeCRI)
	from, to := segStart.Add(-time.Minute), segStart.Add(4*time.Hour)
	const q = `{"queryType":"pipelineHealth","filter":{"search":"kube-system"}}`
	for _, withIndex := range []bool{false, true} {
		r := runner{t: t, src: newFileSource(t, dir), cache: engine.NewCache(0)}
		if withIndex {
			r.index = openIndex(t)
		}
		for _, what := range []string{"cold", "warm"} {
			want, got := r.run(q, from, to, nil), r.run(q, from, to, r.cache)
			resultsEqual(t, what+" "+q, want, got)
			if want.Stats.Malformed == 0 || len(got.Pipeline.Rows) == 0 {
				t.Fatalf("%s: no malformed lines or no rows: %+v", what, want.Stats)
			}
			if segmented := got.Stats.Segments.Total > 0; segmented == withIndex {
				t.Errorf("index %v, %s: %+v", withIndex, what, got.Stats.Segments)
			}
			if what == "warm" && !withIndex && got.Stats.Source.BytesRead != 0 {
				t.Errorf("warm: read %d bytes", got.Stats.Source.BytesRead)
			}
		}
	}
}

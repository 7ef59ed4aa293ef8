package file

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// cancelledScan runs scan with a LineFunc that, on the first line, hands over to the test
// (started) and waits until the context is cancelled from the test's goroutine, as Grafana
// cancels a query; the scan must then stop within ctxCheckEvery lines.
func cancelledScan(t *testing.T, scan func(ctx context.Context, fn source.LineFunc) (int64, error)) (bytesRead int64, lines int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	type result struct {
		bytes int64
		err   error
	}
	done := make(chan result, 1)
	go func() {
		b, err := scan(ctx, func([]byte) error {
			lines++
			if lines == 1 {
				close(started)
				<-ctx.Done()
			}
			return nil
		})
		done <- result{b, err}
	}()
	<-started
	cancelled := time.Now()
	cancel()
	select {
	case r := <-done:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", r.err)
		}
		t.Logf("returned %v after the cancel, %d lines and %d bytes read", time.Since(cancelled), lines, r.bytes)
		return r.bytes, lines
	case <-time.After(30 * time.Second): // a generous bound: the bytes below are the measure
		t.Fatal("the scan did not return after its context was cancelled")
	}
	return 0, 0
}

// A query cancelled by Grafana stops reading its files: after the cancel, at most
// ctxCheckEvery more lines are delivered, and the bytes read are a small part of the file
// (about 1.6 MB of 64 MB: a few milliseconds of reading).
func TestScanCancelledFromAnotherGoroutine(t *testing.T) {
	for _, name := range []string{"audit.log", "audit.log.gz"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			size := 64 << 20
			if strings.HasSuffix(name, ".gz") {
				size = 32 << 20
			}
			total := writeBig(t, path, size)
			lineLen := int64(size / total)
			s := newSource(t, path)
			// Most lines read after the cancel: the context is checked every ctxCheckEvery
			// lines; the reader is one buffer ahead.
			bound := (ctxCheckEvery+1)*lineLen + int64(s.bufSize)
			t.Run("Scan", func(t *testing.T) {
				read, lines := cancelledScan(t, func(ctx context.Context, fn source.LineFunc) (int64, error) {
					st, err := s.Scan(ctx, req0(), fn)
					return st.BytesRead, err
				})
				if lines > ctxCheckEvery+1 || read > bound {
					t.Errorf("read %d lines and %d bytes of %d after the cancel, want at most %d lines and %d bytes", lines, read, total, ctxCheckEvery+1, bound)
				}
			})
			t.Run("ScanSegment", func(t *testing.T) {
				segs, _, err := s.Segments(context.Background(), req0())
				if err != nil || len(segs) != 1 {
					t.Fatalf("segments %v, %v", segs, err)
				}
				read, lines := cancelledScan(t, func(ctx context.Context, fn source.LineFunc) (int64, error) {
					sc, err := s.ScanSegment(ctx, segs[0], 0, false, func(_ int64, l []byte) error { return fn(l) })
					return sc.BytesRead, err
				})
				if lines > ctxCheckEvery+1 || read > bound {
					t.Errorf("read %d lines and %d bytes of %d after the cancel, want at most %d lines and %d bytes", lines, read, total, ctxCheckEvery+1, bound)
				}
			})
		})
	}
}

// writeGzipBomb writes a .gz of n identical 1 KiB lines (it compresses about 1000×) and
// returns its compressed size.
func writeGzipBomb(t *testing.T, path string, n int) int64 {
	t.Helper()
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(fh, gzip.BestCompression)
	bw := bufio.NewWriter(zw)
	line := `{"kind":"Event","auditID":"` + strings.Repeat("a", 1000) + `"}` + "\n"
	for range n {
		bw.WriteString(line)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	fh.Close()
	return st.Size()
}

// A small .gz expanding past its bound (DefaultMaxGzipRatio times its size, at least 1 MiB)
// is read up to the bound only, with a problem naming the file; raising file.maxGzipRatio
// reads it whole.
func TestScanGzipBombStops(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, rotName("audit", t0, ".log.gz"))
	const lines = 80 << 10 // 80 MiB of text
	compressed := writeGzipBomb(t, path, lines)
	limit := max(compressed*DefaultMaxGzipRatio, minGzipLimit)
	if limit >= lines<<10 {
		t.Fatalf("the bomb (%d bytes) does not expand past its bound %d", compressed, limit)
	}
	s, err := New(Config{Paths: []string{dir}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	st, err := s.Scan(context.Background(), req0(), func([]byte) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.BytesRead > limit || n == 0 || n >= lines {
		t.Errorf("read %d bytes (%d lines), want at most the bound %d", st.BytesRead, n, limit)
	}
	if !hasProblem(st.Problems, "stopped reading "+path) || !hasProblem(st.Problems, "gzip bomb") || !hasProblem(st.Problems, "file.maxGzipRatio") {
		t.Errorf("problems %q", st.Problems)
	}
	t.Logf("%d compressed bytes, bound %d, read %d: %q", compressed, limit, st.BytesRead, st.Problems)

	// The same through segments (the cache and index path).
	segs, _, err := s.Segments(context.Background(), req0())
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments %v %v", segs, err)
	}
	sc, err := s.ScanSegment(context.Background(), segs[0], 0, false, func(int64, []byte) error { return nil })
	if err != nil || sc.BytesRead > limit || !hasProblem(sc.Problems, "gzip bomb") {
		t.Errorf("segment scan: %d bytes, problems %q, err %v", sc.BytesRead, sc.Problems, err)
	}

	// A ratio that allows it reads it whole.
	s, err = New(Config{Paths: []string{dir}, MaxGzipRatio: 5000}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	st, err = s.Scan(context.Background(), req0(), func([]byte) error { n++; return nil })
	if err != nil || n != lines || len(st.Problems) != 0 {
		t.Errorf("maxGzipRatio 5000: %d of %d lines, problems %q, err %v", n, lines, st.Problems, err)
	}
	if _, err := New(Config{Paths: []string{dir}, MaxGzipRatio: -1}, Options{}); err == nil {
		t.Error("a negative ratio was accepted")
	}
}

// A stream ending exactly at its bound is within it.
func TestGzipBoundExact(t *testing.T) {
	data := strings.Repeat("x", minGzipLimit-1) + "\n"
	path := filepath.Join(t.TempDir(), "audit.log.gz")
	writeFile(t, path, data, time.Time{})
	lines, st, err := scanLines(t, path, 0, 2<<20)
	if err != nil || len(lines) != 1 || len(st.Problems) != 0 || st.BytesRead != minGzipLimit {
		t.Errorf("%d lines, %d bytes, problems %q, err %v", len(lines), st.BytesRead, st.Problems, err)
	}
}

// recordOpens records every path the source opens, for the test's duration.
func recordOpens(t *testing.T) func() []string {
	t.Helper()
	var mu sync.Mutex
	var opened []string
	orig := openFile
	openFile = func(name string) (*os.File, error) {
		mu.Lock()
		opened = append(opened, name)
		mu.Unlock()
		return orig(name)
	}
	t.Cleanup(func() { openFile = orig })
	return func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(opened) }
}

// FIFOs, devices and sockets in the configured directory, and symlinks to them, are never
// opened (a FIFO would block, a device could have effects); each is named in a problem. The
// audit file beside them is read.
func TestSpecialFilesNeverOpened(t *testing.T) {
	if runtime.GOOS == "windows" || mkfifo == nil {
		t.Skip("no FIFOs here")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "audit.log"), events("a", t0, time.Second, 3), time.Time{})
	special := map[string]string{} // name → what the problem says
	if err := mkfifo(filepath.Join(dir, "pipe.log")); err != nil {
		t.Skip(err)
	}
	special["pipe.log"] = "named pipe (FIFO)"
	if err := syscall.Mknod(filepath.Join(dir, "null.log"), syscall.S_IFCHR|0o600, 1<<8|3); err == nil { // /dev/null's numbers
		special["null.log"] = "character device"
	} else {
		t.Logf("no device node (needs root): %v", err)
	}
	sock := filepath.Join(dir, "s.log")
	if l, err := net.Listen("unix", sock); err == nil {
		defer l.Close()
		special["s.log"] = "socket"
	} else {
		t.Logf("no socket: %v", err)
	}
	symlink(t, "pipe.log", filepath.Join(dir, "pipe-link.log"))
	special["pipe-link.log"] = "symlink to a named pipe (FIFO)"

	opened := recordOpens(t)
	s := newSource(t, dir)
	done := make(chan struct{})
	var ids []string
	var st source.Stats
	var err error
	go func() {
		defer close(done)
		ids, st, err = scanIDs(t, s, req0())
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the scan blocked")
	}
	if err != nil || len(ids) != 3 {
		t.Fatalf("ids %v, err %v", ids, err)
	}
	for name, what := range special {
		if !hasProblem(st.Problems, "skipped "+filepath.Join(dir, name)+": it is a "+what) {
			t.Errorf("no problem names %s as a %s: %q", name, what, st.Problems)
		}
	}
	for _, p := range opened() {
		if filepath.Base(p) != "audit.log" {
			t.Errorf("opened %s", p)
		}
	}
	// Health looks at the same files.
	if h := s.Health(context.Background()); !h.OK {
		t.Errorf("health %+v", h)
	}
	for _, p := range opened() {
		if filepath.Base(p) != "audit.log" {
			t.Errorf("health opened %s", p)
		}
	}
}

// A symlink loop in the configured directory is reported as one, not followed; the audit
// file beside it is read. So is one matched by a glob.
func TestSymlinkLoopReported(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "audit.log"), events("a", t0, time.Second, 2), time.Time{})
	symlink(t, "b.log", filepath.Join(dir, "a.log"))
	symlink(t, "a.log", filepath.Join(dir, "b.log"))
	for _, path := range []string{dir, filepath.Join(dir, "*.log")} {
		ids, st, err := scanIDs(t, newSource(t, path), req0())
		if err != nil || len(ids) != 2 {
			t.Fatalf("%s: ids %v, err %v", path, ids, err)
		}
		if runtime.GOOS == "windows" {
			continue
		}
		for _, name := range []string{"a.log", "b.log"} {
			if !hasProblem(st.Problems, "skipped "+filepath.Join(dir, name)+": it is a symlink loop") {
				t.Errorf("%s: no loop problem for %s: %q", path, name, st.Problems)
			}
		}
	}
}

// A 100 MB line is skipped and counted without being buffered whole: the scan allocates a
// small part of it (the line limit's buffer), and the lines around it are delivered.
func TestHundredMegabyteLineSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(fh, 1<<20)
	bw.WriteString(auditLine(t0, "before") + "\n")
	chunk := strings.Repeat("x", 1<<20)
	for range 100 {
		bw.WriteString(chunk)
	}
	bw.WriteString("\n" + auditLine(t0.Add(time.Second), "after") + "\n")
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	fh.Close()

	s := newSource(t, path)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ids, st, err := scanIDs(t, s, req0())
	runtime.ReadMemStats(&after)
	if err != nil || !slices.Equal(ids, []string{"before", "after"}) {
		t.Fatalf("ids %v, err %v", ids, err)
	}
	if st.LinesTooLong != 1 || !hasProblem(st.Problems, "skipped 1 line longer than 4 MiB in "+path) {
		t.Errorf("too long %d, problems %q", st.LinesTooLong, st.Problems)
	}
	if st.BytesRead < 100<<20 {
		t.Errorf("read %d bytes: the line was not read through", st.BytesRead)
	}
	// The read buffer (1 MiB) and the line limit's buffer (4 MiB), not the 100 MiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 24<<20 {
		t.Errorf("allocated %d MiB to skip a 100 MiB line", alloc>>20)
	}
}

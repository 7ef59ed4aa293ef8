package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

func TestScanOrderOldestFirst(t *testing.T) {
	dir := t.TempDir()
	r1, r2 := t0.Add(-2*time.Hour), t0.Add(-time.Hour)
	writeFile(t, filepath.Join(dir, "audit.log"), events("active", r2, time.Second, 2), t0)
	writeFile(t, filepath.Join(dir, rotName("audit", r2, ".log.gz")), events("second", r1, time.Second, 2), r2.Add(time.Second))
	writeFile(t, filepath.Join(dir, rotName("audit", r1, ".log")), events("first", r1.Add(-time.Hour), time.Second, 2), r1)
	ids, st, err := scanIDs(t, newSource(t, dir), req0())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"first-0", "first-1", "second-0", "second-1", "active-0", "active-1"}
	if !slices.Equal(ids, want) {
		t.Errorf("ids = %q, want %q", ids, want)
	}
	if st.FilesScanned != 3 || st.FilesSkipped != 0 || st.LinesRead != 6 || st.BytesRead == 0 || len(st.Problems) != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// pruneFile is a test file with two events, at first and last.
type pruneFile struct {
	name        string
	first, last time.Time
	mtime       time.Time
}

func writePruneFiles(t *testing.T, dir string, files []pruneFile) {
	t.Helper()
	for _, f := range files {
		data := auditLine(f.first, f.name+"#0") + "\n" + auditLine(f.last, f.name+"#1") + "\n"
		writeFile(t, filepath.Join(dir, f.name), data, f.mtime)
	}
}

// readFiles scans and returns the names of the files lines came from.
func readFiles(t *testing.T, s *Source, req source.Request) ([]string, source.Stats) {
	t.Helper()
	ids, st, err := scanIDs(t, s, req)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, id := range ids {
		name, _, _ := strings.Cut(id, "#")
		if len(names) == 0 || names[len(names)-1] != name {
			names = append(names, name)
		}
	}
	return names, st
}

func TestScanPruning(t *testing.T) {
	h := time.Hour
	m := time.Minute
	// A lumberjack family: a is the oldest (no previous rotation known), b and audit.log follow.
	a := rotName("audit", t0.Add(-3*h), ".log.gz")
	b := rotName("audit", t0.Add(-2*h), ".log")
	family := []pruneFile{
		{a, t0.Add(-4 * h), t0.Add(-3*h - m), t0.Add(-3*h + time.Second)},
		{b, t0.Add(-3 * h), t0.Add(-2*h - m), t0.Add(-2*h - m)},
		{"audit.log", t0.Add(-2 * h), t0.Add(-h), t0.Add(-h)},
	}
	tests := []struct {
		name        string
		from, to    time.Duration // relative to t0; 0 = unbounded
		want        []string
		wantSkipped int
	}{
		{"unbounded", 0, 0, []string{a, b, "audit.log"}, 0},
		{"recent: rotations end before", -90 * m, -80 * m, []string{"audit.log"}, 2},
		{"from only", -90 * m, 0, []string{"audit.log"}, 2},
		{"upper slack: b ends 2h before, from 1h56m", -2*h + 4*m, -90 * m, []string{b, "audit.log"}, 1},
		{"just beyond the upper slack", -2*h + 6*m, -90 * m, []string{"audit.log"}, 2},
		{"old: newer files start after", -230 * m, -200 * m, []string{a}, 2},
		{"to only", 0, -200 * m, []string{a}, 2},
		{"lower slack: b starts 3h before, to 3h4m", -4 * h, -3*h - 4*m, []string{a, b}, 1},
		{"just beyond the lower slack", -4 * h, -3*h - 6*m, []string{a}, 2},
		{"before everything: first line prunes the oldest", -10 * h, -9 * h, nil, 3},
		{"after everything", 2 * h, 3 * h, nil, 3},
		{"future to", -90 * m, 10 * h, []string{"audit.log"}, 2},
	}
	dir := t.TempDir()
	writePruneFiles(t, dir, family)
	s := newSource(t, dir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req source.Request
			if tt.from != 0 {
				req.From = t0.Add(tt.from)
			}
			if tt.to != 0 {
				req.To = t0.Add(tt.to)
			}
			got, st := readFiles(t, s, req)
			if !slices.Equal(got, tt.want) {
				t.Errorf("read %q, want %q", got, tt.want)
			}
			if st.FilesSkipped != tt.wantSkipped || st.FilesScanned != len(tt.want) {
				t.Errorf("skipped %d scanned %d, want %d and %d", st.FilesSkipped, st.FilesScanned, tt.wantSkipped, len(tt.want))
			}
		})
	}
}

func TestScanPruningIsConservative(t *testing.T) {
	h := time.Hour
	tests := []struct {
		name   string
		files  []pruneFile
		timeOf bool
		from   time.Duration
		to     time.Duration
		want   []string
	}{
		{
			// Names in local time (or otherwise wrong): b's name says it was created after
			// a's rotation at t0-1h, but its first event says 3h before. The first line wins.
			name: "first line earlier than previous rotation",
			files: []pruneFile{
				{rotName("x", t0.Add(-h), ".log"), t0.Add(-5 * h), t0.Add(-4 * h), t0.Add(-4 * h)},
				{"x.log", t0.Add(-3 * h), t0, t0},
			},
			timeOf: true, from: -3*h - 10*time.Minute, to: -3*h + 10*time.Minute,
			want: []string{rotName("x", t0.Add(-h), ".log"), "x.log"},
		},
		{
			// Without TimeOf the previous rotation alone decides.
			name: "no TimeOf: previous rotation decides",
			files: []pruneFile{
				{rotName("x", t0.Add(-h), ".log"), t0.Add(-5 * h), t0.Add(-4 * h), t0.Add(-4 * h)},
				{"x.log", t0.Add(-3 * h), t0, t0},
			},
			timeOf: false, from: -3*h - 10*time.Minute, to: -3*h + 10*time.Minute,
			want: []string{rotName("x", t0.Add(-h), ".log")},
		},
		{
			// mtime later than the name (copied file): read; it may hold later events.
			name: "mtime later than rotation name",
			files: []pruneFile{
				{rotName("y", t0.Add(-5*h), ".log"), t0.Add(-6 * h), t0.Add(-2 * h), t0.Add(-2 * h)},
			},
			timeOf: true, from: -3 * h, to: -2 * h,
			want: []string{rotName("y", t0.Add(-5*h), ".log")},
		},
		{
			// A first line that is not an event does not prune.
			name:   "unparseable first line",
			files:  []pruneFile{{"z.jsonl", time.Time{}, t0.Add(-h), t0.Add(-h)}},
			timeOf: true, from: -3 * h, to: -2 * h,
			want: []string{"z.jsonl"},
		},
		{
			name:   "plain file pruned by mtime",
			files:  []pruneFile{{"old.log", t0.Add(-5 * h), t0.Add(-4 * h), t0.Add(-4 * h)}},
			timeOf: true, from: -3 * h, to: -2 * h,
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writePruneFiles(t, dir, tt.files)
			opts := Options{}
			if tt.timeOf {
				opts.TimeOf = timeOf
			}
			s, err := New(Config{Paths: []string{dir}}, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := readFiles(t, s, source.Request{From: t0.Add(tt.from), To: t0.Add(tt.to)})
			if !slices.Equal(got, tt.want) {
				t.Errorf("read %q, want %q", got, tt.want)
			}
		})
	}
}

// writeBig writes about size bytes of audit lines to path (gzipped if .gz) and returns the
// number of lines.
func writeBig(t testing.TB, path string, size int) int {
	t.Helper()
	line := auditLine(t0, "00000000-0000-0000-0000-000000000000") + "\n"
	n := size/len(line) + 1
	data := strings.Repeat(line, n)
	writeFile(t, path, data, time.Time{})
	return n
}

func TestScanCancel(t *testing.T) {
	for _, name := range []string{"audit.log", "audit.log.gz"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			total := writeBig(t, path, map[bool]int{false: 16 << 20, true: 8 << 20}[strings.HasSuffix(name, ".gz")])
			s := newSource(t, path)

			// Cancelled while reading: stops within ctxCheckEvery lines.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			lines := 0
			start := time.Now()
			st, err := s.Scan(ctx, req0(), func([]byte) error {
				lines++
				if lines == 100 {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if lines > 100+ctxCheckEvery || lines >= total {
				t.Errorf("read %d of %d lines after cancelling at 100", lines, total)
			}
			if st.LinesRead != int64(lines) {
				t.Errorf("stats %+v, delivered %d", st, lines)
			}
			t.Logf("stopped after %d of %d lines in %v", lines, total, time.Since(start))

			// Cancelled before: nothing read.
			lines = 0
			if _, err := s.Scan(ctx, req0(), func([]byte) error { lines++; return nil }); !errors.Is(err, context.Canceled) || lines != 0 {
				t.Errorf("pre-cancelled: err = %v, lines = %d", err, lines)
			}
		})
	}
}

func TestScanCancelDuringLongLine(t *testing.T) {
	// A huge line being skipped is not read to its end once the context is cancelled.
	path := filepath.Join(t.TempDir(), "audit.log")
	writeFile(t, path, "first\n"+strings.Repeat("x", 64<<20)+"\nlast\n", time.Time{})
	s, err := New(Config{Paths: []string{path}, MaxLineBytes: 1 << 20}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := s.Scan(ctx, req0(), func([]byte) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if st.BytesRead > 4<<20 {
		t.Errorf("read %d bytes after cancelling", st.BytesRead)
	}
}

func TestScanLineFuncError(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.log"), events("a", t0, time.Second, 10), t0)
	writeFile(t, filepath.Join(dir, "b.log"), events("b", t0, time.Second, 10), t0.Add(time.Second))
	stop := errors.New("enough")
	calls := 0
	st, err := newSource(t, dir).Scan(context.Background(), req0(), func([]byte) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 || st.LinesRead != 3 {
		t.Errorf("err = %v, calls = %d, stats = %+v", err, calls, st)
	}
}

func TestAccessMessage(t *testing.T) {
	const path = "/var/log/kubernetes/audit/audit.log"
	tests := []struct {
		name string
		verb string
		err  error
		want string
	}{
		{"permission", "read", &fs.PathError{Op: "open", Path: path, Err: syscall.EACCES},
			"cannot read " + path + ": permission denied (audit logs are usually mode 0600 owned by root in a 0700 directory; " +
				"run Grafana as a user that can read them, or have a log agent copy them to a readable place or to Loki)"},
		{"directory permission", "list", &fs.PathError{Op: "open", Path: path, Err: syscall.EACCES},
			"cannot list " + path + ": permission denied (audit logs are usually mode 0600"},
		{"missing", "read", &fs.PathError{Op: "stat", Path: path, Err: syscall.ENOENT},
			"cannot read " + path + ": it does not exist (check the path and that kube-apiserver runs with --audit-log-path)"},
		{"other", "read", &fs.PathError{Op: "read", Path: path, Err: syscall.EIO},
			"cannot read " + path + ": input/output error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := accessMessage(tt.verb, path, tt.err); !strings.HasPrefix(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// denyOpen makes openFile fail with EACCES for the given resolved paths (root can read 0000
// files, so real permissions cannot be tested when the tests run as root).
func denyOpen(t *testing.T, paths ...string) {
	t.Helper()
	orig := openFile
	t.Cleanup(func() { openFile = orig })
	openFile = func(name string) (*os.File, error) {
		if slices.Contains(paths, name) {
			return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
		}
		return orig(name)
	}
}

func TestScanPermissionDenied(t *testing.T) {
	dir := t.TempDir()
	locked, open := filepath.Join(dir, rotName("audit", t0, ".log")), filepath.Join(dir, "audit.log")
	writeFile(t, locked, events("locked", t0, time.Second, 2), t0)
	writeFile(t, open, events("open", t0, time.Second, 2), t0.Add(time.Minute))
	wantMsg := "cannot read " + locked + ": permission denied (audit logs are usually mode 0600"

	t.Run("one file: problem, scan goes on", func(t *testing.T) {
		denyOpen(t, locked)
		ids, st, err := scanIDs(t, newSource(t, dir), req0())
		if err != nil {
			t.Fatalf("err = %v", err)
		}
		if !slices.Equal(ids, []string{"open-0", "open-1"}) || !hasProblem(st.Problems, wantMsg) || st.FilesScanned != 1 {
			t.Errorf("ids = %q, stats = %+v", ids, st)
		}
	})
	t.Run("every file: error", func(t *testing.T) {
		denyOpen(t, locked, open)
		_, st, err := scanIDs(t, newSource(t, dir), req0())
		var ue *UnreadableError
		if !errors.As(err, &ue) || !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("err = %#v, want *UnreadableError wrapping fs.ErrPermission", err)
		}
		if len(ue.Problems) != 2 || !strings.HasPrefix(err.Error(), "no audit file could be read (2 problems): "+wantMsg) {
			t.Errorf("error = %q", err)
		}
		if len(st.Problems) != 2 {
			t.Errorf("stats problems = %q", st.Problems)
		}
	})
	t.Run("real permissions", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root: mode 0000 files are readable")
		}
		if err := os.Chmod(locked, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(locked, 0o600)
		_, st, err := scanIDs(t, newSource(t, dir), req0())
		if err != nil || !hasProblem(st.Problems, wantMsg) {
			t.Errorf("err = %v, problems = %q", err, st.Problems)
		}
		sub := filepath.Join(t.TempDir(), "audit")
		writeFile(t, filepath.Join(sub, "audit.log"), "x\n", time.Time{})
		if err := os.Chmod(sub, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(sub, 0o700)
		_, _, err = scanIDs(t, newSource(t, sub), req0())
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "cannot list "+sub+": permission denied") {
			t.Errorf("unlistable directory: err = %v", err)
		}
	})
}

func TestScanNothingReadable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	_, _, err := scanIDs(t, newSource(t, missing), req0())
	var ue *UnreadableError
	if !errors.As(err, &ue) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "it does not exist") {
		t.Errorf("missing path: err = %v", err)
	}

	// An empty directory is not an error: no lines and a problem.
	empty := t.TempDir()
	ids, st, err := scanIDs(t, newSource(t, empty), req0())
	if err != nil || len(ids) != 0 || !hasProblem(st.Problems, "no audit files found in "+empty) {
		t.Errorf("empty dir: err = %v, stats = %+v", err, st)
	}

	// A missing path next to a readable one: a problem only.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "audit.log"), events("a", t0, time.Second, 1), time.Time{})
	ids, st, err = scanIDs(t, newSource(t, dir, missing), req0())
	if err != nil || len(ids) != 1 || !hasProblem(st.Problems, missing+": it does not exist") {
		t.Errorf("one missing: err = %v, stats = %+v", err, st)
	}

	// Everything pruned (here by the first event) is not an error either.
	ids, st, err = scanIDs(t, newSource(t, dir), source.Request{From: t0.Add(-25 * time.Hour), To: t0.Add(-24 * time.Hour)})
	if err != nil || len(ids) != 0 || st.FilesSkipped != 1 {
		t.Errorf("all pruned: err = %v, stats = %+v", err, st)
	}
}

func TestScanAllocsIndependentOfLines(t *testing.T) {
	dir := t.TempDir()
	small, large := filepath.Join(dir, "small", "audit.log"), filepath.Join(dir, "large", "audit.log")
	writeFile(t, small, events("s", t0, time.Millisecond, 10), time.Time{})
	writeFile(t, large, events("l", t0, time.Millisecond, 20000), time.Time{})
	allocs := func(path string) float64 {
		s := newSource(t, path)
		return testing.AllocsPerRun(5, func() {
			if _, err := s.Scan(context.Background(), req0(), func([]byte) error { return nil }); err != nil {
				t.Fatal(err)
			}
		})
	}
	a, b := allocs(small), allocs(large)
	t.Logf("allocs per scan: 10 lines %.0f, 20000 lines %.0f", a, b)
	if b-a > 5 {
		t.Errorf("allocations grow with lines: %.0f for 10 lines, %.0f for 20000", a, b)
	}
}

func TestScanConcurrent(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, rotName("audit", t0, ".log.gz")), events("a", t0.Add(-time.Hour), time.Second, 500), t0)
	writeFile(t, filepath.Join(dir, "audit.log"), events("b", t0, time.Second, 500), t0.Add(time.Hour))
	s := newSource(t, dir)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			n := 0
			_, err := s.Scan(context.Background(), req0(), func(line []byte) error {
				if _, ok := timeOf(line); !ok {
					return errors.New("bad line")
				}
				n++
				return nil
			})
			if err == nil && n != 1000 {
				err = errors.New("wrong line count")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestScanOriginsNamesEachFile(t *testing.T) {
	dir := t.TempDir()
	line := func(ts string) string {
		return `{"kind":"Event","auditID":"a","stage":"ResponseComplete","stageTimestamp":"` + ts + `"}` + "\n"
	}
	rotated := filepath.Join(dir, "audit-2026-11-25T10-00-00.000.log")
	active := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(rotated, []byte(line("2026-11-25T09:59:00Z")+line("2026-11-25T09:59:30Z")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(active, []byte(line("2026-11-25T10:01:00Z")), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := New(Config{Paths: []string{dir}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	if _, err := src.ScanOrigins(context.Background(), source.Request{}, func(origin string, _ time.Time, _ []byte) error {
		got[origin]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[rotated] != 2 || got[active] != 1 {
		t.Errorf("origins %v", got)
	}
}

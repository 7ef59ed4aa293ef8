package file

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// scanLines scans one file with a given buffer size and line limit and returns the raw lines.
func scanLines(t *testing.T, path string, bufSize, maxLine int) ([]string, source.Stats, error) {
	t.Helper()
	s, err := New(Config{Paths: []string{path}, MaxLineBytes: maxLine}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if bufSize > 0 {
		s.bufSize = bufSize
	}
	var lines []string
	st, err := s.Scan(context.Background(), source.Request{}, func(line []byte) error {
		lines = append(lines, string(line))
		return nil
	})
	return lines, st, err
}

func TestScanLines(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name        string
		content     string
		bufSize     int // 16 minimum (bufio)
		maxLine     int
		want        []string
		wantTooLong int64
	}{
		{"plain", "a\nb\n", 0, 0, []string{"a", "b"}, 0},
		{"crlf", "a\r\nb\r\n", 0, 0, []string{"a", "b"}, 0},
		{"no trailing newline", "a\nb", 0, 0, []string{"a", "b"}, 0},
		{"no trailing newline with cr", "a\nb\r", 0, 0, []string{"a", "b"}, 0},
		{"empty lines skipped", "\n\na\n\r\n\nb\n\n", 0, 0, []string{"a", "b"}, 0},
		{"only newlines", "\n\n\n", 0, 0, nil, 0},
		{"empty file", "", 0, 0, nil, 0},
		{"cr inside a line kept", "a\rb\n", 0, 0, []string{"a\rb"}, 0},
		{"line at the limit", x(10) + "\n" + x(10) + "\r\n", 0, 10, []string{x(10), x(10)}, 0},
		{"too long in buffer", "a\n" + x(11) + "\nb\n", 0, 10, []string{"a", "b"}, 1},
		{"too long at eof", "a\n" + x(11), 0, 10, []string{"a"}, 1},
		{"longer than buffer, kept", "a\n" + x(40) + "\nb\n", 16, 50, []string{"a", x(40), "b"}, 0},
		{"longer than buffer, crlf, at the limit", x(50) + "\r\nb\n", 16, 50, []string{x(50), "b"}, 0},
		{"longer than buffer, kept, at eof", "a\n" + x(40), 16, 50, []string{"a", x(40)}, 0},
		{"longer than buffer and limit, skipped", "a\n" + x(100) + "\nb\n" + x(51) + "\n", 16, 50, []string{"a", "b"}, 2},
		{"much longer than limit at eof", "a\n" + x(1000), 16, 50, []string{"a"}, 1},
		{"limit smaller than buffer", x(20) + "\n" + x(5) + "\n", 64, 10, []string{x(5)}, 1},
	}
	for _, tt := range tests {
		for _, gz := range []bool{false, true} {
			name := tt.name
			file := "audit.log"
			if gz {
				name += "/gz"
				file += ".gz"
			}
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), file)
				writeFile(t, path, tt.content, time.Time{})
				lines, st, err := scanLines(t, path, tt.bufSize, tt.maxLine)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(lines, tt.want) {
					t.Errorf("lines = %q, want %q", lines, tt.want)
				}
				if st.LinesTooLong != tt.wantTooLong || st.LinesRead != int64(len(tt.want)) {
					t.Errorf("stats = %+v, want %d too long, %d read", st, tt.wantTooLong, len(tt.want))
				}
				if st.BytesRead != int64(len(tt.content)) {
					t.Errorf("BytesRead = %d, want %d", st.BytesRead, len(tt.content))
				}
				if tt.wantTooLong > 0 {
					want := "skipped " + map[bool]string{true: "1 line", false: "2 lines"}[tt.wantTooLong == 1] +
						" longer than " + formatSize(max(tt.maxLine, 0)) + " in " + path
					if !slices.Equal(st.Problems, []string{want}) {
						t.Errorf("problems = %q, want %q", st.Problems, want)
					}
				} else if len(st.Problems) != 0 {
					t.Errorf("problems = %q", st.Problems)
				}
			})
		}
	}
}

func TestScanLongLineProblemDefaultLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	big := strings.Repeat("y", DefaultMaxLineBytes+1)
	writeFile(t, path, "a\n"+big+"\n"+big+"\nb\n", time.Time{})
	lines, st, err := scanLines(t, path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := "skipped 2 lines longer than 4 MiB in " + path
	if !slices.Equal(lines, []string{"a", "b"}) || !slices.Equal(st.Problems, []string{want}) {
		t.Errorf("lines = %d, problems = %q, want %q", len(lines), st.Problems, want)
	}
}

func TestScanGzipTruncated(t *testing.T) {
	full := events("ev", t0, time.Second, 1000)
	data := gzipData(t, full)
	for _, cut := range []int{len(data) / 3, len(data) / 2, len(data) - 4} { // last: inside the trailer
		path := filepath.Join(t.TempDir(), rotName("audit", t0, ".log.gz"))
		if err := os.WriteFile(path, data[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		lines, st, err := scanLines(t, path, 0, 0)
		if err != nil {
			t.Fatalf("cut %d: scan error %v, want a problem only", cut, err)
		}
		if len(lines) == 0 || !strings.HasPrefix(full, strings.Join(lines, "\n")+"\n") {
			t.Errorf("cut %d: %d lines delivered, want a non-empty prefix of complete lines", cut, len(lines))
		}
		for _, l := range lines {
			if _, ok := timeOf([]byte(l)); !ok {
				t.Fatalf("cut %d: incomplete line delivered: %.80q", cut, l)
			}
		}
		if !hasProblem(st.Problems, path+" is truncated") || st.FilesScanned != 1 {
			t.Errorf("cut %d: stats %+v", cut, st)
		}
	}
}

func TestScanGzipVariants(t *testing.T) {
	a, b := events("a", t0, time.Second, 3), events("b", t0.Add(time.Minute), time.Second, 2)
	tests := []struct {
		name        string
		file        string
		data        []byte
		wantLines   int
		wantProblem string
	}{
		{"multistream", "audit.log.gz", append(gzipData(t, a), gzipData(t, b)...), 5, ""},
		{"detected by content", "audit.log", gzipData(t, a), 3, ""},
		{"empty", "audit-2024-05-01T10-00-00.000.log.gz", nil, 0, "the gzip file is empty"},
		{"not gzip", "audit.log.gz", []byte(a), 0, "not a valid gzip file"},
		{"corrupt body", "audit.log.gz", corrupt(gzipData(t, events("c", t0, time.Second, 500))), -1, "error reading"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			lines, st, err := scanLines(t, path, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantLines >= 0 && len(lines) != tt.wantLines {
				t.Errorf("%d lines, want %d", len(lines), tt.wantLines)
			}
			if tt.wantProblem == "" && len(st.Problems) != 0 || tt.wantProblem != "" && !hasProblem(st.Problems, tt.wantProblem) {
				t.Errorf("problems = %q, want %q", st.Problems, tt.wantProblem)
			}
		})
	}
}

// corrupt flips bytes in the middle of a gzip stream.
func corrupt(b []byte) []byte {
	b = bytes.Clone(b)
	for i := len(b) / 2; i < len(b)/2+64; i++ {
		b[i] ^= 0x55
	}
	return b
}

func TestOpenFallsBackToGzip(t *testing.T) {
	// x.log was compressed to x.log.gz and removed between discovery and open.
	dir := t.TempDir()
	name := rotName("audit", t0, ".log")
	writeFile(t, filepath.Join(dir, name+".gz"), events("z", t0, time.Second, 2), time.Time{})
	s := newSource(t, dir)
	f := FileInfo{Path: filepath.Join(dir, name), Resolved: filepath.Join(dir, name), Rotated: t0}
	var got []string
	var st source.Stats
	var probs []problem
	res, err := s.scanFile(context.Background(), &f, source.Request{}, func(line []byte) error {
		got = append(got, idOf(line))
		return nil
	}, &st, &probs)
	if err != nil || res != scanned || !slices.Equal(got, []string{"z-0", "z-1"}) || len(probs) != 0 {
		t.Errorf("res=%v err=%v got=%q problems=%+v", res, err, got, probs)
	}
	if !f.Gzip || !strings.HasSuffix(f.Path, ".gz") {
		t.Errorf("file info not updated: %+v", f)
	}

	// Removed altogether (maxage): a problem, not an error.
	f = FileInfo{Path: filepath.Join(dir, "gone.log"), Resolved: filepath.Join(dir, "gone.log")}
	probs = nil
	res, err = s.scanFile(context.Background(), &f, source.Request{}, func([]byte) error { return nil }, &st, &probs)
	if err != nil || res != failed || len(probs) != 1 || !strings.Contains(probs[0].msg, "removed during the scan") || probs[0].access {
		t.Errorf("res=%v err=%v problems=%+v", res, err, probs)
	}
}

func TestOpenRefusesSwappedSymlinkAndPipe(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret.log")
	writeFile(t, outside, "secret\n", time.Time{})
	link := filepath.Join(dir, "audit.log")
	symlink(t, outside, link)
	s := newSource(t, dir)
	// Discovery resolved audit.log as a regular file; then it became a link.
	if fh, err := s.open(&FileInfo{Path: link, Resolved: link}); err == nil {
		fh.Close()
		t.Error("opened a symlink")
	}
	if mkfifo == nil {
		return
	}
	pipe := filepath.Join(dir, "pipe.log")
	if err := mkfifo(pipe); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() {
		fh, err := s.open(&FileInfo{Path: pipe, Resolved: pipe})
		if err == nil {
			fh.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("opened a pipe")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("open blocked on a pipe")
	}
}

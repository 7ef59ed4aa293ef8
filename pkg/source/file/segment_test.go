package file

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// TestSegmentsOffsetsAndReadBack lists a rotated gzip file and audit.log as segments, reads
// them with their line offsets (with empty, CRLF and over-long lines between the events), and
// reads chosen lines back by offset: the same lines, in order.
func TestSegmentsOffsetsAndReadBack(t *testing.T) {
	dir := t.TempDir()
	long := `{"auditID":"` + strings.Repeat("x", 3000) + `"}`
	plain := events("a", t0, time.Second, 5) + "\n" + long + "\n" + strings.TrimSuffix(events("b", t0.Add(time.Minute), time.Second, 3), "\n") + "\r\n" + events("c", t0.Add(2*time.Minute), time.Second, 200)
	writeFile(t, filepath.Join(dir, "audit.log"), plain, t0.Add(time.Hour))
	gz := events("g", t0.Add(-time.Hour), time.Second, 300)
	if err := os.WriteFile(filepath.Join(dir, rotName("audit", t0, ".log.gz")), gzipData(t, gz), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Paths: []string{dir}, MaxLineBytes: 2048}, Options{TimeOf: timeOf})
	if err != nil {
		t.Fatal(err)
	}
	s.bufSize = 1024 // exercise the long-line paths
	segs, _, err := s.Segments(context.Background(), source.Request{})
	if err != nil || len(segs) != 2 {
		t.Fatalf("segments %v, %v", segs, err)
	}
	if segs[0].Appendable || !segs[1].Appendable {
		t.Errorf("the .gz must be read whole and audit.log be appendable: %+v", segs)
	}
	for _, seg := range segs {
		var offs []int64
		var lines []string
		sc, err := s.ScanSegment(context.Background(), seg, 0, true, func(off int64, line []byte) error {
			offs = append(offs, off)
			lines = append(lines, string(line))
			return nil
		})
		if err != nil || !sc.Stable {
			t.Fatalf("%s: %v, stable %v", seg.Name, err, sc.Stable)
		}
		if seg.Appendable {
			if sc.LinesTooLong != 1 || sc.End != int64(len(plain)) {
				t.Errorf("%s: %d over-long lines, end %d (want 1, %d)", seg.Name, sc.LinesTooLong, sc.End, len(plain))
			}
			for i, off := range offs {
				if !strings.HasPrefix(plain[off:], lines[i]) {
					t.Fatalf("%s: line %d is not at offset %d", seg.Name, i, off)
				}
			}
		}
		var pick []int64
		var want []string
		for i := 0; i < len(offs); i += 7 {
			pick = append(pick, offs[i])
			want = append(want, lines[i])
		}
		pick = append(pick, offs[len(offs)-1])
		want = append(want, lines[len(lines)-1])
		var got []string
		if err := s.ReadLines(context.Background(), seg, pick, func(line []byte) error {
			got = append(got, string(line))
			return nil
		}); err != nil {
			t.Fatalf("%s: read back: %v", seg.Name, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: read back %d lines, want %d (first %q)", seg.Name, len(got), len(want), got[0][:40])
		}
		// An offset inside a line is not a line: an error, not a wrong row.
		if err := s.ReadLines(context.Background(), seg, []int64{offs[1] + 3}, func([]byte) error { return nil }); err == nil {
			t.Errorf("%s: an offset inside a line read back without error", seg.Name)
		}
	}

	// A file replaced since it was listed is refused.
	writeFile(t, filepath.Join(dir, "audit.log"), events("z", t0, time.Second, 10), t0.Add(time.Hour))
	if err := s.ReadLines(context.Background(), segs[1], []int64{0}, func([]byte) error { return nil }); err == nil {
		t.Error("read back from a replaced file without error")
	}
}

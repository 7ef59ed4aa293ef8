package file

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHealthOK(t *testing.T) {
	dir := t.TempDir()
	rot := t0.Add(-time.Hour)
	writeFile(t, filepath.Join(dir, rotName("audit", rot, ".log.gz")), events("old", rot.Add(-time.Hour), time.Second, 5), rot)
	// The newest event is not the last line: lines are only mostly ordered.
	active := events("new", rot, time.Second, 3) + auditLine(t0.Add(-10*time.Minute), "newest") + "\n" +
		auditLine(t0.Add(-11*time.Minute), "late") + "\n"
	writeFile(t, filepath.Join(dir, "audit.log"), active, t0)
	h := newSource(t, dir).Health(context.Background())
	if !h.OK || h.Files != 2 || !h.Newest.Equal(t0.Add(-10*time.Minute)) {
		t.Fatalf("health = %+v", h)
	}
	for _, want := range []string{"found 2 audit files", "in " + dir, "newest event 2024-05-01T09:50:00Z (1h10m0s ago)"} {
		if !strings.Contains(h.Message, want) {
			t.Errorf("message %q does not contain %q", h.Message, want)
		}
	}
}

func TestHealthNewestEvent(t *testing.T) {
	long := auditLine(t0, "long")
	long = strings.Replace(long, `"annotations":{`, `"annotations":{"big":"`+strings.Repeat("b", 200<<10)+`",`, 1)
	tests := []struct {
		name    string
		file    string
		content string
		want    time.Time
	}{
		{"last line", "audit.log", events("a", t0, time.Minute, 3), t0.Add(2 * time.Minute)},
		{"partly written last line", "audit.log", events("a", t0, time.Minute, 3) + `{"kind":"Event","stageTi`, t0.Add(2 * time.Minute)},
		{"crlf, no trailing newline", "audit.log", auditLine(t0, "a") + "\r\n" + auditLine(t0.Add(time.Minute), "b"), t0.Add(time.Minute)},
		{"last line longer than the tail window", "audit.log", events("a", t0.Add(-time.Hour), time.Minute, 2) + long + "\n", t0},
		{"gzip", "audit.log.gz", events("a", t0, time.Minute, 4), t0.Add(3 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, tt.file), tt.content, time.Time{})
			h := newSource(t, dir).Health(context.Background())
			if !h.OK || !h.Newest.Equal(tt.want) {
				t.Errorf("health = %+v, want newest %v", h, tt.want)
			}
		})
	}
}

func TestHealthEmptyActiveFileUsesPreviousFile(t *testing.T) {
	// Just after a rotation audit.log is empty.
	dir := t.TempDir()
	rot := t0.Add(-time.Minute)
	writeFile(t, filepath.Join(dir, rotName("audit", rot, ".log")), events("a", t0.Add(-time.Hour), time.Minute, 3), rot)
	writeFile(t, filepath.Join(dir, "audit.log"), "", t0)
	h := newSource(t, dir).Health(context.Background())
	if !h.OK || !h.Newest.Equal(t0.Add(-58*time.Minute)) {
		t.Errorf("health = %+v", h)
	}
}

func TestHealthNotOK(t *testing.T) {
	base := t.TempDir()
	readable := filepath.Join(base, "ok")
	writeFile(t, filepath.Join(readable, "audit.log"), events("a", t0, time.Second, 1), time.Time{})
	empty := filepath.Join(base, "empty")
	writeFile(t, filepath.Join(empty, "notes.txt"), "", time.Time{})
	missing := filepath.Join(base, "missing")

	tests := []struct {
		name  string
		paths []string
		deny  []string
		want  string
		files int
	}{
		{"no files", []string{empty}, nil,
			"no audit files found in " + empty + ": check the path and that kube-apiserver runs with --audit-log-path", 0},
		{"missing path", []string{missing}, nil,
			"cannot read " + missing + ": it does not exist (check the path and that kube-apiserver runs with --audit-log-path)", 0},
		{"one of two paths missing", []string{readable, missing}, nil,
			"cannot read " + missing + ": it does not exist (check the path and that kube-apiserver runs with --audit-log-path) [1 audit file found in the other paths]", 1},
		{"unreadable file", []string{readable}, []string{filepath.Join(readable, "audit.log")},
			"cannot read " + filepath.Join(readable, "audit.log") + ": permission denied (audit logs are usually mode 0600 owned by root in a 0700 directory; " +
				"run Grafana as a user that can read them, or have a log agent copy them to a readable place or to Loki) [1 of 1 audit files cannot be read]", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			denyOpen(t, tt.deny...)
			h := newSource(t, tt.paths...).Health(context.Background())
			if h.OK || h.Message != tt.want || h.Files != tt.files {
				t.Errorf("health = %+v\nwant message %q", h, tt.want)
			}
		})
	}
}

func TestHealthWithoutTimeOf(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "audit.log"), strings.Repeat("x", 3000), time.Time{})
	s, err := New(Config{Paths: []string{dir}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Health(context.Background())
	if !h.OK || !h.Newest.IsZero() || h.Message != "found 1 audit file (2.9 KiB) in "+dir {
		t.Errorf("health = %+v", h)
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {5 << 30, "5.0 GiB"},
	}
	for _, tt := range tests {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

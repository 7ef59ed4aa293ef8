package file

import (
	"context"
	"path/filepath"
	"strconv"
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
	for _, want := range []string{"found 2 audit files", "in " + dir, "newest event 2024-05-01T09:50:00Z (1 hour ago)"} {
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
	writeFile(t, filepath.Join(dir, "audit.log"), events("a", t0, time.Second, 3), time.Time{})
	s, err := New(Config{Paths: []string{dir}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Health(context.Background())
	if !h.OK || !h.Newest.IsZero() || h.Message != "found 1 audit file (2.8 KiB) in "+dir {
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

func TestHumanAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		4418*time.Hour + 4*time.Minute + 36*time.Second: "6 months ago",
		30 * time.Second:           "just now",
		90 * time.Second:           "1 minute ago",
		59 * time.Minute:           "59 minutes ago",
		70 * time.Minute:           "1 hour ago",
		47 * time.Hour:             "47 hours ago",
		3*24*time.Hour + time.Hour: "3 days ago",
		45 * 24 * time.Hour:        "45 days ago",
		400 * 24 * time.Hour:       "1 year ago",
		3 * 365 * 24 * time.Hour:   "3 years ago",
		-5 * time.Minute:           "5 minutes in the future (clocks differ?)",
		-30 * time.Second:          "just now",
	} {
		if got := humanAge(d); got != want {
			t.Errorf("humanAge(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestHealthStale: a newest event older than StaleAfter is a warning at the start of the
// message, with a human age; the files can still be queried, so health stays OK.
func TestHealthStale(t *testing.T) {
	dir := t.TempDir()
	newest := t0.Add(-4418*time.Hour - 4*time.Minute)
	writeFile(t, filepath.Join(dir, "audit.log"), events("a", newest.Add(-time.Minute), time.Minute, 2), newest)
	h := newSource(t, dir).Health(context.Background()) // now is t0+1h
	want := "warning: the newest event is from 6 months ago, older than 24 hours: is kube-apiserver still writing to " + dir +
		"? Queries of recent time ranges will find nothing. Found 1 audit file"
	if !h.OK || !strings.HasPrefix(h.Message, want) || !strings.Contains(h.Message, "newest event "+newest.Format(time.RFC3339)+" (6 months ago)") ||
		strings.Contains(h.Message, "h4m") {
		t.Errorf("health %+v\nwant prefix %q", h, want)
	}
	// Within the threshold: no warning.
	writeFile(t, filepath.Join(dir, "audit.log"), events("a", t0.Add(-23*time.Hour), time.Minute, 1), t0)
	if h := newSource(t, dir).Health(context.Background()); !h.OK || strings.Contains(h.Message, "warning") || !strings.Contains(h.Message, "(24 hours ago)") {
		t.Errorf("23h+1h old: %+v", h)
	}
}

// TestHealthNothingToRead: files that open but hold nothing the queries can use are not OK.
func TestHealthNothingToRead(t *testing.T) {
	base := t.TempDir()
	long := events("long", t0, time.Second, 3) // lines of about 1 KiB
	tests := []struct {
		name    string
		files   map[string]string
		path    string // configured, relative to the test directory; "" for the directory
		maxLine int
		ok      bool
		want    string // message substring ("%s" is the test directory)
	}{
		{"klog text configured as the file", map[string]string{"kube-apiserver.log": klogText}, "kube-apiserver.log", 0, false,
			"no audit events in %s/kube-apiserver.log: the first line of %s/kube-apiserver.log is klog text (a component's own log), not an audit event (configure the file kube-apiserver's --audit-log-path names"},
		{"JSON that is not audit events", map[string]string{"a.log": `{"level":"info","msg":"x"}` + "\n", "b.log": "[]\n"}, "*.log", 0, false,
			"the first line of %s/a.log is JSON that is not an audit event, not an audit event, and none of the other 1 files starts with one"},
		{"klog text only, directory", map[string]string{"kube-apiserver.log": klogText}, "", 0, false,
			"no audit files found in %s: check the path and that kube-apiserver runs with --audit-log-path (left out %s/kube-apiserver.log: its first line is klog text"},
		{"empty file", map[string]string{"audit.log": ""}, "", 0, false,
			"%s/audit.log is empty: kube-apiserver has not written an audit event to it yet"},
		{"empty files", map[string]string{"audit.log": "", "audit.log.1": "\n\n"}, "", 0, false,
			"the 2 audit files in %s are all empty"},
		{"every line longer than the limit", map[string]string{"audit.log": long, "audit.log.1.gz": long}, "", 512, false,
			"every line looked at is longer than the line limit of 512 bytes, so every event would be skipped: the first 3 lines of %s/audit.log.1.gz are (and so are the first lines of the 1 other files) longer: raise maxLineBytes (the default is 4 MiB"},
		{"one line fits", map[string]string{"audit.log": auditLine(t0, "long") + "\n" +
			`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"short","stage":"ResponseComplete","stageTimestamp":"2024-05-01T10:00:00Z"}` + "\n"},
			"audit.log", 512, true, "found 1 audit file"},
		{"one file is a component's log", map[string]string{"audit.log": long, "kube-apiserver.log": klogText}, "*.log", 0, true,
			"; 1 of 2 files do not start with an audit event: %s/kube-apiserver.log (klog text (a component's own log))"},
		{"a component's log beside, directory", map[string]string{"audit.log": long, "kube-apiserver.log": klogText}, "", 0, true,
			"; left out %s/kube-apiserver.log: its first line is klog text (a component's own log), not an audit event"},
		{"empty active file after a rotation", map[string]string{"audit.log": "", "audit.log.1": long}, "", 0, true, "found 2 audit files"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(base, strconv.Itoa(i))
			for name, content := range tt.files {
				writeFile(t, filepath.Join(dir, name), content, t0)
			}
			path := dir
			if tt.path != "" {
				path = filepath.Join(dir, tt.path)
			}
			s, err := New(Config{Paths: []string{path}, MaxLineBytes: tt.maxLine}, Options{TimeOf: timeOf, Now: func() time.Time { return t0.Add(time.Hour) }})
			if err != nil {
				t.Fatal(err)
			}
			h := s.Health(context.Background())
			want := strings.ReplaceAll(tt.want, "%s", dir)
			if h.OK != tt.ok || !strings.Contains(h.Message, want) {
				t.Errorf("health %+v\nwant OK %v and %q", h, tt.ok, want)
			}
		})
	}
}

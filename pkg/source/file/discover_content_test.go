package file

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// klogText is what kube-apiserver writes to its own log (--log-file, or the kube-apiserver.log
// that installers keep beside the audit log), in klog's header format.
const klogText = `I0501 09:59:58.123456       1 controller.go:615] quota admission added evaluator for: leases.coordination.k8s.io
W0501 09:59:59.000001       1 lease.go:263] Resetting endpoints for master service "kubernetes" to [10.0.0.10]
`

// TestFilesDirectoryByContent: a configured directory reads the files whose first line is an
// audit event, whatever their name says, and says which it left out; a file that is still
// empty, or whose first line is an event too long to probe or not yet fully written, is kept.
func TestFilesDirectoryByContent(t *testing.T) {
	dir := t.TempDir()
	huge := auditLine(t0, "huge")
	huge = strings.Replace(huge, `"annotations":{`, `"annotations":{"big":"`+strings.Repeat("b", 2*probeBytes)+`",`, 1)
	for name, content := range map[string]string{
		"audit.log":                   events("a", t0, time.Second, 2),
		"kube-apiserver.log":          klogText,
		"kube-apiserver.log.1.gz":     klogText,
		"app.log":                     `{"level":"info","ts":"2024-05-01T09:59:58Z","msg":"started"}` + "\n",
		"status.jsonl":                `{"kind":"Status","apiVersion":"v1","status":"Failure","code":500}` + "\n",
		"legacy.log":                  `2017-09-05T06:08:19.885328047-04:00 AUDIT: id="c28a95ad" stage="RequestReceived" ip="172.16.116.128" method="list"` + "\n",
		"empty.log":                   "",
		"blank-first.jsonl":           "\n  \n" + auditLine(t0, "b") + "\n",
		"huge-first.log":              huge + "\n" + auditLine(t0, "after-huge") + "\n",
		"being-written.log":           auditLine(t0, "w")[:80],
		"webhook-" + "batch.jsonl.gz": events("g", t0, time.Second, 1),
		// kube-apiserver's time-stamped rotations are taken by their name, unopened.
		rotName("audit", t0, ".log.gz"): klogText,
	} {
		writeFile(t, filepath.Join(dir, name), content, t0)
	}
	d, err := newSource(t, dir).discoverAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var kept, left []string
	for _, f := range d.files {
		kept = append(kept, filepath.Base(f.Path))
	}
	for _, f := range d.notAudit {
		left = append(left, filepath.Base(f.path)+": "+f.what)
	}
	slices.Sort(kept)
	slices.Sort(left)
	if want := []string{rotName("audit", t0, ".log.gz"), "audit.log", "being-written.log", "blank-first.jsonl", "empty.log", "huge-first.log",
		"webhook-batch.jsonl.gz"}; !slices.Equal(kept, want) {
		t.Errorf("kept %q, want %q", kept, want)
	}
	if want := []string{
		"app.log: JSON that is not an audit event",
		"kube-apiserver.log.1.gz: klog text (a component's own log)",
		"kube-apiserver.log: klog text (a component's own log)",
		"legacy.log: the legacy audit text format (--audit-log-format=legacy), which is not read",
		"status.jsonl: JSON that is not an audit event",
	}; !slices.Equal(left, want) {
		t.Errorf("left out %q, want %q", left, want)
	}
	if len(d.probs) != 0 {
		t.Errorf("problems %q", messages(d.probs))
	}

	// A directory of nothing but a component's log says so.
	only := t.TempDir()
	writeFile(t, filepath.Join(only, "kube-apiserver.log"), klogText, t0)
	_, problems, _ := newSource(t, only).Files(context.Background())
	want := "no audit files found in " + only + ": check the path and that kube-apiserver runs with --audit-log-path (left out " +
		filepath.Join(only, "kube-apiserver.log") + ": its first line is klog text (a component's own log), not an audit event)"
	if !slices.Equal(problems, []string{want}) {
		t.Errorf("problems %q\nwant %q", problems, want)
	}

	// A configured file, or a glob's file, is read whatever its content: the path says it is wanted.
	for _, p := range []string{filepath.Join(only, "kube-apiserver.log"), filepath.Join(only, "*.log")} {
		files, _, _ := newSource(t, p).Files(context.Background())
		if len(files) != 1 {
			t.Errorf("%s: files %+v", p, files)
		}
	}
}

// TestFilesLogrotateNames: logrotate's audit.log.1, audit.log.2.gz ... are rotations of
// audit.log, read oldest (highest number) first and the active file last, whatever their mtimes
// (compressing a rotation gives it a new one), in a configured directory and beside a
// configured file.
func TestFilesLogrotateNames(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, first time.Time, mtime time.Time) {
		writeFile(t, filepath.Join(dir, name), events(name, first, time.Minute, 3), mtime)
	}
	write("audit.log.3.gz", t0.Add(-4*time.Hour), t0.Add(-3*time.Hour))
	write("audit.log.2.gz", t0.Add(-3*time.Hour), t0.Add(-time.Minute)) // compressed just now (delaycompress)
	write("audit.log.1", t0.Add(-2*time.Hour), t0.Add(-time.Hour))
	write("audit.log", t0.Add(-time.Hour), t0)
	write("other.jsonl", t0.Add(-30*time.Minute), t0.Add(-30*time.Minute))
	writeFile(t, filepath.Join(dir, "kube-apiserver.log.1"), klogText, t0)
	writeFile(t, filepath.Join(dir, "notes.1"), "audit\n", t0) // not an audit name

	for _, path := range []string{dir, filepath.Join(dir, "audit.log")} {
		files, problems, err := newSource(t, path).Files(context.Background())
		if err != nil || len(problems) != 0 {
			t.Fatalf("%s: err %v, problems %q", path, err, problems)
		}
		var names []string
		for _, f := range files {
			names = append(names, filepath.Base(f.Path))
			if strings.HasPrefix(filepath.Base(f.Path), "audit.log") && f.Family != filepath.Join(dir, "audit.log") {
				t.Errorf("%s: family %q", f.Path, f.Family)
			}
			if f.Gzip != strings.HasSuffix(f.Path, ".gz") {
				t.Errorf("%s: gzip %v", f.Path, f.Gzip)
			}
		}
		want := []string{"audit.log.3.gz", "audit.log.2.gz", "audit.log.1", "other.jsonl", "audit.log"}
		if path != dir {
			want = []string{"audit.log.3.gz", "audit.log.2.gz", "audit.log.1", "audit.log"}
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: files %q, want %q", path, names, want)
		}
	}
	ids, st, err := scanIDs(t, newSource(t, filepath.Join(dir, "audit.log")), req0())
	if err != nil || len(ids) != 12 || ids[0] != "audit.log.3.gz-0" || ids[11] != "audit.log-2" || len(st.Problems) != 0 {
		t.Errorf("scan: %q %+v %v", ids, st, err)
	}

	// While logrotate compresses audit.log.2, both audit.log.2 and a partial .gz exist.
	if err := os.Rename(filepath.Join(dir, "audit.log.2.gz"), filepath.Join(dir, "audit.log.2")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "audit.log.2"), events("audit.log.2", t0.Add(-3*time.Hour), time.Minute, 3), t0.Add(-90*time.Minute))
	if err := os.WriteFile(filepath.Join(dir, "audit.log.2.gz"), gzipData(t, events("x", t0, time.Second, 3))[:20], 0o600); err != nil {
		t.Fatal(err)
	}
	files, _, _ := newSource(t, dir).Files(context.Background())
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f.Path))
	}
	if want := []string{"audit.log.3.gz", "audit.log.2", "audit.log.1", "other.jsonl", "audit.log"}; !slices.Equal(names, want) {
		t.Errorf("with a partial .gz: files %q, want %q", names, want)
	}
}

func TestParseLogrotateName(t *testing.T) {
	for name, want := range map[string]nameInfo{
		"audit.log.1":          {family: "audit.log", seq: 1},
		"audit.log.12.gz":      {family: "audit.log", seq: 12, gzip: true},
		"events.jsonl.2":       {family: "events.jsonl", seq: 2},
		"audit.log.0":          {family: "audit.log.0"}, // logrotate starts at 1
		"kube-apiserver.log.1": {family: "kube-apiserver.log", seq: 1},
	} {
		if got := parseName(name); got != want {
			t.Errorf("parseName(%q) = %+v, want %+v", name, got, want)
		}
	}
	for name, want := range map[string]bool{
		"audit.log.1": true, "audit.log.2.gz": true, "audit.jsonl.3": true, "notes.1": false, "audit.log.x": false, ".audit.log.1": false,
	} {
		if got := isAuditName(name); got != want {
			t.Errorf("isAuditName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestRecordedFixturesByContent: the events kube-apiserver v1.37.2 recorded (testdata/audit)
// are recognised as audit logs under logrotate's names, beside a klog text log.
func TestRecordedFixturesByContent(t *testing.T) {
	fixtures, err := filepath.Glob("../../../testdata/audit/kubernetes__kubernetes__kube-apiserver-v1.37.2__*.jsonl")
	if err != nil || len(fixtures) < 3 {
		t.Fatalf("fixtures: %v %v", fixtures, err)
	}
	dir := t.TempDir()
	var lines int
	for i, name := range []string{"audit.log.2.gz", "audit.log.1", "audit.log"} {
		b, err := os.ReadFile(fixtures[i])
		if err != nil {
			t.Fatal(err)
		}
		lines += strings.Count(strings.TrimSpace(string(b)), "\n") + 1
		writeFile(t, filepath.Join(dir, name), string(b), t0.Add(time.Duration(i)*time.Minute))
	}
	writeFile(t, filepath.Join(dir, "kube-apiserver.log"), klogText, t0)
	ids, st, err := scanIDs(t, newSource(t, dir), req0())
	if err != nil || len(ids) != lines || st.FilesScanned != 3 {
		t.Errorf("read %d lines of %d from %d files: %+v %v", len(ids), lines, st.FilesScanned, st, err)
	}
	h := newSource(t, dir).Health(context.Background())
	if !h.OK || h.Files != 3 || !strings.Contains(h.Message, "left out "+filepath.Join(dir, "kube-apiserver.log")+": its first line is klog text") {
		t.Errorf("health %+v", h)
	}
}

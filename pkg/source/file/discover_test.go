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

func TestParseName(t *testing.T) {
	ts := time.Date(2024, 5, 1, 9, 30, 15, 123e6, time.UTC)
	tests := []struct {
		name string
		want nameInfo
	}{
		{"audit.log", nameInfo{family: "audit.log"}},
		{"audit-2024-05-01T09-30-15.123.log", nameInfo{family: "audit.log", rotated: ts}},
		{"audit-2024-05-01T09-30-15.123.log.gz", nameInfo{family: "audit.log", rotated: ts, gzip: true}},
		{"kube-apiserver-audit-2024-05-01T09-30-15.123.log", nameInfo{family: "kube-apiserver-audit.log", rotated: ts}},
		{"audit-2024-05-01T09-30-15.123.jsonl.gz", nameInfo{family: "audit.jsonl", rotated: ts, gzip: true}},
		{"audit-2024-05-01T09-30-15.123", nameInfo{family: "audit", rotated: ts}},
		{"audit-2024-13-01T09-30-15.123.log", nameInfo{family: "audit-2024-13-01T09-30-15.123.log"}}, // month 13: not a time
		{"events.jsonl", nameInfo{family: "events.jsonl"}},
		{"old.log.gz", nameInfo{gzip: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseName(tt.name); got != tt.want {
				t.Errorf("parseName(%q) = %+v, want %+v", tt.name, got, tt.want)
			}
		})
	}
}

func TestFilesDirectory(t *testing.T) {
	dir := t.TempDir()
	r1, r2 := t0.Add(-2*time.Hour), t0.Add(-time.Hour)
	write := func(name string, mtime time.Time) {
		t.Helper()
		writeFile(t, filepath.Join(dir, name), auditLine(mtime, name)+"\n", mtime)
	}
	write(rotName("audit", r1, ".log.gz"), r1.Add(time.Second))
	write(rotName("audit", r2, ".log"), r2)
	write("audit.log", t0)
	write(rotName("kube-apiserver-audit", r1.Add(time.Minute), ".log"), r1.Add(time.Minute))
	write("kube-apiserver-audit.log", t0.Add(-time.Minute))
	write("events.jsonl", t0.Add(-3*time.Hour))
	write("notes.txt", t0)     // not an audit name
	write(".hidden.log", t0)   // hidden
	write("sub/audit.log", t0) // subdirectories are not entered
	write("archive.log.gz", t0.Add(-4*time.Hour))

	files, problems, err := newSource(t, dir).Files(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 0 {
		t.Errorf("problems: %q", problems)
	}
	type row struct {
		name     string
		family   string
		rotated  time.Time
		previous time.Time
		gzip     bool
	}
	var got []row
	for _, f := range files {
		fam := ""
		if f.Family != "" {
			fam = filepath.Base(f.Family)
		}
		got = append(got, row{filepath.Base(f.Path), fam, f.Rotated, f.Previous, f.Gzip})
	}
	want := []row{ // oldest first
		{"archive.log.gz", "", time.Time{}, time.Time{}, true},
		{"events.jsonl", "events.jsonl", time.Time{}, time.Time{}, false},
		{rotName("audit", r1, ".log.gz"), "audit.log", r1, time.Time{}, true},
		{rotName("kube-apiserver-audit", r1.Add(time.Minute), ".log"), "kube-apiserver-audit.log", r1.Add(time.Minute), time.Time{}, false},
		{rotName("audit", r2, ".log"), "audit.log", r2, r1, false},
		{"kube-apiserver-audit.log", "kube-apiserver-audit.log", time.Time{}, r1.Add(time.Minute), false},
		{"audit.log", "audit.log", time.Time{}, r2, false},
	}
	if !slices.EqualFunc(got, want, func(a, b row) bool {
		return a.name == b.name && a.family == b.family && a.rotated.Equal(b.rotated) && a.previous.Equal(b.previous) && a.gzip == b.gzip
	}) {
		t.Errorf("files:\n got %+v\nwant %+v", got, want)
	}
}

func TestFilesActiveAfterRotationsEvenIfOlderMtime(t *testing.T) {
	// An active file not written since its family's last rotation still comes last.
	dir := t.TempDir()
	rot := t0.Add(-time.Hour)
	writeFile(t, filepath.Join(dir, rotName("audit", rot, ".log")), "", rot)
	writeFile(t, filepath.Join(dir, "audit.log"), "", rot.Add(-time.Minute))
	files, _, _ := newSource(t, dir).Files(context.Background())
	if len(files) != 2 || filepath.Base(files[1].Path) != "audit.log" {
		t.Errorf("order: %+v", files)
	}
}

func TestFilesLogGzPair(t *testing.T) {
	// While lumberjack compresses a rotation both x.log and a partial x.log.gz exist.
	dir := t.TempDir()
	rot := rotName("audit", t0, ".log")
	writeFile(t, filepath.Join(dir, rot), events("a", t0, time.Second, 3), t0)
	if err := os.WriteFile(filepath.Join(dir, rot+".gz"), gzipData(t, events("a", t0, time.Second, 3))[:20], 0o600); err != nil {
		t.Fatal(err)
	}
	files, _, _ := newSource(t, dir).Files(context.Background())
	if len(files) != 1 || filepath.Base(files[0].Path) != rot {
		t.Fatalf("files = %+v, want only %s", files, rot)
	}
	ids, st, err := scanIDs(t, newSource(t, dir), req0())
	if err != nil || len(ids) != 3 || len(st.Problems) != 0 {
		t.Errorf("scan: ids=%q stats=%+v err=%v", ids, st, err)
	}
}

func TestFilesSymlinkEscape(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.log")
	writeFile(t, secret, auditLine(t0, "secret")+"\n", time.Time{})

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "audit.log"), auditLine(t0, "inside")+"\n", time.Time{})
	symlink(t, secret, filepath.Join(dir, "evil.log"))                                    // absolute link outside
	symlink(t, "../"+filepath.Base(outside)+"/secret.log", filepath.Join(dir, "rel.log")) // relative link outside
	symlink(t, "audit.log", filepath.Join(dir, "current.log"))                            // inside: fine, read once
	symlink(t, "missing.log", filepath.Join(dir, "dangling.log"))

	s := newSource(t, dir)
	files, problems, err := s.Files(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Resolved != filepath.Join(dir, "audit.log") {
		t.Errorf("files = %+v, want only audit.log", files)
	}
	for _, name := range []string{"evil.log", "rel.log"} {
		if !hasProblem(problems, filepath.Join(dir, name)+": it is a symlink that resolves outside "+dir) {
			t.Errorf("no problem for %s in %q", name, problems)
		}
	}
	if !hasProblem(problems, "dangling.log: it is a symlink to a file that does not exist") {
		t.Errorf("no problem for the dangling link in %q", problems)
	}
	for _, p := range problems {
		if strings.Contains(p, outside) {
			t.Errorf("problem reveals the link target: %q", p)
		}
	}
	ids, st, err := scanIDs(t, s, req0())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"inside"}) {
		t.Errorf("read %q, want only the inside line", ids)
	}
	if !hasProblem(st.Problems, "resolves outside") {
		t.Errorf("scan problems %q do not mention the escape", st.Problems)
	}

	// Configuring the link itself does not help.
	files, problems, _ = newSource(t, filepath.Join(dir, "evil.log")).Files(context.Background())
	if len(files) != 0 || !hasProblem(problems, "evil.log: it is a symlink that resolves outside "+dir) {
		t.Errorf("configured link: files = %+v, problems = %q", files, problems)
	}
}

func TestFilesConfiguredDirIsSymlink(t *testing.T) {
	real := t.TempDir()
	writeFile(t, filepath.Join(real, "audit.log"), auditLine(t0, "a")+"\n", time.Time{})
	link := filepath.Join(t.TempDir(), "audit")
	symlink(t, real, link)
	files, problems, _ := newSource(t, link).Files(context.Background())
	if len(files) != 1 || files[0].Path != filepath.Join(link, "audit.log") || len(problems) != 0 {
		t.Errorf("files = %+v, problems = %q", files, problems)
	}
}

func TestFilesGlob(t *testing.T) {
	base := t.TempDir()
	writeFile(t, filepath.Join(base, "node1", "audit.log"), auditLine(t0, "n1")+"\n", t0)
	writeFile(t, filepath.Join(base, "node2", "audit.log"), auditLine(t0, "n2")+"\n", t0.Add(time.Second))
	writeFile(t, filepath.Join(base, "node2", "other.log"), auditLine(t0, "other")+"\n", t0)
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "audit.log"), auditLine(t0, "secret")+"\n", t0)
	symlink(t, outside, filepath.Join(base, "node3")) // a matching directory outside the base

	files, problems, err := newSource(t, filepath.Join(base, "*", "audit.log")).Files(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimPrefix(f.Path, base))
	}
	if want := []string{"/node1/audit.log", "/node2/audit.log"}; !slices.Equal(names, want) {
		t.Errorf("files = %q, want %q", names, want)
	}
	if !hasProblem(problems, filepath.Join(base, "node3", "audit.log")+": it resolves outside "+base) {
		t.Errorf("problems = %q", problems)
	}

	// A glob matching directories reads them like configured directories.
	files, _, _ = newSource(t, filepath.Join(base, "node[12]")).Files(context.Background())
	if len(files) != 3 {
		t.Errorf("directory glob found %d files, want 3: %+v", len(files), files)
	}

	// A glob whose base does not exist.
	_, problems, _ = newSource(t, filepath.Join(base, "nope", "*.log")).Files(context.Background())
	if !hasProblem(problems, "it does not exist") {
		t.Errorf("problems = %q", problems)
	}
	// A glob with no match.
	_, problems, _ = newSource(t, filepath.Join(base, "*.gz")).Files(context.Background())
	if !hasProblem(problems, "no audit files found in "+filepath.Join(base, "*.gz")) {
		t.Errorf("problems = %q", problems)
	}
}

func TestFilesConfiguredFile(t *testing.T) {
	// The value of --audit-log-path: the file and its rotations, nothing else.
	dir := t.TempDir()
	rot := t0.Add(-time.Hour)
	writeFile(t, filepath.Join(dir, "audit.log"), "", t0)
	writeFile(t, filepath.Join(dir, rotName("audit", rot, ".log.gz")), "", rot)
	writeFile(t, filepath.Join(dir, rotName("other", rot, ".log")), "", rot)
	writeFile(t, filepath.Join(dir, "other.log"), "", t0)
	files, problems, _ := newSource(t, filepath.Join(dir, "audit.log")).Files(context.Background())
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f.Path))
	}
	if want := []string{rotName("audit", rot, ".log.gz"), "audit.log"}; !slices.Equal(names, want) || len(problems) != 0 {
		t.Errorf("files = %q (want %q), problems = %q", names, want, problems)
	}
}

func TestFilesProblems(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		want string
	}{
		{"missing path", filepath.Join(dir, "missing"),
			"cannot read " + filepath.Join(dir, "missing") + ": it does not exist (check the path and that kube-apiserver runs with --audit-log-path)"},
		{"empty directory", dir,
			"no audit files found in " + dir + ": check the path and that kube-apiserver runs with --audit-log-path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, problems, err := newSource(t, tt.path).Files(context.Background())
			if err != nil || len(files) != 0 {
				t.Fatalf("files = %+v, err = %v", files, err)
			}
			if !slices.Equal(problems, []string{tt.want}) {
				t.Errorf("problems = %q, want %q", problems, tt.want)
			}
		})
	}
}

func TestFilesCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := newSource(t, t.TempDir()).Files(ctx); err != context.Canceled {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestWithin(t *testing.T) {
	tests := []struct {
		root, p string
		want    bool
	}{
		{"/a/b", "/a/b/c", true},
		{"/a/b", "/a/b/c/d", true},
		{"/a/b", "/a/bc", false},
		{"/a/b", "/a/b", false},
		{"/a/b", "/a", false},
		{"/", "/etc", true},
	}
	for _, tt := range tests {
		if got := within(tt.root, tt.p); got != tt.want {
			t.Errorf("within(%q, %q) = %v, want %v", tt.root, tt.p, got, tt.want)
		}
	}
}

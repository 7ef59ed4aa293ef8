package auditgen

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

const testdata = "../../testdata"

func fixtureLines(t *testing.T, glob string) map[string][][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testdata, glob))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures match %s (err %v)", glob, err)
	}
	out := map[string][][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 || data[len(data)-1] != '\n' {
			t.Fatalf("%s: empty or no final newline", f)
		}
		out[filepath.Base(f)] = bytes.Split(data[:len(data)-1], []byte("\n"))
	}
	return out
}

// TestFixturesAudit keeps testdata/audit valid: every line is one compact JSON object with
// auditID and stage.
func TestFixturesAudit(t *testing.T) {
	n := 0
	versions := map[string]int{}
	for name, ls := range fixtureLines(t, "audit/*.jsonl") {
		for i, l := range ls {
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil {
				t.Errorf("%s:%d: %v", name, i+1, err)
				continue
			}
			if _, ok := m["auditID"].(string); !ok {
				t.Errorf("%s:%d: no auditID", name, i+1)
			}
			if _, ok := m["stage"].(string); !ok {
				t.Errorf("%s:%d: no stage", name, i+1)
			}
			var c bytes.Buffer
			if err := json.Compact(&c, l); err != nil || !bytes.Equal(c.Bytes(), l) {
				t.Errorf("%s:%d: not compact JSON", name, i+1)
			}
			v, _ := m["apiVersion"].(string)
			versions[v]++
			n++
		}
	}
	for _, v := range []string{"audit.k8s.io/v1", "audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1", ""} {
		if versions[v] == 0 {
			t.Errorf("no fixture event with apiVersion %q", v)
		}
	}
	t.Logf("%d events, apiVersions %v", n, versions)
}

func TestFixturesIncomplete(t *testing.T) {
	for name, ls := range fixtureLines(t, "incomplete/*.jsonl") {
		for i, l := range ls {
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil || m["auditID"] == nil || m["stage"] != nil {
				t.Errorf("%s:%d: want a JSON object with auditID and without stage (err %v)", name, i+1, err)
			}
		}
	}
}

// TestFixturesMalformed checks that the damaged files are damaged the way README.md says.
func TestFixturesMalformed(t *testing.T) {
	want := map[string][2]int{ // events, bad lines (blank lines are neither)
		"kubernetes__website__docs_tasks_debug-application-cluster_audit.md.v1beta1-rev.legacy-format.log": {0, 2},
		"kubernetes__website__docs_tasks_debug-application-cluster_audit.md@013acc43.legacy-format.log":    {0, 4},
		"truncated-middle.jsonl": {2, 1},
		"truncated-tail.jsonl":   {2, 1},
		"empty-lines.jsonl":      {2, 0},
		"not-events.jsonl":       {1, 7},
		"crlf.jsonl":             {3, 0},
		"mixed.jsonl":            {3, 5},
	}
	for name, w := range want {
		data, err := os.ReadFile(filepath.Join(testdata, "malformed", name))
		if err != nil {
			t.Fatal(err)
		}
		var events, bad int
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			l := bytes.TrimSpace(sc.Bytes())
			if len(l) == 0 {
				continue
			}
			var m map[string]any
			if json.Unmarshal(l, &m) == nil && m["auditID"] != nil && m["stage"] != nil {
				events++
			} else {
				bad++
			}
		}
		if events != w[0] || bad != w[1] {
			t.Errorf("%s: %d events, %d bad lines; README says %d, %d", name, events, bad, w[0], w[1])
		}
	}
	f, err := os.Open(filepath.Join(testdata, "malformed", "audit-2017-09-11T19-56-00.000.log.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if !errors.Is(err, io.ErrUnexpectedEOF) || bytes.Count(got, []byte("\n")) != 20 {
		t.Errorf("partial gzip: %d complete lines, err %v; want 20 and unexpected EOF", bytes.Count(got, []byte("\n")), err)
	}
}

// TestSampleData keeps provisioning/sample-data readable: every line of every file is an event.
func TestSampleData(t *testing.T) {
	files, _ := filepath.Glob("../../provisioning/sample-data/audit*.log*")
	if len(files) == 0 {
		t.Skip("no sample data")
	}
	for _, f := range files {
		var data []byte
		var err error
		if filepath.Ext(f) == ".gz" {
			data, err = readGzip(f)
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil || m["auditID"] == nil || m["stage"] == nil {
				t.Fatalf("%s:%d: not an event (err %v)", filepath.Base(f), i+1, err)
			}
		}
	}
}

package audit_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

const malformedDir = "../../testdata/malformed/"

// splitLines splits like a line reader: on \n, keeping a final line without a newline.
func splitLines(data []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	return out
}

// outcome runs both decoders on a line and checks they agree on whether it is an event.
func outcome(t *testing.T, where string, line []byte) (event bool) {
	t.Helper()
	var r audit.Record
	scanErr := audit.NewScanner(audit.AllFields).Scan(line, &r)
	ev, decErr := decodeOracle(line)
	if scanErr != nil && !errors.Is(scanErr, audit.ErrMalformed) {
		t.Errorf("%s: Scan error %v is not ErrMalformed", where, scanErr)
	}
	if decErr == nil && ev == nil {
		t.Errorf("%s: Decode returned neither an event nor an error", where)
	}
	if (scanErr == nil) != (decErr == nil) {
		t.Errorf("%s: Scan error %v but Decode error %v for %.120q", where, scanErr, decErr, line)
	}
	if scanErr == nil && decErr == nil {
		if string(r.Str(audit.FieldAuditID)) != ev.AuditID || string(r.Stage()) != ev.Stage || !r.Time.Equal(ev.Time()) {
			t.Errorf("%s: Scan and Decode disagree: %q/%q/%v vs %q/%q/%v", where,
				r.Str(audit.FieldAuditID), r.Stage(), r.Time, ev.AuditID, ev.Stage, ev.Time())
		}
	}
	return scanErr == nil
}

func TestMalformedFiles(t *testing.T) {
	// Expected events, skipped lines and blank lines, from testdata/malformed/README.md.
	want := map[string]struct{ events, skipped, blank int }{
		"kubernetes__website__docs_tasks_debug-application-cluster_audit.md.v1beta1-rev.legacy-format.log": {0, 2, 0},
		"kubernetes__website__docs_tasks_debug-application-cluster_audit.md@013acc43.legacy-format.log":    {0, 4, 0},
		"truncated-middle.jsonl": {2, 1, 0},
		"truncated-tail.jsonl":   {2, 1, 0},
		"empty-lines.jsonl":      {2, 0, -1}, // blank count not fixed: just never an event
		"not-events.jsonl":       {1, 7, 0},
		"crlf.jsonl":             {3, 0, 0},
		"mixed.jsonl":            {3, 5, 1},
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(malformedDir + name)
			if err != nil {
				t.Fatal(err)
			}
			var events, skipped, blank int
			for i, line := range splitLines(data) {
				if len(bytes.TrimSpace(line)) == 0 {
					blank++
					// A blank line is not an event for either decoder.
					if outcome(t, name+":"+strconv.Itoa(i+1), line) {
						t.Errorf("blank line accepted as an event")
					}
					continue
				}
				if outcome(t, name+":"+strconv.Itoa(i+1), line) {
					events++
				} else {
					skipped++
				}
			}
			if events != w.events || skipped != w.skipped || (w.blank >= 0 && blank != w.blank) {
				t.Errorf("events %d skipped %d blank %d; want %d, %d, %d", events, skipped, blank, w.events, w.skipped, w.blank)
			}
		})
	}
	// Every file of the directory is covered (the .gz one below).
	files, _ := filepath.Glob(malformedDir + "*")
	for _, f := range files {
		b := filepath.Base(f)
		if _, ok := want[b]; !ok && b != "README.md" && !strings.HasPrefix(b, ".") && !strings.HasSuffix(b, ".gz") {
			t.Errorf("malformed file %s has no expectation in this test", b)
		}
	}
}

func TestMalformedPartialGzip(t *testing.T) {
	f, err := os.Open(malformedDir + "audit-2017-09-11T19-56-00.000.log.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading the partial gzip: err = %v, want unexpected EOF", err)
	}
	var events, skipped int
	for i, line := range splitLines(data) {
		if outcome(t, "gz:"+strconv.Itoa(i+1), line) {
			events++
		} else {
			skipped++
		}
	}
	if events != 20 || skipped != 1 {
		t.Errorf("partial gzip: %d events, %d skipped; want 20 and 1 (the cut 21st line)", events, skipped)
	}
}

// TestTruncatedLinesRejected cuts every fixture line at every position (long lines at a sample of
// positions that includes every cut after a closing bracket, quote or digit): no proper prefix of
// an event is an event.
func TestTruncatedLinesRejected(t *testing.T) {
	s := audit.NewScanner(audit.AllFields)
	var r audit.Record
	for _, fl := range readFixtures(t) {
		line := bytes.TrimSpace(fl.line)
		for cut := 0; cut < len(line); cut++ {
			// Long lines: every cut just after a closing bracket, quote or digit (the cuts that
			// look most like a complete value), and every 13th cut in between.
			if c := line[max(cut-1, 0)]; len(line) > 1500 && cut%13 != 0 && c != '}' && c != ']' && c != '"' && (c < '0' || c > '9') {
				continue
			}
			prefix := line[:cut]
			if err := s.Scan(prefix, &r); err == nil {
				t.Errorf("%s: Scan accepted the first %d of %d bytes: ...%q", fl, cut, len(line), tail(prefix, 60))
				break
			}
			if cut%5 != 0 && !bytes.HasSuffix(prefix, []byte("}")) {
				continue // Decode is slow; sample it
			}
			if ev, err := decodeOracle(prefix); err == nil {
				t.Errorf("%s: Decode accepted the first %d of %d bytes: %+v", fl, cut, len(line), ev)
				break
			}
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return b[len(b)-n:]
}

func TestRejectsNonObjects(t *testing.T) {
	s := audit.NewScanner(audit.AllFields)
	var r audit.Record
	for _, in := range []string{
		"", " ", "\t\r\n", "{", "}", "{}", "[]", `"x"`, "null", "42", "true", `[{"auditID":"x"}]`,
		`{"kind":"Status","apiVersion":"v1","status":"Failure","code":500}`,
		`{"auditID":"x"`, `{"auditID":"x","stage":"ResponseComplete","user":{"username":"a"}`,
		`{"auditID":"x","stage":"Respon`, `{"auditID":"x",}`, `{"auditID" "x"}`, `{"auditID":x}`,
		`{"auditID":"x","verb":"get"}}`, `{{"auditID":"x"}`,
		"\x00\x00\x00\x00", `{"auditID":"x\`, `2017-09-05T06:08:19.885328047-04:00 AUDIT: id="c28a" stage="RequestReceived"`,
	} {
		err := s.Scan([]byte(in), &r)
		if err == nil {
			t.Errorf("Scan(%q) accepted", in)
		} else if !errors.Is(err, audit.ErrMalformed) {
			t.Errorf("Scan(%q) = %v, want ErrMalformed", in, err)
		}
		if ev, err := decodeOracle([]byte(in)); err == nil {
			t.Errorf("Decode(%q) = %+v, want an error", in, ev)
		}
	}
	// Not JSON objects at all: Decode says ErrNotEvent.
	for _, in := range []string{"", "[]", `"x"`, "null", "42", `{}`, `{"kind":"Status","code":500}`} {
		if _, err := decodeOracle([]byte(in)); !errors.Is(err, errNotEvent) {
			t.Errorf("Decode(%q) error = %v, want ErrNotEvent", in, err)
		}
	}
	// Surrounding whitespace (CRLF files, indented lines) is not damage.
	line := "  \t" + eventLine(audit.StageResponseComplete, "2024-05-01T10:00:00Z", "2024-05-01T10:00:01Z") + "\r\n"
	if err := s.Scan([]byte(line), &r); err != nil {
		t.Errorf("Scan with surrounding whitespace: %v", err)
	}
	if _, err := decodeOracle([]byte(line)); err != nil {
		t.Errorf("Decode with surrounding whitespace: %v", err)
	}
}

// TestDecodeAndScanShareIdentity: an object is an event when it has an auditID, a stage or a
// time, for both decoders (so a table and a count see the same events).
func TestDecodeAndScanShareIdentity(t *testing.T) {
	for _, tc := range []struct {
		line  string
		event bool
	}{
		{`{"auditID":"a"}`, true},
		{`{"stage":"ResponseComplete","verb":"get"}`, true},
		{`{"stageTimestamp":"2024-05-01T10:00:00Z"}`, true},
		{`{"timestamp":"2024-05-01T10:00:00Z"}`, true},
		{`{"metadata":{"creationTimestamp":"2024-05-01T10:00:00Z"}}`, true},
		{`{"verb":"get","user":{"username":"a"}}`, false},
		{`{"auditID":"","stage":"","stageTimestamp":null}`, false},
	} {
		if got := outcome(t, tc.line, []byte(tc.line)); got != tc.event {
			t.Errorf("%s: event = %v, want %v", tc.line, got, tc.event)
		}
	}
}

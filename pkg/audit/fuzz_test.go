package audit_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// canonicalKeys are the keys whose values FuzzScan compares between the two decoders.
var canonicalKeys = map[string][]string{
	"":               {"verb", "stage", "auditID", "responseStatus", "stageTimestamp", "timestamp", "metadata"},
	"responseStatus": {"code"},
	"metadata":       {"creationTimestamp"},
}

// comparable reports whether line is plain JSON that both decoders must read alike: valid for
// encoding/json, no escapes in keys, and no key that equals a compared key only when case is
// ignored. Go's JSON decoders (goccy/go-json included) match field names case-insensitively
// and unescape keys, while the Scanner (like kube-apiserver, which writes these keys) matches
// them exactly; such lines do not occur in real logs.
func comparable(line []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(line, &top) != nil {
		return false
	}
	var check func(obj map[string]json.RawMessage, scope string) bool
	check = func(obj map[string]json.RawMessage, scope string) bool {
		for k, v := range obj {
			for _, c := range canonicalKeys[scope] {
				if k != c && strings.EqualFold(k, c) {
					return false
				}
				if k == c && canonicalKeys[c] != nil && bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) {
					var sub map[string]json.RawMessage
					if json.Unmarshal(v, &sub) != nil || !check(sub, c) {
						return false
					}
				}
			}
		}
		return true
	}
	return check(top, "")
}

// rawKeysEscaped reports whether any object key in line contains a backslash escape.
func rawKeysEscaped(line []byte) bool {
	// A key is a string followed by optional space and ':'.
	for i := 0; i < len(line); i++ {
		if line[i] != '"' {
			continue
		}
		j := i + 1
		esc := false
		for j < len(line) && line[j] != '"' {
			if line[j] == '\\' {
				esc = true
				j++
			}
			j++
		}
		k := j + 1
		for k < len(line) && (line[k] == ' ' || line[k] == '\t' || line[k] == '\n' || line[k] == '\r') {
			k++
		}
		if esc && k < len(line) && line[k] == ':' {
			return true
		}
		i = j
	}
	return false
}

func addFuzzSeeds(f *testing.F) {
	for _, fl := range readFixtures(f) {
		f.Add(fl.line)
	}
	files, _ := filepath.Glob(malformedDir + "*.jsonl")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range splitLines(data) {
			f.Add(l)
		}
	}
	for _, s := range []string{
		`{}`, `{"auditID":"a"}`, `{"auditID":"a","responseStatus":{"code":-1}}`,
		`{"stage":"ResponseComplete","stageTimestamp":"2022-11-29 00:09:04.38","responseStatus":{"code":403}}`,
		`{"auditID":"a\"b","verb":"g\u0065t","user":{"username":"x","groups":["a","b\\"]}}`,
		`{"auditID":"a","annotations":{"authorization.k8s.io/decision":"allow","apiserver.latency.k8s.io/etcd":"28.677µs"}}`,
	} {
		f.Add([]byte(s))
	}
}

// FuzzScan: Scanner.Scan and the encoding/json oracle never panic, and when both accept a line they agree on
// its verb, stage, auditID, code and time.
func FuzzScan(f *testing.F) {
	addFuzzSeeds(f)
	all := audit.NewScanner(audit.AllFields)
	agg := audit.NewScanner(audit.Fields(0).With(audit.FieldVerb, audit.FieldCode, audit.FieldAnnotations))
	f.Fuzz(func(t *testing.T, line []byte) {
		var r, ra audit.Record
		scanErr := all.Scan(line, &r)
		aggErr := agg.Scan(line, &ra)
		ev, decErr := decodeOracle(line)
		_, _ = audit.LineTime(line)
		// The scanner checks the structure of what it skips only loosely (bracket balance), so on
		// invalid JSON the field set may decide acceptance; on valid JSON it must not.
		valid := json.Valid(line)
		if valid && (scanErr == nil) != (aggErr == nil) {
			t.Fatalf("field set changes acceptance of valid JSON: %v vs %v", scanErr, aggErr)
		}
		// Decode rejects values of the wrong JSON type, the Scanner ignores them: only a
		// well-typed event must be accepted by both.
		// kube-apiserver writes valid UTF-8; Go decoders replace invalid bytes with U+FFFD, the Scanner
		// keeps them as they are.
		plain := valid && utf8.Valid(line) && comparable(line) && !rawKeysEscaped(line)
		if scanErr != nil && decErr == nil && plain {
			t.Fatalf("Decode accepted valid JSON that Scan rejects (%v)", scanErr)
		}
		if scanErr == nil && aggErr == nil {
			// Every accessor is safe on whatever was accepted.
			_ = r.Decision()
			_ = r.Reason()
			_ = r.SourceIP()
			r.EachGroup(func([]byte) {})
			_, _ = r.Annotation(audit.AnnotationDecision)
			_, _ = r.Latency()
			_ = r.UserKind()
			_, _ = audit.ParseExec(string(r.Subresource()), string(r.Str(audit.FieldRequestURI)))
			if valid && (string(ra.Verb()) != string(r.Verb()) || ra.Code != r.Code || string(ra.Decision()) != string(r.Decision()) ||
				!ra.Time.Equal(r.Time)) {
				t.Fatalf("field set changes values: %q/%d/%q vs %q/%d/%q", ra.Verb(), ra.Code, ra.Decision(), r.Verb(), r.Code, r.Decision())
			}
		}
		if scanErr == nil {
			r.EachLatency(func([]byte, time.Duration) {})
			_, _ = r.Exec()
			_ = r.AnnotationMap()
			_ = r.Groups()
		}
		if scanErr != nil || decErr != nil || !plain {
			return
		}
		if string(r.Verb()) != ev.Verb {
			t.Errorf("verb: Scan %q, Decode %q", r.Verb(), ev.Verb)
		}
		if string(r.Stage()) != ev.Stage {
			t.Errorf("stage: Scan %q, Decode %q", r.Stage(), ev.Stage)
		}
		if string(r.Str(audit.FieldAuditID)) != ev.AuditID {
			t.Errorf("auditID: Scan %q, Decode %q", r.Str(audit.FieldAuditID), ev.AuditID)
		}
		if r.Code != ev.Code() {
			t.Errorf("code: Scan %d, Decode %d", r.Code, ev.Code())
		}
		if !r.Time.Equal(ev.Time()) {
			t.Errorf("time: Scan %v, Decode %v", r.Time, ev.Time())
		}
	})
}

// FuzzParseTime: ParseTime never panics, accepts every RFC 3339 time time.Parse accepts (with
// the same result), and whatever it accepts is a valid calendar time.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2024-05-01T10:20:30Z", "2024-05-01T10:20:30.123456789+05:30", "2022-11-29 00:09:04.38",
		"2024-02-29T00:00:00Z", "2024-05-01T10:20:30.Z", "2024-05-01T10:20:30-00:00", "0000-01-01T00:00:00Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := audit.ParseTime([]byte(s))
		// time.Parse also takes one-digit hours ("T0:00:00"); kube-apiserver never writes them
		// and ParseTime need not read them: compare on the fixed-width layout only.
		fixed := len(s) >= 20 && s[4] == '-' && s[7] == '-' && s[13] == ':' && s[16] == ':'
		if want, err := time.Parse(time.RFC3339Nano, s); err == nil && fixed {
			if !ok {
				t.Fatalf("ParseTime(%q) rejected a time time.Parse accepts (%v)", s, want)
			}
			if !got.Equal(want) {
				t.Fatalf("ParseTime(%q) = %v, time.Parse = %v", s, got, want)
			}
		}
		if ok {
			// What it accepts round-trips through the canonical form.
			again, ok2 := audit.ParseTime([]byte(got.Format(time.RFC3339Nano)))
			if got.Year() >= 0 && got.Year() <= 9999 && (!ok2 || !again.Equal(got)) {
				t.Fatalf("ParseTime(%q) = %v does not round-trip: %v, %v", s, got, again, ok2)
			}
		}
	})
}

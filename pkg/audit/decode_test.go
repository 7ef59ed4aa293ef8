package audit_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// tableRow is what the events table and the log lines show of an event.
type tableRow struct {
	Time                                             time.Time
	Stage, Level, Verb, User, UserKind, Impersonated string
	Groups                                           []string
	SourceIP, UserAgent, APIGroup, Resource, Sub     string
	Namespace, Name, Decision, Reason, URI, AuditID  string
	Code                                             int
	Latency                                          time.Duration
	HasLatency                                       bool
	Annotations                                      map[string]string
	Exec                                             string
	HasExec                                          bool
}

func recordRow(r *audit.Record) tableRow {
	row := tableRow{
		Time: r.Time, Stage: string(r.Stage()), Level: string(r.Str(audit.FieldLevel)), Verb: string(r.Verb()),
		User: string(r.Username()), UserKind: string(r.UserKind()), Impersonated: string(r.ImpersonatedUsername()),
		Groups: r.Groups(), SourceIP: string(r.SourceIP()), UserAgent: string(r.Str(audit.FieldUserAgent)),
		APIGroup: string(r.Str(audit.FieldAPIGroup)), Resource: string(r.Resource()), Sub: string(r.Subresource()),
		Namespace: string(r.Str(audit.FieldNamespace)), Name: string(r.Str(audit.FieldName)),
		Decision: string(r.Decision()), Reason: string(r.Reason()), URI: string(r.Str(audit.FieldRequestURI)),
		AuditID: string(r.Str(audit.FieldAuditID)), Code: r.Code, Annotations: r.AnnotationMap(),
	}
	row.Latency, row.HasLatency = r.Latency()
	x, ok := r.Exec()
	row.Exec, row.HasExec = x.CommandLine()+"|"+x.Container, ok
	return row
}

func oracleRow(e *oracleEvent) tableRow {
	ref := e.Ref()
	imp := ""
	if e.ImpersonatedUser != nil {
		imp = e.ImpersonatedUser.Username
	}
	row := tableRow{
		Time: e.Time(), Stage: e.Stage, Level: e.Level, Verb: e.Verb, User: e.User.Username, UserKind: string(e.UserKind()),
		Impersonated: imp, Groups: e.User.Groups, SourceIP: e.SourceIP(), UserAgent: e.UserAgent, APIGroup: ref.APIGroup,
		Resource: ref.Resource, Sub: ref.Subresource, Namespace: ref.Namespace, Name: ref.Name, Decision: e.Decision(),
		Reason: e.Reason(), URI: e.RequestURI, AuditID: e.AuditID, Code: e.Code(), Annotations: e.Annotations,
	}
	row.Latency, row.HasLatency = e.Latency()
	x, ok := e.Exec()
	row.Exec, row.HasExec = x.CommandLine()+"|"+x.Container, ok
	return row
}

func rowsEqual(a, b tableRow) bool {
	if len(a.Groups) == 0 && len(b.Groups) == 0 {
		a.Groups, b.Groups = nil, nil
	}
	return a.Time.Equal(b.Time) && reflect.DeepEqual(a, b)
}

// decodeCases are lines whose values need care: escapes in every kind of field, surrogate
// pairs and lone surrogates, impersonation, empty and absent annotations.
var decodeCases = []string{
	`{"auditID":"a\"b","stage":"ResponseComplete","verb":"g\u0065t","user":{"username":"x\\y","groups":["a","b\\","c\u00e9"]},"stageTimestamp":"2024-05-01T10:00:00Z"}`,
	`{"auditID":"a","stage":"ResponseStarted","verb":"create","requestURI":"/api/v1/namespaces/prod/pods/db-0/exec?command=sh\u0026command=-c\u0026command=cat%20%2Fvar%2Frun\u0026container=app","objectRef":{"resource":"pods","namespace":"prod","name":"db-0","subresource":"exec"},"stageTimestamp":"2024-05-01T10:00:00Z"}`,
	`{"auditID":"a","stage":"ResponseComplete","user":{"username":"admin"},"impersonatedUser":{"username":"system:serviceaccount:kube-system:x","groups":["g"]},"sourceIPs":["10.0.0.1","10.0.0.2"],"userAgent":"kubectl/v1.30 \u003cx\u003e","stageTimestamp":"2024-05-01T10:00:00Z"}`,
	`{"auditID":"a","stage":"ResponseComplete","annotations":{},"stageTimestamp":"2024-05-01T10:00:00Z"}`,
	`{"auditID":"a","stage":"ResponseComplete","annotations":null,"stageTimestamp":"2024-05-01T10:00:00Z"}`,
	`{"auditID":"a","stage":"ResponseComplete","annotations":{"authorization.k8s.io/decision":"forbid","authorization.k8s.io/reason":"no \"RBAC\" \ud83d\ude00 \ud83d x \ude00","k\u00e9y":"v","dup":"1","dup":"2"},"responseStatus":{"code":403,"message":"m"},"stageTimestamp":"2024-05-01T10:00:00Z"}`,
	`{"auditID":"a","stage":"ResponseComplete","requestReceivedTimestamp":"2024-05-01T09:59:59.75Z","stageTimestamp":"2024-05-01T10:00:00Z","responseStatus":{"code":200},"objectRef":{"resource":"deployments","apiGroup":"apps","apiVersion":"v1","namespace":"n","name":"d"},"level":"RequestResponse","requestObject":{"a":"\u0000"},"responseObject":{"kind":"Deployment"}}`,
	`{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","metadata":{"creationTimestamp":"2017-09-11T19:55:05Z"},"timestamp":"2017-09-11T19:55:06Z","auditID":"old","stage":"RequestReceived","verb":"list"}`,
}

// TestDecodeMatchesOracle: what the tables show of an event is what a full encoding/json
// decode of it says, over the fixtures, a generated log and the cases above.
func TestDecodeMatchesOracle(t *testing.T) {
	var lines [][]byte
	for _, fl := range readFixtures(t) {
		lines = append(lines, fl.line)
	}
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 3, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		Duration: time.Hour, Requests: 3000}); err != nil {
		t.Fatal(err)
	}
	lines = append(lines, bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))...)
	for _, c := range decodeCases {
		lines = append(lines, []byte(c))
	}
	compared := 0
	for i, line := range lines {
		ev, oerr := decodeOracle(line)
		r, err := audit.Decode(line)
		if oerr != nil {
			continue // a value of the wrong JSON type: the oracle drops the event, the table shows it
		}
		if err != nil {
			t.Errorf("line %d: Decode: %v, the oracle decodes it: %.200s", i, err, line)
			continue
		}
		compared++
		if got, want := recordRow(r), oracleRow(ev); !rowsEqual(got, want) {
			t.Errorf("line %d: Decode\n%+v\noracle\n%+v\n%.300s", i, got, want, line)
		}
		if !bytes.Equal(r.Line, line) {
			t.Errorf("line %d: Record.Line is not the line", i)
		}
	}
	if compared < len(decodeCases)+3000 {
		t.Errorf("compared only %d events", compared)
	}
}

// TestUnescapeAsEncodingJSON: escaped values read as encoding/json reads them.
func TestUnescapeAsEncodingJSON(t *testing.T) {
	for _, s := range []string{
		`plain`, `a\"b`, `\\`, `\/`, `\b\f\n\r\t`, `\u0041\u00e9\u4e2d`, `\ud83d\ude00`, `\ud83d`, `\ude00`, `\ud83dx`,
		`\ud83d\u0041`, `\uD83D\uDE00`, `x\u0000y`, `é\"中`, strings.Repeat(`ab\u0026`, 100),
	} {
		checkUnescape(t, s)
	}
	// Invalid escapes: the value is kept as written.
	for _, s := range []string{`\x`, `\u12`, `\u12G4`, `ab\`} {
		line := `{"auditID":"a","verb":"` + s + `"}`
		var r audit.Record
		// `ab\` ends the string early: the line is malformed, which is fine too.
		if err := audit.NewScanner(audit.Fields(0).With(audit.FieldVerb)).Scan([]byte(line), &r); err == nil && string(r.Verb()) != s {
			t.Errorf("invalid escape %q read as %q", s, r.Verb())
		}
	}
}

func checkUnescape(t *testing.T, s string) {
	t.Helper()
	line := `{"auditID":"a","verb":"` + s + `"}`
	var want string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &want); err != nil {
		return
	}
	var r audit.Record
	if err := audit.NewScanner(audit.Fields(0).With(audit.FieldVerb)).Scan([]byte(line), &r); err != nil {
		t.Fatalf("Scan(%q): %v", line, err)
	}
	if got := string(r.Verb()); got != want {
		t.Errorf("unescape %q = %q, want %q", s, got, want)
	}
	// AppendQuoted, after a prefix and with bytes after the closing quote.
	got, n, ok := audit.AppendQuoted([]byte("pre"), []byte(s+`"}tail"`))
	if !ok || n != len(s)+1 || string(got) != "pre"+want {
		t.Errorf("AppendQuoted(%q) = %q, %d, %v; want %q, %d", s, got, n, ok, "pre"+want, len(s)+1)
	}
}

func TestAppendQuotedInvalid(t *testing.T) {
	for _, s := range []string{``, `abc`, `abcdefghijklmnop`, `abcdefgh\`, `\x"`, `abcdefghij\u12"`, `\`} {
		if got, _, ok := audit.AppendQuoted(nil, []byte(s)); ok {
			t.Errorf("AppendQuoted(%q) = %q, ok; want not ok", s, got)
		}
	}
}

func TestAppendQuotedRuns(t *testing.T) {
	// Quotes and backslashes at every position of the eight-byte words.
	for i := 0; i < 20; i++ {
		for _, esc := range []string{`\"`, `\\`, `\n`, `\u00e9`, `\ud83d\ude00`} {
			checkUnescape(t, strings.Repeat("x", i)+esc+strings.Repeat("y", 19-i))
		}
	}
}

// FuzzUnescape: every valid JSON string with valid UTF-8 unescapes as encoding/json unescapes it.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`a\"b`, `\ud83d\ude00`, `\ud83d`, `\u00e9\n`, `{\"kind\":\"Event\",\"verb\":\"get\"}\n`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\"\x00\n") || !json.Valid([]byte(`"`+s+`"`)) {
			return
		}
		checkUnescape(t, s)
	})
}

package audit_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

func TestKindOfUser(t *testing.T) {
	check := func(username string, want audit.UserKind) {
		t.Helper()
		if got := audit.KindOfUser(username); got != want {
			t.Errorf("KindOfUser(%q) = %q, want %q", username, got, want)
		}
	}
	// Humans: anything not under the system: or eks: prefixes.
	check("alice", audit.UserHuman)
	check("jane@example.com", audit.UserHuman)
	check("kubernetes-admin", audit.UserHuman)
	check("minikube-user", audit.UserHuman)
	check("arn:aws:iam::123456789012:user/bob", audit.UserHuman)
	check("oidc:https://issuer#sub", audit.UserHuman)
	check("System:Admin", audit.UserHuman) // prefixes are case-sensitive, as in Kubernetes
	// Service accounts.
	check("system:serviceaccount:kube-system:replicaset-controller", audit.UserServiceAccount)
	check("system:serviceaccount:default:default", audit.UserServiceAccount)
	// Nodes.
	check("system:node:minikube", audit.UserNode)
	check("system:node:ip-10-0-1-23.ec2.internal", audit.UserNode)
	// System components, including EKS's own.
	check("system:kube-controller-manager", audit.UserSystem)
	check("system:kube-scheduler", audit.UserSystem)
	check("system:apiserver", audit.UserSystem)
	check("system:kube-proxy", audit.UserSystem)
	check("system:serviceaccounts:kube-system", audit.UserSystem) // a group name, not an SA user
	check("system:nodes", audit.UserSystem)                       // likewise
	check("eks:k8s-metrics", audit.UserSystem)
	check("eks:node-manager", audit.UserSystem)
	check("eks:certificate-controller", audit.UserSystem)
	// Anonymous, including failed authentication (no username).
	check("system:anonymous", audit.UserAnonymous)
	check("", audit.UserAnonymous)

	if len(audit.UserKinds) != 5 {
		t.Errorf("UserKinds = %v, want the 5 kinds", audit.UserKinds)
	}
}

func TestIsLongRunning(t *testing.T) {
	check := func(verb, sub string, want bool) {
		t.Helper()
		if got := audit.IsLongRunning(verb, sub); got != want {
			t.Errorf("IsLongRunning(%q, %q) = %v, want %v", verb, sub, got, want)
		}
	}
	check("watch", "", true)
	check("proxy", "", true)
	check("create", "exec", true)
	check("get", "exec", true)
	check("create", "attach", true)
	check("get", "log", true)
	check("create", "portforward", true)
	check("get", "proxy", true)
	check("get", "", false)
	check("list", "", false)
	check("create", "", false)
	check("update", "status", false)
	check("patch", "scale", false)
	check("create", "eviction", false)
	check("get", "ephemeralcontainers", false)
	check("deletecollection", "", false)
	check("WATCH", "", false) // verbs are lower-case in audit logs; no case folding
}

func TestIsTerminalStage(t *testing.T) {
	for stage, want := range map[string]bool{
		audit.StageRequestReceived: false, audit.StageResponseStarted: false,
		audit.StageResponseComplete: true, audit.StagePanic: true, "": false, "responsecomplete": false,
	} {
		if got := audit.IsTerminalStage(stage); got != want {
			t.Errorf("IsTerminalStage(%q) = %v, want %v", stage, got, want)
		}
	}
}

// eventLine builds a minimal v1 event line.
func eventLine(stage, received, stageTS string) string {
	s := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-1","stage":"` + stage + `","verb":"get","user":{"username":"alice"}`
	if received != "" {
		s += `,"requestReceivedTimestamp":"` + received + `"`
	}
	if stageTS != "" {
		s += `,"stageTimestamp":"` + stageTS + `"`
	}
	return s + "}"
}

func TestLatencyOnlyOnTerminalStages(t *testing.T) {
	const rcv = "2024-05-01T10:00:00.000000Z"
	const done = "2024-05-01T10:00:00.250000Z"
	check := func(name, line string, want time.Duration, wantOK bool) {
		t.Helper()
		ev, err := decodeOracle([]byte(line))
		if err != nil {
			t.Fatalf("%s: Decode: %v", name, err)
		}
		d, ok := ev.Latency()
		if ok != wantOK || d != want {
			t.Errorf("%s: Event.Latency() = %v, %v; want %v, %v", name, d, ok, want, wantOK)
		}
		var r audit.Record
		if err := audit.NewScanner(audit.Fields(0).With(audit.FieldRequestReceived)).Scan([]byte(line), &r); err != nil {
			t.Fatalf("%s: Scan: %v", name, err)
		}
		d, ok = r.Latency()
		if ok != wantOK || d != want {
			t.Errorf("%s: Record.Latency() = %v, %v; want %v, %v", name, d, ok, want, wantOK)
		}
	}
	check("complete", eventLine(audit.StageResponseComplete, rcv, done), 250*time.Millisecond, true)
	check("panic", eventLine(audit.StagePanic, rcv, done), 250*time.Millisecond, true)
	check("received", eventLine(audit.StageRequestReceived, rcv, done), 0, false)
	check("started", eventLine(audit.StageResponseStarted, rcv, done), 0, false)
	check("zero latency", eventLine(audit.StageResponseComplete, rcv, rcv), 0, true)
	check("clock went back", eventLine(audit.StageResponseComplete, done, rcv), 0, false)
	check("no received", eventLine(audit.StageResponseComplete, "", done), 0, false)
	check("offsets", eventLine(audit.StageResponseComplete, "2024-05-01T12:00:00+02:00", "2024-05-01T10:00:01Z"), time.Second, true)

	// Latency needs FieldRequestReceived: a scanner without it reports no latency.
	var r audit.Record
	if err := audit.NewScanner(0).Scan([]byte(eventLine(audit.StageResponseComplete, rcv, done)), &r); err != nil {
		t.Fatal(err)
	}
	if d, ok := r.Latency(); ok {
		t.Errorf("latency without FieldRequestReceived = %v, want none", d)
	}
}

func TestParseExec(t *testing.T) {
	check := func(sub, uri string, wantOK bool, want audit.ExecInfo) {
		t.Helper()
		got, ok := audit.ParseExec(sub, uri)
		if ok != wantOK {
			t.Fatalf("ParseExec(%q, %q) ok = %v, want %v", sub, uri, ok, wantOK)
		}
		if got.Subresource != want.Subresource || !slices.Equal(got.Command, want.Command) ||
			got.Container != want.Container || got.TTY != want.TTY || got.Stdin != want.Stdin {
			t.Errorf("ParseExec(%q, %q) = %+v, want %+v", sub, uri, got, want)
		}
	}
	check("exec", "/api/v1/namespaces/default/pods/web-1/exec?command=sh&command=-c&command=echo%20hello%20%26%26%20id%20%3E%20%2Ftmp%2Fx&container=app&stdin=true&stdout=true&tty=true",
		true, audit.ExecInfo{Subresource: "exec", Command: []string{"sh", "-c", "echo hello && id > /tmp/x"}, Container: "app", TTY: true, Stdin: true})
	// '+' is a space in a query string (client-go encodes spaces that way).
	check("exec", "/api/v1/namespaces/ns/pods/p/exec?command=ls+-la&container=c&stdout=1&stdin=1",
		true, audit.ExecInfo{Subresource: "exec", Command: []string{"ls -la"}, Container: "c", Stdin: true})
	// The Falco trace: container repeated, first wins.
	check("exec", "/api/v1/namespaces/default/pods/nginx-deployment-7998647bdf-phvq7/exec?command=bash&container=nginx1&container=nginx1&stdin=true&stdout=true&tty=true",
		true, audit.ExecInfo{Subresource: "exec", Command: []string{"bash"}, Container: "nginx1", TTY: true, Stdin: true})
	// Attach has no command.
	check("attach", "/api/v1/namespaces/default/pods/nginx-deployment-7998647bdf-phvq7/attach?container=nginx1&stderr=true&stdin=true&stdout=true",
		true, audit.ExecInfo{Subresource: "attach", Container: "nginx1", Stdin: true})
	// No query string at all.
	check("exec", "/api/v1/namespaces/default/pods/nginx-pod/exec", true, audit.ExecInfo{Subresource: "exec"})
	// A malformed escape keeps the parts that parse.
	check("exec", "/api/v1/namespaces/ns/pods/p/exec?command=%zz&command=ls&container=c", true,
		audit.ExecInfo{Subresource: "exec", Command: []string{"ls"}, Container: "c"})
	check("exec", "/api/v1/namespaces/ns/pods/p/exec?command=cat&command=%2Fetc%2Fshadow&tty=false&stdin=0", true,
		audit.ExecInfo{Subresource: "exec", Command: []string{"cat", "/etc/shadow"}})
	// Not exec or attach.
	check("log", "/api/v1/namespaces/ns/pods/p/log?command=x", false, audit.ExecInfo{})
	check("", "/api/v1/namespaces/ns/pods/p?command=x", false, audit.ExecInfo{})
	check("portforward", "/api/v1/namespaces/ns/pods/p/portforward", false, audit.ExecInfo{})

	x := audit.ExecInfo{Command: []string{"sh", "-c", "id"}}
	if got := x.CommandLine(); got != "sh -c id" {
		t.Errorf("CommandLine() = %q", got)
	}
}

func TestEventExecFromEscapedLine(t *testing.T) {
	// kube-apiserver escapes & as \u0026 in requestURI.
	line := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"x","stage":"ResponseStarted","verb":"create",` +
		`"requestURI":"/api/v1/namespaces/prod/pods/db-0/exec?command=psql\u0026command=-c\u0026command=select%201\u0026container=postgres\u0026stdin=true",` +
		`"objectRef":{"resource":"pods","namespace":"prod","name":"db-0","subresource":"exec"},"stageTimestamp":"2024-05-01T10:00:00Z"}`
	want := []string{"psql", "-c", "select 1"}
	ev, err := decodeOracle([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	x, ok := ev.Exec()
	if !ok || !slices.Equal(x.Command, want) || x.Container != "postgres" || !x.Stdin {
		t.Errorf("Event.Exec() = %+v, %v", x, ok)
	}
	var r audit.Record
	if err := audit.NewScanner(audit.Fields(0).With(audit.FieldRequestURI, audit.FieldSubresource)).Scan([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	x, ok = audit.ParseExec(string(r.Subresource()), string(r.Str(audit.FieldRequestURI)))
	if !ok || !slices.Equal(x.Command, want) || x.Container != "postgres" {
		t.Errorf("ParseExec(Record) = %+v, %v", x, ok)
	}
	if !ev.LongRunning() || !r.LongRunning() {
		t.Errorf("exec should be long-running")
	}
}

func TestLatencyBreakdown(t *testing.T) {
	ann := map[string]string{
		"apiserver.latency.k8s.io/total":                     "1m0.003963671s",
		"apiserver.latency.k8s.io/etcd":                      "28.677µs", // U+00B5 MICRO SIGN
		"apiserver.latency.k8s.io/mutating-webhook":          "28.677μs", // U+03BC GREEK SMALL LETTER MU
		"apiserver.latency.k8s.io/validating-webhook":        "1.138415ms",
		"apiserver.latency.k8s.io/serialize-response-object": "0s",
		"apiserver.latency.k8s.io/response-write":            "812ns",
		"apiserver.latency.k8s.io/apf-queue-wait":            "2h3m4.5s",
		"apiserver.latency.k8s.io/transform-response-object": "not a duration",
		"apiserver.latency.k8s.io/decode-response-object":    "",
		"authorization.k8s.io/decision":                      "allow",
		"apiserver.latency.k8s.io.fake/total":                "1s",
	}
	breakdown := func(line []byte) map[string]time.Duration {
		t.Helper()
		r, err := audit.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]time.Duration
		r.EachLatency(func(name []byte, d time.Duration) {
			if out == nil {
				out = map[string]time.Duration{}
			}
			out[string(name)] = d
		})
		return out
	}
	annJSON, _ := json.Marshal(ann)
	got := breakdown([]byte(`{"auditID":"a","stage":"ResponseComplete","annotations":` + string(annJSON) + `}`))
	want := map[string]time.Duration{
		"total":                     time.Minute + 3963671*time.Nanosecond,
		"etcd":                      28677 * time.Nanosecond,
		"mutating-webhook":          28677 * time.Nanosecond,
		"validating-webhook":        1138415 * time.Nanosecond,
		"serialize-response-object": 0,
		"response-write":            812 * time.Nanosecond,
		"apf-queue-wait":            2*time.Hour + 3*time.Minute + 4500*time.Millisecond,
	}
	if !maps.Equal(got, want) {
		t.Errorf("EachLatency = %v, want %v", got, want)
	}
	if got := breakdown([]byte(`{"auditID":"a","annotations":{"a":"b"}}`)); got != nil {
		t.Errorf("EachLatency without latency annotations = %v, want none", got)
	}
	if got := breakdown([]byte(`{"auditID":"a"}`)); got != nil {
		t.Errorf("EachLatency without annotations = %v, want none", got)
	}

	// The µ as raw UTF-8 and as a JSON escape.
	line := `{"auditID":"a","stage":"ResponseComplete","stageTimestamp":"2024-05-01T10:00:00Z","annotations":{"apiserver.latency.k8s.io/etcd":"28.677µs","apiserver.latency.k8s.io/total":"1.5\u00b5s"}}`
	bd := breakdown([]byte(line))
	if bd["etcd"] != 28677*time.Nanosecond || bd["total"] != 1500*time.Nanosecond {
		t.Errorf("decoded EachLatency = %v", bd)
	}
	var r audit.Record
	if err := audit.NewScanner(audit.Fields(0).With(audit.FieldAnnotations)).Scan([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	if v, ok := r.Annotation("apiserver.latency.k8s.io/total"); !ok || string(v) != "1.5µs" {
		t.Errorf("Record.Annotation(total) = %q, %v; want 1.5µs", v, ok)
	}
}

// TestRecordAccessorsOnEmptyRecord: a record without the fields answers empty, and Reason
// prefers the authorization reason, then the status message, then the status reason.
func TestRecordAccessorsOnEmptyRecord(t *testing.T) {
	r, err := audit.Decode([]byte(`{"auditID":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 0 || len(r.Resource()) != 0 || len(r.SourceIP()) != 0 || len(r.Reason()) != 0 || len(r.Decision()) != 0 ||
		!r.Time.IsZero() || r.UserKind() != audit.UserAnonymous || r.LongRunning() || r.Groups() != nil ||
		r.AnnotationMap() != nil || len(r.ImpersonatedUsername()) != 0 {
		t.Errorf("empty record accessors are not empty: %+v", r)
	}
	if _, ok := r.Exec(); ok {
		t.Errorf("empty record has exec info")
	}
	check := func(line, want string) {
		t.Helper()
		r, err := audit.Decode([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(r.Reason()); got != want {
			t.Errorf("Reason() = %q, want %q", got, want)
		}
	}
	st := `"responseStatus":{"code":403,"reason":"Forbidden","message":"pods is forbidden"}`
	check(`{"auditID":"a",`+st+`,"annotations":{"authorization.k8s.io/reason":"RBAC: allowed"}}`, "RBAC: allowed")
	check(`{"auditID":"a",`+st+`,"annotations":{"authorization.k8s.io/reason":""}}`, "pods is forbidden")
	check(`{"auditID":"a","responseStatus":{"reason":"Forbidden"}}`, "Forbidden")
}

func TestParseTime(t *testing.T) {
	base := time.Date(2024, 5, 1, 10, 20, 30, 0, time.UTC)
	check := func(in string, want time.Time) {
		t.Helper()
		got, ok := audit.ParseTime([]byte(in))
		if !ok {
			t.Errorf("ParseTime(%q) rejected, want %v", in, want)
			return
		}
		if !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, want %v", in, got, want)
		}
		if got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) location = %v, want UTC", in, got.Location())
		}
	}
	reject := func(in string) {
		t.Helper()
		if got, ok := audit.ParseTime([]byte(in)); ok {
			t.Errorf("ParseTime(%q) = %v, want rejection", in, got)
		}
	}
	// 0 to 9 fractional digits, agreeing with time.Parse.
	digits := "123456789"
	for n := 0; n <= 9; n++ {
		s := "2024-05-01T10:20:30"
		if n > 0 {
			s += "." + digits[:n]
		}
		s += "Z"
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		check(s, want)
	}
	check("2024-05-01T10:20:30.000000Z", base)
	check("2024-05-01T10:20:30.5Z", base.Add(500*time.Millisecond))
	check("2024-05-01T10:20:30.123456Z", base.Add(123456*time.Microsecond))
	check("2024-05-01T10:20:30.1234567891Z", base.Add(123456789)) // digits past ns are dropped
	// Offsets.
	check("2024-05-01T12:20:30+02:00", base)
	check("2024-05-01T05:50:30-04:30", base)
	check("2024-05-01T10:20:30.25+00:00", base.Add(250*time.Millisecond))
	check("2024-05-01T10:20:30-00:00", base)
	check("2017-09-05T06:08:19.885328047-04:00", time.Date(2017, 9, 5, 10, 8, 19, 885328047, time.UTC))
	// Lower-case t and z (RFC 3339 allows them).
	check("2024-05-01t10:20:30z", base)
	// The space-separated Panther form, read as UTC.
	check("2022-11-29 00:09:04.38", time.Date(2022, 11, 29, 0, 9, 4, 380000000, time.UTC))
	check("2022-11-29 00:09:04", time.Date(2022, 11, 29, 0, 9, 4, 0, time.UTC))
	check("2024-05-01 10:20:30Z", base)
	// No zone: UTC.
	check("2024-05-01T10:20:30", base)
	// Comma as the decimal separator (ISO 8601).
	check("2024-05-01T10:20:30,5Z", base.Add(500*time.Millisecond))
	// Edges of the calendar.
	check("2024-02-29T23:59:59.999999999Z", time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC))
	check("0001-01-01T00:00:01Z", time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC))
	check("2000-02-29T00:00:00Z", time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC))
	check("2024-12-31T23:59:59Z", time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC))
	check("2024-04-30T00:00:00Z", time.Date(2024, 4, 30, 0, 0, 0, 0, time.UTC))

	for _, in := range []string{
		"", "garbage", "null", `"2024-05-01T10:20:30Z"`, "2024-05-01", "2024-05-01T10:20",
		"2024-05-01T10:20:3Z", "2024/05/01T10:20:30Z", "2024-05-01X10:20:30Z", "2024-05-01T10-20-30Z",
		"2024-13-01T10:20:30Z", "2024-00-01T10:20:30Z", "2024-05-00T10:20:30Z", "2024-05-32T10:20:30Z",
		"2024-02-30T10:20:30Z", "2023-02-29T10:20:30Z", "1900-02-29T10:20:30Z", "2024-04-31T10:20:30Z",
		"2024-06-31T10:20:30Z", "2024-09-31T10:20:30Z", "2024-11-31T10:20:30Z",
		"2024-05-01T24:20:30Z", "2024-05-01T10:60:30Z", "2024-05-01T10:20:61Z",
		"2024-05-01T10:20:30.Z", "2024-05-01T10:20:30.", "2024-05-01T10:20:30.12a",
		"2024-05-01T10:20:30ZZ", "2024-05-01T10:20:30 Z", "2024-05-01T10:20:30+0200", "2024-05-01T10:20:30+02",
		"2024-05-01T10:20:30+02:0x", "2024-05-01T10:20:30+2:00", "2024-05-01T10:20:30UTC",
		"2024-05-01T10:20:30Z ", " 2024-05-01T10:20:30Z", "２０24-05-01T10:20:30Z", "-024-05-01T10:20:30Z",
		"1714558830", "2024-05-01T10:20:30.123456789123456789123456789x",
	} {
		reject(in)
	}
}

// TestParseTimeAgreesWithStdlib compares ParseTime with time.Parse over generated RFC 3339
// strings (every offset form, every fraction length).
func TestParseTimeAgreesWithStdlib(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+30*60), time.FixedZone("", -8*3600), time.FixedZone("", 14*3600)}
	at := time.Date(1999, 12, 31, 23, 59, 59, 987654321, time.UTC)
	for i := 0; i < 500; i++ {
		tt := at.Add(time.Duration(i) * 7919 * time.Minute).Add(time.Duration(i*i) * time.Microsecond)
		for _, z := range zones {
			for _, layout := range []string{time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05.000000Z07:00", "2006-01-02T15:04:05.000Z07:00"} {
				s := tt.In(z).Format(layout)
				want, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					t.Fatal(err)
				}
				got, ok := audit.ParseTime([]byte(s))
				if !ok || !got.Equal(want) {
					t.Fatalf("ParseTime(%q) = %v, %v; time.Parse = %v", s, got, ok, want)
				}
			}
		}
	}
}

// Ensure the µ character used above really is U+00B5 (an editor could silently normalise it).
func TestMicroSignLiteral(t *testing.T) {
	if !strings.ContainsRune("28.677µs", '\u00b5') {
		t.Fatal("test source lost its U+00B5")
	}
	if d, err := time.ParseDuration("28.677\u00b5s"); err != nil || d != 28677*time.Nanosecond {
		t.Fatal(fmt.Sprint(d, err))
	}
}

// TestLongRunningLists: the exported lists hold exactly the values IsLongRunning's switch takes.
func TestLongRunningLists(t *testing.T) {
	for _, v := range audit.LongRunningVerbs {
		if !audit.IsLongRunning(v, "") {
			t.Errorf("verb %q is listed but not long-running", v)
		}
	}
	for _, s := range audit.LongRunningSubresources {
		if !audit.IsLongRunning("get", s) {
			t.Errorf("subresource %q is listed but not long-running", s)
		}
	}
	// Every verb and subresource the API server knows, and a few it does not.
	for _, v := range []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "proxy", "connect", "impersonate", "bind", "escalate", "approve", "sign", "use", ""} {
		if audit.IsLongRunning(v, "") != slices.Contains(audit.LongRunningVerbs, v) {
			t.Errorf("verb %q: IsLongRunning and LongRunningVerbs disagree", v)
		}
	}
	for _, s := range []string{"status", "scale", "binding", "eviction", "exec", "attach", "portforward", "proxy", "log", "ephemeralcontainers", "resize", "token", "approval", "finalize", ""} {
		if audit.IsLongRunning("get", s) != slices.Contains(audit.LongRunningSubresources, s) {
			t.Errorf("subresource %q: IsLongRunning and LongRunningSubresources disagree", s)
		}
	}
}

package envelope

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// generated returns a generated audit log (bare) and the same log in format.
func generated(t testing.TB, format string, o auditgen.Options) (bare, wrapped []byte) {
	t.Helper()
	var b, w bytes.Buffer
	if _, err := auditgen.Write(&b, o); err != nil {
		t.Fatal(err)
	}
	ew, err := auditgen.NewEnvelopeWriter(&w, format)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ew.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := ew.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), w.Bytes()
}

func genOptions() auditgen.Options {
	return auditgen.Options{Seed: 7, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Duration: time.Hour, Requests: 400, MalformedEvery: 37, HugeEvery: 150, Incident: true}
}

// unwrapAll unwraps every line of data with u and returns the events.
func unwrapAll(t testing.TB, u *Unwrapper, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if ev, ok := u.Unwrap(sc.Bytes()); ok {
			out = append(out, bytes.Clone(ev))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func lines(data []byte) [][]byte {
	return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

// TestUnwrapGivesTheBareBytes: every lossless format unwraps to the bare log's lines, byte for
// byte (malformed lines included), detected (Auto) or fixed.
func TestUnwrapGivesTheBareBytes(t *testing.T) {
	for _, tc := range []struct {
		format string
		fixed  Format
	}{
		{auditgen.EnvelopeBare, Bare}, {auditgen.EnvelopeCRI, CRI}, {auditgen.EnvelopeDocker, Docker},
		{auditgen.EnvelopeFluentBit, FluentBit}, {auditgen.EnvelopeAKS, AKS},
	} {
		t.Run(tc.format, func(t *testing.T) {
			bare, wrapped := generated(t, tc.format, genOptions())
			want := lines(bare)
			for _, f := range []Format{Auto, tc.fixed} {
				u := New(f)
				got := unwrapAll(t, u, wrapped)
				if len(got) != len(want) {
					t.Fatalf("%s: %d events, want %d", f, len(got), len(want))
				}
				for i := range want {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("%s: line %d:\n got %.300q\nwant %.300q", f, i, got[i], want[i])
					}
				}
				if u.Incomplete() != 0 {
					t.Errorf("%s: %d incomplete", f, u.Incomplete())
				}
			}
		})
	}
}

// TestCRIPartialLinesAreJoined: events over 16 KiB are split by the writer into P lines and
// joined back; the generated log has such events.
func TestCRIPartialLinesAreJoined(t *testing.T) {
	_, wrapped := generated(t, auditgen.EnvelopeCRI, genOptions())
	if !bytes.Contains(wrapped, []byte(" stdout P ")) {
		t.Fatal("no partial lines generated")
	}
	u := New(CRI)
	unwrapAll(t, u, wrapped)
	if u.Lines[CRI] == 0 || u.Lines[Auto] != 0 {
		t.Errorf("lines by format %v", u.Lines)
	}
	// A P line followed by a line that does not end it: the partial event is counted
	// incomplete and the next line is read on its own.
	u = New(Auto)
	if _, ok := u.Unwrap([]byte(`2025-01-01T00:00:00.000000001Z stdout P {"kind":"Event",`)); ok {
		t.Fatal("P line gave an event")
	}
	ev, ok := u.Unwrap([]byte(`{"kind":"Event","auditID":"a"}`))
	if !ok || string(ev) != `{"kind":"Event","auditID":"a"}` || u.Incomplete() != 1 {
		t.Errorf("after orphan P: %q %v incomplete=%d", ev, ok, u.Incomplete())
	}
	if _, ok := u.Unwrap([]byte(`2025-01-01T00:00:00.000000001Z stdout P {"kind"`)); ok || u.Incomplete() != 2 {
		t.Errorf("pending P not counted: %d", u.Incomplete())
	}
}

// TestFixedFormatRejectsOthers: a fixed format reads only its lines; others go to the decoder
// as they are (and are counted malformed there).
func TestFixedFormatRejectsOthers(t *testing.T) {
	bareLine := []byte(`{"kind":"Event","auditID":"x","stage":"ResponseComplete"}`)
	docker := []byte(`{"log":"{\"kind\":\"Event\"}\n","stream":"stdout","time":"2025-01-01T00:00:00Z"}`)
	u := New(CRI)
	if ev, ok := u.Unwrap(docker); !ok || !bytes.Equal(ev, docker) || u.Lines[Auto] != 1 {
		t.Errorf("cri read a docker line: %q", ev)
	}
	u = New(Docker)
	if ev, _ := u.Unwrap([]byte(`2025-01-01T00:00:00Z stdout F {"kind":"Event"}`)); !bytes.HasPrefix(ev, []byte("2025")) {
		t.Errorf("docker read a CRI line: %q", ev)
	}
	if ev, _ := u.Unwrap(docker); string(ev) != `{"kind":"Event"}` || u.Meta.Format != Docker || string(u.Meta.Stream) != "stdout" || string(u.Meta.Time) != "2025-01-01T00:00:00Z" {
		t.Errorf("docker line: %q %+v", ev, u.Meta)
	}
	u = New(Auto)
	for _, l := range [][]byte{bareLine, []byte("not json"), []byte(`{"foo":1}`), []byte(`{"log":`), nil} {
		if ev, ok := u.Unwrap(l); !ok || !bytes.Equal(ev, l) {
			t.Errorf("%q became %q", l, ev)
		}
	}
}

// TestShipperMetadata: the pod and stream of Fluent Bit, Vector and AKS envelopes.
func TestShipperMetadata(t *testing.T) {
	u := New(Auto)
	vector := []byte(`{"file":"/var/log/pods/kube-system_kube-apiserver-cp_1/kube-apiserver/0.log","kubernetes":{"container_name":"kube-apiserver","pod_name":"kube-apiserver-cp","pod_namespace":"kube-system"},"message":"{\"kind\":\"Event\",\"auditID\":\"v\"}","source_type":"kubernetes_logs","stream":"stdout","timestamp":"2025-01-01T00:00:01.5Z"}`)
	ev, _ := u.Unwrap(vector)
	if string(ev) != `{"kind":"Event","auditID":"v"}` || u.Meta.Format != FluentBit || string(u.Meta.Pod) != "kube-apiserver-cp" || string(u.Meta.Time) != "2025-01-01T00:00:01.5Z" {
		t.Errorf("vector: %q %+v", ev, u.Meta)
	}
	obj := []byte(`{"date":1.5,"log":{"kind":"Event","auditID":"o"},"kubernetes":{"pod_name":"p"}}`)
	if ev, _ := u.Unwrap(obj); string(ev) != `{"kind":"Event","auditID":"o"}` || u.Meta.Format != FluentBit {
		t.Errorf("object payload: %q %+v", ev, u.Meta)
	}
	// Fluent Bit's tail without the cri parser keeps the runtime's prefix in log.
	cri := []byte(`{"log":"2025-01-01T00:00:00.1Z stdout F {\"kind\":\"Event\",\"auditID\":\"c\"}","kubernetes":{"pod_name":"p"}}`)
	if ev, _ := u.Unwrap(cri); string(ev) != `{"kind":"Event","auditID":"c"}` {
		t.Errorf("cri in log: %q", ev)
	}
}

// TestGKEMapsAuditLogFields: a LogEntry's AuditLog becomes the event's fields.
func TestGKEMapsAuditLogFields(t *testing.T) {
	line := []byte(`{"insertId":"g1","labels":{"authorization.k8s.io/decision":"forbid"},"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{"principalEmail":"alice@example.com"},"methodName":"io.k8s.core.v1.pods.exec.create","requestMetadata":{"callerIp":"203.0.113.9","callerSuppliedUserAgent":"kubectl/v1.31.0"},"resourceName":"core/v1/namespaces/shop/pods/api-1/exec","serviceName":"k8s.io","status":{"code":7,"message":"forbidden"}},"receiveTimestamp":"2025-01-01T00:00:02Z","timestamp":"2025-01-01T00:00:01.123456Z"}`)
	u := New(Auto)
	ev, ok := u.Unwrap(line)
	if !ok || u.Meta.Format != GKE {
		t.Fatalf("not GKE: %q %+v", ev, u.Meta)
	}
	var got map[string]any
	if err := json.Unmarshal(ev, &got); err != nil {
		t.Fatalf("%v: %s", err, ev)
	}
	want := `{"annotations":{"authorization.k8s.io/decision":"forbid"},"apiVersion":"audit.k8s.io/v1","auditID":"g1","kind":"Event","level":"Metadata","objectRef":{"apiGroup":"","apiVersion":"v1","name":"api-1","namespace":"shop","resource":"pods","subresource":"exec"},"requestReceivedTimestamp":"2025-01-01T00:00:01.123456Z","requestURI":"/api/v1/namespaces/shop/pods/api-1/exec","responseStatus":{"code":403,"message":"forbidden","metadata":{}},"sourceIPs":["203.0.113.9"],"stage":"ResponseComplete","stageTimestamp":"2025-01-01T00:00:01.123456Z","user":{"username":"alice@example.com"},"userAgent":"kubectl/v1.31.0","verb":"create"}`
	if j, _ := json.Marshal(got); string(j) != want {
		t.Errorf("got  %s\nwant %s", j, want)
	}
	for _, tc := range []struct{ method, resource, group, res, ns, name string }{
		{"io.k8s.authorization.rbac.v1.clusterrolebindings.create", "rbac.authorization.k8s.io/v1/clusterrolebindings/evil", "rbac.authorization.k8s.io", "clusterrolebindings", "", "evil"},
		{"io.k8s.core.v1.namespaces.delete", "core/v1/namespaces/foo", "", "namespaces", "foo", "foo"},
		{"io.k8s.apps.v1.deployments.list", "apps/v1/namespaces/web/deployments", "apps", "deployments", "web", ""},
		{"io.k8s.networking.v1.networkpolicies.get", "", "networking.k8s.io", "networkpolicies", "", ""},
	} {
		r := parseGKE([]byte(tc.method), []byte(tc.resource))
		if string(r.group) != tc.group || string(r.resource) != tc.res || string(r.namespace) != tc.ns || string(r.name) != tc.name {
			t.Errorf("%s %s: group %q resource %q ns %q name %q", tc.method, tc.resource, r.group, r.resource, r.namespace, r.name)
		}
	}
}

// TestRealSamples: the samples in testdata (real recorded events in each envelope, see
// SOURCES.md) unwrap to the recorded lines, byte for byte (GKE: to events).
func TestRealSamples(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.log")
	if len(files) == 0 {
		t.Fatal("no samples")
	}
	bare, err := os.ReadFile("testdata/bare.recorded-v1.37.2-exec-and-forbidden.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Parse(strings.SplitN(filepath.Base(f), ".", 2)[0])
		if err != nil {
			t.Fatal(err)
		}
		u := New(Auto)
		events := unwrapAll(t, u, data)
		if want != GKE && !bytes.Equal(bytes.Join(events, []byte("\n")), bytes.Join(lines(bare), []byte("\n"))) {
			t.Errorf("%s: the events are not the recorded lines", f)
		}
		for i, ev := range events {
			var e struct {
				AuditID, Stage, Verb string
			}
			if err := json.Unmarshal(ev, &e); err != nil || e.AuditID == "" || e.Verb == "" {
				t.Errorf("%s event %d: %v %.200s", f, i, err, ev)
			}
		}
		for g, n := range u.Lines {
			if n > 0 && Format(g) != want {
				t.Errorf("%s: %d lines detected as %s", f, n, Format(g))
			}
		}
	}
}

func TestParseAndLiterals(t *testing.T) {
	for _, f := range Formats() {
		if g, err := Parse(f.String()); err != nil || g != f {
			t.Errorf("%s: %v %v", f, g, err)
		}
	}
	if _, err := Parse("syslog"); err == nil {
		t.Error("syslog parsed")
	}
	lit := `"verb":"delete"`
	for f, want := range map[Format][]string{
		Bare: {lit}, CRI: {lit}, Docker: {`\"verb\":\"delete\"`}, AKS: {`\"verb\":\"delete\"`},
		FluentBit: {lit, `\"verb\":\"delete\"`}, Auto: {lit, `\"verb\":\"delete\"`},
	} {
		got, ok := f.LineLiterals(lit)
		if !ok || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %q %v", f, got, ok)
		}
	}
	if _, ok := GKE.LineLiterals(lit); ok {
		t.Error("GKE literal")
	}
	if _, ok := Docker.LineLiterals(`"requestURI":"/api"`); ok {
		t.Error("a slash has two escaped forms")
	}
}

// TestTimeOf: the file source's event-time reader reads enveloped lines.
func TestTimeOf(t *testing.T) {
	of := TimeOf(Auto, audit.LineTime)
	want := time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC)
	for _, l := range []string{
		`{"kind":"Event","auditID":"a","stage":"ResponseComplete","stageTimestamp":"2025-01-01T00:00:01Z"}`,
		`2025-01-01T00:00:02.5Z stdout F {"kind":"Event","auditID":"a","stage":"ResponseComplete","stageTimestamp":"2025-01-01T00:00:01Z"}`,
		`{"log":"{\"kind\":\"Event\",\"auditID\":\"a\",\"stage\":\"ResponseComplete\",\"stageTimestamp\":\"2025-01-01T00:00:01Z\"}\n","stream":"stdout","time":"2025-01-01T00:00:02Z"}`,
	} {
		if got, ok := of([]byte(l)); !ok || !got.Equal(want) {
			t.Errorf("%.40s: %v %v", l, got, ok)
		}
	}
	if _, ok := of([]byte(`2025-01-01T00:00:02.5Z stdout P {"kind":"Event"`)); ok {
		t.Error("a partial line has a time")
	}
}

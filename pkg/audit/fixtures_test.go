package audit_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

const fixtureGlob = "../../testdata/audit/*.jsonl"

// fixtureLine is one non-blank line of a real fixture file.
type fixtureLine struct {
	file string
	n    int
	line []byte
}

func (f fixtureLine) String() string { return filepath.Base(f.file) + ":" + strconv.Itoa(f.n) }

// readFixtures returns every non-blank line of testdata/audit/*.jsonl.
func readFixtures(tb testing.TB) []fixtureLine {
	tb.Helper()
	files, err := filepath.Glob(fixtureGlob)
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		tb.Fatalf("no fixtures match %s", fixtureGlob)
	}
	var out []fixtureLine
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 16<<20)
		n := 0
		for sc.Scan() {
			n++
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			out = append(out, fixtureLine{file: f, n: n, line: bytes.Clone(sc.Bytes())})
		}
		if err := sc.Err(); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
	}
	return out
}

// refEvent is an independent decoding of an audit line with encoding/json, sharing no code
// with package audit.
type refEvent struct {
	APIVersion string `json:"apiVersion"`
	Level      string `json:"level"`
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	RequestURI string `json:"requestURI"`
	Verb       string `json:"verb"`
	User       struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	ImpersonatedUser *struct {
		Username string `json:"username"`
	} `json:"impersonatedUser"`
	SourceIPs []string `json:"sourceIPs"`
	UserAgent string   `json:"userAgent"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
		APIVersion  string `json:"apiVersion"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code    int    `json:"code"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"responseStatus"`
	RequestReceivedTimestamp *string `json:"requestReceivedTimestamp"`
	StageTimestamp           *string `json:"stageTimestamp"`
	Timestamp                *string `json:"timestamp"`
	Metadata                 *struct{ CreationTimestamp *string }
	Annotations              map[string]string `json:"annotations"`
}

// refTime parses a timestamp with the standard library only.
func refTime(tb testing.TB, s *string) time.Time {
	tb.Helper()
	if s == nil || *s == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, *s); err == nil {
			return t
		}
	}
	tb.Fatalf("reference cannot parse timestamp %q", *s)
	return time.Time{}
}

func (e *refEvent) time(tb testing.TB) time.Time {
	tb.Helper()
	if t := refTime(tb, e.StageTimestamp); !t.IsZero() {
		return t
	}
	if t := refTime(tb, e.Timestamp); !t.IsZero() {
		return t
	}
	if e.Metadata != nil {
		return refTime(tb, e.Metadata.CreationTimestamp)
	}
	return time.Time{}
}

func (e *refEvent) code() int {
	if e.ResponseStatus == nil {
		return 0
	}
	return e.ResponseStatus.Code
}

func (e *refEvent) ref(f string) string {
	if e.ObjectRef == nil {
		return ""
	}
	switch f {
	case "resource":
		return e.ObjectRef.Resource
	case "namespace":
		return e.ObjectRef.Namespace
	case "name":
		return e.ObjectRef.Name
	case "apiGroup":
		return e.ObjectRef.APIGroup
	case "apiVersion":
		return e.ObjectRef.APIVersion
	case "subresource":
		return e.ObjectRef.Subresource
	}
	panic(f)
}

func (e *refEvent) sourceIP() string {
	if len(e.SourceIPs) == 0 {
		return ""
	}
	return e.SourceIPs[0]
}

// latency is the expected latency: terminal stage with both timestamps.
func (e *refEvent) latency(tb testing.TB) (time.Duration, bool) {
	tb.Helper()
	if e.Stage != "ResponseComplete" && e.Stage != "Panic" {
		return 0, false
	}
	rcv, st := refTime(tb, e.RequestReceivedTimestamp), refTime(tb, e.StageTimestamp)
	if rcv.IsZero() || st.IsZero() || st.Before(rcv) {
		return 0, false
	}
	return st.Sub(rcv), true
}

func (e *refEvent) reason() string {
	if r := e.Annotations[audit.AnnotationReason]; r != "" {
		return r
	}
	if e.ResponseStatus != nil {
		if e.ResponseStatus.Message != "" {
			return e.ResponseStatus.Message
		}
		return e.ResponseStatus.Reason
	}
	return ""
}

func scanGroups(r *audit.Record) []string {
	var out []string
	r.EachGroup(func(g []byte) { out = append(out, string(g)) })
	return out
}

func TestFixturesAgreeWithEncodingJSON(t *testing.T) {
	lines := readFixtures(t)
	versions := map[string]int{}
	all := audit.NewScanner(audit.AllFields)
	// The field set aggregations use: only these are extracted.
	agg := audit.NewScanner(audit.Fields(0).With(audit.FieldVerb, audit.FieldUsername, audit.FieldCode,
		audit.FieldStage, audit.FieldRequestReceived, audit.FieldStageTimestamp, audit.FieldAnnotations))
	var r, ra audit.Record
	for _, fl := range lines {
		t.Run(fl.String(), func(t *testing.T) {
			var want refEvent
			if err := json.Unmarshal(fl.line, &want); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			versions[want.APIVersion]++
			ev, err := decodeOracle(fl.line)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if err := all.Scan(fl.line, &r); err != nil {
				t.Fatalf("Scan(all): %v", err)
			}
			if err := agg.Scan(fl.line, &ra); err != nil {
				t.Fatalf("Scan(agg): %v", err)
			}
			eq := func(what string, got, want any) {
				t.Helper()
				if gt, ok := got.(time.Time); ok {
					if !gt.Equal(want.(time.Time)) {
						t.Errorf("%s = %v, want %v", what, got, want)
					}
					return
				}
				if gs, ok := got.([]string); ok {
					if !slices.Equal(gs, want.([]string)) {
						t.Errorf("%s = %q, want %q", what, got, want)
					}
					return
				}
				if got != want {
					t.Errorf("%s = %#v, want %#v", what, got, want)
				}
			}
			wantTime := want.time(t)
			// Some Panther test events carry no timestamp at all: they still decode
			// (they have an auditID and a stage) and their time is zero.
			wantLat, wantLatOK := want.latency(t)
			decision := want.Annotations[audit.AnnotationDecision]
			authz := want.Annotations[audit.AnnotationReason]

			// Decode.
			eq("Decode verb", ev.Verb, want.Verb)
			eq("Decode stage", ev.Stage, want.Stage)
			eq("Decode level", ev.Level, want.Level)
			eq("Decode auditID", ev.AuditID, want.AuditID)
			eq("Decode requestURI", ev.RequestURI, want.RequestURI)
			eq("Decode userAgent", ev.UserAgent, want.UserAgent)
			eq("Decode user", ev.User.Username, want.User.Username)
			eq("Decode groups", ev.User.Groups, want.User.Groups)
			eq("Decode code", ev.Code(), want.code())
			eq("Decode time", ev.Time(), wantTime)
			eq("Decode requestReceived", ev.RequestReceivedTimestamp.Time, refTime(t, want.RequestReceivedTimestamp))
			eq("Decode decision", ev.Decision(), decision)
			eq("Decode reason", ev.Reason(), want.reason())
			eq("Decode sourceIP", ev.SourceIP(), want.sourceIP())
			eq("Decode sourceIPs", ev.SourceIPs, want.SourceIPs)
			ref := ev.Ref()
			eq("Decode objectRef.resource", ref.Resource, want.ref("resource"))
			eq("Decode objectRef.namespace", ref.Namespace, want.ref("namespace"))
			eq("Decode objectRef.name", ref.Name, want.ref("name"))
			eq("Decode objectRef.apiGroup", ref.APIGroup, want.ref("apiGroup"))
			eq("Decode objectRef.apiVersion", ref.APIVersion, want.ref("apiVersion"))
			eq("Decode objectRef.subresource", ref.Subresource, want.ref("subresource"))
			lat, ok := ev.Latency()
			eq("Decode latency ok", ok, wantLatOK)
			eq("Decode latency", lat, wantLat)
			eq("Decode kind", ev.UserKind(), audit.KindOfUser(want.User.Username))

			// Scanner, every field.
			eq("Scan verb", string(r.Verb()), want.Verb)
			eq("Scan stage", string(r.Stage()), want.Stage)
			eq("Scan level", string(r.Str(audit.FieldLevel)), want.Level)
			eq("Scan auditID", string(r.Str(audit.FieldAuditID)), want.AuditID)
			eq("Scan requestURI", string(r.Str(audit.FieldRequestURI)), want.RequestURI)
			eq("Scan userAgent", string(r.Str(audit.FieldUserAgent)), want.UserAgent)
			eq("Scan user", string(r.Username()), want.User.Username)
			eq("Scan groups", scanGroups(&r), want.User.Groups)
			eq("Scan hasGroups", r.HasGroups(), len(want.User.Groups) > 0)
			eq("Scan code", r.Code, want.code())
			eq("Scan time", r.Time, wantTime)
			eq("Scan requestReceived", r.Received, refTime(t, want.RequestReceivedTimestamp))
			eq("Scan decision", string(r.Decision()), decision)
			eq("Scan authz reason", string(r.AuthzReason()), authz)
			eq("Scan reason", string(r.Reason()), want.reason())
			eq("Scan sourceIP", string(r.SourceIP()), want.sourceIP())
			imp := ""
			if want.ImpersonatedUser != nil {
				imp = want.ImpersonatedUser.Username
			}
			eq("Scan impersonated", string(r.Str(audit.FieldImpersonatedUsername)), imp)
			eq("Scan objectRef.resource", string(r.Resource()), want.ref("resource"))
			eq("Scan objectRef.namespace", string(r.Str(audit.FieldNamespace)), want.ref("namespace"))
			eq("Scan objectRef.name", string(r.Str(audit.FieldName)), want.ref("name"))
			eq("Scan objectRef.apiGroup", string(r.Str(audit.FieldAPIGroup)), want.ref("apiGroup"))
			eq("Scan objectRef.apiVersion", string(r.Str(audit.FieldAPIVersion)), want.ref("apiVersion"))
			eq("Scan objectRef.subresource", string(r.Subresource()), want.ref("subresource"))
			lat, ok = r.Latency()
			eq("Scan latency ok", ok, wantLatOK)
			eq("Scan latency", lat, wantLat)
			eq("Scan long-running", r.LongRunning(), ev.LongRunning())
			for k, v := range want.Annotations {
				got, ok := r.Annotation(k)
				if !ok || string(got) != v {
					t.Errorf("Scan Annotation(%q) = %q, %v; want %q", k, got, ok, v)
				}
			}
			if len(want.Annotations) == 0 && len(r.Annotations()) > 2 {
				t.Errorf("Scan annotations = %s, want none", r.Annotations())
			}
			if _, ok := r.Annotation("no/such-annotation"); ok {
				t.Errorf("Annotation of a missing key reported present")
			}

			// Scanner, aggregation fields: same values, nothing else extracted.
			eq("agg verb", string(ra.Verb()), want.Verb)
			eq("agg user", string(ra.Username()), want.User.Username)
			eq("agg code", ra.Code, want.code())
			eq("agg stage", string(ra.Stage()), want.Stage)
			eq("agg auditID", string(ra.Str(audit.FieldAuditID)), want.AuditID)
			eq("agg time", ra.Time, wantTime)
			eq("agg decision", string(ra.Decision()), decision)
			lat, ok = ra.Latency()
			eq("agg latency ok", ok, wantLatOK)
			eq("agg latency", lat, wantLat)
			eq("agg resource (not requested)", string(ra.Resource()), "")
			eq("agg groups (not requested)", ra.HasGroups(), false)
			eq("agg sourceIP (not requested)", string(ra.SourceIP()), "")

			// LineTime agrees too.
			lt, ok := audit.LineTime(fl.line)
			eq("LineTime ok", ok, !wantTime.IsZero())
			eq("LineTime", lt, wantTime)
		})
	}
	for _, v := range []string{"audit.k8s.io/v1", "audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1", ""} {
		if versions[v] == 0 {
			t.Errorf("fixtures have no event with apiVersion %q (got %v)", v, versions)
		}
	}
	t.Logf("%d fixture lines, apiVersions %v", len(lines), versions)
}

// TestFixturesVersionsTime checks the time fallbacks explicitly on fixture lines of each
// version: v1 uses stageTimestamp, old versions may only have timestamp or metadata.
func TestFixturesTimeFallbacks(t *testing.T) {
	var sawTimestampOnly, sawCreationOnly, sawPanther bool
	var r audit.Record
	s := audit.NewScanner(0)
	for _, fl := range readFixtures(t) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(fl.line, &m); err != nil {
			t.Fatal(err)
		}
		_, hasStage := m["stageTimestamp"]
		_, hasTS := m["timestamp"]
		_, hasMeta := m["metadata"]
		if !hasStage && hasTS {
			sawTimestampOnly = true
		}
		if !hasStage && !hasTS && hasMeta {
			sawCreationOnly = true
		}
		if bytes.Contains(m["stageTimestamp"], []byte(" ")) {
			sawPanther = true
		}
		if err := s.Scan(fl.line, &r); err != nil {
			t.Errorf("%s: %v", fl, err)
		}
	}
	// Record which fallbacks the real data exercises; the synthetic tests cover the rest.
	t.Logf("timestamp-only %v, creationTimestamp-only %v, space-separated stageTimestamp %v",
		sawTimestampOnly, sawCreationOnly, sawPanther)
	if !sawPanther {
		t.Errorf("expected a Panther-normalised timestamp among the fixtures")
	}
}

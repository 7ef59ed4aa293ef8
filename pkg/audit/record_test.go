package audit_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

func TestScannerUnescapesStrings(t *testing.T) {
	line := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a\"b\\c",` +
		`"stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods?limit=500\u0026watch=true\u0026labelSelector=app%3Dweb",` +
		`"verb":"list","user":{"username":"jane\u0040example.com","groups":["system:authenticated","team \"blue\"","caf\u00e9","\ud83d\ude00"]},` +
		`"sourceIPs":["\u0031\u0030.0.0.1","10.0.0.2"],"userAgent":"kubectl/v1.30.0 (linux/amd64) kubernetes/abc\/def",` +
		`"objectRef":{"resource":"pods","namespace":"default","name":"we\tb"},` +
		`"responseStatus":{"metadata":{},"status":"Failure","message":"pods is forbidden: User \"jane@example.com\" cannot list resource \"pods\"","reason":"Forbidden","code":403},` +
		`"requestReceivedTimestamp":"2024-05-01T10:00:00.000001Z","stageTimestamp":"2024-05-01T10:00:00.001001Z",` +
		`"annotations":{"authorization.k8s.io/decision":"for\u0062id","authorization.k8s.io/reason":"RBAC: no binding for \"jane\"\nnext line"}}`
	var want struct {
		AuditID    string
		RequestURI string
		User       struct {
			Username string
			Groups   []string
		}
		SourceIPs      []string
		UserAgent      string
		ObjectRef      struct{ Name string }
		ResponseStatus struct{ Message string }
		Annotations    map[string]string
	}
	if err := json.Unmarshal([]byte(line), &want); err != nil {
		t.Fatal(err)
	}
	var r audit.Record
	if err := audit.NewScanner(audit.AllFields).Scan([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	// Read every value first, then check them all: earlier values must survive later unescapes.
	got := map[string][]byte{
		"auditID":    r.Str(audit.FieldAuditID),
		"requestURI": r.Str(audit.FieldRequestURI),
		"username":   r.Username(),
		"userAgent":  r.Str(audit.FieldUserAgent),
		"name":       r.Str(audit.FieldName),
		"message":    r.Str(audit.FieldStatusMessage),
		"decision":   r.Decision(),
		"authz":      r.AuthzReason(),
		"sourceIP":   r.SourceIP(),
	}
	var groups [][]byte
	r.EachGroup(func(g []byte) { groups = append(groups, g) })
	ann, _ := r.Annotation(audit.AnnotationReason)
	got["annotation"] = ann
	check := func(key, want string) {
		t.Helper()
		if string(got[key]) != want {
			t.Errorf("%s = %q, want %q", key, got[key], want)
		}
	}
	check("auditID", want.AuditID)
	check("requestURI", want.RequestURI)
	check("username", want.User.Username)
	check("userAgent", want.UserAgent)
	check("name", want.ObjectRef.Name)
	check("message", want.ResponseStatus.Message)
	check("decision", want.Annotations[audit.AnnotationDecision])
	check("authz", want.Annotations[audit.AnnotationReason])
	check("annotation", want.Annotations[audit.AnnotationReason])
	check("sourceIP", want.SourceIPs[0])
	if len(groups) != len(want.User.Groups) {
		t.Fatalf("groups = %q, want %q", groups, want.User.Groups)
	}
	for i, g := range groups {
		if string(g) != want.User.Groups[i] {
			t.Errorf("group %d = %q, want %q", i, g, want.User.Groups[i])
		}
	}
	if string(r.Reason()) != want.Annotations[audit.AnnotationReason] {
		t.Errorf("Reason() = %q", r.Reason())
	}
	if r.Code != 403 || string(r.Decision()) != "forbid" {
		t.Errorf("code %d decision %q", r.Code, r.Decision())
	}
	// Escaped and unescaped values agree with Decode too.
	ev, err := decodeOracle([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if ev.RequestURI != want.RequestURI || ev.User.Username != want.User.Username || ev.Reason() != want.Annotations[audit.AnnotationReason] {
		t.Errorf("Decode disagrees: %+v", ev)
	}
}

// TestRecordValuesSurviveBufferGrowth puts many long escaped values on one line, so that the
// record's unescape buffer must be replaced several times during one Scan, and checks that
// every value is still intact afterwards.
func TestRecordValuesSurviveBufferGrowth(t *testing.T) {
	val := func(tag string, n int) (escaped, plain string) {
		var e, p strings.Builder
		for i := 0; i < n; i++ {
			e.WriteString(tag + `\"` + `\u0026` + `\\`)
			p.WriteString(tag + `"` + `&` + `\`)
		}
		return e.String(), p.String()
	}
	fields := []struct {
		field audit.Field
		key   string
	}{
		{audit.FieldAuditID, "auditID"}, {audit.FieldVerb, "verb"}, {audit.FieldLevel, "level"},
		{audit.FieldRequestURI, "requestURI"}, {audit.FieldUserAgent, "userAgent"},
	}
	var sb strings.Builder
	sb.WriteString(`{"stage":"ResponseComplete","stageTimestamp":"2024-05-01T10:00:00Z"`)
	wants := map[audit.Field]string{}
	for i, f := range fields {
		esc, plain := val(string(rune('a'+i)), 300*(i+1)) // 300*7 bytes, then more
		sb.WriteString(`,"` + f.key + `":"` + esc + `"`)
		wants[f.field] = plain
	}
	userEsc, userPlain := val("u", 2000)
	sb.WriteString(`,"user":{"username":"` + userEsc + `","groups":["` + userEsc + `","plain"]}`)
	wants[audit.FieldUsername] = userPlain
	sb.WriteString(`,"objectRef":{"resource":"po\u0064s","namespace":"n\u0073","name":"` + userEsc + `"}`)
	wants[audit.FieldResource] = "pods"
	wants[audit.FieldNamespace] = "ns"
	wants[audit.FieldName] = userPlain
	sb.WriteString(`,"responseStatus":{"code":500,"message":"` + userEsc + userEsc + `"}}`)
	wants[audit.FieldStatusMessage] = userPlain + userPlain
	line := []byte(sb.String())

	s := audit.NewScanner(audit.AllFields)
	var r audit.Record
	for round := 0; round < 3; round++ { // the record (and its buffer) is reused
		if err := s.Scan(line, &r); err != nil {
			t.Fatal(err)
		}
		saved := map[audit.Field][]byte{}
		for f := range wants {
			saved[f] = r.Str(f)
		}
		var groups []string
		r.EachGroup(func(g []byte) { groups = append(groups, string(g)) })
		if !slices.Equal(groups, []string{userPlain, "plain"}) {
			t.Errorf("groups wrong (len %d)", len(groups))
		}
		for f, w := range wants {
			if string(saved[f]) != w {
				t.Errorf("round %d field %d = %.40q... (len %d), want %.40q... (len %d)", round, f, saved[f], len(saved[f]), w, len(w))
			}
		}
	}
}

func TestRecordReuseClearsPreviousValues(t *testing.T) {
	full := []byte(`{"auditID":"1","stage":"ResponseComplete","verb":"get","user":{"username":"alice","groups":["g"]},` +
		`"sourceIPs":["1.2.3.4"],"objectRef":{"resource":"pods","namespace":"ns"},"responseStatus":{"code":200},` +
		`"requestReceivedTimestamp":"2024-05-01T10:00:00Z","stageTimestamp":"2024-05-01T10:00:01Z",` +
		`"annotations":{"authorization.k8s.io/decision":"allow"}}`)
	bare := []byte(`{"auditID":"2","stage":"RequestReceived","stageTimestamp":"2024-05-01T10:00:02Z"}`)
	s := audit.NewScanner(audit.AllFields)
	var r audit.Record
	if err := s.Scan(full, &r); err != nil {
		t.Fatal(err)
	}
	if string(r.Decision()) != "allow" || r.Code != 200 {
		t.Fatalf("first scan wrong: %q %d", r.Decision(), r.Code)
	}
	if err := s.Scan(bare, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Verb()) != 0 || len(r.Username()) != 0 || r.HasGroups() || len(r.SourceIP()) != 0 ||
		len(r.Resource()) != 0 || r.Code != 0 || !r.Received.IsZero() || len(r.Decision()) != 0 ||
		len(r.Annotations()) != 0 || string(r.Str(audit.FieldAuditID)) != "2" || !bytes.Equal(r.Line, bare) {
		t.Errorf("second scan kept values of the first: %+v", r)
	}
	if _, ok := r.Latency(); ok {
		t.Errorf("RequestReceived has a latency")
	}
	if r.UserKind() != audit.UserAnonymous {
		t.Errorf("no user should be anonymous, got %q", r.UserKind())
	}
	// A failed scan leaves no values from the previous line either.
	if err := s.Scan([]byte(`{"auditID":"3"`), &r); err == nil {
		t.Fatal("truncated line accepted")
	}
	if len(r.Str(audit.FieldAuditID)) != 0 && string(r.Str(audit.FieldAuditID)) == "2" {
		t.Errorf("failed scan kept the previous auditID")
	}
}

func TestScannerFieldSelection(t *testing.T) {
	line := []byte(`{"auditID":"x","stage":"ResponseComplete","verb":"get","level":"Metadata","user":{"username":"bob"},"stageTimestamp":"2024-05-01T10:00:00Z","objectRef":{"resource":"pods"},"responseStatus":{"code":404}}`)
	s := audit.NewScanner(audit.Fields(0).With(audit.FieldVerb))
	if !s.Fields().Has(audit.FieldVerb) || !s.Fields().Has(audit.FieldStage) || !s.Fields().Has(audit.FieldAuditID) ||
		!s.Fields().Has(audit.FieldStageTimestamp) || s.Fields().Has(audit.FieldCode) {
		t.Errorf("Fields() = %b", s.Fields())
	}
	var r audit.Record
	if err := s.Scan(line, &r); err != nil {
		t.Fatal(err)
	}
	if string(r.Verb()) != "get" || string(r.Stage()) != "ResponseComplete" || r.Time.IsZero() {
		t.Errorf("requested fields missing: %+v", r)
	}
	if len(r.Username()) != 0 || r.Code != 0 || len(r.Resource()) != 0 || len(r.Str(audit.FieldLevel)) != 0 {
		t.Errorf("unrequested fields extracted: %+v", r)
	}
	if r.Str(audit.Field(200)) != nil {
		t.Errorf("Str of an unknown field is not nil")
	}
}

func TestScannerIgnoresNestedLookalikes(t *testing.T) {
	// Keys with the same names inside requestObject/responseObject must not be taken for the
	// event's own fields, and values of the wrong JSON type are ignored.
	line := []byte(`{"requestObject":{"verb":"delete","stage":"Panic","user":{"username":"mallory"},"auditID":"fake","responseStatus":{"code":500},"annotations":{"authorization.k8s.io/decision":"forbid"}},` +
		`"auditID":"real","stage":"ResponseComplete","verb":"get","user":{"username":"alice","groups":"not-an-array"},"responseStatus":{"code":"200"},` +
		`"stageTimestamp":"2024-05-01T10:00:00Z","annotations":{"nested":{"authorization.k8s.io/decision":"forbid"},"authorization.k8s.io/decision":"allow"},` +
		`"responseObject":{"kind":"Status","code":503,"stage":"Panic"}}`)
	var r audit.Record
	if err := audit.NewScanner(audit.AllFields).Scan(line, &r); err != nil {
		t.Fatal(err)
	}
	if string(r.Verb()) != "get" || string(r.Stage()) != "ResponseComplete" || string(r.Username()) != "alice" ||
		string(r.Str(audit.FieldAuditID)) != "real" || string(r.Decision()) != "allow" {
		t.Errorf("nested values leaked: verb %q stage %q user %q id %q decision %q", r.Verb(), r.Stage(), r.Username(), r.Str(audit.FieldAuditID), r.Decision())
	}
	if r.Code != 0 {
		t.Errorf("string code accepted as %d", r.Code)
	}
	if r.HasGroups() {
		t.Errorf("non-array groups accepted")
	}
}

func TestTimeFallbacks(t *testing.T) {
	check := func(name, line string, want time.Time) {
		t.Helper()
		var r audit.Record
		if err := audit.NewScanner(0).Scan([]byte(line), &r); err != nil {
			t.Fatalf("%s: Scan: %v", name, err)
		}
		if !r.Time.Equal(want) {
			t.Errorf("%s: Record.Time = %v, want %v", name, r.Time, want)
		}
		ev, err := decodeOracle([]byte(line))
		if err != nil {
			t.Fatalf("%s: Decode: %v", name, err)
		}
		if !ev.Time().Equal(want) {
			t.Errorf("%s: Event.Time() = %v, want %v", name, ev.Time(), want)
		}
	}
	t1 := time.Date(2017, 9, 11, 19, 55, 5, 0, time.UTC)
	t2 := time.Date(2017, 9, 11, 19, 55, 6, 0, time.UTC)
	t3 := time.Date(2017, 9, 11, 19, 55, 7, 123456000, time.UTC)
	check("all three", `{"auditID":"a","metadata":{"creationTimestamp":"2017-09-11T19:55:05Z"},"timestamp":"2017-09-11T19:55:06Z","stageTimestamp":"2017-09-11T19:55:07.123456Z"}`, t3)
	check("stage last", `{"timestamp":"2017-09-11T19:55:06Z","auditID":"a","stageTimestamp":"2017-09-11T19:55:07.123456Z","metadata":{"creationTimestamp":"2017-09-11T19:55:05Z"}}`, t3)
	check("timestamp", `{"auditID":"a","metadata":{"creationTimestamp":"2017-09-11T19:55:05Z"},"timestamp":"2017-09-11T19:55:06Z"}`, t2)
	check("creation only", `{"auditID":"a","metadata":{"creationTimestamp":"2017-09-11T19:55:05Z"}}`, t1)
	check("null stage", `{"auditID":"a","stageTimestamp":null,"timestamp":"2017-09-11T19:55:06Z"}`, t2)
	check("no time", `{"auditID":"a","stage":"ResponseComplete"}`, time.Time{})
	check("no id", `{"stageTimestamp":"2017-09-11T19:55:05Z"}`, t1)
}

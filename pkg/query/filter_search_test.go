package query_test

import (
	"strings"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// execLine is an exec event as kube-apiserver writes it: the command's arguments are
// percent-encoded command= parameters of the request URI.
const execLine = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseStarted",` +
	`"requestURI":"/api/v1/namespaces/default/pods/web-1/exec?command=cat\u0026command=%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken\u0026container=web\u0026stderr=true\u0026stdout=true",` +
	`"verb":"create","user":{"username":"Alice"},"sourceIPs":["10.0.0.1"],"userAgent":"kubectl/v1.30.1",` +
	`"objectRef":{"resource":"pods","namespace":"default","name":"web-1","apiVersion":"v1","subresource":"exec"},` +
	`"responseStatus":{"metadata":{},"code":101},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.012345Z"}`

func searchMatches(t *testing.T, js string, line string) bool {
	t.Helper()
	q, err := query.Parse([]byte(`{"queryType":"events","filter":`+js+`}`), "")
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	m := q.Filter.Compile()
	if !m.MatchLine([]byte(line)) {
		return false
	}
	var r audit.Record
	if err := audit.NewScanner(m.Needs()).Scan([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	return m.Match(&r)
}

func TestSearchModes(t *testing.T) {
	all := `"stages":["*"]`
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{`{"search":"cat /var/run",` + all + `}`, true}, // the decoded command line
		{`{"search":"/var/run/secrets/kubernetes.io",` + all + `}`, true},
		{`{"search":"command=/var/run",` + all + `}`, true}, // the decoded query
		{`{"search":"cat /etc",` + all + `}`, false},
		{`{"search":"container=web&stderr",` + all + `}`, true}, // & as shown, \u0026 in the line
		{`{"search":"alice",` + all + `}`, false},               // text is case-sensitive
		{`{"search":"alice","searchMode":"text",` + all + `}`, false},
		{`{"search":"alice","searchMode":"caseInsensitive",` + all + `}`, true},
		{`{"search":"CAT /VAR/RUN","searchMode":"caseInsensitive",` + all + `}`, true},
		{`{"search":"cat /var/run/secrets/[a-z.]+/serviceaccount/token$","searchMode":"regex",` + all + `}`, true},
		{`{"search":"^cat /etc","searchMode":"regex",` + all + `}`, false},
		{`{"search":"\"user\":\\{\"username\":\"A","searchMode":"regex",` + all + `}`, true}, // the raw line
		{`{"search":"cat /var/run"}`, false},                                                 // the default stage rule drops a ResponseStarted 101
	} {
		if got := searchMatches(t, tc.filter, execLine); got != tc.want {
			t.Errorf("%s: matched %v, want %v", tc.filter, got, tc.want)
		}
	}
}

func TestSearchValidation(t *testing.T) {
	for _, tc := range []struct{ filter, want string }{
		{`{"search":"a(b","searchMode":"regex"}`, "invalid search regex"},
		{`{"search":"(?=x)","searchMode":"regex"}`, "RE2"},
		{`{"search":"x","searchMode":"glob"}`, "unknown searchMode \"glob\": use text"},
		{`{"search":"` + strings.Repeat("a", query.MaxSearchLen+1) + `"}`, "shorten it"},
	} {
		_, err := query.Parse([]byte(`{"queryType":"events","filter":`+tc.filter+`}`), "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60s: error %v, want one containing %q", tc.filter, err, tc.want)
		}
	}
	// A search mode without a search is harmless.
	if _, err := query.Parse([]byte(`{"queryType":"events","filter":{"searchMode":"regex"}}`), ""); err != nil {
		t.Error(err)
	}
}

func TestDecodeURI(t *testing.T) {
	got := query.DecodeURI("/api/v1/namespaces/default/pods/web-1/exec?command=sh&command=-c&command=echo+hi%3B+id&container=web")
	want := "/api/v1/namespaces/default/pods/web-1/exec?command=sh&command=-c&command=echo hi; id&container=web\nsh -c echo hi; id"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := query.DecodeURI("/api/v1/pods?limit=%zz"); got != "/api/v1/pods?limit=%zz" {
		t.Errorf("a bad escape is kept as written: %q", got)
	}
}

func TestSearchHintAndTokens(t *testing.T) {
	f := query.Filter{Search: "cat%20%2Fvar"}
	if h := f.SearchHint(); !strings.Contains(h, `search for "cat /var"`) {
		t.Errorf("hint %q", h)
	}
	f = query.Filter{Search: `a\u0026b`}
	if h := f.SearchHint(); !strings.Contains(h, `search for "a&b"`) {
		t.Errorf("hint %q", h)
	}
	for _, s := range []query.Filter{{Search: "cat /var"}, {Search: "%2F", SearchMode: query.SearchRegex}, {}} {
		if h := s.SearchHint(); h != "" {
			t.Errorf("%+v: unexpected hint %q", s, h)
		}
	}
	toks, fold := (&query.Filter{Search: "cat /var/run kube-system", SearchMode: query.SearchCaseInsensitive}).SearchTokens()
	if strings.Join(toks, ",") != "cat,var,run,kube-system" || !fold {
		t.Errorf("tokens %v fold %v", toks, fold)
	}
	if toks, _ := (&query.Filter{Search: "a.*b", SearchMode: query.SearchRegex}).SearchTokens(); toks != nil {
		t.Errorf("regex tokens %v", toks)
	}
	for s, want := range map[string]bool{"kube-system": true, "cat /var": false, "a&b": false} {
		if got := (&query.Filter{Search: s}).SearchIsLiteral(); got != want {
			t.Errorf("%q literal %v, want %v", s, got, want)
		}
	}
}

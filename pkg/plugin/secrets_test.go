package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/cloudwatch/cwtest"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// Secrets of the test datasources: distinctive strings that no answer may contain.
const (
	secretLokiPassword = "LOKI-PASSWORD-5e1f0c7a"
	secretLokiBearer   = "LOKI-BEARER-93b2d4e6"
	secretHeaderValue  = "HEADER-VALUE-c0ffee42"
	secretAWSKey       = "AWS-SECRET-KEY-7d41a9b3"
	secretAWSSession   = "AWS-SESSION-TOKEN-2f86e1d5"
)

var allSecrets = []string{secretLokiPassword, secretLokiBearer, secretHeaderValue, secretAWSKey, secretAWSSession}

// recordingLogger is the SDK logger of the test: every message and argument, as text.
type recordingLogger struct {
	mu   *sync.Mutex
	buf  *bytes.Buffer
	with []any
}

func (l recordingLogger) log(level, msg string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.buf, "%s %s", level, msg)
	for _, a := range append(append([]any{}, l.with...), args...) {
		fmt.Fprintf(l.buf, " %v %+v %#v", a, a, a)
	}
	l.buf.WriteByte('\n')
}
func (l recordingLogger) Debug(msg string, args ...any) { l.log("debug", msg, args...) }
func (l recordingLogger) Info(msg string, args ...any)  { l.log("info", msg, args...) }
func (l recordingLogger) Warn(msg string, args ...any)  { l.log("warn", msg, args...) }
func (l recordingLogger) Error(msg string, args ...any) { l.log("error", msg, args...) }
func (l recordingLogger) With(args ...any) log.Logger {
	l.with = append(append([]any{}, l.with...), args...)
	return l
}
func (l recordingLogger) Level() log.Level                       { return log.Debug }
func (l recordingLogger) FromContext(context.Context) log.Logger { return l }

// captureOutput sends the SDK logger, the standard logger and the process's stdout and stderr
// (where the AWS SDK logs) to one buffer until the returned function is called; it returns
// everything written.
func captureOutput(t *testing.T) func() string {
	t.Helper()
	var mu sync.Mutex
	var buf bytes.Buffer
	oldLogger, oldStdout, oldStderr := log.DefaultLogger, os.Stdout, os.Stderr
	log.DefaultLogger = recordingLogger{mu: &mu, buf: &buf}
	stdlog.SetOutput(&lockedWriter{mu: &mu, w: &buf})
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout, os.Stderr = w, w
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&lockedWriter{mu: &mu, w: &buf}, r)
	}()
	return func() string {
		os.Stdout, os.Stderr = oldStdout, oldStderr
		log.DefaultLogger = oldLogger
		stdlog.SetOutput(os.Stderr)
		_ = w.Close()
		<-done
		_ = r.Close()
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// exercise runs health, every kind of query and every resource against ds and returns all it
// answered, as text.
func exercise(t *testing.T, ds *Datasource, tr backend.TimeRange) string {
	t.Helper()
	var out strings.Builder
	h, err := ds.CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	fmt.Fprintf(&out, "health %+v %v\n", h, err)
	var qs []backend.DataQuery
	for i, js := range []string{
		`{"queryType":"timeseries","groupBy":["verb"]}`,
		`{"queryType":"timeseries","sourceMode":"pushdown","groupBy":["verb"]}`,
		`{"queryType":"events","limit":20}`,
		`{"queryType":"denied"}`,
		`{"queryType":"topn","groupBy":["user.username"]}`,
		`{"queryType":"latency"}`,
		`{"queryType":"detections"}`,
		`{"queryType":"pipelineHealth"}`,
		`{"queryType":"nope"}`,
	} {
		qs = append(qs, backend.DataQuery{RefID: "Q" + strconv.Itoa(i), JSON: []byte(js), TimeRange: tr, Interval: 5 * time.Minute, MaxDataPoints: 200})
	}
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: qs})
	if err != nil {
		fmt.Fprintf(&out, "query error %v\n", err)
	}
	if resp != nil {
		for id, r := range resp.Responses {
			b, _ := json.Marshal(r) // frames, notices, executed query strings
			fmt.Fprintf(&out, "%s %s %v %+v\n", id, b, r.Error, r.Error)
		}
	}
	rng := "&from=" + strconv.FormatInt(tr.From.UnixMilli(), 10) + "&to=" + strconv.FormatInt(tr.To.UnixMilli(), 10)
	for _, path := range []string{"dimensions", "schema", "values?dim=verb" + rng, "values?dim=user.username" + rng, "values?dim=nope" + rng} {
		status, body := callResource(t, ds, path)
		fmt.Fprintf(&out, "resource %s %d %s\n", path, status, body)
	}
	return out.String()
}

func checkNoSecrets(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range allSecrets {
		if i := strings.Index(text, s); i >= 0 {
			t.Errorf("%s contains the secret %q: …%s…", what, s, text[max(0, i-200):min(len(text), i+len(s)+50)])
		}
	}
}

// TestNoSecretsAnywhere configures every kind of secret (Loki basic password, bearer token and
// custom header values; CloudWatch secret key and session token), runs the health check, every
// kind of query and every resource, against working and against failing sources, and greps the
// answers and all log output for the secrets: there must be none.
func TestNoSecretsAnywhere(t *testing.T) {
	var lines bytes.Buffer
	start := time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)
	if _, err := auditgen.Write(&lines, auditgen.Options{Seed: 3, Start: start, Duration: time.Hour, Requests: 200}); err != nil {
		t.Fatal(err)
	}
	tr := backend.TimeRange{From: start, To: start.Add(time.Hour)}

	auditLines := strings.Split(strings.TrimSpace(lines.String()), "\n")
	// Each setup has servers of its own: the setups run at once.
	newLoki := func(pass, token string) *lokitest.Server {
		srv := lokitest.New()
		t.Cleanup(srv.Close)
		srv.BasicUser, srv.BasicPass, srv.Bearer = "grafana", pass, token
		if pass == "" {
			srv.BasicUser = ""
		}
		for i, l := range auditLines {
			srv.Push(map[string]string{"job": "kubernetes-audit"}, start.Add(time.Duration(i+1)*time.Second), l)
		}
		return srv
	}
	group := "/aws/eks/secrets/cluster"
	newCW := func() *cwtest.Server {
		srv := cwtest.New()
		t.Cleanup(srv.Close)
		for i, l := range auditLines {
			srv.Add(group, "kube-apiserver-audit-0123456789abcdef0123456789abcdef", cwtest.Event{Timestamp: start.Add(time.Duration(i) * time.Second).UnixMilli(), Message: l})
		}
		return srv
	}

	lokiJSON := func(url, auth string) string {
		return `{"source":"loki","loki":{"url":"` + url + `","auth":"` + auth + `","basicAuthUser":"grafana","selector":"{job=\"kubernetes-audit\"}",` +
			`"tenant":"team-a","headers":[{"name":"X-Api-Key"},{"name":"X-Other"}],"timeoutSeconds":5}}`
	}
	lokiSecure := map[string]string{"lokiBasicAuthPassword": secretLokiPassword, "lokiBearerToken": secretLokiBearer,
		"lokiHeaderValue1": secretHeaderValue, "lokiHeaderValue2": secretHeaderValue + "-2"}
	cwJSON := func(endpoint string) string {
		return `{"source":"cloudwatch","cloudwatch":{"authType":"keys","defaultRegion":"` + cwtest.Region + `","endpoint":"` + endpoint +
			`","clusterName":"secrets","requestsPerSecond":1000}}`
	}
	cwSecure := map[string]string{"accessKey": cwtest.AccessKey, "secretKey": secretAWSKey, "sessionToken": secretAWSSession}

	type setup struct {
		name   string
		json   string
		secure map[string]string
	}
	closedURL := func() string { s := lokitest.New(); u := s.URL; s.Close(); return u }()
	failing := newLoki("", secretLokiBearer)
	failing.Inject(lokitest.Fault{Kind: lokitest.FaultStatus, Status: http.StatusInternalServerError, Body: "ingester down", Times: -1})
	denied, expired := newCW(), newCW()
	denied.Deny(group)
	expired.ExpireCredentials()
	setups := []setup{
		{"Loki basic auth", lokiJSON(newLoki(secretLokiPassword, "").URL, "basic"), lokiSecure},
		{"Loki bearer", lokiJSON(newLoki("", secretLokiBearer).URL, "bearer"), lokiSecure},
		{"Loki basic auth, wrong password", lokiJSON(newLoki(secretLokiPassword+"-other", "").URL, "basic"), lokiSecure},
		{"Loki bearer, token refused", lokiJSON(newLoki("", secretLokiBearer+"-other").URL, "bearer"), lokiSecure},
		{"Loki unreachable", lokiJSON(closedURL, "basic"), lokiSecure},
		{"Loki failing", lokiJSON(failing.URL, "bearer"), lokiSecure},
		{"CloudWatch keys", cwJSON(newCW().URL), cwSecure},
		{"CloudWatch bad settings", `{"source":"cloudwatch","cloudwatch":{"authType":"keys","defaultRegion":"us-east-1"}}`, cwSecure},
		{"CloudWatch access denied", cwJSON(denied.URL), cwSecure},
		{"CloudWatch expired credentials", cwJSON(expired.URL), cwSecure},
	}
	stop := captureOutput(t)
	answers := make([]string, len(setups))
	var wg sync.WaitGroup
	for i, s := range setups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst, err := NewDatasource(context.Background(), backend.DataSourceInstanceSettings{
				UID: "secrets", JSONData: []byte(s.json), DecryptedSecureJSONData: s.secure})
			if err != nil {
				answers[i] = fmt.Sprintf("NewDatasource: %v %+v", err, err)
				return
			}
			ds := inst.(*Datasource)
			answers[i] = exercise(t, ds, tr) + fmt.Sprintf("\ndatasource %v %+v\n", ds, ds)
			ds.Dispose()
		}()
	}
	wg.Wait()
	logs := stop()
	byName := map[string]string{}
	for i, s := range setups {
		checkNoSecrets(t, s.name, answers[i])
		byName[s.name] = answers[i]
	}
	checkNoSecrets(t, "the log output", logs)

	// The test means something: the working setups answered with data, the failing ones with
	// errors, and the servers saw the secrets.
	for _, name := range []string{"Loki basic auth", "Loki bearer", "CloudWatch keys"} {
		if a := byName[name]; !strings.Contains(a, "Status:OK") || !strings.Contains(a, `"values"`) {
			t.Errorf("%s did not answer with data:\n%.1500s", name, a)
		}
	}
	for _, name := range []string{"Loki basic auth, wrong password", "Loki unreachable", "Loki failing", "CloudWatch access denied", "CloudWatch expired credentials"} {
		if a := byName[name]; !strings.Contains(a, `"error"`) {
			t.Errorf("%s answered no error:\n%.1500s", name, a)
		}
	}
	t.Logf("%d bytes of answers and %d bytes of logs checked", len(strings.Join(answers, "")), len(logs))
}

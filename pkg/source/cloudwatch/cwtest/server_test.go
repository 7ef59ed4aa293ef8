package cwtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// call posts one JSON 1.1 request as the AWS SDK does (the server checks the credential scope,
// not the signature).
func call(t *testing.T, s *Server, op, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/", bytes.NewBufferString(body))
	req.Header.Set("X-Amz-Target", "Logs_20140328."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+AccessKey+"/20250301/"+Region+"/logs/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: %v: %s", op, err, raw)
	}
	return resp.StatusCode, out
}

func sample(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "testdata", "cloudwatch", name))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// keys lists the keys of v and, for lists of objects, of their first element ("events[].message").
func keys(prefix string, v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			out[prefix+k] = true
			keys(prefix+k+".", c, out)
		}
	case []any:
		if len(x) > 0 {
			keys(prefix[:len(prefix)-1]+"[].", x[0], out)
		}
	}
}

// TestServerShapes: every field of the real samples (AWS CLI examples) is in the server's
// responses.
func TestServerShapes(t *testing.T) {
	s := New()
	defer s.Close()
	s.RunningPolls = 0
	s.Add("my-logs", "kube-apiserver-audit-0", Event{Timestamp: 1712567843827, Message: `{"verb":"get","stage":"ResponseComplete","stageTimestamp":"2024-04-08T09:17:23.827000Z"}`})
	_, start := call(t, s, "StartQuery", `{"logGroupName":"my-logs","startTime":0,"endTime":2000000000,"queryString":"filter @logStream like /^kube-apiserver-audit/\n| fields substr(stageTimestamp, 0, 10) as bucket\n| stats count(*) as requests by bucket"}`)
	id, _ := start["queryId"].(string)
	call(t, s, "GetQueryResults", `{"queryId":"`+id+`"}`) // Scheduled
	for _, tc := range []struct{ op, body, sample string }{
		{"FilterLogEvents", `{"logGroupName":"my-logs","logStreamNamePrefix":"kube-apiserver-audit-"}`, "aws__aws-cli__awscli_examples_logs_filter-log-events.output.json"},
		{"DescribeLogGroups", `{"logGroupNamePrefix":"my-logs"}`, "aws__aws-cli__awscli_examples_logs_describe-log-groups.output.json"},
		{"DescribeLogStreams", `{"logGroupName":"my-logs"}`, "aws__aws-cli__awscli_examples_logs_describe-log-streams.output.json"},
		{"StartQuery", `{"logGroupName":"my-logs","startTime":0,"endTime":2000000000,"queryString":"fields substr(stageTimestamp, 0, 10) as bucket\n| stats count(*) as requests by bucket"}`, "aws__aws-cli__awscli_examples_logs_start-query.output.json"},
		{"GetQueryResults", `{"queryId":"` + id + `"}`, "aws__aws-cli__awscli_examples_logs_get-query-results.output.json"},
		{"StopQuery", `{"queryId":"` + id + `"}`, "aws__aws-cli__awscli_examples_logs_stop-query.output.json"},
	} {
		code, got := call(t, s, tc.op, tc.body)
		if code != http.StatusOK {
			t.Errorf("%s: status %d: %v", tc.op, code, got)
			continue
		}
		want, have := map[string]bool{}, map[string]bool{}
		keys("", sample(t, tc.sample), want)
		keys("", got, have)
		var missing []string
		for k := range want {
			if !have[k] {
				missing = append(missing, k)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s: the response lacks %v that the AWS sample has; got %v", tc.op, missing, got)
		}
	}
	// Errors as the service writes them (LocalStack snapshots recorded against AWS).
	code, got := call(t, s, "FilterLogEvents", `{"logGroupName":"my-logs","nextToken":"bogus"}`)
	if code != http.StatusBadRequest || got["__type"] != "com.amazonaws.logs#InvalidParameterException" || got["message"] != "The specified nextToken is invalid." {
		t.Errorf("invalid token: %d %v", code, got)
	}
	code, got = call(t, s, "FilterLogEvents", `{"logGroupName":"my-logs","limit":10001}`)
	if code != http.StatusBadRequest || got["__type"] != "com.amazonaws.logs#InvalidParameterException" {
		t.Errorf("limit: %d %v", code, got)
	}
}

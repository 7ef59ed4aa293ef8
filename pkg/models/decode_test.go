package models

import (
	"strings"
	"testing"
)

// TestLoadTypeErrors: settings whose JSON types are wrong name the setting and the type it
// takes, instead of encoding/json's text ("cannot unmarshal string into Go struct field ...").
func TestLoadTypeErrors(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"file":{"paths":["/a"],"maxLineBytes":"4MB"}}`, "file.maxLineBytes must be a whole number, got a string"},
		{`{"file":{"paths":["/a"],"maxLineBytes":1.5}}`, "file.maxLineBytes must be a whole number, got 1.5"},
		{`{"file":{"paths":"/var/log/kubernetes/audit"}}`, "file.paths must be a list of strings, got a string"},
		{`{"file":{"paths":[1]}}`, "file.paths must be a list of strings, got one that holds a number"},
		{`{"file":["/a"]}`, "file must be an object, got a list"},
		{`{"source":1}`, "source must be a string, got a number"},
		{`[]`, "the settings (jsonData) must be a JSON object, got a list"},
		{`{"source":"loki","loki":{"url":"http://loki:3100","pageSize":"5000"}}`, "loki.pageSize must be a whole number, got a string"},
		{`{"source":"loki","loki":{"url":"http://loki:3100","tlsSkipVerify":"yes"}}`, "loki.tlsSkipVerify must be true or false, got a string"},
		{`{"source":"loki","loki":{"url":"http://loki:3100","headers":"X-A"}}`, "loki.headers must be a list of objects, got a string"},
		{`{"source":"cloudwatch","cloudwatch":{"requestsPerSecond":"5"}}`, "cloudwatch.requestsPerSecond must be a number, got a string"},
		{`{"source":"cloudwatch","cloudwatch":{"logGroups":"/aws/eks/x/cluster"}}`, "cloudwatch.logGroups must be a list of strings, got a string"},
		{`{"file":{"paths":["/a"]},"detections":{"burstThreshold":"10"}}`, "detections.burstThreshold must be a whole number, got a string"},
		{`{"file":{"paths":["/a"]},"detections":{"rules":{"exec-into-pod":{"allow":{"users":"ci"}}}}}`, "detections.rules.allow.users must be a list of strings, got a string"},
		{`{"file":{"paths":["/a"]},"detections":{"allow":[]}}`, "detections.allow must be an object, got a list"},
	} {
		_, err := load(tc.json)
		if err == nil {
			t.Errorf("%s: no error", tc.json)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "invalid datasource settings: ") {
			t.Errorf("%s:\n  error %q\n  want  %q", tc.json, msg, tc.want)
		}
		for _, raw := range []string{"cannot unmarshal", "Go struct field", "Go value"} {
			if strings.Contains(msg, raw) {
				t.Errorf("%s: error %q still has encoding/json's text", tc.json, msg)
			}
		}
	}
}

// TestLoadNegativeNumbers: a negative size or count is an error, not silently the default.
func TestLoadNegativeNumbers(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"file":{"paths":["/a"],"maxLineBytes":-1}}`, "file.maxLineBytes must not be negative, got -1"},
		{`{"source":"loki","loki":{"url":"http://loki:3100","maxLines":-5}}`, "loki.maxLines must not be negative, got -5"},
		{`{"source":"loki","loki":{"url":"http://loki:3100","pageSize":-1}}`, "loki.pageSize must not be negative"},
		{`{"source":"loki","loki":{"url":"http://loki:3100","timeoutSeconds":-30}}`, "loki.timeoutSeconds must not be negative"},
	} {
		_, err := load(tc.json)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.json, err, tc.want)
		}
	}
	// 0 and absent still mean the defaults.
	for _, j := range []string{`{"file":{"paths":["/a"],"maxLineBytes":0}}`, `{"file":{"paths":["/a"]}}`} {
		s, err := load(j)
		if err != nil || s.File.MaxLineBytes != DefaultMaxLineBytes {
			t.Errorf("%s: %+v %v", j, s, err)
		}
	}
	s, err := load(`{"source":"loki","loki":{"url":"http://loki:3100","maxLines":0,"pageSize":0,"timeoutSeconds":0}}`)
	if err != nil || s.Loki.MaxLines != DefaultLokiMaxLines || s.Loki.PageSize != DefaultLokiPageSize || s.Loki.TimeoutSeconds != 60 {
		t.Errorf("loki defaults: %+v %v", s, err)
	}
}

package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func withBodies(line string, level string, req, resp any) string {
	var m map[string]any
	_ = json.Unmarshal([]byte(line), &m)
	m["level"] = level
	if req != nil {
		m["requestObject"] = req
	}
	if resp != nil {
		m["responseObject"] = resp
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func deploy(replicas int, image string) map[string]any {
	return map[string]any{
		"kind": "Deployment", "metadata": map[string]any{"name": "web", "namespace": "prod", "resourceVersion": image + "rv"},
		"spec": map[string]any{"replicas": replicas, "template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": image}}}}},
	}
}

func TestObjectHistory(t *testing.T) {
	mk := func(at time.Duration, verb, user string, code int) string {
		return ev{at: at, verb: verb, user: user, resource: "deployments", ns: "prod", name: "web", code: code, id: verb + user}.line()
	}
	src := lines{
		withBodies(mk(3*time.Minute, "patch", "bob", 200), "RequestResponse", map[string]any{"spec": map[string]any{"replicas": 5}}, deploy(5, "nginx:1.27")),
		withBodies(mk(1*time.Minute, "create", "alice", 201), "RequestResponse", deploy(2, "nginx:1.25"), deploy(2, "nginx:1.25")),
		withBodies(mk(2*time.Minute, "update", "alice", 200), "RequestResponse", deploy(2, "nginx:1.27"), deploy(2, "nginx:1.27")),
		mk(4*time.Minute, "update", "carol", 200), // Metadata level
		mk(5*time.Minute, "get", "dave", 200),
		withBodies(mk(6*time.Minute, "delete", "erin", 200), "RequestResponse", nil, nil),
		ev{at: 7 * time.Minute, verb: "get", user: "x", resource: "deployments", ns: "prod", name: "other", code: 200}.line(),
	}
	res := run(t, src, `{"queryType":"objectHistory","filter":{"names":["web"],"resources":["deployments"],"namespaces":["prod"]}}`, 0)
	rows := res.History.Rows
	var got []string
	for _, r := range rows {
		got = append(got, r.User+" "+r.Verb+": "+r.Change)
	}
	want := []string{
		"alice create: created",
		`alice update: spec.template.spec.containers: [{"image":"nginx:1.25","name":"app"}] → [{"image":"nginx:1.27","name":"app"}]`,
		"bob patch: spec.replicas: 2 → 5",
		"carol update: ",
		"dave get: ",
		"erin delete: deleted",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("history:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(res.Notices) != 1 || !strings.Contains(res.Notices[0].Text, "1 changes were audited at Metadata level") {
		t.Errorf("notices %+v", res.Notices)
	}
}

func TestObjectHistoryNeedsAnObject(t *testing.T) {
	for _, q := range []string{`{"queryType":"objectHistory"}`, `{"queryType":"objectHistory","filter":{"resources":["pods"]}}`} {
		if _, err := parseQuery(q); err == nil || !strings.Contains(err.Error(), "objectHistory needs the object") {
			t.Errorf("%s: %v", q, err)
		}
	}
}

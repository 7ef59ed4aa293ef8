package auditgen

import (
	"encoding/json"
	"time"
)

// RBACWrite is one RequestResponse-level audit event of a successful RBAC write (resource
// roles, clusterroles, rolebindings or clusterrolebindings) by alice@example.com at at, as
// kube-apiserver writes it: body is the request object (nil for a delete). For tests that need
// a role written at a chosen time.
func RBACWrite(at time.Time, verb, resource, namespace, name string, body any) string {
	code := 201
	if verb != "create" {
		code = 200
	}
	ref := map[string]any{"resource": resource, "name": name, "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1"}
	uri := "/apis/rbac.authorization.k8s.io/v1/"
	if namespace != "" {
		ref["namespace"] = namespace
		uri += "namespaces/" + namespace + "/"
	}
	uri += resource
	if verb != "create" {
		uri += "/" + name
	}
	ts := at.UTC().Format("2006-01-02T15:04:05.000000Z")
	ev := map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
		"auditID": verb + "-" + resource + "-" + name + "-" + at.UTC().Format("150405.000000"),
		"stage":   "ResponseComplete", "requestURI": uri, "verb": verb,
		"user":      map[string]any{"username": "alice@example.com", "groups": []string{"system:authenticated"}},
		"sourceIPs": []string{"10.0.4.2"}, "userAgent": "kubectl/v1.34.1 (linux/amd64) kubernetes/93248f9",
		"objectRef":                ref,
		"responseStatus":           map[string]any{"metadata": map[string]any{}, "code": code},
		"requestReceivedTimestamp": ts, "stageTimestamp": ts,
	}
	if body != nil {
		ev["requestObject"] = body
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	return string(b)
}

// ClusterRole is a ClusterRole object with one rule.
func ClusterRole(name string, resources, verbs []string) map[string]any {
	return map[string]any{"kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": map[string]any{"name": name},
		"rules": []any{map[string]any{"apiGroups": []string{"*"}, "resources": resources, "verbs": verbs}}}
}

// ClusterRoleBinding is a ClusterRoleBinding of a ClusterRole to one user.
func ClusterRoleBinding(name, role, user string) map[string]any {
	return map[string]any{"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": map[string]any{"name": name},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
		"subjects": []any{map[string]any{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}}}
}

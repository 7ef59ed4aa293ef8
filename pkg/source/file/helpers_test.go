package file

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// t0 is the reference time of the tests.
var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// auditLine is a realistic kube-apiserver audit event (audit.k8s.io/v1) at ts; id makes lines
// distinguishable.
func auditLine(ts time.Time, id string) string {
	recv := ts.Add(-3 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + id +
		`","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods?limit=500","verb":"list",` +
		`"user":{"username":"system:serviceaccount:kube-system:replicaset-controller","uid":"7d3a1c2e-0b5f-4c8e-9a1d-2f6b8e4c1a90",` +
		`"groups":["system:serviceaccounts","system:serviceaccounts:kube-system","system:authenticated"]},` +
		`"sourceIPs":["10.0.0.12"],"userAgent":"kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/39683505/system:serviceaccount:kube-system:replicaset-controller",` +
		`"objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},` +
		`"requestReceivedTimestamp":"` + recv + `","stageTimestamp":"` + ts.UTC().Format(time.RFC3339Nano) + `",` +
		`"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"system:controller:replicaset-controller\""}}`
}

// timeOf is the test TimeOf: the event's stageTimestamp.
func timeOf(line []byte) (time.Time, bool) {
	var ev struct {
		StageTimestamp time.Time `json:"stageTimestamp"`
	}
	if err := json.Unmarshal(line, &ev); err != nil || ev.StageTimestamp.IsZero() {
		return time.Time{}, false
	}
	return ev.StageTimestamp, true
}

// idOf returns the auditID of a test line, or the line itself if it is not JSON.
func idOf(line []byte) string {
	var ev struct {
		AuditID string `json:"auditID"`
	}
	if err := json.Unmarshal(line, &ev); err != nil || ev.AuditID == "" {
		return string(line)
	}
	return ev.AuditID
}

// events returns n audit lines starting at start, one per step, with ids prefix-0, prefix-1...
func events(prefix string, start time.Time, step time.Duration, n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(auditLine(start.Add(time.Duration(i)*step), fmt.Sprintf("%s-%d", prefix, i)))
		b.WriteByte('\n')
	}
	return b.String()
}

func gzipData(t testing.TB, data string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeFile writes data to path (gzipped if path ends in .gz) and sets its mtime if not zero.
func writeFile(t testing.TB, path, data string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	b := []byte(data)
	if strings.HasSuffix(path, ".gz") {
		b = gzipData(t, data)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// rotName is lumberjack's name for a rotation of prefix+ext at ts.
func rotName(prefix string, ts time.Time, ext string) string {
	return prefix + "-" + ts.UTC().Format(rotationLayout) + ext
}

func newSource(t testing.TB, paths ...string) *Source {
	t.Helper()
	s, err := New(Config{Paths: paths}, Options{TimeOf: timeOf, Now: func() time.Time { return t0.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// scanIDs scans and returns the ids of the delivered lines, in order.
func scanIDs(t testing.TB, s *Source, req source.Request) ([]string, source.Stats, error) {
	t.Helper()
	var ids []string
	st, err := s.Scan(context.Background(), req, func(line []byte) error {
		ids = append(ids, idOf(line))
		return nil
	})
	return ids, st, err
}

func hasProblem(problems []string, substr string) bool {
	for _, p := range problems {
		if strings.Contains(p, substr) {
			return true
		}
	}
	return false
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks not supported: %v", err)
	}
}

// req0 is an unbounded request.
func req0() source.Request { return source.Request{} }

package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/plugin"
)

// execRuleUID is the provisioned exec-into-pod alert rule.
const execRuleUID = "k8saudit-exec-into-pod"

// ruleQuery returns the plugin query (refId A) of a provisioned alert rule.
func ruleQuery(t *testing.T, uid string) map[string]any {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(provisioning, "alerting", "*.y*ml"))
	for _, file := range files {
		var af alertFile
		readYAML(t, file, &af)
		for _, g := range af.Groups {
			for _, r := range g.Rules {
				if r.UID != uid {
					continue
				}
				for _, d := range r.Data {
					if d.DatasourceUID != "__expr__" {
						return d.Model
					}
				}
			}
		}
	}
	t.Fatalf("no provisioned alert rule %s with a plugin query", uid)
	return nil
}

// datasourceOn is the plugin's datasource over one directory of audit logs.
func datasourceOn(t *testing.T, dir string) *plugin.Datasource {
	t.Helper()
	settings, _ := json.Marshal(map[string]any{"source": "file", "file": map[string]any{"paths": []string{dir}}})
	inst, err := plugin.NewDatasource(context.Background(), backend.DataSourceInstanceSettings{UID: "stages", JSONData: settings})
	if err != nil {
		t.Fatal(err)
	}
	ds := inst.(*plugin.Datasource)
	t.Cleanup(ds.Dispose)
	return ds
}

// execTruth counts, by user and namespace, the exec and attach requests whose events the
// log holds (each request once, by auditID), read from the JSON itself.
func execTruth(t *testing.T, lines [][]byte) map[string]float64 {
	t.Helper()
	seen := map[string]bool{}
	out := map[string]float64{}
	for _, l := range lines {
		var e struct {
			AuditID string `json:"auditID"`
			User    struct {
				Username string `json:"username"`
			} `json:"user"`
			ObjectRef struct {
				Resource, Namespace, Subresource string
			} `json:"objectRef"`
		}
		if len(bytes.TrimSpace(l)) == 0 || json.Unmarshal(l, &e) != nil {
			continue
		}
		if e.ObjectRef.Resource != "pods" || (e.ObjectRef.Subresource != "exec" && e.ObjectRef.Subresource != "attach") || seen[e.AuditID] {
			continue
		}
		seen[e.AuditID] = true
		out[e.User.Username+" "+e.ObjectRef.Namespace]++
	}
	return out
}

// TestExecAlertUnderBothPolicies runs the provisioned exec-into-pod rule's query over a
// generated log written with every stage, and with the stages many policies omit
// (omitStages: [RequestReceived, ResponseStarted]): each exec or attach request is counted
// once, by user and namespace, under both. Counting ResponseStarted events (the rule's query
// before) found none under the second policy.
func TestExecAlertUnderBothPolicies(t *testing.T) {
	start := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 5, Start: start, Duration: 3 * time.Hour, Requests: 6000, Incident: true}); err != nil {
		t.Fatal(err)
	}
	all := bytes.Split(buf.Bytes(), []byte("\n"))
	var omitted [][]byte
	for _, l := range all {
		if !bytes.Contains(l, []byte(`"stage":"RequestReceived"`)) && !bytes.Contains(l, []byte(`"stage":"ResponseStarted"`)) {
			omitted = append(omitted, l)
		}
	}
	raw, err := json.Marshal(ruleQuery(t, execRuleUID))
	if err != nil {
		t.Fatal(err)
	}
	tr := backend.TimeRange{From: start, To: start.Add(3*time.Hour + time.Minute)}
	for _, policy := range []struct {
		name  string
		lines [][]byte
	}{{"every stage", all}, {"omitStages RequestReceived ResponseStarted", omitted}} {
		t.Run(policy.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "audit.log"), bytes.Join(policy.lines, []byte("\n")), 0o600); err != nil {
				t.Fatal(err)
			}
			want := execTruth(t, policy.lines)
			if len(want) < 3 {
				t.Fatalf("the generated log has too few exec requests to test with: %v", want)
			}
			dr := runQuery(t, datasourceOn(t, dir), raw, "detections", tr, time.Minute, 43200)
			if dr.Error != nil {
				t.Fatalf("query error: %v", dr.Error)
			}
			got := map[string]float64{}
			for _, f := range dr.Frames {
				for _, fld := range f.Fields {
					if !fld.Type().Numeric() {
						continue
					}
					key := fld.Labels["user.username"] + " " + fld.Labels["objectRef.namespace"]
					for i := 0; i < fld.Len(); i++ {
						if v, err := fld.NullableFloatAt(i); err == nil && v != nil {
							got[key] += *v
						}
					}
				}
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("%s: %v exec/attach requests counted, the log holds %v", k, got[k], n)
				}
			}
			for k, n := range got {
				if _, ok := want[k]; !ok && n != 0 {
					t.Errorf("%s: %v counted, the log holds none", k, n)
				}
			}
		})
	}
}

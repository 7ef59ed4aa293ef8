package plugin

import (
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
)

func TestLogIDsAreUnique(t *testing.T) {
	line := []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","verb":"get","user":{"username":"alice"},"objectRef":{"resource":"pods","namespace":"default","name":"web"},"responseStatus":{"code":403},"stageTimestamp":"2026-11-25T10:00:00.000000Z","annotations":{"authorization.k8s.io/decision":"forbid"}}`)
	var evs []*audit.Record
	for range 3 {
		e, err := audit.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	f := logsFrame(&engine.EventsResult{Events: evs, Total: 3})
	ids := f.Fields[3]
	want := []string{"a1/ResponseComplete", "a1/ResponseComplete#2", "a1/ResponseComplete#3"}
	for i, w := range want {
		if got := ids.At(i).(string); got != w {
			t.Errorf("id %d = %q, want %q", i, got, w)
		}
	}
	if b := f.Fields[1].At(0).(string); b != "403 get pods default/web by alice (forbid)" {
		t.Errorf("body %q", b)
	}
	if s := f.Fields[2].At(0).(string); s != "warning" {
		t.Errorf("severity %q", s)
	}
}

package detect

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// omitStages drops the lines of the given stages, as an audit policy's omitStages does.
func omitStages(lines [][]byte, stages ...string) [][]byte {
	var out [][]byte
	for _, l := range lines {
		var e struct{ Stage string }
		if json.Unmarshal(l, &e) == nil && slices.Contains(stages, e.Stage) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// observeSplit is observe with the lines dealt round-robin to n detectors that are then merged,
// as the engine's workers are: the stages of one request usually land on different workers.
func observeSplit(t *testing.T, cfg Config, n int, lines [][]byte) ([]Finding, []string) {
	t.Helper()
	sc := audit.NewScanner(Needs)
	ds := make([]*Detector, n)
	for i := range ds {
		ds[i] = New(Rules(), cfg)
	}
	i := 0
	for _, l := range lines {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var r audit.Record
		if err := sc.Scan(l, &r); err != nil {
			t.Fatalf("scan %.80s: %v", l, err)
		}
		ds[i%n].Observe(&r)
		i++
	}
	for _, d := range ds[1:] {
		ds[0].Merge(d)
	}
	return ds[0].Finish()
}

func countRules(fs []Finding) map[string]int {
	m := map[string]int{}
	for _, f := range fs {
		m[f.RuleID]++
	}
	return m
}

// streamRequests counts, from the raw JSON, the exec/attach and port-forward requests of a
// log: all of them (by auditID, any stage but RequestReceived) and those with a completing
// event (ResponseComplete or Panic), the only ones a policy without ResponseStarted shows.
func streamRequests(t *testing.T, lines [][]byte) (execAll, execDone, pfAll, pfDone int) {
	t.Helper()
	type req struct{ exec, pf, seen, done bool }
	reqs := map[string]*req{}
	for _, l := range lines {
		var e struct {
			AuditID, Stage string
			ObjectRef      struct{ Resource, Subresource string }
		}
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatal(err)
		}
		sub := e.ObjectRef.Subresource
		if e.ObjectRef.Resource != "pods" || (sub != "exec" && sub != "attach" && sub != "portforward") {
			continue
		}
		r := reqs[e.AuditID]
		if r == nil {
			r = &req{exec: sub != "portforward", pf: sub == "portforward"}
			reqs[e.AuditID] = r
		}
		r.seen = r.seen || e.Stage != audit.StageRequestReceived
		r.done = r.done || audit.IsTerminalStage(e.Stage)
	}
	for _, r := range reqs {
		if r.exec && r.seen {
			execAll++
		}
		if r.exec && r.done {
			execDone++
		}
		if r.pf && r.seen {
			pfAll++
		}
		if r.pf && r.done {
			pfDone++
		}
	}
	return
}

// TestStreamRulesWithoutResponseStarted: exec, attach and port-forward are judged on whichever
// stage the policy keeps, once per request. The sample data's shape (12,000 requests over 6h,
// mostly Metadata, with the scripted intrusion) with ResponseStarted and RequestReceived
// stripped, as `omitStages: [RequestReceived, ResponseStarted]` writes it, finds every exec that
// completed (before, only the denied ones), including the intrusion's token-reading exec.
func TestStreamRulesWithoutResponseStarted(t *testing.T) {
	var buf bytes.Buffer
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 1, Start: start, Duration: 6 * time.Hour, Requests: 12000,
		LevelMix: auditgen.LevelMix{Metadata: 0.85, Request: 0.10, RequestResponse: 0.05}, Incident: true}); err != nil {
		t.Fatal(err)
	}
	full := bytes.Split(buf.Bytes(), []byte("\n"))
	stripped := omitStages(full, audit.StageRequestReceived, audit.StageResponseStarted)
	execAll, execDone, pfAll, pfDone := streamRequests(t, full)
	if execDone == 0 || execAll == execDone || pfDone == 0 {
		t.Fatalf("the generated log should hold completed and still-open sessions: exec %d/%d, port-forward %d/%d", execDone, execAll, pfDone, pfAll)
	}
	t.Logf("exec/attach requests %d (%d completed), port-forward %d (%d completed)", execAll, execDone, pfAll, pfDone)

	tokenRead := func(fs []Finding) bool {
		return slices.ContainsFunc(fs, func(f Finding) bool {
			return f.RuleID == "risky-exec-command" && f.SourceIP == "203.0.113.66" && strings.Contains(f.Detail, "reads the service-account token")
		})
	}
	for _, c := range []struct {
		name           string
		lines          [][]byte
		wantExec, want int // exec-into-pod and port-forward findings
		notice         bool
	}{
		{"full policy", full, execAll, pfAll, false},
		{"omitStages RequestReceived, ResponseStarted", stripped, execDone, pfDone, true},
	} {
		for _, workers := range []int{1, 4} {
			fs, notices := observeSplit(t, Config{}, workers, c.lines)
			got := countRules(fs)
			t.Logf("%s, %d workers: exec-into-pod %d, risky-exec-command %d, port-forward %d", c.name, workers,
				got["exec-into-pod"], got["risky-exec-command"], got["port-forward"])
			if got["exec-into-pod"] != c.wantExec || got["port-forward"] != c.want {
				t.Errorf("%s, %d workers: exec-into-pod %d (want %d), port-forward %d (want %d)", c.name, workers,
					got["exec-into-pod"], c.wantExec, got["port-forward"], c.want)
			}
			if !tokenRead(fs) {
				t.Errorf("%s, %d workers: the intrusion's token-reading exec is missing", c.name, workers)
			}
			hasNotice := slices.ContainsFunc(notices, func(n string) bool {
				return strings.HasPrefix(n, "no ResponseStarted events") && strings.Contains(n, "exec-into-pod") && strings.Contains(n, "denied-burst")
			})
			if hasNotice != c.notice {
				t.Errorf("%s: ResponseStarted notice %v, want %v: %q", c.name, hasNotice, c.notice, notices)
			}
		}
	}

	// Restricted to the requests that completed, both policies give the same findings of the
	// stream rules, on the same requests.
	open := map[string]bool{}
	for _, l := range full {
		var e struct{ AuditID, Stage string }
		if json.Unmarshal(l, &e) == nil {
			if _, seen := open[e.AuditID]; !seen || audit.IsTerminalStage(e.Stage) {
				open[e.AuditID] = !audit.IsTerminalStage(e.Stage)
			}
		}
	}
	var completed [][]byte
	for _, l := range full {
		var e struct{ AuditID string }
		if json.Unmarshal(l, &e) == nil && !open[e.AuditID] {
			completed = append(completed, l)
		}
	}
	streamIDs := func(lines [][]byte) map[string][]string {
		fs, _ := observeSplit(t, Config{}, 3, lines)
		m := map[string][]string{}
		for _, f := range fs {
			if r, _ := Lookup(f.RuleID); r.stream {
				m[f.RuleID] = append(m[f.RuleID], f.AuditID)
			}
		}
		for _, ids := range m {
			slices.Sort(ids)
		}
		return m
	}
	a, b := streamIDs(completed), streamIDs(omitStages(completed, audit.StageRequestReceived, audit.StageResponseStarted))
	for _, id := range []string{"exec-into-pod", "risky-exec-command", "port-forward"} {
		if len(a[id]) == 0 || !slices.Equal(a[id], b[id]) {
			t.Errorf("%s on completed requests: %d findings with every stage, %d without ResponseStarted", id, len(a[id]), len(b[id]))
		}
	}
}

// TestRecordedStreamsWithoutResponseStarted: the exec, attach and port-forward kube-apiserver
// v1.37.2 recorded (ResponseStarted and ResponseComplete, both code 101) give one finding per
// request with or without their ResponseStarted event, on the same request.
func TestRecordedStreamsWithoutResponseStarted(t *testing.T) {
	for scenario, want := range map[string][]string{
		"exec-read-token": {"exec-into-pod", "risky-exec-command"},
		"attach":          {"exec-into-pod"},
		"port-forward":    {"port-forward"},
	} {
		lines := recorded(t, scenario)
		for _, c := range []struct {
			name  string
			lines [][]byte
		}{{"recorded", lines}, {"without ResponseStarted", omitStages(lines, audit.StageResponseStarted)}} {
			for _, workers := range []int{1, 2} {
				fs, notices := observeSplit(t, Config{}, workers, c.lines)
				var got []string
				for _, f := range fs {
					got = append(got, f.RuleID)
					if f.AuditID == "" || !bytes.Contains(bytes.Join(c.lines, nil), []byte(f.AuditID)) {
						t.Errorf("%s %s: finding without the request's auditID: %+v", scenario, c.name, f)
					}
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("%s %s (%d workers): findings %v, want one of each of %v", scenario, c.name, workers, got, want)
				}
				started := strings.Contains(strings.Join(notices, "\n"), "no ResponseStarted events")
				if started != (c.name != "recorded") {
					t.Errorf("%s %s: notices %q", scenario, c.name, notices)
				}
			}
		}
	}
	// The same request's findings agree on the request whichever stage judged it.
	a, _ := observe(t, Config{}, recorded(t, "exec-read-token")...)
	b, _ := observe(t, Config{}, omitStages(recorded(t, "exec-read-token"), audit.StageResponseStarted)...)
	if len(a) != 2 || len(b) != 2 || a[0].AuditID != b[0].AuditID || a[0].Detail != b[0].Detail {
		t.Errorf("with ResponseStarted %+v\nwithout %+v", a, b)
	}
}

// TestStreamDedupe: a stream request is one finding whatever stages of it arrive, in any order,
// twice, or on different workers; a denied exec (no stream) is judged on its final event.
func TestStreamDedupe(t *testing.T) {
	uri := "/api/v1/namespaces/prod/pods/web/exec?command=sh&container=app"
	extra := map[string]any{"requestURI": uri, "auditID": "exec-1"}
	started := ev(0, "ResponseStarted", "get", "alice", "pods", "exec", "prod", "web", 101, extra)
	done := ev(time.Hour, "ResponseComplete", "get", "alice", "pods", "exec", "prod", "web", 101, extra)
	denied := ev(time.Minute, "ResponseComplete", "get", "bob", "pods", "exec", "prod", "web", 403,
		map[string]any{"requestURI": uri, "auditID": "exec-2"})
	for _, order := range [][][]byte{{started, done}, {done, started}, {done, started, done, started}, {done}, {started}} {
		for _, workers := range []int{1, 2, 3} {
			fs, _ := observeSplit(t, Config{}, workers, append(slices.Clone(order), denied))
			got := countRules(fs)
			if got["exec-into-pod"] != 2 || got["risky-exec-command"] != 2 || len(fs) != 4 {
				t.Fatalf("%d lines, %d workers: %+v", len(order), workers, fs)
			}
			for _, f := range fs {
				if f.AuditID == "exec-1" && !f.Time.Equal(base.Add(time.Hour)) && !f.Time.Equal(base) {
					t.Errorf("time %v", f.Time)
				}
				// The ResponseStarted event, when there is one, is the one judged: the session's start.
				if f.AuditID == "exec-1" && slices.ContainsFunc(order, func(l []byte) bool { return bytes.Equal(l, started) }) && !f.Time.Equal(base) {
					t.Errorf("judged on the completing event although ResponseStarted is there: %+v", f)
				}
				if f.AuditID == "exec-2" && !strings.Contains(f.Detail, "failed with 403") {
					t.Errorf("denied exec %+v", f)
				}
			}
		}
	}
	// Allow-lists still apply to held findings.
	fs, _ := observeSplit(t, Config{AllowUsers: []string{"alice"}}, 2, [][]byte{started, done, denied})
	if len(fs) != 2 || fs[0].User != "bob" || fs[1].User != "bob" {
		t.Errorf("allow-listed alice: %+v", fs)
	}
}

// TestBodyNotice: a rule that reads request bodies says how many of the changes it judges came
// without one, naming itself, each change counted once however many rules read it.
func TestBodyNotice(t *testing.T) {
	meta := map[string]any{"level": "Metadata"}
	withBody := map[string]any{"requestObject": map[string]any{"kind": "ClusterRoleBinding", "roleRef": map[string]any{"kind": "ClusterRole", "name": "view"}}}
	lines := [][]byte{
		ev(0, "ResponseComplete", "create", "alice", "clusterrolebindings", "", "", "a", 201, meta),
		ev(time.Second, "ResponseComplete", "create", "alice", "clusterrolebindings", "", "", "b", 201, meta),
		ev(2*time.Second, "ResponseComplete", "create", "alice", "clusterrolebindings", "", "", "c", 201, withBody),
		ev(3*time.Second, "ResponseComplete", "patch", "kubelet", "pods", "status", "prod", "web", 200, meta), // no rule reads status bodies
		ev(4*time.Second, "ResponseComplete", "create", "alice", "services", "", "prod", "svc", 201, meta),
	}
	for _, workers := range []int{1, 2} {
		_, notices := observeSplit(t, Config{}, workers, lines)
		want := []string{
			"needs Request level for clusterrolebindings: 2 of 3 changes to clusterrolebindings were audited at Metadata level (no request body), so binding-privileged and binding-to-wildcard-role could not judge them",
			"needs Request level for services: all 1 changes to services were audited at Metadata level (no request body), so nodeport-service could not judge them",
		}
		if !slices.Equal(notices, want) {
			t.Errorf("%d workers: notices\n%q\nwant\n%q", workers, notices, want)
		}
	}
	// Only the selected rules are named.
	d := New(Select([]string{"nodeport-service"}, nil), Config{})
	sc := audit.NewScanner(Needs)
	for _, l := range lines {
		var r audit.Record
		if err := sc.Scan(l, &r); err != nil {
			t.Fatal(err)
		}
		d.Observe(&r)
	}
	if _, notices := d.Finish(); len(notices) != 1 || !strings.Contains(notices[0], "services") {
		t.Errorf("nodeport-service alone: %q", notices)
	}
}

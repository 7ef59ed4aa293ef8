package loki

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/loki/lokitest"
)

// TestLatencyTemplateIsThePlugins: for timestamps in many forms, the latency LogQL computes
// (latencyTemplate) is either "x" (not trusted) or exactly the plugin's, and the forms the
// apiserver writes are never "x".
func TestLatencyTemplateIsThePlugins(t *testing.T) {
	srv := lokitest.New()
	defer srv.Close()
	recv := "2025-03-10T08:00:00.000100Z"
	cases := map[string]bool{ // stageTimestamp: must not be "x"
		"2025-03-10T08:00:01.5Z":          true,
		"2025-03-10T08:00:00.000100Z":     true, // zero latency
		"2025-03-10T08:00:01Z":            true,
		"2025-03-10T08:00:00.000099999Z":  true, // negative by a nanosecond
		"2025-03-10T09:00:00.123456789Z":  true,
		"2025-03-10T08:00:00.0001000001Z": false, // ten fraction digits
		"2025-03-10T8:00:01Z":             false, // Go reads a one-digit hour, the plugin does not
		"2025-03-10T08:00:60Z":            false, // the plugin reads second 60, Go does not
		"2025-02-30T08:00:00Z":            false, // neither reads it: toDate's zero time
		"2025-03-10 08:00:01Z":            false,
		"2025-03-10t08:00:01z":            false,
		"2025-03-10T10:00:01+02:00":       false, // read alike, but not the checked form
		"2025-03-10T08:00:01,5Z":          false,
		"2025-03-10T08:00:01":             false,
		"":                                false,
		"1500-03-10T08:00:01Z":            false, // past UnixNano's range
		"garbage":                         false,
	}
	at := time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)
	var lines []string
	for stage := range cases {
		line := `{"auditID":"` + stage + `","stage":"ResponseComplete","requestReceivedTimestamp":"` + recv + `","stageTimestamp":"` + stage + `"}`
		srv.Push(map[string]string{"job": "a"}, at, line)
		lines = append(lines, line)
	}
	// A missing requestReceivedTimestamp.
	srv.Push(map[string]string{"job": "a"}, at, `{"auditID":"none","stage":"ResponseComplete","stageTimestamp":"2025-03-10T08:00:01Z"}`)
	s, err := New(Config{URL: srv.URL, Selector: `{job="a"}`})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := `{job="a"} | json k8sa_recv="requestReceivedTimestamp", k8sa_stagets="stageTimestamp", k8sa_auditid="auditID" | label_format ` +
		latLabel + "=" + strconv.Quote(latencyTemplate()) + ` | line_format "{{.k8sa_auditid}}={{.` + latLabel + `}}"`
	got := map[string]string{}
	_, err = s.scanQuery(context.Background(), q, at, at.Add(time.Second), func(line []byte) error {
		for i := len(line) - 1; i >= 0; i-- {
			if line[i] == '=' {
				got[string(line[:i])] = string(line[i+1:])
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got["none"] != "x" {
		t.Errorf("missing requestReceivedTimestamp: %q, want x", got["none"])
	}
	for _, line := range lines {
		r, err := audit.Decode([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		stage := string(r.Str(audit.FieldAuditID))
		v, ok := got[stage]
		if !ok {
			t.Errorf("%q: no line", stage)
			continue
		}
		if v == "x" {
			if cases[stage] {
				t.Errorf("%q: x, want a latency", stage)
			}
			continue
		}
		if !cases[stage] {
			t.Errorf("%q: latency %s, want x", stage, v)
		}
		// A negative one is left out, as the plugin has none.
		d, ok := r.Latency()
		n, _ := strconv.ParseInt(v, 10, 64)
		if (n >= 0) != ok || (ok && time.Duration(n) != d) {
			t.Errorf("%q: LogQL latency %d, plugin %v (%v)", stage, n, d, ok)
		}
	}
}

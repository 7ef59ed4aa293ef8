package plugin

import (
	"bufio"
	"os"
	"testing"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
)

// benchEvents decodes the first n events of the bundled sample log, as the events query
// hands them to the frame builders (every field, the whole line).
func benchEvents(b *testing.B, n int) *engine.EventsResult {
	b.Helper()
	f, err := os.Open("../../provisioning/sample-data/audit.log")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<22)
	ev := &engine.EventsResult{}
	for sc.Scan() && len(ev.Events) < n {
		if r, err := audit.Decode(append([]byte(nil), sc.Bytes()...)); err == nil {
			ev.Events = append(ev.Events, r)
		}
	}
	if len(ev.Events) < n {
		b.Fatalf("the sample log has %d events, want %d", len(ev.Events), n)
	}
	return ev
}

// BenchmarkEventsFrames builds the events frames of 1,000 events (the default limit) and
// encodes them as the plugin answers Grafana (Arrow): what the plugin adds to the engine's
// part of an events query.
func BenchmarkEventsFrames(b *testing.B) {
	ev := benchEvents(b, 1000)
	for _, c := range []struct {
		name  string
		frame func(*engine.EventsResult) *data.Frame
	}{{"logs", logsFrame}, {"table", eventsTableFrame}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (data.Frames{c.frame(ev)}).MarshalArrow(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package plugin

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// envelopeLines generates the same events bare and in format.
func envelopeLines(t *testing.T, format string) (bare, wrapped []string) {
	t.Helper()
	var b, w bytes.Buffer
	if _, err := auditgen.Write(&b, auditgen.Options{Seed: 4, Start: opsStart, Duration: 20 * time.Minute, Requests: 250, MalformedEvery: 90}); err != nil {
		t.Fatal(err)
	}
	ew, err := auditgen.NewEnvelopeWriter(&w, format)
	if err != nil {
		t.Fatal(err)
	}
	ew.Write(b.Bytes())
	ew.Close()
	return strings.Split(strings.TrimSpace(b.String()), "\n"), strings.Split(strings.TrimSpace(w.String()), "\n")
}

// frameValues is what a response's frames say, without their metadata (notices and stats say
// how the answer was found: pushed down or counted from lines).
func frameValues(t *testing.T, dr backend.DataResponse) string {
	t.Helper()
	if dr.Error != nil {
		t.Fatalf("query error: %v", dr.Error)
	}
	var b strings.Builder
	for _, f := range dr.Frames {
		for _, fd := range f.Fields {
			fmt.Fprintf(&b, "%s %v:", fd.Name, fd.Labels)
			for i := range fd.Len() {
				v := fd.At(i)
				if p, ok := fd.ConcreteAt(i); ok {
					v = p
				}
				fmt.Fprintf(&b, " %v", v)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// TestRemoteSourcesOverEnvelopes: Loki and CloudWatch datasources whose lines are docker
// json-file or AKS records (the event escaped inside a JSON string) answer as over the bare
// lines: line filters, filter patterns and counting at the source (which would see the
// envelope, not the event) are left out for them (package envelope), through the real wire
// protocols of the test servers.
func TestRemoteSourcesOverEnvelopes(t *testing.T) {
	queries := []string{
		`{"queryType":"timeseries","groupBy":["verb"],"filter":{"verbs":["get","list"],"namespaces":["kube-system"]}}`,
		`{"queryType":"timeseries","filter":{"search":"\"resource\":\"secrets\""}}`,
		`{"queryType":"denied","limit":50}`,
		`{"queryType":"matrix","limit":5}`,
	}
	tr := backend.TimeRange{From: opsStart.Add(-time.Hour), To: opsStart.Add(3 * time.Hour)}
	ask := func(ds *Datasource, raw string) backend.DataResponse {
		resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{
			RefID: "A", JSON: []byte(raw), TimeRange: tr, MaxDataPoints: 100, Interval: time.Minute,
		}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Responses["A"]
	}
	for _, format := range []string{auditgen.EnvelopeDocker, auditgen.EnvelopeAKS} {
		bare, wrapped := envelopeLines(t, format)
		env := `,"envelope":"` + format + `"`
		for name, mk := range map[string]func(lines []string, extra string) *Datasource{
			"loki": func(lines []string, extra string) *Datasource {
				return newTestDatasource(t, lokiSettings(lokiWith(t, lines).URL, extra))
			},
			"cloudwatch": func(lines []string, extra string) *Datasource {
				return newSecureDatasource(t, cloudWatchSettings(cloudWatchWith(t, lines).URL, extra), cwKeys)
			},
		} {
			want, got := mk(bare, ""), mk(wrapped, env)
			for _, raw := range queries {
				w, g := frameValues(t, ask(want, raw)), frameValues(t, ask(got, raw))
				if w != g {
					t.Errorf("%s %s %s:\nbare:\n%.2000s\n%s:\n%.2000s", name, format, raw, w, format, g)
				}
				if !strings.Contains(w, " 1") {
					t.Errorf("%s %s: nothing counted: %.500s", name, raw, w)
				}
			}
		}
	}
}

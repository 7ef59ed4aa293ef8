package engine_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/index"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
)

// envelopeLog writes the same generated events as an audit.log of each format, one directory
// per format, and returns the directories by format.
func envelopeLog(t *testing.T, formats []string) map[string]string {
	t.Helper()
	// Under -race fewer requests, and one huge (CRI partial) event instead of four: the huge
	// events are most of the bytes, and one is enough to join partial lines in every path.
	requests, huge := 3000, 700
	if raceEnabled {
		requests, huge = 400, 250
	}
	var bare bytes.Buffer
	// Huge events (> 1 MiB) are split into CRI partial lines; malformed lines stay malformed.
	if _, err := auditgen.Write(&bare, auditgen.Options{Seed: 5, Start: segStart, Duration: 2 * time.Hour, Requests: requests, MalformedEvery: 200, HugeEvery: huge, Incident: true}); err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{}
	for _, f := range formats {
		dir := t.TempDir()
		var out bytes.Buffer
		ew, err := auditgen.NewEnvelopeWriter(&out, f)
		if err != nil {
			t.Fatal(err)
		}
		ew.Write(bare.Bytes())
		ew.Close()
		if err := os.WriteFile(filepath.Join(dir, "audit.log"), out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		dirs[f] = dir
	}
	return dirs
}

func envelopeSource(t testing.TB, dir string) *file.Source {
	t.Helper()
	// 64 MiB: no line is over the limit in any format (docker's escaping makes huge events longer).
	src, err := file.New(file.Config{Paths: []string{dir}, MaxLineBytes: 64 << 20}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

type envRun struct {
	t     *testing.T
	src   *file.Source
	env   envelope.Format
	cache bool
}

func (r envRun) run(raw string) *engine.Result {
	r.t.Helper()
	q, err := query.Parse([]byte(raw), "")
	if err != nil {
		r.t.Fatal(err)
	}
	req := engine.Request{Query: q, From: segStart.Add(-time.Minute), To: segStart.Add(3 * time.Hour), Interval: time.Minute, MaxDataPoints: 600, Envelope: r.env}
	if r.cache {
		store, err := index.Open(r.t.TempDir(), 1<<30, "")
		if err != nil {
			r.t.Fatal(err)
		}
		req.Cache, req.Index = engine.NewCache(0), store
		// Cold (builds the index) then warm (answers from the index or reads lines back).
		if _, err := engine.Run(context.Background(), r.src, req); err != nil {
			r.t.Fatalf("%s: %v", raw, err)
		}
		req.Cache = engine.NewCache(0)
	}
	res, err := engine.Run(context.Background(), r.src, req)
	if err != nil {
		r.t.Fatalf("%s: %v", raw, err)
	}
	return res
}

var envCmp = []cmp.Option{
	cmpopts.EquateNaNs(), cmpopts.IgnoreFields(engine.Result{}, "Stats"),
	cmpopts.IgnoreUnexported(detect.Finding{}, engine.HistoryRow{}),
	// The origin is the file's path (another directory per format) and its detected format.
	cmpopts.IgnoreFields(engine.PipelineRow{}, "Origin", "Format"),
	// An event is its line (the unwrapped line: the same bytes as the bare one).
	cmp.Comparer(func(a, b audit.Record) bool { return bytes.Equal(a.Line, b.Line) }),
}

// TestEveryQueryTypeOverEveryEnvelope runs every query type over the same events written bare,
// CRI (with partial lines), docker json-file, Fluent Bit (string and object payloads) and AKS
// records, with the format detected (auto) and fixed, read whole and through the cache and the
// column index (whose read-back must see joined CRI events), and requires the bare answer.
func TestEveryQueryTypeOverEveryEnvelope(t *testing.T) {
	formats := []string{auditgen.EnvelopeBare, auditgen.EnvelopeCRI, auditgen.EnvelopeDocker, auditgen.EnvelopeFluentBit, auditgen.EnvelopeAKS}
	dirs := envelopeLog(t, formats)
	bare := envRun{t: t, src: envelopeSource(t, dirs[auditgen.EnvelopeBare])}
	want := map[string]*engine.Result{}
	for _, raw := range segmentQueries {
		want[raw] = bare.run(raw)
	}
	if res := want[segmentQueries[0]]; res.Stats.Malformed == 0 || res.Stats.Matched == 0 {
		t.Fatalf("bare: %+v", res.Stats)
	}
	for _, f := range formats[1:] {
		fixed, err := envelope.Parse(f)
		if err != nil {
			t.Fatal(err)
		}
		src := envelopeSource(t, dirs[f])
		for _, r := range []envRun{{t: t, src: src, env: envelope.Auto}, {t: t, src: src, env: fixed}, {t: t, src: src, env: envelope.Auto, cache: true}} {
			for _, raw := range segmentQueries {
				got := r.run(raw)
				if diff := cmp.Diff(want[raw], got, envCmp...); diff != "" {
					t.Errorf("%s (envelope %s, cache %v) %s (-bare +%s):\n%s", f, r.env, r.cache, raw, f, diff)
				}
				if w := want[raw].Stats; got.Stats.Malformed != w.Malformed || got.Stats.Matched != w.Matched {
					t.Errorf("%s (envelope %s, cache %v) %s: malformed/matched %d/%d, bare %d/%d", f, r.env, r.cache, raw, got.Stats.Malformed, got.Stats.Matched, w.Malformed, w.Matched)
				}
			}
		}
	}
}

// TestPipelineHealthNamesTheFormat: pipelineHealth says which format each file is in.
func TestPipelineHealthNamesTheFormat(t *testing.T) {
	dirs := envelopeLog(t, []string{auditgen.EnvelopeCRI, auditgen.EnvelopeDocker})
	for f, dir := range dirs {
		res := envRun{t: t, src: envelopeSource(t, dir)}.run(`{"queryType":"pipelineHealth"}`)
		if len(res.Pipeline.Rows) != 1 || res.Pipeline.Rows[0].Format != f {
			t.Errorf("%s: rows %+v", f, res.Pipeline.Rows)
		}
	}
}

// gkeExact are the queries whose answers GKE's LogEntry keeps (see package envelope, gke.go):
// request counts by verb, resource, namespace, name and user, and the 403s (but for the
// user's groups). GKE's AuditLog has
// no groups, latency, stages other than the final one, query strings or 2xx codes other than
// 200, so latency, matrix by groups, events, detections that read requestURI or groups and
// counts by exact code are not the same (docs/envelopes.md says so).
var gkeExact = []string{
	`{"queryType":"timeseries","groupBy":["verb","objectRef.resource"],"limit":50,"filter":{"codes":["!401"]}}`,
	`{"queryType":"timeseries","groupBy":["objectRef.namespace","user.username"],"limit":50,"filter":{"codes":["!401"]}}`,
	`{"queryType":"timeseries","metric":"rate","filter":{"codes":["4xx","5xx","!401"]}}`,
	`{"queryType":"matrix","rows":"user.username","columns":"objectRef.resource","limit":20,"filter":{"codes":["!401"]}}`,
	`{"queryType":"denied","limit":100,"filter":{"codes":["403"]}}`,
}

// TestGKEMappedFieldsAnswerAsBare: over GKE LogEntry lines (final stages only), the queries of
// gkeExact give the bare answer.
func TestGKEMappedFieldsAnswerAsBare(t *testing.T) {
	dirs := envelopeLog(t, []string{auditgen.EnvelopeBare, auditgen.EnvelopeGKE})
	bare := envRun{t: t, src: envelopeSource(t, dirs[auditgen.EnvelopeBare])}
	for _, env := range []envelope.Format{envelope.Auto, envelope.GKE} {
		gke := envRun{t: t, src: envelopeSource(t, dirs[auditgen.EnvelopeGKE]), env: env}
		for _, raw := range gkeExact {
			want, got := bare.run(raw), gke.run(raw)
			if want.Stats.Matched == 0 {
				t.Fatalf("%s: nothing matched", raw)
			}
			// The AuditLog has no groups.
			opts := append([]cmp.Option{cmpopts.IgnoreFields(engine.DeniedRow{}, "Groups")}, envCmp...)
			if diff := cmp.Diff(want, got, opts...); diff != "" {
				t.Errorf("envelope %s %s (-bare +gke):\n%s", env, raw, diff)
			}
		}
	}
}

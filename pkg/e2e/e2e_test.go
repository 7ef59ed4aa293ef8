package e2e

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
)

// The query time range covers every fixture (2017 to 2026: the events recorded from
// kube-apiserver v1.37.2 are of 2026-11-26); `to` is mid-day so that the last bucket is
// unambiguous. One-day intervals: 4383 buckets, under maxDataPoints, so the interval stays
// exactly one day (a "nice" step).
var (
	rangeFrom     = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	rangeTo       = time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)
	interval      = 24 * time.Hour
	maxDataPoints = int64(5000)
)

// frameTypeHeatmapRows is Grafana's heatmap frame type (x = time, one number field per bucket);
// the SDK has no constant for it.
const frameTypeHeatmapRows data.FrameType = "heatmap-rows"

func testDatasource() datasource { return fileDatasource(1, "e2e-file", logDir) }

func TestCheckHealth(t *testing.T) {
	h := startPlugin(t)
	m := loadModel(t, rangeFrom, rangeTo)

	t.Run("ok", func(t *testing.T) {
		resp, err := h.diagnostics.CheckHealth(callCtx(t), &pluginv2.CheckHealthRequest{
			PluginContext: testDatasource().pluginContext(t),
		})
		if err != nil {
			t.Fatalf("CheckHealth returned a gRPC error: %v", err)
		}
		if resp.GetStatus() != pluginv2.CheckHealthResponse_OK {
			t.Fatalf("status %s, want OK; message: %s", resp.GetStatus(), resp.GetMessage())
		}
		msg := resp.GetMessage()
		t.Logf("message: %s", msg)
		// Two files: audit.log and the rotated .gz.
		if !regexp.MustCompile(`\b2\b`).MatchString(msg) || !strings.Contains(strings.ToLower(msg), "file") {
			t.Errorf("message %q does not say that 2 files were found", msg)
		}
		var newest time.Time
		for _, e := range m.events {
			if e.time.After(newest) {
				newest = e.time
			}
		}
		if day := newest.Format("2006-01-02"); !strings.Contains(msg, day) {
			t.Errorf("message %q does not name the newest event time (%s)", msg, newest.Format(time.RFC3339Nano))
		}
	})

	t.Run("missing directory", func(t *testing.T) {
		missing := filepath.Join(filepath.Dir(logDir), "no-such-dir")
		resp, err := h.diagnostics.CheckHealth(callCtx(t), &pluginv2.CheckHealthRequest{
			PluginContext: fileDatasource(2, "e2e-missing", missing).pluginContext(t),
		})
		if err != nil {
			t.Fatalf("CheckHealth returned a gRPC error (it must return a result with status ERROR): %v", err)
		}
		if resp.GetStatus() != pluginv2.CheckHealthResponse_ERROR {
			t.Fatalf("status %s, want ERROR; message: %s", resp.GetStatus(), resp.GetMessage())
		}
		t.Logf("message: %s", resp.GetMessage())
		if !strings.Contains(resp.GetMessage(), missing) {
			t.Errorf("message %q does not name the path %s", resp.GetMessage(), missing)
		}
	})
}

// queryCase is one query of the mixed request and the check of its response.
type queryCase struct {
	query dataQuery
	check func(t *testing.T, m *model, r *pluginv2.DataResponse)
}

// queriesOf lists the cases' queries, to send them in one request.
func queriesOf(cases []queryCase) []dataQuery {
	queries := make([]dataQuery, len(cases))
	for i, c := range cases {
		queries[i] = c.query
	}
	return queries
}

// checkCases runs each case's check on the response to its RefID in a subtest; also, when not
// nil, adds checks of the caller's.
func checkCases(t *testing.T, m *model, responses map[string]*pluginv2.DataResponse, cases []queryCase,
	also func(t *testing.T, c queryCase, r *pluginv2.DataResponse)) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.query.refID, func(t *testing.T) {
			r := responses[c.query.refID]
			if r == nil {
				t.Fatalf("no response for RefID %q", c.query.refID)
			}
			c.check(t, m, r)
			if also != nil {
				also(t, c, r)
			}
		})
	}
}

func newQuery(refID string, model map[string]any) dataQuery {
	return dataQuery{refID: refID, model: model, interval: interval, maxDataPoints: maxDataPoints}
}

// TestQueryData sends one request holding one query of every type and format, two filtered
// queries and two bad ones, as a dashboard does; every RefID is checked on its own.
func TestQueryData(t *testing.T) {
	h := startPlugin(t)
	m := loadModel(t, rangeFrom, rangeTo)
	if n := len(m.selectEvents(refFilter{})); n < 20 {
		t.Fatalf("only %d fixture requests in range: the fixtures are too thin for this test", n)
	}

	cases := []queryCase{
		{newQuery("events-logs", map[string]any{"queryType": "events", "format": "logs", "limit": 1000}), checkEventsLogs},
		{newQuery("events-logs-cut", map[string]any{"queryType": "events", "limit": 5}), checkEventsCut},
		{newQuery("events-table", map[string]any{"queryType": "events", "format": "table", "limit": 1000}), checkEventsTable(refFilter{})},
		{newQuery("events-table-early-stages", map[string]any{"queryType": "events", "format": "table", "limit": 1000,
			"filter": map[string]any{"stages": []string{"RequestReceived", "ResponseStarted"}}}),
			checkEventsTable(refFilter{Stages: []string{"RequestReceived", "ResponseStarted"}})},
		{newQuery("ts", map[string]any{"queryType": "timeseries"}), checkTimeseries(refFilter{}, "count", nil, 0)},
		{newQuery("ts-rate", map[string]any{"queryType": "timeseries", "metric": "rate"}), checkTimeseries(refFilter{}, "rate", nil, 0)},
		{newQuery("ts-verb", map[string]any{"queryType": "timeseries", "groupBy": []string{"verb"}, "limit": 50}),
			checkTimeseries(refFilter{}, "count", []string{"verb"}, 50)},
		{newQuery("ts-verb-top2", map[string]any{"queryType": "timeseries", "groupBy": []string{"verb"}, "limit": 2}),
			checkTimeseries(refFilter{}, "count", []string{"verb"}, 2)},
		{newQuery("ts-filtered", map[string]any{"queryType": "timeseries",
			"filter": map[string]any{"verbs": []string{"get", "list"}, "users": []string{"!system:*"}}}),
			checkTimeseries(refFilter{Verbs: []string{"get", "list"}, Users: []string{"!system:*"}}, "count", nil, 0)},
		{newQuery("ts-errors", map[string]any{"queryType": "timeseries", "groupBy": []string{"objectRef.namespace"}, "limit": 50,
			"filter": map[string]any{"codes": []string{"4xx", "5xx"}, "resources": []string{"pods", "secrets", "config*"}}}),
			checkTimeseries(refFilter{Codes: []string{"4xx", "5xx"}, Resources: []string{"pods", "secrets", "config*"}},
				"count", []string{"objectRef.namespace"}, 50)},
		{newQuery("latency", map[string]any{"queryType": "latency", "quantiles": []float64{0.5, 0.99}}), checkLatency([]float64{0.5, 0.99})},
		{newQuery("latency-heatmap", map[string]any{"queryType": "latency", "format": "heatmap"}), checkHeatmap},
		{newQuery("denied", map[string]any{"queryType": "denied"}), checkDenied},
		{newQuery("matrix", map[string]any{"queryType": "matrix", "rows": "user.username", "columns": "verb", "limit": 3}),
			checkMatrix("user.username", "verb", 3)},
		{newQuery("topn", map[string]any{"queryType": "topn", "groupBy": []string{"objectRef.resource"}, "limit": 100}),
			checkTopN("objectRef.resource", 100)},
		{newQuery("bad-type", map[string]any{"queryType": "nope"}), checkError},
		{dataQuery{refID: "bad-json", rawJSON: `{"queryType": "timeseries", "limit": `, interval: interval, maxDataPoints: maxDataPoints}, checkError},
	}
	responses := h.queryData(t, testDatasource(), rangeFrom, rangeTo, queriesOf(cases)...)
	if len(responses) != len(cases) {
		t.Errorf("%d responses for %d queries", len(responses), len(cases))
	}
	checkCases(t, m, responses, cases, func(t *testing.T, c queryCase, r *pluginv2.DataResponse) {
		if r.GetError() == "" {
			for _, f := range frames(t, r) {
				if f.RefID != c.query.refID {
					t.Errorf("frame RefID %q, want %q", f.RefID, c.query.refID)
				}
			}
		}
	})

	t.Run("skipped lines notice", func(t *testing.T) {
		for _, refID := range []string{"ts", "events-logs"} {
			ns := notices(frames(t, responses[refID]))
			found := false
			for _, n := range ns {
				if strings.Contains(strings.ToLower(n), "skip") && regexp.MustCompile(`\b3\b`).MatchString(n) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no notice says that 3 malformed lines were skipped; notices: %q", refID, ns)
			}
		}
	})
}

func checkError(t *testing.T, _ *model, r *pluginv2.DataResponse) {
	if r.GetError() == "" {
		t.Fatalf("no error for a bad query (frames: %d)", len(r.GetFrames()))
	}
	t.Logf("error (source %q, status %d): %s", r.GetErrorSource(), r.GetStatus(), r.GetError())
}

// --- timeseries ------------------------------------------------------------------------------

// checkTimeseries: one wide frame, every bucket present, one field per series named after the
// metric with the groupBy labels, the top `limit` series by total and the rest summed in `other`.
func checkTimeseries(f refFilter, metric string, groupBy []string, limit int) func(*testing.T, *model, *pluginv2.DataResponse) {
	return func(t *testing.T, m *model, r *pluginv2.DataResponse) {
		evs := m.selectEvents(f)
		if len(evs) == 0 {
			t.Fatalf("the filter %+v matches no fixture request: pick another", f)
		}
		b := newBuckets(m.from, m.to, interval)
		frame := oneFrame(t, frames(t, r))
		wantTimeseriesWide(t, frame)
		wantTimeAxis(t, frame, b)

		// Expected series: key = the label values joined.
		key := func(e *refEvent) string {
			var parts []string
			for _, d := range groupBy {
				parts = append(parts, e.dim(d)[0])
			}
			return strings.Join(parts, "\x00")
		}
		want := map[string][]float64{}
		totals := map[string]int{}
		for _, e := range evs {
			k := key(e)
			if want[k] == nil {
				want[k] = make([]float64, b.n)
			}
			want[k][b.index(e.time)]++
			totals[k]++
		}
		if len(groupBy) > 0 && len(want) > limit {
			other := strings.Repeat("other\x00", len(groupBy))
			other = other[:len(other)-1]
			sum := make([]float64, b.n)
			for _, c := range ranked(totals)[limit:] {
				for i, v := range want[c.value] {
					sum[i] += v
				}
				delete(want, c.value)
			}
			want[other] = sum
		}
		scale := 1.0
		if metric == "rate" {
			scale = 1 / interval.Seconds()
		}

		got := map[string]bool{}
		total := 0.0
		for _, fld := range valueFields(frame) {
			wantType(t, fld, data.FieldTypeFloat64, data.FieldTypeNullableFloat64)
			if fld.Name != metric {
				t.Errorf("series field named %q, want %q", fld.Name, metric)
			}
			var parts []string
			for _, d := range groupBy {
				v, ok := fld.Labels[d]
				if !ok {
					t.Errorf("series %s has no label %q", fld.Labels, d)
				}
				parts = append(parts, noneValue(v))
			}
			if len(groupBy) == 0 && len(fld.Labels) != 0 {
				t.Errorf("no groupBy but labels %s", fld.Labels)
			}
			k := strings.Join(parts, "\x00")
			if got[k] {
				t.Errorf("series %s twice", fld.Labels)
			}
			got[k] = true
			w, ok := want[k]
			if !ok {
				t.Errorf("unexpected series %s", fld.Labels)
				continue
			}
			for i := 0; i < b.n; i++ {
				v, _ := floatAt(t, fld, i)
				total += v
				if !approx(v, w[i]*scale) {
					t.Errorf("series %s at %s: %v, want %v", fld.Labels, b.time(i).Format(time.DateOnly), v, w[i]*scale)
				}
			}
		}
		for k := range want {
			if !got[k] {
				t.Errorf("missing series %q", strings.ReplaceAll(k, "\x00", ","))
			}
		}
		if !approx(total/scale, float64(len(evs))) {
			t.Errorf("the series add up to %v requests, want %d", total/scale, len(evs))
		}
	}
}

// --- latency ---------------------------------------------------------------------------------

// latencyByBucket returns, per bucket, the latencies of the requests that count for latency:
// terminal stage, both timestamps, not long-running.
func latencyByBucket(m *model, b buckets) ([][]float64, int) {
	out := make([][]float64, b.n)
	n := 0
	for _, e := range m.selectEvents(refFilter{}) {
		l, ok := e.latency()
		if !ok || e.longRunning() {
			continue
		}
		i := b.index(e.time)
		out[i] = append(out[i], l)
		n++
	}
	return out, n
}

func checkLatency(quantiles []float64) func(*testing.T, *model, *pluginv2.DataResponse) {
	return func(t *testing.T, m *model, r *pluginv2.DataResponse) {
		b := newBuckets(m.from, m.to, interval)
		perBucket, n := latencyByBucket(m, b)
		if n == 0 {
			t.Fatal("no fixture request has a latency")
		}
		frame := oneFrame(t, frames(t, r))
		wantTimeseriesWide(t, frame)
		wantTimeAxis(t, frame, b)
		vf := valueFields(frame)
		if len(vf) != len(quantiles) {
			t.Fatalf("%d series, want one per quantile (%d): %s", len(vf), len(quantiles), frameSummary(data.Frames{frame}))
		}
		for qi, q := range quantiles {
			fld := vf[qi]
			name := "p" + strconv.FormatFloat(q*100, 'f', -1, 64)
			label := strconv.FormatFloat(q, 'f', -1, 64)
			if fld.Name != name || fld.Labels["quantile"] != label {
				t.Errorf("series %d is %s%s, want %s{quantile=%s}", qi, fld.Name, fld.Labels, name, label)
			}
			wantType(t, fld, data.FieldTypeNullableFloat64)
			if fld.Config == nil || fld.Config.Unit != "s" {
				t.Errorf("series %s: unit is not \"s\" (config %+v)", fld.Name, fld.Config)
			}
			nonNull := 0
			for i := 0; i < b.n; i++ {
				v, ok := floatAt(t, fld, i)
				if len(perBucket[i]) == 0 {
					if ok {
						t.Errorf("%s at %s: %v, want null (no request)", name, b.time(i).Format(time.DateOnly), v)
					}
					continue
				}
				nonNull++
				want := nearestRank(perBucket[i], q)
				if !ok || !approx(v, want) {
					t.Errorf("%s at %s: %v (non-null %v), want %v from %v", name, b.time(i).Format(time.DateOnly), v, ok, want, perBucket[i])
				}
			}
			if nonNull == 0 {
				t.Errorf("%s: every value is null", name)
			}
		}
	}
}

func checkHeatmap(t *testing.T, m *model, r *pluginv2.DataResponse) {
	b := newBuckets(m.from, m.to, interval)
	perBucket, n := latencyByBucket(m, b)
	frame := oneFrame(t, frames(t, r))
	if frame.Meta == nil || frame.Meta.Type != frameTypeHeatmapRows {
		t.Fatalf("Meta %+v, want Type %q", frame.Meta, frameTypeHeatmapRows)
	}
	wantTimeAxis(t, frame, b)
	vf := valueFields(frame)
	var names []string
	for _, f := range vf {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, latencyBucketNames) {
		t.Fatalf("bucket fields %q, want %q", names, latencyBucketNames)
	}
	total := 0.0
	for i := 0; i < b.n; i++ {
		want := make([]float64, len(latencyBounds))
		for _, l := range perBucket[i] {
			want[latencyBucket(l)]++
		}
		for j, fld := range vf {
			v, _ := floatAt(t, fld, i)
			total += v
			if v != want[j] {
				t.Errorf("bucket le=%s at %s: %v, want %v", fld.Name, b.time(i).Format(time.DateOnly), v, want[j])
			}
		}
	}
	if int(total) != n {
		t.Errorf("heatmap counts add up to %v, want %d requests", total, n)
	}
}

// --- denied ----------------------------------------------------------------------------------

func checkDenied(t *testing.T, m *model, r *pluginv2.DataResponse) {
	var want []*refEvent
	for _, e := range newestFirst(m.selectEvents(refFilter{})) {
		if c := e.code(); c == 401 || c == 403 {
			want = append(want, e)
		}
	}
	if len(want) == 0 {
		t.Fatal("no 401/403 in the fixtures")
	}
	want = want[:min(len(want), 100)]
	frame := oneFrame(t, frames(t, r))
	for _, name := range []string{"time", "user", "groups", "verb", "resource", "namespace", "name", "subresource",
		"code", "reason", "sourceIP", "userAgent", "auditID"} {
		field(t, frame, name)
	}
	wantType(t, field(t, frame, "code"), data.FieldTypeInt64)
	if rowLen(frame) != len(want) {
		t.Fatalf("%d denied rows, want %d", rowLen(frame), len(want))
	}
	row := func(i int) string {
		return strings.Join([]string{
			timeAt(t, field(t, frame, "time"), i).Format(time.RFC3339Nano),
			stringAt(t, field(t, frame, "user"), i),
			strings.ReplaceAll(stringAt(t, field(t, frame, "groups"), i), ", ", ","),
			stringAt(t, field(t, frame, "verb"), i),
			stringAt(t, field(t, frame, "resource"), i),
			stringAt(t, field(t, frame, "namespace"), i),
			stringAt(t, field(t, frame, "name"), i),
			stringAt(t, field(t, frame, "subresource"), i),
			strconv.Itoa(int(must(floatAt(t, field(t, frame, "code"), i)))),
			stringAt(t, field(t, frame, "reason"), i),
			stringAt(t, field(t, frame, "sourceIP"), i),
			stringAt(t, field(t, frame, "userAgent"), i),
			stringAt(t, field(t, frame, "auditID"), i),
		}, " | ")
	}
	wantRow := func(e *refEvent) string {
		return strings.Join([]string{
			e.time.Format(time.RFC3339Nano), e.User.Username, strings.Join(e.User.Groups, ","), e.Verb,
			e.ref("resource"), e.ref("namespace"), e.ref("name"), e.ref("subresource"), strconv.Itoa(e.code()),
			e.reason(), e.sourceIP(), e.UserAgent, e.AuditID,
		}, " | ")
	}
	var got, exp []string
	for i, e := range want {
		if gt := timeAt(t, field(t, frame, "time"), i); !gt.Equal(e.time) {
			t.Errorf("row %d time %s, want %s (newest first)", i, gt.Format(time.RFC3339Nano), e.time.Format(time.RFC3339Nano))
		}
		got = append(got, row(i))
		exp = append(exp, wantRow(e))
	}
	// Rows with the same time may come in any order: compare sorted.
	sort.Strings(got)
	sort.Strings(exp)
	for i := range exp {
		if got[i] != exp[i] {
			t.Errorf("denied row\n got  %s\n want %s", got[i], exp[i])
		}
	}
}

func must(v float64, ok bool) float64 {
	if !ok {
		return math.NaN()
	}
	return v
}

// --- matrix ----------------------------------------------------------------------------------

// checkMatrix: rows = top `limit` row values by total, then other; columns likewise; then total.
func checkMatrix(rowsDim, colsDim string, limit int) func(*testing.T, *model, *pluginv2.DataResponse) {
	return func(t *testing.T, m *model, r *pluginv2.DataResponse) {
		evs := m.selectEvents(refFilter{})
		cells := map[[2]string]int{}
		rowTotals, colTotals := map[string]int{}, map[string]int{}
		for _, e := range evs {
			for _, rv := range e.dim(rowsDim) {
				for _, cv := range e.dim(colsDim) {
					cells[[2]string{rv, cv}]++
					rowTotals[rv]++
					colTotals[cv]++
				}
			}
		}
		top := func(totals map[string]int) (kept []string, other map[string]bool) {
			other = map[string]bool{}
			for i, c := range ranked(totals) {
				if i < limit {
					kept = append(kept, c.value)
				} else {
					other[c.value] = true
				}
			}
			return kept, other
		}
		keptRows, otherRows := top(rowTotals)
		keptCols, otherCols := top(colTotals)
		if len(otherRows) == 0 || len(otherCols) == 0 {
			t.Fatalf("the fixtures have at most %d values of %s or %s: no `other` to test", limit, rowsDim, colsDim)
		}
		wantRowNames := append(slices.Clone(keptRows), "other")
		wantCols := append(slices.Clone(keptCols), "other")
		inRow := func(name, rv string) bool {
			if name == "other" {
				return otherRows[rv]
			}
			return rv == name
		}
		inCol := func(name, cv string) bool {
			if name == "other" {
				return otherCols[cv]
			}
			return cv == name
		}
		wantCell := func(rn, cn string) int {
			n := 0
			for k, c := range cells {
				if inRow(rn, k[0]) && (cn == "total" || inCol(cn, k[1])) {
					n += c
				}
			}
			return n
		}

		frame := oneFrame(t, frames(t, r))
		var names []string
		for _, f := range frame.Fields {
			names = append(names, noneValue(f.Name))
		}
		wantNames := append(append([]string{rowsDim}, wantCols...), "total")
		if !slices.Equal(names, wantNames) {
			t.Fatalf("fields %q, want %q", names, wantNames)
		}
		for _, f := range frame.Fields[1:] {
			wantType(t, f, data.FieldTypeInt64)
		}
		if rowLen(frame) != len(wantRowNames) {
			t.Fatalf("%d rows, want %d (%q)", rowLen(frame), len(wantRowNames), wantRowNames)
		}
		for i, rn := range wantRowNames {
			if got := noneValue(stringAt(t, frame.Fields[0], i)); got != rn {
				t.Errorf("row %d is %q, want %q", i, got, rn)
				continue
			}
			for j, cn := range append(slices.Clone(wantCols), "total") {
				got, _ := floatAt(t, frame.Fields[j+1], i)
				if want := wantCell(rn, cn); int(got) != want {
					t.Errorf("cell [%s][%s] = %v, want %d", rn, cn, got, want)
				}
			}
		}
	}
}

// --- topn ------------------------------------------------------------------------------------

func checkTopN(dim string, limit int) func(*testing.T, *model, *pluginv2.DataResponse) {
	return func(t *testing.T, m *model, r *pluginv2.DataResponse) {
		type row struct {
			requests, errors, denied int
			latencies                []float64
		}
		want := map[string]*row{}
		for _, e := range m.selectEvents(refFilter{}) {
			for _, v := range e.dim(dim) {
				w := want[v]
				if w == nil {
					w = &row{}
					want[v] = w
				}
				w.requests++
				if e.code() >= 400 {
					w.errors++
				}
				if e.code() == 401 || e.code() == 403 {
					w.denied++
				}
				if l, ok := e.latency(); ok && !e.longRunning() {
					w.latencies = append(w.latencies, l)
				}
			}
		}
		if len(want) > limit {
			t.Fatalf("more than %d values of %s: raise the limit", limit, dim)
		}
		frame := oneFrame(t, frames(t, r))
		if rowLen(frame) != len(want) {
			t.Fatalf("%d rows, want %d", rowLen(frame), len(want))
		}
		dimField := field(t, frame, dim)
		requests, errs, denied, p99 := field(t, frame, "requests"), field(t, frame, "errors"), field(t, frame, "denied"), field(t, frame, "p99")
		wantType(t, requests, data.FieldTypeInt64)
		wantType(t, errs, data.FieldTypeInt64)
		wantType(t, denied, data.FieldTypeInt64)
		wantType(t, p99, data.FieldTypeNullableFloat64)
		prev := math.Inf(1)
		for i := 0; i < rowLen(frame); i++ {
			v := noneValue(stringAt(t, dimField, i))
			w := want[v]
			if w == nil {
				t.Errorf("unexpected row %q", v)
				continue
			}
			n, _ := floatAt(t, requests, i)
			if n > prev {
				t.Errorf("row %d (%q): %v requests after %v: not ordered by requests, descending", i, v, n, prev)
			}
			prev = n
			e, _ := floatAt(t, errs, i)
			d, _ := floatAt(t, denied, i)
			if int(n) != w.requests || int(e) != w.errors || int(d) != w.denied {
				t.Errorf("%q: requests/errors/denied %v/%v/%v, want %d/%d/%d", v, n, e, d, w.requests, w.errors, w.denied)
			}
			p, ok := floatAt(t, p99, i)
			switch {
			case len(w.latencies) == 0 && ok:
				t.Errorf("%q: p99 %v, want null (no non-long-running request with a latency)", v, p)
			case len(w.latencies) > 0 && (!ok || !approx(p, nearestRank(w.latencies, 0.99))):
				t.Errorf("%q: p99 %v (non-null %v), want %v", v, p, ok, nearestRank(w.latencies, 0.99))
			}
		}
	}
}

// --- events ----------------------------------------------------------------------------------

func checkEventsLogs(t *testing.T, m *model, r *pluginv2.DataResponse) {
	want := newestFirst(m.selectEvents(refFilter{}))
	frame := oneFrame(t, frames(t, r))
	if frame.Meta == nil || frame.Meta.Type != data.FrameTypeLogLines {
		t.Fatalf("Meta %+v, want Type %q", frame.Meta, data.FrameTypeLogLines)
	}
	if frame.Meta.PreferredVisualization != data.VisTypeLogs {
		t.Errorf("PreferredVisualization %q, want %q", frame.Meta.PreferredVisualization, data.VisTypeLogs)
	}
	ts, body, sev, id, labels := field(t, frame, "timestamp"), field(t, frame, "body"), field(t, frame, "severity"),
		field(t, frame, "id"), field(t, frame, "labels")
	wantType(t, ts, data.FieldTypeTime)
	wantType(t, body, data.FieldTypeString)
	wantType(t, sev, data.FieldTypeString)
	wantType(t, id, data.FieldTypeString)
	wantType(t, labels, data.FieldTypeJSON, data.FieldTypeNullableJSON)
	if rowLen(frame) != len(want) {
		t.Fatalf("%d log lines, want %d", rowLen(frame), len(want))
	}
	key := func(tm time.Time, severity, verb, user, stage string) string {
		return strings.Join([]string{tm.Format(time.RFC3339Nano), severity, verb, user, stage}, " | ")
	}
	var got, exp []string
	ids := map[string]bool{}
	for i, e := range want {
		tm := timeAt(t, ts, i)
		if !tm.Equal(e.time) {
			t.Errorf("line %d at %s, want %s (newest first)", i, tm.Format(time.RFC3339Nano), e.time.Format(time.RFC3339Nano))
		}
		var lbl map[string]any
		if err := json.Unmarshal([]byte(stringAt(t, labels, i)), &lbl); err != nil {
			t.Fatalf("line %d labels are not a JSON object: %v", i, err)
		}
		str := func(k string) string { s, _ := lbl[k].(string); return noneValue(s) }
		got = append(got, key(tm, stringAt(t, sev, i), str("verb"), str("user"), str("stage")))
		severity := "info"
		switch c := e.code(); {
		case c >= 500:
			severity = "error"
		case c >= 400:
			severity = "warning"
		}
		exp = append(exp, key(e.time, severity, e.Verb, e.User.Username, e.Stage))
		ids[e.AuditID+"\x00"+e.Stage] = true

		b := stringAt(t, body, i)
		if b == "" {
			t.Errorf("line %d has an empty body", i)
		}
		v := str("verb")
		if v != "" && !strings.Contains(b, v) {
			t.Errorf("line %d body %q does not name its verb %q", i, b, v)
		}
	}
	for i := range want {
		got := stringAt(t, id, i)
		found := false
		for k := range ids {
			a, s, _ := strings.Cut(k, "\x00")
			if strings.Contains(got, a) && strings.Contains(got, s) {
				found = true
			}
		}
		if !found {
			t.Errorf("line %d id %q is not auditID + stage of a fixture event", i, got)
		}
	}
	sort.Strings(got)
	sort.Strings(exp)
	for i := range exp {
		if got[i] != exp[i] {
			t.Errorf("log line (time | severity | labels verb, user, stage)\n got  %s\n want %s", got[i], exp[i])
		}
	}
}

// checkEventsCut: the newest 5 events and a notice that the result was cut.
func checkEventsCut(t *testing.T, m *model, r *pluginv2.DataResponse) {
	want := newestFirst(m.selectEvents(refFilter{}))[:5]
	fs := frames(t, r)
	frame := oneFrame(t, fs)
	if rowLen(frame) != 5 {
		t.Fatalf("%d rows, want the limit 5", rowLen(frame))
	}
	for i, e := range want {
		if tm := timeAt(t, field(t, frame, "timestamp"), i); !tm.Equal(e.time) {
			t.Errorf("line %d at %s, want %s", i, tm.Format(time.RFC3339Nano), e.time.Format(time.RFC3339Nano))
		}
	}
	// Every notice but the skipped-lines one: one must say the result was cut.
	var other []string
	for _, n := range notices(fs) {
		if !strings.Contains(strings.ToLower(n), "skip") {
			other = append(other, n)
		}
	}
	if len(other) == 0 {
		t.Errorf("no notice says that the events were cut at the limit; notices: %q", notices(fs))
	}
}

var eventTableColumns = []struct {
	name  string
	types []data.FieldType
}{
	{"time", []data.FieldType{data.FieldTypeTime}},
	{"stage", []data.FieldType{data.FieldTypeString}},
	{"level", []data.FieldType{data.FieldTypeString}},
	{"verb", []data.FieldType{data.FieldTypeString}},
	{"user", []data.FieldType{data.FieldTypeString}},
	{"userKind", []data.FieldType{data.FieldTypeString}},
	{"groups", []data.FieldType{data.FieldTypeString}},
	{"impersonatedUser", []data.FieldType{data.FieldTypeString}},
	{"sourceIP", []data.FieldType{data.FieldTypeString}},
	{"userAgent", []data.FieldType{data.FieldTypeString}},
	{"apiGroup", []data.FieldType{data.FieldTypeString}},
	{"resource", []data.FieldType{data.FieldTypeString}},
	{"subresource", []data.FieldType{data.FieldTypeString}},
	{"namespace", []data.FieldType{data.FieldTypeString}},
	{"name", []data.FieldType{data.FieldTypeString}},
	{"code", []data.FieldType{data.FieldTypeNullableInt64}},
	{"decision", []data.FieldType{data.FieldTypeString}},
	{"reason", []data.FieldType{data.FieldTypeString}},
	{"latency", []data.FieldType{data.FieldTypeNullableFloat64}},
	{"requestURI", []data.FieldType{data.FieldTypeString}},
	{"auditID", []data.FieldType{data.FieldTypeString}},
	{"annotations", []data.FieldType{data.FieldTypeJSON, data.FieldTypeNullableJSON, data.FieldTypeString}},
	{"raw", []data.FieldType{data.FieldTypeJSON}},
}

func checkEventsTable(f refFilter) func(*testing.T, *model, *pluginv2.DataResponse) {
	return func(t *testing.T, m *model, r *pluginv2.DataResponse) {
		want := newestFirst(m.selectEvents(f))
		if len(want) == 0 {
			t.Fatalf("the filter %+v matches no fixture event: pick another", f)
		}
		frame := oneFrame(t, frames(t, r))
		var names []string
		for _, c := range eventTableColumns {
			names = append(names, c.name)
			wantType(t, field(t, frame, c.name), c.types...)
		}
		if len(frame.Fields) != len(eventTableColumns) {
			t.Errorf("%d columns, want %d: %s", len(frame.Fields), len(eventTableColumns), frameSummary(data.Frames{frame}))
		}
		if rowLen(frame) != len(want) {
			t.Fatalf("%d rows, want %d", rowLen(frame), len(want))
		}
		col := func(name string, i int) string {
			fld := field(t, frame, name)
			switch name {
			case "time":
				return timeAt(t, fld, i).Format(time.RFC3339Nano)
			case "code":
				v, _ := floatAt(t, fld, i) // the type check above reports a nullable code
				return strconv.Itoa(int(v))
			case "latency":
				if v, ok := floatAt(t, fld, i); ok {
					return strconv.FormatFloat(v, 'f', 6, 64)
				}
				return "null"
			}
			return stringAt(t, fld, i)
		}
		var got, exp []string
		for i, e := range want {
			if tm := timeAt(t, field(t, frame, "time"), i); !tm.Equal(e.time) {
				t.Errorf("row %d at %s, want %s (newest first)", i, tm.Format(time.RFC3339Nano), e.time.Format(time.RFC3339Nano))
			}
			var row []string
			for _, c := range []string{"time", "auditID", "stage", "level", "verb", "user", "resource", "namespace", "name",
				"subresource", "apiGroup", "sourceIP", "userAgent", "code", "decision", "reason", "latency", "requestURI"} {
				row = append(row, col(c, i))
			}
			got = append(got, strings.Join(row, " | "))
			lat := "null"
			if l, ok := e.latency(); ok {
				lat = strconv.FormatFloat(l, 'f', 6, 64)
			}
			exp = append(exp, strings.Join([]string{
				e.time.Format(time.RFC3339Nano), e.AuditID, e.Stage, e.Level, e.Verb, e.User.Username, e.ref("resource"),
				e.ref("namespace"), e.ref("name"), e.ref("subresource"), e.ref("apiGroup"), e.sourceIP(), e.UserAgent,
				strconv.Itoa(e.code()), e.Annotations["authorization.k8s.io/decision"], e.reason(), lat, e.RequestURI,
			}, " | "))
		}
		sort.Strings(got)
		sort.Strings(exp)
		for i := range exp {
			if got[i] != exp[i] {
				t.Errorf("row (time | auditID | stage | level | verb | user | resource | namespace | name | subresource | apiGroup | sourceIP | userAgent | code | decision | reason | latency | requestURI)\n got  %s\n want %s", got[i], exp[i])
			}
		}
	}
}

// --- resources -------------------------------------------------------------------------------

func TestResources(t *testing.T) {
	h := startPlugin(t)
	ds := testDatasource()
	m := loadModel(t, rangeFrom, rangeTo)

	t.Run("dimensions", func(t *testing.T) {
		code, body := h.callResource(t, ds, "dimensions", nil)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		var dims []struct {
			Name  string `json:"name"`
			Label string `json:"label"`
		}
		if err := json.Unmarshal(body, &dims); err != nil {
			t.Fatalf("body is not [{name, label}]: %v: %s", err, body)
		}
		got := map[string]bool{}
		for _, d := range dims {
			if d.Label == "" {
				t.Errorf("dimension %q has no label", d.Name)
			}
			got[d.Name] = true
		}
		for _, name := range []string{"verb", "user.username", "user.groups", "objectRef.resource", "objectRef.namespace",
			"objectRef.name", "objectRef.subresource", "objectRef.apiGroup", "objectRef.apiVersion", "responseStatus.code",
			"userAgent", "sourceIPs", "stage", "level", "decision", "userKind", "impersonatedUser.username"} {
			if !got[name] {
				t.Errorf("dimension %q missing from %s", name, body)
			}
		}
	})

	t.Run("values", func(t *testing.T) {
		params := url.Values{
			"dim":   {"verb"},
			"from":  {strconv.FormatInt(rangeFrom.UnixMilli(), 10)},
			"to":    {strconv.FormatInt(rangeTo.UnixMilli(), 10)},
			"limit": {"100"},
		}
		code, body := h.callResource(t, ds, "values", params)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		var values []struct {
			Value string `json:"value"`
			Count int    `json:"count"`
		}
		if err := json.Unmarshal(body, &values); err != nil {
			t.Fatalf("body is not [{value, count}]: %v: %s", err, body)
		}
		want := countBy(m.selectEvents(refFilter{}), "verb")
		if len(want) < 3 {
			t.Fatalf("only %d verbs in the fixtures", len(want))
		}
		got := map[string]int{}
		prev := math.MaxInt
		for _, v := range values {
			if v.Count > prev {
				t.Errorf("%q (%d) after a count of %d: not ordered by count", v.Value, v.Count, prev)
			}
			prev = v.Count
			got[noneValue(v.Value)] = v.Count
		}
		for v, n := range want {
			if v == "" {
				// A missing verb may or may not be offered as a variable value; if it is, its
				// count must be right.
				if c, ok := got[""]; ok && c != n {
					t.Errorf("(none): count %d, want %d", c, n)
				}
				continue
			}
			if got[v] != n {
				t.Errorf("verb %q: count %d, want %d", v, got[v], n)
			}
		}
		for v := range got {
			if _, ok := want[v]; !ok {
				t.Errorf("unexpected value %q", v)
			}
		}
	})
}

// TestFixtureLayout guards the harness itself: the log directory holds what the other tests
// assume.
func TestFixtureLayout(t *testing.T) {
	m := loadModel(t, rangeFrom, rangeTo)
	var before, after, none int
	for _, e := range m.events {
		switch {
		case e.time.IsZero():
			none++
		case e.time.Before(rotatedBefore):
			before++
		default:
			after++
		}
	}
	t.Logf("%d fixture events: %d in %s, %d in %s, %d without a time", len(m.events), before, rotatedName, after+none, activeName, none)
	if before == 0 || after == 0 {
		t.Errorf("both files must hold events (rotated %d, active %d)", before, after)
	}
	evs := m.selectEvents(refFilter{})
	t.Logf("%d requests in range; verbs %v", len(evs), ranked(countBy(evs, "verb")))
}

package plugin

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// frameTypeHeatmapRows is the heatmap-rows frame type of the data plane contract.
const frameTypeHeatmapRows data.FrameType = "heatmap-rows"

// toFrames turns an engine result into the frames of the query model (docs/query-model.md).
func toFrames(q *query.Query, r *engine.Result) data.Frames {
	f := buildFrame(q, r) // frames_<name>.go
	for _, n := range r.Notices {
		sev := data.NoticeSeverityInfo
		if n.Severity == engine.Warning {
			sev = data.NoticeSeverityWarning
		}
		f.AppendNotices(data.Notice{Severity: sev, Text: n.Text})
	}
	if f.Meta == nil {
		f.Meta = &data.FrameMeta{}
	}
	f.Meta.Stats = queryStats(r.Stats)
	return data.Frames{f}
}

// queryStats are what the query read, shown in the query inspector's Stats tab: lines and
// bytes read and, for files, how many segments were answered from the cache or the index.
func queryStats(st engine.Stats) []data.QueryStat {
	stat := func(name, unit string, v float64) data.QueryStat {
		return data.QueryStat{FieldConfig: data.FieldConfig{DisplayName: name, Unit: unit}, Value: v}
	}
	out := []data.QueryStat{
		stat("Lines read", "short", float64(st.Source.LinesRead)),
		stat("Bytes read", "decbytes", float64(st.Source.BytesRead)),
		stat("Events matched", "short", float64(st.Matched)),
	}
	if s := st.Segments; s.Total > 0 {
		out = append(out,
			stat("Segments", "short", float64(s.Total)),
			stat("Segments from cache", "short", float64(s.Cached)),
			// Of those, answered by what another query of the same question finished.
			stat("Segments shared", "short", float64(s.Shared)),
			stat("Segments extended", "short", float64(s.Extended)),
			stat("Segments from index", "short", float64(s.Indexed)),
			stat("Segments read", "short", float64(s.Scanned)),
			stat("Bytes answered from cache", "decbytes", float64(s.BytesCached)),
			stat("Index bytes read", "decbytes", float64(s.IndexBytes)),
			// Of the segments the range cuts, the index blocks answered by kept partials.
			stat("Index blocks from cache", "short", float64(s.BlocksCached)),
			stat("Lines read back", "short", float64(s.LinesReadBack)),
		)
	}
	return out
}

func withMeta(f *data.Frame, typ data.FrameType, version data.FrameTypeVersion) *data.Frame {
	if f.Meta == nil {
		f.Meta = &data.FrameMeta{}
	}
	f.Meta.Type = typ
	f.Meta.TypeVersion = version
	return f
}

func seriesFrame(s *engine.SeriesResult) *data.Frame {
	f := data.NewFrame("", data.NewField("time", nil, s.Times))
	for _, ser := range s.Series {
		labels := data.Labels{}
		for _, l := range ser.Labels {
			labels[l.Name] = l.Value
		}
		vals := make([]*float64, len(ser.Values))
		for i, v := range ser.Values {
			if !math.IsNaN(v) {
				vals[i] = &v
			}
		}
		field := data.NewField(ser.Name, labels, vals)
		field.Config = &data.FieldConfig{Unit: cmp.Or(s.Unit, unitCount)}
		f.Fields = append(f.Fields, field)
	}
	withMeta(f, data.FrameTypeTimeSeriesWide, data.FrameTypeVersion{0, 1})
	f.Meta.Custom = map[string]any{"intervalMs": s.Step.Milliseconds()}
	return f
}

// heatmapFrame is one field of request counts per latency bucket. Each bucket is named by its
// upper bound in seconds and carries it as an `le` label, so Grafana's heatmap draws the cells
// below their bound (as for Prometheus histograms) whatever the panel's layout; its display
// name is the bound with its unit ("5 ms", "+Inf"), so any panel reads the buckets without a
// y-axis unit of its own.
func heatmapFrame(h *engine.HeatmapResult) *data.Frame {
	f := data.NewFrame("", data.NewField("time", nil, h.Times))
	for i, b := range h.Bounds {
		name := strconv.FormatFloat(b, 'f', -1, 64)
		if math.IsInf(b, 1) {
			name = "+Inf"
		}
		field := data.NewField(name, data.Labels{"le": name}, h.Counts[i])
		field.Config = &data.FieldConfig{Unit: unitCount, DisplayNameFromDS: boundName(b)}
		f.Fields = append(f.Fields, field)
	}
	return withMeta(f, frameTypeHeatmapRows, data.FrameTypeVersion{0, 0})
}

func deniedFrame(d *engine.DeniedResult) *data.Frame {
	n := len(d.Rows)
	times := make([]time.Time, n)
	cols := make([][]string, 11)
	for i := range cols {
		cols[i] = make([]string, n)
	}
	codes := make([]int64, n)
	for i, r := range d.Rows {
		times[i] = r.Time
		for j, v := range []string{r.User, r.Groups, r.Verb, r.Resource, r.Namespace, r.Name, r.Subresource, r.Reason, r.SourceIP, r.UserAgent, r.AuditID} {
			cols[j][i] = v
		}
		codes[i] = int64(r.Code)
	}
	f := data.NewFrame("denied",
		data.NewField("time", nil, times),
		data.NewField("user", nil, cols[0]),
		data.NewField("groups", nil, cols[1]),
		data.NewField("verb", nil, cols[2]),
		data.NewField("resource", nil, cols[3]),
		data.NewField("namespace", nil, cols[4]),
		data.NewField("name", nil, cols[5]),
		data.NewField("subresource", nil, cols[6]),
		data.NewField("code", nil, codes),
		data.NewField("reason", nil, cols[7]),
		data.NewField("sourceIP", nil, cols[8]),
		data.NewField("userAgent", nil, cols[9]),
		data.NewField("auditID", nil, cols[10]),
	)
	return withMeta(f, data.FrameTypeTable, data.FrameTypeVersion{0, 0})
}

func matrixFrame(m *engine.MatrixResult) *data.Frame {
	f := data.NewFrame("matrix", data.NewField(m.RowDim, nil, m.Rows))
	for j, c := range m.Cols {
		vals := make([]int64, len(m.Rows))
		for i := range m.Rows {
			vals[i] = m.Cells[i][j]
		}
		f.Fields = append(f.Fields, data.NewField(c, nil, vals).SetConfig(countConfig()))
	}
	f.Fields = append(f.Fields, data.NewField("total", nil, m.RowTotals).SetConfig(countConfig()))
	return withMeta(f, data.FrameTypeTable, data.FrameTypeVersion{0, 0})
}

func topNFrame(t *engine.TopNResult) *data.Frame {
	f := data.NewFrame("topn")
	for i, dim := range t.Dims {
		vals := make([]string, len(t.Rows))
		for j, r := range t.Rows {
			vals[j] = r.Values[i]
		}
		f.Fields = append(f.Fields, data.NewField(dim, nil, vals))
	}
	req := make([]int64, len(t.Rows))
	errs := make([]int64, len(t.Rows))
	den := make([]int64, len(t.Rows))
	p99 := make([]*float64, len(t.Rows))
	for i, r := range t.Rows {
		req[i], errs[i], den[i] = r.Requests, r.Errors, r.Denied
		if r.HasP99 {
			v := r.P99
			p99[i] = &v
		}
	}
	f.Fields = append(f.Fields,
		data.NewField("requests", nil, req).SetConfig(countConfig()),
		data.NewField("errors", nil, errs).SetConfig(countConfig()),
		data.NewField("denied", nil, den).SetConfig(countConfig()),
		data.NewField("p99", nil, p99).SetConfig(&data.FieldConfig{Unit: "s"}),
	)
	return withMeta(f, data.FrameTypeTable, data.FrameTypeVersion{0, 0})
}

// severity maps a response code to a log level.
func severity(code int) string {
	switch {
	case code >= 500:
		return "error"
	case code >= 400:
		return "warning"
	}
	return "info"
}

// body is the readable line shown in Explore: "403 get pods default/web-1 by alice (forbid)".
func body(e *audit.Record) string {
	var b strings.Builder
	if e.Code != 0 {
		fmt.Fprintf(&b, "%d ", e.Code)
	}
	b.Write(e.Verb())
	resource, sub := e.Resource(), e.Subresource()
	ns, name := e.Str(audit.FieldNamespace), e.Str(audit.FieldName)
	if len(resource) > 0 {
		b.WriteString(" ")
		b.Write(resource)
		if len(sub) > 0 {
			b.WriteString("/")
			b.Write(sub)
		}
		switch {
		case len(ns) > 0 && len(name) > 0:
			b.WriteString(" " + string(ns) + "/" + string(name))
		case len(ns) > 0:
			b.WriteString(" in " + string(ns))
		case len(name) > 0:
			b.WriteString(" " + string(name))
		}
	} else if uri := e.Str(audit.FieldRequestURI); len(uri) > 0 {
		b.WriteString(" " + string(uri))
	}
	user := string(e.Username())
	if user == "" {
		user = "(unauthenticated)"
	}
	b.WriteString(" by " + user)
	if imp := e.ImpersonatedUsername(); len(imp) > 0 {
		b.WriteString(" as " + string(imp))
	}
	if x, ok := e.Exec(); ok && len(x.Command) > 0 {
		b.WriteString(": " + x.CommandLine())
	}
	if d := e.Decision(); len(d) > 0 {
		b.WriteString(" (" + string(d) + ")")
	}
	if st := string(e.Stage()); st != audit.StageResponseComplete && st != "" {
		b.WriteString(" [" + st + "]")
	}
	return b.String()
}

func logsFrame(ev *engine.EventsResult) *data.Frame {
	n := len(ev.Events)
	ts := make([]time.Time, n)
	bodies := make([]string, n)
	sev := make([]string, n)
	ids := make([]string, n)
	labels := make([]json.RawMessage, n)
	seen := make(map[string]int, n)
	for i, e := range ev.Events {
		ts[i] = e.Time
		bodies[i] = body(e)
		sev[i] = severity(e.Code)
		auditID, stage := string(e.Str(audit.FieldAuditID)), string(e.Stage())
		// Grafana tells log rows apart by id: the same event can occur twice (copied logs,
		// replayed pipelines), so repeats get a suffix.
		id := auditID + "/" + stage
		if k := seen[id]; k > 0 {
			seen[id] = k + 1
			id += "#" + strconv.Itoa(k+1)
		} else {
			seen[id] = 1
		}
		ids[i] = id
		lb := map[string]string{
			"verb": string(e.Verb()), "user": string(e.Username()), "userKind": string(e.UserKind()),
			"stage": stage, "level": string(e.Str(audit.FieldLevel)), "auditID": auditID,
		}
		for k, v := range map[string][]byte{"namespace": e.Str(audit.FieldNamespace), "resource": e.Resource(), "subresource": e.Subresource(),
			"name": e.Str(audit.FieldName), "apiGroup": e.Str(audit.FieldAPIGroup), "decision": e.Decision(), "sourceIP": e.SourceIP(),
			"userAgent": e.Str(audit.FieldUserAgent)} {
			if len(v) > 0 {
				lb[k] = string(v)
			}
		}
		if e.Code != 0 {
			lb["code"] = strconv.Itoa(e.Code)
		}
		if d, ok := e.Latency(); ok {
			lb["latency"] = d.String()
		}
		labels[i], _ = json.Marshal(lb)
	}
	f := data.NewFrame("events",
		data.NewField("timestamp", nil, ts),
		data.NewField("body", nil, bodies),
		data.NewField("severity", nil, sev),
		data.NewField("id", nil, ids),
		data.NewField("labels", nil, labels),
		data.NewField("raw", nil, rawStrings(ev.Events)),
	)
	withMeta(f, data.FrameTypeLogLines, data.FrameTypeVersion{0, 0})
	f.Meta.PreferredVisualization = data.VisTypeLogs
	return f
}

func eventsTableFrame(ev *engine.EventsResult) *data.Frame {
	n := len(ev.Events)
	ts := make([]time.Time, n)
	names := []string{"stage", "level", "verb", "user", "userKind", "groups", "impersonatedUser", "sourceIP",
		"userAgent", "apiGroup", "resource", "subresource", "namespace", "name", "decision", "reason", "requestURI", "auditID"}
	cols := make([][]string, len(names))
	for i := range cols {
		cols[i] = make([]string, n)
	}
	codes := make([]*int64, n)
	lat := make([]*float64, n)
	ann := make([]json.RawMessage, n)
	for i, e := range ev.Events {
		ts[i] = e.Time
		for j, v := range [][]byte{e.Stage(), e.Str(audit.FieldLevel), e.Verb(), e.Username(), []byte(e.UserKind()),
			[]byte(strings.Join(e.Groups(), ",")), e.ImpersonatedUsername(), e.SourceIP(), e.Str(audit.FieldUserAgent),
			e.Str(audit.FieldAPIGroup), e.Resource(), e.Subresource(), e.Str(audit.FieldNamespace), e.Str(audit.FieldName),
			e.Decision(), e.Reason(), e.Str(audit.FieldRequestURI), e.Str(audit.FieldAuditID)} {
			cols[j][i] = string(v)
		}
		if e.Code != 0 {
			v := int64(e.Code)
			codes[i] = &v
		}
		if d, ok := e.Latency(); ok {
			v := d.Seconds()
			lat[i] = &v
		}
		ann[i], _ = json.Marshal(e.AnnotationMap())
	}
	f := data.NewFrame("events", data.NewField("time", nil, ts))
	for j, name := range names[:15] {
		f.Fields = append(f.Fields, data.NewField(name, nil, cols[j]))
	}
	f.Fields = append(f.Fields, data.NewField("code", nil, codes))
	f.Fields = append(f.Fields, data.NewField(names[15], nil, cols[15]))
	f.Fields = append(f.Fields, data.NewField("latency", nil, lat).SetConfig(&data.FieldConfig{Unit: "s"}))
	f.Fields = append(f.Fields, data.NewField(names[16], nil, cols[16]), data.NewField(names[17], nil, cols[17]))
	f.Fields = append(f.Fields, data.NewField("annotations", nil, ann))
	f.Fields = append(f.Fields, data.NewField("raw", nil, rawJSON(ev.Events)))
	return withMeta(f, data.FrameTypeTable, data.FrameTypeVersion{0, 0})
}

func slowestFrame(s *engine.SlowestResult) *data.Frame {
	n := len(s.Rows)
	times := make([]time.Time, n)
	names := []string{"verb", "resource", "subresource", "namespace", "name", "user", "auditID"}
	cols := make([][]string, len(names))
	for i := range cols {
		cols[i] = make([]string, n)
	}
	codes := make([]int64, n)
	totals := make([]float64, n)
	parts := make([][]*float64, len(engine.BreakdownNames()))
	for i := range parts {
		parts[i] = make([]*float64, n)
	}
	for i, r := range s.Rows {
		times[i], codes[i], totals[i] = r.Time, int64(r.Code), r.Total
		for j, v := range []string{r.Verb, r.Resource, r.Subresource, r.Namespace, r.Name, r.User, r.AuditID} {
			cols[j][i] = v
		}
		for j, v := range r.Parts {
			if !math.IsNaN(v) {
				parts[j][i] = &v
			}
		}
	}
	seconds := &data.FieldConfig{Unit: "s"}
	f := data.NewFrame("slowest", data.NewField("time", nil, times))
	for j, name := range names[:6] {
		f.Fields = append(f.Fields, data.NewField(name, nil, cols[j]))
	}
	f.Fields = append(f.Fields, data.NewField("code", nil, codes), data.NewField("total", nil, totals).SetConfig(seconds))
	for j, name := range engine.BreakdownNames() {
		f.Fields = append(f.Fields, data.NewField(name, nil, parts[j]).SetConfig(seconds))
	}
	f.Fields = append(f.Fields, data.NewField("auditID", nil, cols[6]))
	return withMeta(f, data.FrameTypeTable, data.FrameTypeVersion{0, 0})
}

func deprecatedFrame(d *engine.DeprecatedResult) *data.Frame {
	f := data.NewFrame("deprecated")
	for i, dim := range d.Dims {
		vals := make([]string, len(d.Rows))
		for j, r := range d.Rows {
			vals[j] = r.Values[i]
		}
		f.Fields = append(f.Fields, data.NewField(dim, nil, vals))
	}
	removed := make([]string, len(d.Rows))
	reqs := make([]int64, len(d.Rows))
	last := make([]time.Time, len(d.Rows))
	for i, r := range d.Rows {
		removed[i], reqs[i], last[i] = r.RemovedRelease, r.Requests, r.LastSeen
	}
	f.Fields = append(f.Fields, data.NewField("removedRelease", nil, removed),
		data.NewField("requests", nil, reqs).SetConfig(countConfig()), data.NewField("lastSeen", nil, last))
	return withMeta(f, data.FrameTypeTable, data.FrameTypeVersion{0, 0})
}

func findingsFrame(d *engine.DetectionsResult) *data.Frame {
	n := len(d.Findings)
	times, first, last := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	counts := make([]int64, n)
	names := []string{"rule", "title", "severity", "user", "sourceIP", "userAgent", "verb", "resource", "namespace", "name", "image", "detail", "auditID"}
	cols := make([][]string, len(names))
	for i := range cols {
		cols[i] = make([]string, n)
	}
	for i, f := range d.Findings {
		times[i], first[i], last[i], counts[i] = f.Time, f.FirstSeen, f.LastSeen, int64(f.Count)
		for j, v := range []string{f.RuleID, f.Title, string(f.Severity), f.User, f.SourceIP, f.UserAgent, f.Verb, f.Resource, f.Namespace, f.Name,
			strings.Join(f.Images, ", "), f.Detail, f.AuditID} {
			cols[j][i] = v
		}
	}
	// time is the last occurrence (a row folds repeats: detect.Group), so annotations and
	// "last finding" columns read it as before; count, firstSeen and lastSeen say how often and
	// since when.
	fr := data.NewFrame("findings", data.NewField("time", nil, times))
	for j, name := range names {
		fr.Fields = append(fr.Fields, data.NewField(name, nil, cols[j]))
		if name == "severity" {
			fr.Fields = append(fr.Fields, data.NewField("count", nil, counts).SetConfig(&data.FieldConfig{Unit: "short"}),
				data.NewField("firstSeen", nil, first), data.NewField("lastSeen", nil, last))
		}
	}
	return withMeta(fr, data.FrameTypeTable, data.FrameTypeVersion{0, 0})
}

func historyFrame(h *engine.HistoryResult) *data.Frame {
	n := len(h.Rows)
	times := make([]time.Time, n)
	codes := make([]*int64, n)
	names := []string{"user", "verb", "resource", "subresource", "namespace", "name", "decision", "change", "level", "userAgent", "sourceIP", "auditID"}
	cols := make([][]string, len(names))
	for i := range cols {
		cols[i] = make([]string, n)
	}
	for i, r := range h.Rows {
		times[i] = r.Time
		if r.Code != 0 {
			c := int64(r.Code)
			codes[i] = &c
		}
		for j, v := range []string{r.User, r.Verb, r.Resource, r.Subresource, r.Namespace, r.Name, r.Decision, r.Change, r.Level, r.UserAgent, r.SourceIP, r.AuditID} {
			cols[j][i] = v
		}
	}
	f := data.NewFrame("history", data.NewField("time", nil, times))
	for j, name := range names[:2] {
		f.Fields = append(f.Fields, data.NewField(name, nil, cols[j]))
	}
	f.Fields = append(f.Fields, data.NewField("code", nil, codes))
	for j, name := range names[2:] {
		f.Fields = append(f.Fields, data.NewField(name, nil, cols[j+2]))
	}
	return withMeta(f, data.FrameTypeTable, data.FrameTypeVersion{0, 0})
}

func pipelineFrame(p *engine.PipelineResult) *data.Frame {
	n := len(p.Rows)
	origins := make([]string, n)
	formats := make([]string, n) // the line format detected in the origin (package envelope)
	counts := make([][]int64, 4)
	for i := range counts {
		counts[i] = make([]int64, n)
	}
	first := make([]*time.Time, n)
	last := make([]*time.Time, n)
	gaps := make([]float64, n)
	lagP50 := make([]*float64, n)
	lagMax := make([]*float64, n)
	for i, r := range p.Rows {
		if r.HasLag {
			p50, mx := r.LagP50.Seconds(), r.LagMax.Seconds()
			lagP50[i], lagMax[i] = &p50, &mx
		}
		origins[i], formats[i] = r.Origin, r.Format
		for j, v := range []int64{r.Events, r.Requests, r.Malformed, r.Truncated} {
			counts[j][i] = v
		}
		if !r.First.IsZero() {
			f, l := r.First, r.Last
			first[i], last[i] = &f, &l
		}
		gaps[i] = r.LongestGap.Seconds()
	}
	f := data.NewFrame("pipeline",
		data.NewField("origin", nil, origins),
		data.NewField("format", nil, formats),
		data.NewField("events", nil, counts[0]).SetConfig(countConfig()),
		data.NewField("requests", nil, counts[1]).SetConfig(countConfig()),
		data.NewField("malformed", nil, counts[2]).SetConfig(countConfig()),
		data.NewField("truncated", nil, counts[3]).SetConfig(countConfig()),
		data.NewField("first", nil, first),
		data.NewField("last", nil, last),
		data.NewField("longestGap", nil, gaps).SetConfig(&data.FieldConfig{Unit: "s"}),
		data.NewField("lagP50", nil, lagP50).SetConfig(&data.FieldConfig{Unit: "s"}),
		data.NewField("lagMax", nil, lagMax).SetConfig(&data.FieldConfig{Unit: "s"}),
	)
	return withMeta(f, data.FrameTypeTable, data.FrameTypeVersion{0, 0})
}

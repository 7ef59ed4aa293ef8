package plugin

import (
	"math"
	"strconv"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/engine"
)

// unitCount is the unit of request, event and finding counts: Grafana's "short" (1.2 K).
const unitCount = "short"

// countConfig is the field config of a column of counts.
func countConfig() *data.FieldConfig { return &data.FieldConfig{Unit: unitCount} }

// labelledSeries is series with a legend for each series (displayNameFromDS): its label values
// ("get", "alice get"), after the quantile for percentiles ("p99 update"), or what it counts when
// it has no labels ("requests", "p99"). Grafana would otherwise show the field name and the
// labels ("count get", `p99 {quantile="0.99", verb="update"}`). The labels stay as they are:
// alert rules and label-based overrides read them.
func labelledSeries(r *engine.Result) *data.Frame {
	f := series(r)
	if f == nil {
		return nil
	}
	for i, s := range r.Series.Series {
		field := f.Fields[i+1] // after time
		if field.Config == nil {
			field.Config = &data.FieldConfig{}
		}
		field.Config.DisplayNameFromDS = seriesDisplayName(s)
	}
	return f
}

// seriesDisplayName is the legend of one series (see labelledSeries).
func seriesDisplayName(s engine.Series) string {
	var values []string
	quantile, other := false, true
	for _, l := range s.Labels {
		switch {
		case l.Name == "quantile":
			quantile = true
		case l.Value == s.Name: // latencyBreakdown: the component is the series' name
		default:
			values = append(values, l.Value)
			other = other && l.Value == engine.Other
		}
	}
	if other && len(values) > 1 {
		values = values[:1] // the sum beyond the limit: "other", not "other other"
	}
	name := s.Name
	switch {
	case quantile:
		return strings.Join(append([]string{name}, values...), " ")
	case len(values) > 0:
		return strings.Join(values, " ")
	case name == "count" || name == "rate":
		return "requests"
	}
	return name
}

// boundName is a latency bucket's upper bound (seconds) as Grafana's "s" unit shows it: 5 ms,
// 2.5 s, 1 min; +Inf for the last bucket.
func boundName(sec float64) string {
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	switch {
	case sec > 1e300:
		return "+Inf"
	case sec < 1:
		return num(math.Round(sec*1e6)/1e3) + " ms"
	case sec < 60:
		return num(sec) + " s"
	}
	return num(sec/60) + " min"
}

package query

// latency: exact percentiles of request latency over time, or a latency heatmap.
func init() {
	register(&TypeSpec{
		Type:        TypeLatency,
		Label:       "Latency",
		Description: "Request latency percentiles over time, or a latency heatmap.",
		Order:       20,
		Formats:     []string{FormatTimeSeries, FormatHeatmap},
		Limits:      Limits{DefaultLimit: 10, MaxLimit: 500, LimitOf: "series", Quantiles: &QuantileBounds},
		Defaults:    Defaults{Quantiles: []float64{0.5, 0.9, 0.99}},
	})
}

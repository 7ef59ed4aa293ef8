package query

// latencyBreakdown: where slow requests spend their time, or the slowest requests.
func init() {
	register(&TypeSpec{
		Type:        TypeLatencyBreakdown,
		Label:       "Latency breakdown",
		Description: "Where slow requests spend their time (etcd, webhooks, queueing...), or the slowest requests.",
		Order:       80,
		Formats:     []string{FormatTimeSeries, FormatTable},
		Limits:      Limits{DefaultLimit: 20, MaxLimit: 5000, LimitOf: "slowest requests"},
	})
}

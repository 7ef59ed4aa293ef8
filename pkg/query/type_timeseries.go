package query

// timeseries: requests per interval (count) or per second (rate), split by groupBy.
func init() {
	register(&TypeSpec{
		Type:        TypeTimeSeries,
		Label:       "Requests",
		Description: "Request count or rate over time, split by dimensions.",
		Order:       10,
		Metrics:     []string{MetricCount, MetricRate},
		Limits:      Limits{DefaultLimit: 10, MaxLimit: 500, LimitOf: "series"},
		Defaults:    Defaults{Metric: MetricCount},
		validate: func(q *Query) error {
			if q.Metric != MetricCount && q.Metric != MetricRate {
				return errorf("unknown metric %q: use count or rate", q.Metric)
			}
			return nil
		},
	})
}

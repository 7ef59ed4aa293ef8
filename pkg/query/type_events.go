package query

// events: the matching events, newest first, as log lines or a table.
func init() {
	register(&TypeSpec{
		Type:        TypeEvents,
		Label:       "Events",
		Description: "Matching audit events, newest first, as logs or a table.",
		Order:       60,
		Formats:     []string{FormatLogs, FormatTable},
		Limits:      Limits{DefaultLimit: 100, MaxLimit: 5000, LimitOf: "events"},
	})
}

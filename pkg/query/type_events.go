package query

import "strings"

// events: the matching events, newest first, as log lines or a table.
func init() {
	register(&TypeSpec{
		Type:        TypeEvents,
		Label:       "Events",
		Description: "Matching audit events, newest first, as logs or a table.",
		Order:       60,
		Formats:     []string{FormatLogs, FormatTable},
		Limits:      Limits{DefaultLimit: 100, MaxLimit: 5000, LimitOf: "events"},
		validate: func(q *Query) error {
			for _, id := range q.AuditIDs {
				if strings.ContainsAny(id, "*!") {
					return errorf("auditIDs are matched exactly: %q has a glob or a negation, which they do not take", id)
				}
			}
			return nil
		},
	})
}

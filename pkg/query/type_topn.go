package query

// topn: the top values of groupBy by requests, with errors, denials and p99.
func init() {
	register(&TypeSpec{
		Type:        TypeTopN,
		Label:       "Top N",
		Description: "Top values of a dimension by requests, errors, denials and p99.",
		Order:       40,
		Limits:      Limits{DefaultLimit: 10, MaxLimit: 1000, LimitOf: "rows"},
		Defaults:    Defaults{GroupBy: StringList{"user.username"}},
	})
}

package query

// Orders of topn rows (sortBy): the limit keeps the first rows of this order.
const (
	SortRequests = "requests"
	SortErrors   = "errors"
	SortDenied   = "denied"
	SortP99      = "p99"
)

// topn: the top values of groupBy by requests (or errors, denials, p99), with errors, denials
// and p99.
func init() {
	register(&TypeSpec{
		Type:        TypeTopN,
		Label:       "Top N",
		Description: "Top values of a dimension by requests, errors, denials or p99.",
		Order:       40,
		SortBy:      []string{SortRequests, SortErrors, SortDenied, SortP99},
		Limits:      Limits{DefaultLimit: 10, MaxLimit: 1000, LimitOf: "rows"},
		Defaults:    Defaults{GroupBy: StringList{"user.username"}},
	})
}

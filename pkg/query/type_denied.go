package query

// denied: every 401/403 request, newest first.
func init() {
	register(&TypeSpec{
		Type:        TypeDenied,
		Label:       "Denied",
		Description: "Every 401/403 request, newest first, with the reason.",
		Order:       30,
		Limits:      Limits{DefaultLimit: 100, MaxLimit: 10000, LimitOf: "rows"},
	})
}

package query

import "slices"

// DefaultDeprecatedGroupBy says who uses which deprecated API: the client, the user and the
// group/version/resource.
var DefaultDeprecatedGroupBy = StringList{"userAgent", "user.username", "objectRef.apiGroup", "objectRef.apiVersion", "objectRef.resource"}

// deprecatedApis: who still calls deprecated APIs, and the release that removes them.
func init() {
	register(&TypeSpec{
		Type:        TypeDeprecatedAPIs,
		Label:       "Deprecated APIs",
		Description: "Who still calls deprecated APIs, and the release that removes them.",
		Order:       90,
		Limits:      Limits{DefaultLimit: 100, MaxLimit: 5000, LimitOf: "rows"},
		Defaults:    Defaults{GroupBy: slices.Clone(DefaultDeprecatedGroupBy)},
	})
}

package query

// objectHistory: every action on one object, or on all objects of a kind in a namespace.
func init() {
	register(&TypeSpec{
		Type:        TypeObjectHistory,
		Label:       "Object history",
		Description: "Every action on one object (filter its name), oldest first, with what changed.",
		Order:       100,
		Limits:      Limits{DefaultLimit: 1000, MaxLimit: 10000, LimitOf: "actions"},
		validate: func(q *Query) error {
			if len(q.Filter.Names) == 0 && (len(q.Filter.Resources) == 0 || len(q.Filter.Namespaces) == 0) {
				return errorf("objectHistory needs the object: filter names (with resources and namespaces to be exact), or a resource and a namespace for all its objects")
			}
			return nil
		},
	})
}

package query

// matrix: request counts of one dimension (rows) against another (columns).
func init() {
	register(&TypeSpec{
		Type:        TypeMatrix,
		Label:       "Matrix",
		Description: "Request counts of one dimension against another (who did what).",
		Order:       50,
		Limits:      Limits{DefaultLimit: 10, MaxLimit: 100, LimitOf: "values on each axis"},
		Defaults:    Defaults{Rows: "user.username", Columns: "objectRef.resource"},
		validate: func(q *Query) error {
			for _, p := range []*string{&q.Rows, &q.Columns} {
				d, ok := LookupDimension(*p)
				if !ok {
					return errorf("unknown dimension %q in matrix", *p)
				}
				*p = d.Name
			}
			if q.Rows == q.Columns {
				return errorf("matrix rows and columns must be different dimensions (both are %q)", q.Rows)
			}
			return nil
		},
	})
}

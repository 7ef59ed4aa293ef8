package query

// compileSearch sets up the filter's text search.
func (m *Matcher) compileSearch(f *Filter) {
	if f.Search != "" {
		m.search = []byte(f.Search)
	}
}

// validateSearch checks the filter's search options.
func (f *Filter) validateSearch() error { return nil }

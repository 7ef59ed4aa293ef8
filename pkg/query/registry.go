package query

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// TypeSpec is what the query model knows about one query type: its name and description, the
// formats it answers in, its limits and defaults, and its own validation. Each type registers
// its spec from its own file (type_<name>.go); Parse applies them, GET /schema serves them and
// the query editor reads its formats and limits from there.
type TypeSpec struct {
	Type        Type
	Label       string
	Description string
	// Order is the type's place in the editor's list of types (and in Specs).
	Order int
	// Formats the type answers in, its default first. Empty when the type has one shape: the
	// query's format is then neither defaulted nor checked.
	Formats []string
	// Metrics the type counts, its default first (timeseries).
	Metrics []string
	// SortBy are the orders the type can rank its rows by before the limit, its default first
	// (topn).
	SortBy []string
	Limits Limits
	// Defaults are what Parse fills in when the query leaves them empty.
	Defaults Defaults

	// validate checks (and normalises) the type's own fields. Parse calls it after the checks
	// common to every type, the Defaults and the format, and before the limit.
	validate func(q *Query) error
}

// Limits are the bounds a query type enforces. A limit above MaxLimit is an error, not clamped.
type Limits struct {
	DefaultLimit int
	MaxLimit     int
	// LimitOf says what limit counts ("series", "rows", ...), for editors.
	LimitOf string
	// Quantiles, for types that take them: each must lie in (Min, Max].
	Quantiles *Bounds
}

// Bounds is the half-open interval (Min, Max].
type Bounds struct {
	Min, Max float64
}

// QuantileBounds are the bounds of quantiles (see parseQuantiles): fractions in (0, 1].
var QuantileBounds = Bounds{Min: 0, Max: 1}

// Defaults are the values Parse gives fields a query leaves empty.
type Defaults struct {
	Metric    string
	Quantiles []float64
	GroupBy   StringList
	Rows      string
	Columns   string
	// Stages replaces the filter's stages when it has none; empty keeps the request-final
	// default of the filter (each request counted once).
	Stages StringList
}

// DefaultFormat is the format a query of the type gets when it names none ("" when the type
// has one shape).
func (s *TypeSpec) DefaultFormat() string {
	if len(s.Formats) == 0 {
		return ""
	}
	return s.Formats[0]
}

var specs = map[Type]*TypeSpec{}

// register adds a query type's spec. It is called from the init functions of the type files;
// a type registered twice is a programming error.
func register(s *TypeSpec) {
	if _, dup := specs[s.Type]; dup {
		panic(fmt.Sprintf("query: type %q registered twice", s.Type))
	}
	specs[s.Type] = s
}

// Spec returns the spec of a query type.
func Spec(t Type) (*TypeSpec, bool) {
	s, ok := specs[t]
	return s, ok
}

// Specs lists the spec of every query type, in the editor's order.
func Specs() []*TypeSpec {
	out := make([]*TypeSpec, 0, len(specs))
	for _, s := range specs {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *TypeSpec) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), strings.Compare(string(a.Type), string(b.Type)))
	})
	return out
}

// apply fills in the type's defaults, checks its format and its own fields, and defaults and
// bounds its limit.
func (s *TypeSpec) apply(q *Query) error {
	d := s.Defaults
	if q.Metric == "" && d.Metric != "" {
		q.Metric = d.Metric
	}
	if len(s.SortBy) > 0 {
		if q.SortBy == "" {
			q.SortBy = s.SortBy[0]
		}
		if !slices.Contains(s.SortBy, q.SortBy) {
			return errorf("unknown sortBy %q for %s: use %s", q.SortBy, s.Type, strings.Join(s.SortBy, ", "))
		}
	}
	if len(q.Quantiles) == 0 && len(d.Quantiles) > 0 {
		q.Quantiles = slices.Clone(d.Quantiles)
	}
	if len(q.GroupBy) == 0 && len(d.GroupBy) > 0 {
		q.GroupBy = slices.Clone(d.GroupBy)
	}
	if q.Rows == "" && d.Rows != "" {
		q.Rows = d.Rows
	}
	if q.Columns == "" && d.Columns != "" {
		q.Columns = d.Columns
	}
	if len(q.Filter.Stages) == 0 && len(d.Stages) > 0 {
		q.Filter.Stages = slices.Clone(d.Stages)
	}
	if len(s.Formats) > 0 {
		if q.Format == "" {
			q.Format = s.Formats[0]
		}
		if !slices.Contains(s.Formats, q.Format) {
			return errorf("unknown format %q for %s: use %s", q.Format, s.Type, strings.Join(s.Formats, " or "))
		}
	}
	if s.validate != nil {
		if err := s.validate(q); err != nil {
			return err
		}
	}
	return q.limitDefault(s.Limits.DefaultLimit, s.Limits.MaxLimit)
}

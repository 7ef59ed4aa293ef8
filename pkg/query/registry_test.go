package query_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

func TestSpecsCoverTypes(t *testing.T) {
	var got []query.Type
	orders := map[int]query.Type{}
	for _, s := range query.Specs() {
		got = append(got, s.Type)
		if s.Label == "" || s.Description == "" {
			t.Errorf("%s: no label or description", s.Type)
		}
		if o, dup := orders[s.Order]; dup {
			t.Errorf("%s and %s have the same order %d", s.Type, o, s.Order)
		}
		orders[s.Order] = s.Type
		if s.Limits.DefaultLimit <= 0 || s.Limits.MaxLimit < s.Limits.DefaultLimit || s.Limits.LimitOf == "" {
			t.Errorf("%s: limits %+v", s.Type, s.Limits)
		}
		if spec, ok := query.Spec(s.Type); !ok || spec != s {
			t.Errorf("Spec(%s) = %v, %v", s.Type, spec, ok)
		}
	}
	want := slices.Clone(query.Types)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("specs of %v, want one per query type %v", got, want)
	}
	if _, ok := query.Spec("histogram"); ok {
		t.Error("Spec(histogram) found a spec")
	}
}

// typeJSON is the smallest valid query of type t.
func typeJSON(t query.Type, extra string) string {
	s := `{"queryType":"` + string(t) + `"`
	if t == query.TypeObjectHistory {
		s += `,"filter":{"names":["web-1"]}`
	}
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

// Parse applies what each spec says: default format and limit, the formats it accepts, its
// maximum limit.
func TestSpecsApply(t *testing.T) {
	for _, s := range query.Specs() {
		q := mustParse(t, typeJSON(s.Type, ""), "")
		if q.Format != s.DefaultFormat() || q.Limit != s.Limits.DefaultLimit {
			t.Errorf("%s: format %q limit %d, want %q and %d", s.Type, q.Format, q.Limit, s.DefaultFormat(), s.Limits.DefaultLimit)
		}
		d := s.Defaults
		if d.Metric != "" && q.Metric != d.Metric || len(d.Quantiles) > 0 && !slices.Equal(q.Quantiles, d.Quantiles) ||
			len(d.GroupBy) > 0 && !slices.Equal(q.GroupBy, d.GroupBy) || d.Rows != "" && q.Rows != d.Rows ||
			d.Columns != "" && q.Columns != d.Columns || len(d.Stages) > 0 && !slices.Equal(q.Filter.Stages, d.Stages) {
			t.Errorf("%s: parsed %+v, want the defaults %+v", s.Type, *q, d)
		}
		for _, f := range s.Formats {
			if q := mustParse(t, typeJSON(s.Type, `"format":"`+f+`"`), ""); q.Format != f {
				t.Errorf("%s: format %q parsed as %q", s.Type, f, q.Format)
			}
		}
		if len(s.Formats) > 0 {
			_, err := query.Parse([]byte(typeJSON(s.Type, `"format":"pie"`)), "")
			if err == nil || !strings.Contains(err.Error(), strings.Join(s.Formats, " or ")) {
				t.Errorf("%s: format pie: %v", s.Type, err)
			}
		}
		mustParse(t, typeJSON(s.Type, fmt.Sprintf(`"limit":%d`, s.Limits.MaxLimit)), "")
		_, err := query.Parse([]byte(typeJSON(s.Type, fmt.Sprintf(`"limit":%d`, s.Limits.MaxLimit+1))), "")
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("maximum of %d for %s", s.Limits.MaxLimit, s.Type)) {
			t.Errorf("%s: limit %d: %v", s.Type, s.Limits.MaxLimit+1, err)
		}
	}
}

// A query's defaults are its own: changing them does not change the spec or later queries.
func TestSpecDefaultsAreCopied(t *testing.T) {
	for _, typ := range []query.Type{query.TypeTopN, query.TypeDeprecatedAPIs, query.TypeLatency, query.TypeDetections} {
		q := mustParse(t, typeJSON(typ, ""), "")
		for i := range q.GroupBy {
			q.GroupBy[i] = "changed"
		}
		for i := range q.Quantiles {
			q.Quantiles[i] = 0.1
		}
		for i := range q.Filter.Stages {
			q.Filter.Stages[i] = "changed"
		}
		again := mustParse(t, typeJSON(typ, ""), "")
		if slices.Contains(again.GroupBy, "changed") || slices.Contains(again.Filter.Stages, "changed") ||
			slices.Contains(again.Quantiles, 0.1) {
			t.Errorf("%s: the defaults changed with a parsed query: %+v", typ, *again)
		}
	}
}

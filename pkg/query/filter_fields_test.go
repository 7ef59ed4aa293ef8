package query_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// TestFilterFieldsCoverFilter: every field of query.Filter has exactly one row in
// query.FilterFields under its JSON key, and the row's Values reads that field.
func TestFilterFieldsCoverFilter(t *testing.T) {
	typ := reflect.TypeOf(query.Filter{})
	rows := map[string]bool{}
	for _, ff := range query.FilterFields {
		if rows[ff.Key] {
			t.Errorf("filter field %s listed twice", ff.Key)
		}
		rows[ff.Key] = true
	}
	for i := range typ.NumField() {
		sf := typ.Field(i)
		key, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if key == "" || key == "-" {
			continue
		}
		ff, ok := query.LookupFilterField(key)
		if !ok {
			if sf.Type.Kind() == reflect.Slice || key == "search" {
				t.Errorf("Filter.%s (%s) has no row in query.FilterFields", sf.Name, key)
			}
			continue
		}
		var f query.Filter
		v := reflect.ValueOf(&f).Elem().Field(i)
		switch v.Kind() {
		case reflect.Slice:
			v.Set(reflect.ValueOf(query.StringList{"x"}))
		case reflect.String:
			v.SetString("x")
		default:
			continue
		}
		if got := ff.Values(&f); len(got) != 1 || got[0] != "x" {
			t.Errorf("row %s reads %v, want the value of Filter.%s", key, got, sf.Name)
		}
	}
}

func TestPushable(t *testing.T) {
	verbs, _ := query.LookupFilterField("verbs")
	codes, _ := query.LookupFilterField("codes")
	decisions, _ := query.LookupFilterField("decisions")
	for _, tc := range []struct {
		ff     *query.FilterField
		p      query.Push
		values []string
		want   bool
	}{
		{verbs, query.PushIncludes, nil, true},
		{verbs, query.PushNone, nil, true},
		{verbs, query.PushNone, []string{"get"}, false},
		{verbs, query.PushIncludes, []string{"get", "list"}, true},
		{verbs, query.PushIncludes, []string{"!get"}, false},
		{verbs, query.PushIncludes, []string{"g*"}, false},
		{verbs, query.PushAll, []string{"!g*"}, true},
		{codes, query.PushIncludes, []string{"4xx", "500"}, true},
		{codes, query.PushIncludes, []string{"!404"}, false},
		{decisions, query.PushIncludes, []string{"forbid"}, true},
		{decisions, query.PushIncludes, []string{"none"}, false},
		{decisions, query.PushAll, []string{"!none"}, false},
	} {
		if got := tc.ff.Pushable(tc.p, tc.values); got != tc.want {
			t.Errorf("%s %v at %d: %v, want %v", tc.ff.Key, tc.values, tc.p, got, tc.want)
		}
	}
}

func TestRequestFinalRule(t *testing.T) {
	r := query.RequestFinal
	for _, tc := range []struct {
		stage string
		code  int
		want  bool
	}{
		{audit.StageResponseComplete, 200, true},
		{audit.StagePanic, 500, true},
		{audit.StageResponseStarted, 401, true},
		{audit.StageResponseStarted, 200, false},
		{audit.StageRequestReceived, 401, false},
	} {
		if got := r.Match([]byte(tc.stage), tc.code); got != tc.want {
			t.Errorf("%s %d: %v, want %v", tc.stage, tc.code, got, tc.want)
		}
	}
	if got := strings.Join(r.LineStages(), ","); got != "ResponseComplete,Panic,ResponseStarted" {
		t.Errorf("line stages %s", got)
	}
}

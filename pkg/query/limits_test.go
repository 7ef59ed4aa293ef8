package query

import (
	"strconv"
	"strings"
	"testing"
)

// Each limit of the model is an error naming the numbers, before the query is used.
func TestQueryLimits(t *testing.T) {
	list := func(n int, prefix string) string {
		items := make([]string, n)
		for i := range items {
			items[i] = strconv.Quote(prefix + strconv.Itoa(i))
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	quantiles := func(n int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = strconv.FormatFloat(float64(i+1)/float64(n+1), 'f', -1, 64)
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	dims := []string{`"verb"`, `"user.username"`, `"objectRef.resource"`, `"objectRef.namespace"`, `"userAgent"`, `"sourceIP"`}
	lim := QueryLimits
	for _, tc := range []struct {
		name, json, want string
	}{
		{"query JSON size", `{"queryType":"events","filter":{"search":"` + strings.Repeat("x", lim.MaxQueryBytes) + `"}}`,
			"more than the maximum of 1048576 (1 MiB)"},
		{"quantiles", `{"queryType":"latency","quantiles":` + quantiles(lim.MaxQuantiles+1) + `}`, "quantiles: 17 is more than the maximum of 16"},
		{"groupBy", `{"queryType":"timeseries","groupBy":[` + strings.Join(dims, ",") + `]}`, "groupBy dimensions: 6 is more than the maximum of 5"},
		{"filter values", `{"queryType":"timeseries","filter":{"namespaces":` + list(lim.MaxFilterValues+1, "ns-") + `}}`,
			"filter.namespaces values: 10001 is more than the maximum of 10000"},
		{"allow-list", `{"queryType":"detections","allow":{"users":` + list(lim.MaxFilterValues+1, "u") + `}}`,
			"allow.users values: 10001 is more than the maximum of 10000"},
		{"limit", `{"queryType":"events","limit":5001}`, "limit 5001 is above the maximum of 5000 for events queries"},
		{"matrix limit", `{"queryType":"matrix","limit":101}`, "limit 101 is above the maximum of 100 for matrix queries"},
	} {
		_, err := Parse([]byte(tc.json), "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
		if _, ok := err.(*Error); !ok {
			t.Errorf("%s: %T is not a *query.Error (the user's to fix)", tc.name, err)
		}
	}
	// At the limits, the queries are accepted.
	for _, js := range []string{
		`{"queryType":"latency","quantiles":` + quantiles(lim.MaxQuantiles) + `}`,
		`{"queryType":"timeseries","groupBy":[` + strings.Join(dims[:lim.MaxGroupBy], ",") + `]}`,
		`{"queryType":"timeseries","filter":{"namespaces":` + list(lim.MaxFilterValues, "ns-") + `}}`,
		`{"queryType":"events","limit":5000}`,
	} {
		if _, err := Parse([]byte(js), ""); err != nil {
			t.Errorf("%.80s…: %v", js, err)
		}
	}
}

// Globs are matched without backtracking: each `*` takes the leftmost match of the next part,
// so a pattern costs one pass over the value per part. Patterns that make backtracking
// matchers (and regular expressions with nested repetition) exponential return at once on a
// long value; BenchmarkGlobPathological shows the time growing linearly with its length.
func TestGlobsAndSearchLinearOnPathologicalInput(t *testing.T) {
	long := strings.Repeat("a", 1<<20)
	for _, tc := range []struct {
		pattern, value string
		want           bool
	}{
		{"*a*a*a*a*a*b", long, false},
		{"*a*a*a*a*a*b", long + "b", true},
		{"*a*a*a*a*a*b*", long, false},
		{"*a*a*a*a*a*b*a", long + "ba", true},
		{"a*a*a*a*a*a*a*a*a*a*a*a*c", long, false},
		{"*aaaaaaaaaaaaaaaaaaaaaaaaaaaaab*", long, false},
		{"*" + strings.Repeat("a*", 200) + "b", long + "b", true},
	} {
		sm := newStringMatcher([]string{tc.pattern})
		if got := sm.match([]byte(tc.value)); got != tc.want {
			t.Errorf("%.40s on %d bytes: %v, want %v", tc.pattern, len(tc.value), got, tc.want)
		}
	}
	// The text search (bytes.Contains) and its regex mode (RE2: linear, no backreferences).
	for _, f := range []Filter{
		{Search: strings.Repeat("a", 30) + "b"},
		{Search: "(a*)*b", SearchMode: "regex"},
		{Search: "(a|aa)*c", SearchMode: "regex"},
	} {
		if err := f.validate(); err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		if f.Compile().MatchLine([]byte(long)) {
			t.Errorf("%q matched a line of a's", f.Search)
		}
	}
}

func BenchmarkGlobPathological(b *testing.B) {
	// b is a middle part: it is searched for across the whole value.
	sm := newStringMatcher([]string{"*a*a*a*a*a*b*"})
	for _, n := range []int{1 << 10, 1 << 14, 1 << 18} {
		v := []byte(strings.Repeat("a", n))
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				sm.match(v)
			}
		})
	}
}

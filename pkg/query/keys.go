package query

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// grafanaKeys are the keys Grafana itself puts in the queries it sends, next to the query
// model's: the SDK's common query properties and the key Explore adds; and stream, the
// frontend's own switch of a panel query to the live tail (docs/live.md), which the backend
// ignores.
var grafanaKeys = []string{"refId", "datasource", "datasourceId", "hide", "key", "intervalMs", "maxDataPoints",
	"resultAssertions", "timeRange", "stream"}

var (
	queryKeys  = append(jsonKeys(reflect.TypeFor[Query]()), grafanaKeys...)
	filterKeys = jsonKeys(reflect.TypeFor[Filter]())
	allowKeys  = jsonKeys(reflect.TypeFor[Allow]())
)

// jsonKeys lists the JSON names of a struct's fields, in declaration order.
func jsonKeys(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, name)
	}
	return out
}

// checkKeys rejects keys the query model does not have (at the top level, in filter and in
// allow): encoding/json ignores them, so a typo (`filtre`, `filter.verb`) would silently
// give a query without the filter. Keys are matched as encoding/json does, ignoring case.
// raw has been unmarshalled successfully, so it is an object (or null).
func checkKeys(raw []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return nil
	}
	var problems []string
	for _, k := range sortedKeys(top) {
		canon, ok := lookupKey(queryKeys, k)
		if !ok {
			problems = append(problems, unknownKey("", k, queryKeys, filterKeys, "filter"))
			continue
		}
		var nested []string
		switch canon {
		case "filter":
			nested = filterKeys
		case "allow":
			nested = allowKeys
		default:
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(top[k], &obj); err != nil {
			continue
		}
		for _, nk := range sortedKeys(obj) {
			if _, ok := lookupKey(nested, nk); !ok {
				problems = append(problems, unknownKey(canon, nk, nested, queryKeys, ""))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return errorf("%s", strings.Join(problems, "; "))
}

func sortedKeys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func lookupKey(valid []string, k string) (string, bool) {
	for _, v := range valid {
		if strings.EqualFold(v, k) {
			return v, true
		}
	}
	return "", false
}

// unknownKey describes key k, unknown in the object at path parent ("" for the query itself),
// with the fix: the closest valid key, or where the key belongs when it is a key of another
// level (a filter list written at the top level, a query key written inside filter).
func unknownKey(parent, k string, valid, otherLevel []string, otherParent string) string {
	path := func(p, key string) string {
		if p == "" {
			return key
		}
		return p + "." + key
	}
	if _, ok := lookupKey(otherLevel, k); ok {
		return fmt.Sprintf("unknown query key %q: %q belongs %s", path(parent, k), k, where(otherParent))
	}
	best, dist := closest(k, valid)
	msg := fmt.Sprintf("unknown query key %q: did you mean %q?", path(parent, k), path(parent, best))
	if dist > max(2, len(k)/2) {
		msg += fmt.Sprintf(" (the keys of the %s are %s; see docs/query-model.md)", level(parent), strings.Join(valid, ", "))
	}
	return msg
}

func where(parent string) string {
	if parent == "" {
		return "at the top level of the query, not inside filter or allow"
	}
	return fmt.Sprintf("inside %q, as in {%q: {...}}", parent, parent)
}

func level(parent string) string {
	if parent == "" {
		return "query"
	}
	return parent
}

// closest is the valid key at the smallest edit distance from k (ignoring case); ties go to
// the first in valid.
func closest(k string, valid []string) (string, int) {
	best, bestDist := "", -1
	lk := strings.ToLower(k)
	for _, v := range valid {
		if d := editDistance(lk, strings.ToLower(v)); bestDist < 0 || d < bestDist {
			best, bestDist = v, d
		}
	}
	return best, bestDist
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

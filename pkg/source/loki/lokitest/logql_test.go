package lokitest

import (
	"maps"
	"testing"
)

// run parses the log query q and runs its pipeline over line in stream {job="a"}.
func run(t *testing.T, q, line string) (bool, string, map[string]string) {
	t.Helper()
	lq, _, err := parseQuery(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if lq == nil {
		t.Fatalf("%s: not a log query", q)
	}
	return lq.process(line, map[string]string{"job": "a"})
}

func TestLabelFormatLatency(t *testing.T) {
	const lat = `{{ sub (unixEpochNanos (toDate "2006-01-02T15:04:05Z07:00" .s)) (unixEpochNanos (toDate "2006-01-02T15:04:05Z07:00" .r)) }}`
	for _, c := range []struct{ line, want string }{
		{`{"r":"2025-03-10T08:00:00.000100Z","s":"2025-03-10T08:00:01.5Z"}`, "1499900000"},
		{`{"r":"2025-03-10T08:00:00Z","s":"2025-03-10T10:00:00+02:00"}`, "0"},                   // offsets are read
		{`{"r":"2025-03-10T08:00:00.123456789123Z","s":"2025-03-10T08:00:00.123456789Z"}`, "0"}, // past 9 digits: cut
	} {
		keep, _, labels := run(t, `{job="a"} | json r="r", s="s" | label_format lat=`+"`"+lat+"`", c.line)
		if !keep || labels["lat"] != c.want {
			t.Errorf("%s: keep %v lat %q, want %q", c.line, keep, labels["lat"], c.want)
		}
	}
	// toDate swallows its parse error: the zero time, whose IsZero the plugin checks.
	keep, _, labels := run(t, `{job="a"} | json r="r" | label_format z="{{ (toDate \"2006-01-02T15:04:05Z07:00\" .r).IsZero }}"`, `{"r":"2025-02-30T08:00:00Z"}`)
	if !keep || labels["z"] != "true" {
		t.Errorf("toDate of a bad date: %v %q", keep, labels["z"])
	}
}

func TestTemplateFunctions(t *testing.T) {
	for tmpl, want := range map[string]string{
		`{{ int "42" }}`:                     "42",
		`{{ int "0x10" }}`:                   "16", // cast: base 0
		`{{ int "7.000" }}`:                  "7",  // cast: a zero decimal tail is trimmed
		`{{ int "abc" }}`:                    "0",
		`{{ div (sub "1000" 10) 7 }}`:        "141",
		`{{ add 1 (mul "3" 4) }}`:            "13",
		`{{ if lt (int "-5") 0 }}n{{ end }}`: "n",
		`{{ regexReplaceAll "^[0-9]+$" "123" "" }}|{{ regexReplaceAll "^[0-9]+$" "12a" "" }}`: "|12a",
		`{{ unixEpoch (toDate "2006-01-02T15:04:05Z07:00" "1970-01-02T00:00:00Z") }}`:         "86400",
		`{{ .missing }}`: "", // missingkey=zero over a map of strings
	} {
		keep, _, labels := run(t, `{job="a"} | label_format v=`+"`"+tmpl+"`", `x`)
		if !keep || labels["v"] != want {
			t.Errorf("%s = %q, want %q", tmpl, labels["v"], want)
		}
	}
}

func TestLabelFormatOneStage(t *testing.T) {
	// Both templates of one stage see the labels from before it; an empty value removes the label.
	keep, _, labels := run(t, `{job="a"} | label_format a="1", b="{{ .a }}x" | label_format job=""`, `x`)
	if !keep || labels["a"] != "1" || labels["b"] != "x" {
		t.Errorf("labels %v", labels)
	}
	if _, ok := labels["job"]; ok {
		t.Errorf("job still set: %v", labels)
	}
}

func TestNumericLabelFilters(t *testing.T) {
	for q, want := range map[string]bool{
		`{job="a"} | json n="n" | n >= 5`:             true,
		`{job="a"} | json n="n" | n > 5`:              false,
		`{job="a"} | json n="n" | n < 5.5 and n != 4`: true,
		`{job="a"} | json n="n" | n == 5 or n <= 1`:   true,
		`{job="a"} | json n="n" | (n >= 6 or n < 0)`:  false,
		`{job="a"} | json n="n" | missing >= 0`:       false,
		`{job="a"} | json n="n" | n!="5"`:             false, // a string matcher
	} {
		if keep, _, _ := run(t, q, `{"n":5}`); keep != want {
			t.Errorf("%s: keep %v, want %v", q, keep, want)
		}
	}
	// Not a number: the line is kept with __error__ (Loki's NumericLabelFilter).
	keep, _, labels := run(t, `{job="a"} | json n="n" | n >= 1`, `{"n":"x"}`)
	if !keep || labels["__error__"] != "LabelFilterErr" {
		t.Errorf("keep %v labels %v", keep, labels)
	}
}

func TestLineFormatAndDrop(t *testing.T) {
	keep, line, labels := run(t, `{job="a"} | json n="n", m="m" | line_format "{{.n}} {{.m}}" | drop m, job`, `{"n":5,"m":"y"}`)
	if !keep || line != "5 y" || !maps.Equal(labels, map[string]string{"n": "5"}) {
		t.Errorf("keep %v line %q labels %v", keep, line, labels)
	}
	// A label filter after line_format sees the labels, a line filter the new line.
	if keep, _, _ := run(t, `{job="a"} | json n="n" | line_format "n={{.n}}" |= "n=5"`, `{"n":5}`); !keep {
		t.Error("line filter after line_format")
	}
}

func TestTemplateParseError(t *testing.T) {
	if _, _, err := parseQuery(`{job="a"} | label_format v="{{ nosuch .x }}"`); err == nil {
		t.Error("an unknown template function parsed")
	}
}

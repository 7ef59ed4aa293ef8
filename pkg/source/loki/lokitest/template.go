package lokitest

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"
)

// Templates of | label_format and | line_format. The functions mirror the ones the plugin
// uses of Loki's template function map (Loki's pkg/logql/log/fmt.go, which adds some of
// sprig's and its own; https://grafana.com/docs/loki/latest/query/template_functions/),
// written here from their documented behaviour (Loki's code is AGPL: none is imported):
//
//   - toDate (sprig): time.ParseInLocation(layout, s, time.Local), the error swallowed: a
//     string that does not parse is the zero time.
//   - unixEpoch, unixEpochNanos: the time's Unix seconds, nanoseconds, as decimal strings.
//   - sub, div, add, mul (sprig): int64 arithmetic on operands converted as spf13/cast's
//     ToInt64 does (strings parsed with strconv.ParseInt base 0 once a ".0…" tail is trimmed;
//     what does not convert is 0); int (sprig) converts the same way to an int.
//   - regexReplaceAll (Loki): regexp ReplaceAllString, an invalid regex an error.
//
// Templates run with Option("missingkey=zero") over a map of every label, as Loki's do; an
// execution error sets __error__="TemplateFormatErr" and leaves the label or line unchanged.
var templateFuncs = template.FuncMap{
	"toDate": func(layout, s string) time.Time {
		t, _ := time.ParseInLocation(layout, s, time.Local)
		return t
	},
	"unixEpoch":      func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) },
	"unixEpochNanos": func(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) },
	"sub":            func(a, b any) int64 { return toInt64(a) - toInt64(b) },
	"add":            func(a, b any) int64 { return toInt64(a) + toInt64(b) },
	"mul":            func(a, b any) int64 { return toInt64(a) * toInt64(b) },
	"div":            func(a, b any) int64 { return toInt64(a) / toInt64(b) },
	"int":            func(a any) int { return int(toInt64(a)) },
	"regexReplaceAll": func(re, s, repl string) (string, error) {
		r, err := compiled(re)
		if err != nil {
			return "", err
		}
		return r.ReplaceAllString(s, repl), nil
	},
}

// regexps caches the regexes of regexReplaceAll: Loki compiles one at every call, which only
// costs time, and this server runs templates over every line of a test's log.
var regexps sync.Map // string → *regexp.Regexp

func compiled(re string) (*regexp.Regexp, error) {
	if r, ok := regexps.Load(re); ok {
		return r.(*regexp.Regexp), nil
	}
	r, err := regexp.Compile(re)
	if err != nil {
		return nil, err
	}
	regexps.Store(re, r)
	return r, nil
}

// toInt64 converts as spf13/cast ToInt64 (the sprig functions' conversion) for the types a
// template passes: strings (labels), integers, floats; anything else is 0.
func toInt64(v any) int64 {
	switch x := v.(type) {
	case string:
		if i := strings.IndexByte(x, '.'); i >= 0 && strings.Trim(x[i+1:], "0") == "" && i > 0 {
			x = x[:i]
		}
		n, err := strconv.ParseInt(x, 0, 0)
		if err != nil {
			return 0
		}
		return n
	case int:
		return int64(x)
	case int64:
		return x
	case int32:
		return int64(x)
	case float64:
		return int64(x)
	case bool:
		if x {
			return 1
		}
	}
	return 0
}

func parseTemplate(text string) (*template.Template, error) {
	return template.New("").Option("missingkey=zero").Funcs(templateFuncs).Parse(text)
}

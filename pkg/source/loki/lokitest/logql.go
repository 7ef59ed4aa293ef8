package lokitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
)

// A parser and evaluator for the subset of LogQL the plugin generates (and a little more):
//
//	{a="b", c=~"re", d!="x", e!~"re"}      stream selector
//	|= "s"  != "s"  |~ "re"  !~ "re"       line filters
//	| json l="path.to.field", m="p"        json parser with expressions
//	| __error__=""                         drop lines the parser failed on
//	| (l="v" or (m=~"re" and n!="x"))      label filters with and/or/parentheses
//	| l >= 5  | l < 1e6                      numeric label filters (== != > >= < <=)
//	| label_format l="{{ tmpl }}", m=`...`   labels from Go templates (template.go)
//	| line_format "{{ tmpl }}"               the line from a Go template
//	| drop l, m                              labels removed (stream labels too)
//	sum [by (l, m)] (count_over_time(<log query> [duration]))
//
// Regexes are anchored as in Loki for label matchers, unanchored for line filters.

type matcher struct {
	name, op, value string
	re              *regexp.Regexp
	numeric         bool // a numeric label filter: value is a number
	number          float64
}

func (m *matcher) match(v string) bool {
	if m.numeric {
		x, _ := strconv.ParseFloat(v, 64) // callers check the error (numericMatch)
		switch m.op {
		case "==":
			return x == m.number
		case "!=":
			return x != m.number
		case ">":
			return x > m.number
		case ">=":
			return x >= m.number
		case "<":
			return x < m.number
		default:
			return x <= m.number
		}
	}
	switch m.op {
	case "=":
		return v == m.value
	case "!=":
		return v != m.value
	case "=~":
		return m.re.MatchString(v)
	default: // !~
		return !m.re.MatchString(v)
	}
}

type lineFilter struct {
	op    string // |= != |~ !~
	value string
	re    *regexp.Regexp
}

func (f *lineFilter) keep(line string) bool {
	switch f.op {
	case "|=":
		return strings.Contains(line, f.value)
	case "!=":
		return !strings.Contains(line, f.value)
	case "|~":
		return f.re.MatchString(line)
	default:
		return !f.re.MatchString(line)
	}
}

// labelExpr is a label filter expression.
type labelExpr struct {
	m           *matcher
	and, or     bool
	left, right *labelExpr
}

// eval evaluates the expression as Loki does: both sides of an `and` are evaluated (an
// `or` stops at a true left side), and a numeric filter on a value that is not a number keeps
// the line and sets __error__ (fail is called), as Loki's NumericLabelFilter does.
func (e *labelExpr) eval(get func(string) (string, bool), fail func()) bool {
	switch {
	case e.m != nil && e.m.numeric:
		v, ok := get(e.m.name)
		if !ok {
			return false
		}
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			fail()
			return true
		}
		return e.m.match(v)
	case e.m != nil:
		v, _ := get(e.m.name)
		return e.m.match(v)
	case e.and:
		l := e.left.eval(get, fail)
		r := e.right.eval(get, fail)
		return l && r
	default:
		return e.left.eval(get, fail) || e.right.eval(get, fail)
	}
}

type stage struct {
	line      *lineFilter
	json      [][2]string // label, path; json with no expressions is not supported
	label     *labelExpr
	labelFmt  []labelTemplate
	lineFmt   *template.Template
	dropNames []string
}

type labelTemplate struct {
	name string
	tmpl *template.Template
}

type logQuery struct {
	selector []*matcher
	stages   []stage
}

type metricQuery struct {
	log *logQuery
	rng time.Duration
	by  []string
	sum bool
}

// errorParse is a LogQL parse error (Loki answers 400).
type errorParse struct{ msg string }

func (e *errorParse) Error() string { return "parse error : " + e.msg }

type parser struct {
	s   string
	pos int
}

func (p *parser) fail(format string, args ...any) {
	panic(&errorParse{fmt.Sprintf("at col %d: ", p.pos+1) + fmt.Sprintf(format, args...)})
}

func (p *parser) ws() {
	for p.pos < len(p.s) && unicode.IsSpace(rune(p.s[p.pos])) {
		p.pos++
	}
}

func (p *parser) peek(tok string) bool {
	p.ws()
	return strings.HasPrefix(p.s[p.pos:], tok)
}

func (p *parser) accept(tok string) bool {
	if p.peek(tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

func (p *parser) expect(tok string) {
	if !p.accept(tok) {
		p.fail("expected %q", tok)
	}
}

func (p *parser) ident() string {
	p.ws()
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (p.pos > start && c >= '0' && c <= '9') {
			p.pos++
			continue
		}
		break
	}
	if start == p.pos {
		p.fail("expected an identifier")
	}
	return p.s[start:p.pos]
}

func (p *parser) str() string {
	p.ws()
	if p.pos < len(p.s) && p.s[p.pos] == '`' {
		end := strings.IndexByte(p.s[p.pos+1:], '`')
		if end < 0 {
			p.fail("unterminated raw string")
		}
		v := p.s[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
		return v
	}
	q, err := strconv.QuotedPrefix(p.s[p.pos:])
	if err != nil || q[0] != '"' {
		p.fail("expected a quoted string")
	}
	p.pos += len(q)
	v, _ := strconv.Unquote(q)
	return v
}

func (p *parser) matcher(anchored bool) *matcher {
	name := p.ident()
	var op string
	for _, o := range []string{"=~", "!~", "!=", "="} {
		if p.accept(o) {
			op = o
			break
		}
	}
	if op == "" {
		p.fail("expected a label matcher operator after %s", name)
	}
	m := &matcher{name: name, op: op, value: p.str()}
	if op == "=~" || op == "!~" {
		expr := m.value
		if anchored {
			expr = "^(?:" + expr + ")$"
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			p.fail("invalid regex %q: %v", m.value, err)
		}
		m.re = re
	}
	return m
}

func (p *parser) selector() []*matcher {
	p.expect("{")
	var ms []*matcher
	for !p.accept("}") {
		if len(ms) > 0 {
			p.expect(",")
		}
		ms = append(ms, p.matcher(true))
	}
	nonEmpty := false
	for _, m := range ms {
		if (m.op == "=" && m.value != "") || (m.op == "=~" && !m.re.MatchString("")) {
			nonEmpty = true
		}
	}
	if !nonEmpty {
		p.fail("queries require at least one regexp or equality matcher that does not have an empty-compatible value")
	}
	return ms
}

func (p *parser) labelOr() *labelExpr {
	l := p.labelAnd()
	for p.acceptWord("or") {
		l = &labelExpr{or: true, left: l, right: p.labelAnd()}
	}
	return l
}

func (p *parser) labelAnd() *labelExpr {
	l := p.labelPrimary()
	for p.acceptWord("and") || p.accept(",") {
		l = &labelExpr{and: true, left: l, right: p.labelPrimary()}
	}
	return l
}

func (p *parser) labelPrimary() *labelExpr {
	if p.accept("(") {
		e := p.labelOr()
		p.expect(")")
		return e
	}
	save := p.pos
	name := p.ident()
	// A number after the operator makes a numeric filter; = and != may also be string matchers.
	for _, op := range []string{">=", "<=", "==", "!=", ">", "<", "="} {
		if p.accept(op) {
			p.ws()
			if n, ok := p.number(); ok {
				if op == "=" {
					op = "=="
				}
				return &labelExpr{m: &matcher{name: name, op: op, numeric: true, number: n}}
			}
			if op != "!=" && op != "=" {
				p.fail("expected a number after %s %s", name, op)
			}
			break
		}
	}
	p.pos = save
	return &labelExpr{m: p.matcher(true)}
}

// number reads a float literal (digits, sign, point, exponent).
func (p *parser) number() (float64, bool) {
	end := p.pos
	for end < len(p.s) && strings.IndexByte("0123456789.eE+-", p.s[end]) >= 0 {
		end++
	}
	n, err := strconv.ParseFloat(p.s[p.pos:end], 64)
	if err != nil {
		return 0, false
	}
	p.pos = end
	return n, true
}

func (p *parser) template() *template.Template {
	text := p.str()
	t, err := parseTemplate(text)
	if err != nil {
		p.fail("invalid template %q: %v", text, err)
	}
	return t
}

func (p *parser) acceptWord(w string) bool {
	p.ws()
	if strings.HasPrefix(p.s[p.pos:], w) {
		rest := p.s[p.pos+len(w):]
		if rest == "" || rest[0] == ' ' || rest[0] == '(' {
			p.pos += len(w)
			return true
		}
	}
	return false
}

func (p *parser) logQuery() *logQuery {
	q := &logQuery{selector: p.selector()}
	for {
		p.ws()
		switch {
		case p.accept("|="), p.peek("!=") && p.acceptLine("!="), p.accept("|~"), p.peek("!~") && p.acceptLine("!~"):
			op := p.s[p.pos-2 : p.pos]
			f := &lineFilter{op: op, value: p.str()}
			if op == "|~" || op == "!~" {
				re, err := regexp.Compile(f.value)
				if err != nil {
					p.fail("invalid regex %q: %v", f.value, err)
				}
				f.re = re
			}
			q.stages = append(q.stages, stage{line: f})
		case p.accept("|"):
			if p.acceptWord("json") {
				var exprs [][2]string
				for {
					p.ws()
					save := p.pos
					if p.pos >= len(p.s) || !(unicode.IsLetter(rune(p.s[p.pos])) || p.s[p.pos] == '_') {
						break
					}
					name := p.ident()
					if !p.accept("=") || p.peek("~") {
						p.pos = save
						break
					}
					exprs = append(exprs, [2]string{name, p.str()})
					if !p.accept(",") {
						break
					}
				}
				if len(exprs) == 0 {
					p.fail("this test server supports | json with expressions only")
				}
				q.stages = append(q.stages, stage{json: exprs})
				continue
			}
			if p.acceptWord("label_format") {
				var fs []labelTemplate
				for len(fs) == 0 || p.accept(",") {
					name := p.ident()
					p.expect("=")
					fs = append(fs, labelTemplate{name, p.template()})
				}
				q.stages = append(q.stages, stage{labelFmt: fs})
				continue
			}
			if p.acceptWord("line_format") {
				q.stages = append(q.stages, stage{lineFmt: p.template()})
				continue
			}
			if p.acceptWord("drop") {
				var names []string
				for len(names) == 0 || p.accept(",") {
					names = append(names, p.ident())
				}
				q.stages = append(q.stages, stage{dropNames: names})
				continue
			}
			q.stages = append(q.stages, stage{label: p.labelOr()})
		default:
			return q
		}
	}
}

// acceptLine accepts != or !~ as a line filter (only at the pipeline level).
func (p *parser) acceptLine(op string) bool { return p.accept(op) }

func (p *parser) duration() time.Duration {
	p.ws()
	end := strings.IndexByte(p.s[p.pos:], ']')
	if end < 0 {
		p.fail("expected ]")
	}
	raw := strings.TrimSpace(p.s[p.pos : p.pos+end])
	d, err := time.ParseDuration(raw)
	if err != nil {
		p.fail("invalid duration %q", raw)
	}
	p.pos += end
	return d
}

// parseQuery parses a log query or a metric query.
func parseQuery(s string) (lq *logQuery, mq *metricQuery, err error) {
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(*errorParse)
			if !ok {
				panic(r)
			}
			err = pe
		}
	}()
	p := &parser{s: s}
	if p.peek("{") {
		lq = p.logQuery()
	} else {
		mq = &metricQuery{}
		if p.acceptWord("sum") {
			mq.sum = true
			if p.acceptWord("by") {
				p.expect("(")
				for !p.accept(")") {
					if len(mq.by) > 0 {
						p.expect(",")
					}
					mq.by = append(mq.by, p.ident())
				}
			}
			p.expect("(")
		}
		if !p.acceptWord("count_over_time") {
			p.fail("this test server supports sum [by (...)] (count_over_time(...)) only")
		}
		p.expect("(")
		mq.log = p.logQuery()
		p.expect("[")
		mq.rng = p.duration()
		p.expect("]")
		p.expect(")")
		if mq.sum {
			p.expect(")")
		}
	}
	p.ws()
	if p.pos != len(p.s) {
		p.fail("unexpected %q", p.s[p.pos:])
	}
	return lq, mq, nil
}

// selects reports whether a stream's labels match the selector.
func (q *logQuery) selects(labels map[string]string) bool {
	for _, m := range q.selector {
		if !m.match(labels[m.name]) {
			return false
		}
	}
	return true
}

// process runs the pipeline on one line: keep, the line (line_format may rewrite it) and the
// line's labels (the stream's with those extracted or formatted; empty values are absent).
func (q *logQuery) process(line string, stream map[string]string) (bool, string, map[string]string) {
	labels := stream
	owned := false
	set := func(k, v string) {
		if !owned {
			labels, owned = maps.Clone(stream), true
			if labels == nil {
				labels = map[string]string{}
			}
		}
		if v == "" {
			delete(labels, k)
		} else {
			labels[k] = v
		}
	}
	get := func(k string) (string, bool) { v, ok := labels[k]; return v, ok }
	fail := func(kind string) func() {
		return func() {
			if _, ok := labels["__error__"]; !ok {
				set("__error__", kind)
			}
		}
	}
	var buf strings.Builder
	run := func(t *template.Template) (string, bool) {
		buf.Reset()
		if err := t.Execute(&buf, labels); err != nil {
			fail("TemplateFormatErr")()
			return "", false
		}
		return buf.String(), true
	}
	for _, st := range q.stages {
		switch {
		case st.line != nil:
			if !st.line.keep(line) {
				return false, "", nil
			}
		case st.json != nil:
			var doc any
			d := json.NewDecoder(strings.NewReader(line))
			d.UseNumber()
			if err := d.Decode(&doc); err != nil {
				set("__error__", "JSONParserErr")
				continue
			}
			for _, e := range st.json {
				set(e[0], jsonPath(doc, e[1]))
			}
		case st.labelFmt != nil:
			// Every template of one stage sees the labels as they were before it (Loki).
			before := labels
			if len(st.labelFmt) > 1 {
				before = maps.Clone(labels)
			}
			for _, f := range st.labelFmt {
				buf.Reset()
				if err := f.tmpl.Execute(&buf, before); err != nil {
					fail("TemplateFormatErr")()
					continue
				}
				set(f.name, buf.String())
			}
		case st.lineFmt != nil:
			if v, ok := run(st.lineFmt); ok {
				line = v
			}
		case st.dropNames != nil:
			for _, n := range st.dropNames {
				if _, ok := labels[n]; ok {
					set(n, "")
				}
			}
		default:
			if !st.label.eval(get, fail("LabelFilterErr")) {
				return false, "", nil
			}
		}
	}
	return true, line, labels
}

// jsonPath resolves a dotted path; strings are unescaped, numbers and booleans kept as
// written, objects and arrays compacted; missing values are "".
func jsonPath(doc any, path string) string {
	cur := doc
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		if cur, ok = m[part]; !ok {
			return ""
		}
	}
	switch v := cur.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	default:
		b, _ := json.Marshal(v)
		var buf bytes.Buffer
		_ = json.Compact(&buf, b)
		return buf.String()
	}
}

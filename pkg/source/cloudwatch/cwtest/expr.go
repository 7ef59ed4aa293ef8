package cwtest

// A small expression language shared by the two query dialects the plugin sends: CloudWatch
// JSON filter patterns ({ ($.verb = "get") || ($.verb = "list") }) and the Logs Insights filter
// conditions (`verb` in ["get", "list"] and `responseStatus.code` >= 400). Only what the plugin
// generates is understood; anything else is a syntax error, answered as the service does
// (InvalidParameterException / MalformedQueryException), so a test fails when the plugin sends
// something this server does not model.

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

type token struct {
	kind string // ident, str, num, op, eof
	text string
}

func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '`':
			j := strings.IndexByte(s[i+1:], '`')
			if j < 0 {
				return nil, fmt.Errorf("unterminated back-quoted field at %d", i)
			}
			out = append(out, token{"ident", s[i+1 : i+1+j]})
			i += j + 2
		case c == '$' && i+1 < len(s) && s[i+1] == '.':
			j := i + 2
			for j < len(s) && (isIdent(rune(s[j])) || s[j] == '.') {
				j++
			}
			out = append(out, token{"ident", s[i+2 : j]})
			i = j
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			v, err := strconv.Unquote(s[i : j+1])
			if err != nil {
				return nil, fmt.Errorf("bad string %s: %w", s[i:j+1], err)
			}
			out = append(out, token{"str", v})
			i = j + 1
		case c >= '0' && c <= '9' || c == '-' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			out = append(out, token{"num", s[i:j]})
			i = j
		case strings.ContainsRune("()[],", rune(c)):
			out = append(out, token{"op", string(c)})
			i++
		default:
			matched := false
			for _, op := range []string{"&&", "||", ">=", "<=", "!=", "=", ">", "<"} {
				if strings.HasPrefix(s[i:], op) {
					out = append(out, token{"op", op})
					i += len(op)
					matched = true
					break
				}
			}
			if matched {
				continue
			}
			if isIdent(rune(c)) {
				j := i
				for j < len(s) && isIdent(rune(s[j])) {
					j++
				}
				w := s[i:j]
				switch w {
				case "and", "or", "not", "in":
					out = append(out, token{"op", w})
				default:
					out = append(out, token{"ident", w})
				}
				i = j
				continue
			}
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	return append(out, token{kind: "eof"}), nil
}

func isIdent(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '@' }

// expr is a compiled boolean expression over a flattened event.
type expr func(ev map[string]any) bool

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token { t := p.toks[p.pos]; p.pos++; return t }

func (p *parser) accept(op string) bool {
	if t := p.peek(); t.kind == "op" && t.text == op {
		p.pos++
		return true
	}
	return false
}

func parseExpr(s string) (expr, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "eof" {
		return nil, fmt.Errorf("unexpected %q", t.text)
	}
	return e, nil
}

func (p *parser) or() (expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.accept("||") || p.accept("or") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		a, b := l, r
		l = func(ev map[string]any) bool { return a(ev) || b(ev) }
	}
	return l, nil
}

func (p *parser) and() (expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.accept("&&") || p.accept("and") {
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		a, b := l, r
		l = func(ev map[string]any) bool { return a(ev) && b(ev) }
	}
	return l, nil
}

func (p *parser) unary() (expr, error) {
	if p.accept("not") {
		e, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(ev map[string]any) bool { return !e(ev) }, nil
	}
	if p.accept("(") {
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.accept(")") {
			return nil, fmt.Errorf("missing )")
		}
		return e, nil
	}
	return p.comparison()
}

func (p *parser) literal() (any, error) {
	t := p.next()
	switch t.kind {
	case "str":
		return t.text, nil
	case "num":
		return strconv.ParseFloat(t.text, 64)
	}
	return nil, fmt.Errorf("expected a literal, got %q", t.text)
}

func (p *parser) comparison() (expr, error) {
	f := p.next()
	if f.kind != "ident" {
		return nil, fmt.Errorf("expected a field, got %q", f.text)
	}
	op := p.next()
	if op.kind != "op" {
		return nil, fmt.Errorf("expected an operator after %s", f.text)
	}
	if op.text == "in" {
		if !p.accept("[") {
			return nil, fmt.Errorf("expected [ after in")
		}
		var set []any
		for !p.accept("]") {
			v, err := p.literal()
			if err != nil {
				return nil, err
			}
			set = append(set, v)
			p.accept(",")
		}
		return func(ev map[string]any) bool {
			for _, v := range set {
				if c, ok := compare(ev[f.text], v); ok && c == 0 {
					return true
				}
			}
			return false
		}, nil
	}
	lit, err := p.literal()
	if err != nil {
		return nil, err
	}
	var test func(int) bool
	switch op.text {
	case "=":
		test = func(c int) bool { return c == 0 }
	case "!=":
		test = func(c int) bool { return c != 0 }
	case ">=":
		test = func(c int) bool { return c >= 0 }
	case "<=":
		test = func(c int) bool { return c <= 0 }
	case ">":
		test = func(c int) bool { return c > 0 }
	case "<":
		test = func(c int) bool { return c < 0 }
	default:
		return nil, fmt.Errorf("unknown operator %q", op.text)
	}
	return func(ev map[string]any) bool {
		c, ok := compare(ev[f.text], lit)
		return ok && test(c)
	}, nil
}

// compare compares an event value with a literal: numbers as numbers, strings as strings; a
// missing field or a type mismatch compares as nothing (false), as in CloudWatch.
func compare(v, lit any) (int, bool) {
	switch l := lit.(type) {
	case string:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(s, l), true
	case float64:
		n, ok := v.(float64)
		if !ok {
			return 0, false
		}
		switch {
		case n < l:
			return -1, true
		case n > l:
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// flatten turns a JSON message into Logs Insights' discovered fields: nested keys joined with
// ".", array elements by index ("sourceIPs.0"). Values are string, float64 or bool.
func flatten(msg string) map[string]any {
	var v any
	if json.Unmarshal([]byte(msg), &v) != nil {
		return map[string]any{}
	}
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				walk(join(prefix, k), c)
			}
		case []any:
			for i, c := range x {
				walk(join(prefix, strconv.Itoa(i)), c)
			}
		case nil:
		default:
			out[prefix] = x
		}
	}
	walk("", v)
	return out
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// format is how Insights prints a field value in results.
func format(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

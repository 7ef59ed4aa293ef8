package envelope

import (
	"bytes"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// A minimal JSON walker: envelopes are read key by key at the top level (and one level down),
// values are skipped or sliced out without being decoded.
type walker struct {
	b []byte
	i int
}

func (w *walker) reset(b []byte) { w.b, w.i = b, 0 }

func (w *walker) ws() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

func (w *walker) peek() byte {
	w.ws()
	if w.i < len(w.b) {
		return w.b[w.i]
	}
	return 0
}

// str reads a string at w.i (after ws): raw is its content without the quotes, escapes left
// as they are. One pass: the next quote, then the backslashes before it, if any.
func (w *walker) str() (raw []byte, ok bool) {
	if w.peek() != '"' {
		return nil, false
	}
	start := w.i + 1
	for j := start; j < len(w.b); {
		k := bytes.IndexByte(w.b[j:], '"')
		if k < 0 {
			return nil, false
		}
		j += k
		// The quote ends the string unless an odd number of backslashes precede it.
		n := 0
		for p := j - 1; p >= start && w.b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 1 {
			j++
			continue
		}
		w.i = j + 1
		return w.b[start:j], true
	}
	return nil, false
}

// value reads any value and returns its raw bytes (strings with their quotes).
func (w *walker) value() ([]byte, bool) {
	c := w.peek()
	start := w.i
	switch c {
	case '"':
		if _, ok := w.str(); !ok {
			return nil, false
		}
	case '{', '[':
		depth := 0
		for w.i < len(w.b) {
			switch w.b[w.i] {
			case '"':
				if _, ok := w.str(); !ok {
					return nil, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					w.i++
					return w.b[start:w.i], true
				}
			}
			w.i++
		}
		return nil, false
	case 0:
		return nil, false
	default:
		for w.i < len(w.b) {
			switch w.b[w.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return w.b[start:w.i], w.i > start
			}
			w.i++
		}
		return w.b[start:w.i], w.i > start
	}
	return w.b[start:w.i], true
}

// object calls fn for each key of the object at w.i; fn must consume the value (w.value or a
// nested w.object). It returns false for malformed JSON or when fn does.
func (w *walker) object(fn func(key []byte) bool) bool {
	if w.peek() != '{' {
		return false
	}
	w.i++
	if w.peek() == '}' {
		w.i++
		return true
	}
	for {
		key, ok := w.str()
		if !ok || w.peek() != ':' {
			return false
		}
		w.i++
		if !fn(key) {
			return false
		}
		switch w.peek() {
		case ',':
			w.i++
		case '}':
			w.i++
			return true
		default:
			return false
		}
	}
}

// members reads the object raw into fn(key, raw value) pairs, one level deep.
func members(raw []byte, fn func(key, val []byte)) bool {
	w := walker{b: raw}
	return w.object(func(key []byte) bool {
		v, ok := w.value()
		if ok {
			fn(key, v)
		}
		return ok
	})
}

// unquote returns the content of the raw JSON string s (with quotes), unescaped into dst[:0]
// when it holds escapes; ok is false when s is not a string.
func unquote(dst, s []byte) ([]byte, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return dst, false
	}
	s = s[1 : len(s)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return s, true
	}
	return audit.AppendUnescaped(dst[:0], s)
}

// strInto reads the string at w.i and appends its content, unescaped, to dst: one pass over
// the bytes (audit.AppendQuoted), for the strings that are the event (docker's log, AKS's
// properties.log).
func (w *walker) strInto(dst []byte) ([]byte, bool) {
	if w.peek() != '"' {
		return dst, false
	}
	out, n, ok := audit.AppendQuoted(dst, w.b[w.i+1:])
	if ok {
		w.i += 1 + n
	}
	return out, ok
}

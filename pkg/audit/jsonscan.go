package audit

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/jsonbits"
)

// A minimal JSON walker for the Scanner: it reads only the structure of an audit event and
// skips every value it is not asked for without parsing it. Strings are skipped with
// bytes.IndexByte (vectorised), so large request and response objects, which are mostly string
// bytes, cost little. It validates structure only as far as needed to not misread a field: a
// malformed line yields ok=false.

// With a structure (st, jsonbits: the line's quotes and brackets found 64 bytes at a time), the
// walker moves from quote to quote and bracket to bracket instead of reading bytes. The two
// ways read a line alike as long as every quote the walker meets outside a string opens one:
// the one place the walker passes bytes it does not look at is a literal (number, true, false,
// null), so a literal with a quote or backslash in it (not JSON) sets bad, and the line is
// read again without the structure.
type walker struct {
	b   []byte
	i   int
	st  *jsonbits.Structure // nil: byte by byte
	bad bool                // the structure cannot be trusted for this line
}

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

// peek returns the next non-space byte, or 0 at the end.
func (w *walker) peek() byte {
	if w.i < len(w.b) && w.b[w.i] > ' ' {
		return w.b[w.i] // compact JSON: no whitespace
	}
	w.ws()
	if w.i >= len(w.b) {
		return 0
	}
	return w.b[w.i]
}

// str reads a string at w.i (which must be '"') and returns its raw content (escapes kept)
// and whether it has escapes.
func (w *walker) str() (raw []byte, escaped, ok bool) {
	start := w.i + 1
	if w.st != nil {
		q := jsonbits.Next(w.st.Quotes, start)
		if q < 0 {
			return nil, false, false
		}
		w.i = q + 1
		return w.b[start:q], jsonbits.Any(w.st.Backslashes, start, q), true
	}
	end, esc := skipStringEsc(w.b, start)
	if end < 0 {
		return nil, false, false
	}
	w.i = end
	return w.b[start : end-1], esc, true
}

// key reads a string at w.i (which must be '"') and returns its raw content.
func (w *walker) key() ([]byte, bool) {
	start := w.i + 1
	end := w.skipString(start)
	if end < 0 {
		return nil, false
	}
	w.i = end
	return w.b[start : end-1], true
}

// skip skips one value.
func (w *walker) skip() bool {
	switch w.peek() {
	case '"':
		j := w.skipString(w.i + 1)
		if j < 0 {
			return false
		}
		w.i = j
		return true
	case '{', '[':
		if w.st != nil {
			return w.skipContainerStructure()
		}
		return w.skipContainer()
	case 0:
		return false
	}
	// number, true, false, null
	start := w.i
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return w.literal(start)
		}
		w.i++
	}
	return w.literal(start)
}

// literal ends the literal from start to w.i: false if it is empty, and with a structure,
// false and bad if it holds a quote. (A backslash in it, outside every string as the walker
// and the structure then agree, fails jsonbits' Build: there is no structure.)
func (w *walker) literal(start int) bool {
	if w.st != nil && jsonbits.Any(w.st.Quotes, start, w.i) {
		w.bad = true
		return false
	}
	return w.i > start
}

// skipString is the package's skipString, or with a structure the next quote's.
func (w *walker) skipString(i int) int {
	if w.st != nil {
		if q := jsonbits.Next(w.st.Quotes, i); q >= 0 {
			return q + 1
		}
		return -1
	}
	return skipString(w.b, i)
}

// skipContainerStructure is skipContainer over the structure's brackets outside strings.
func (w *walker) skipContainerStructure() bool {
	depth := 0
	st := w.st
	for k := w.i >> 6; k < len(st.Opens); k++ {
		opens, closes := st.Opens[k], st.Closes[k]
		if k == w.i>>6 {
			opens &= ^uint64(0) << (w.i & 63)
			closes &= ^uint64(0) << (w.i & 63)
		}
		var at int
		if at, depth = jsonbits.Close(opens, closes, depth); at >= 0 {
			w.i = k<<6 + at + 1
			return true
		}
	}
	return false
}

// skipContainer skips an object or array, counting brackets outside strings.
func (w *walker) skipContainer() bool {
	depth := 0
	b := w.b
	for i := w.i; i < len(b); i++ {
		switch b[i] {
		case '"':
			if i = skipString(b, i+1); i < 0 {
				return false
			}
			i--
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				w.i = i + 1
				return true
			}
		}
	}
	return false
}

// skipString returns the index after the closing quote of the string whose content starts at
// i (just after its opening quote), or -1.
//
// Most strings of an audit event (keys, verbs, names, timestamps) are short: the first 32 bytes
// are searched 8 at a time in a register (SWAR), which is cheaper than a call; longer strings
// (request bodies, messages) continue with the vectorised bytes.IndexByte.
func skipString(b []byte, i int) int {
	for words := 0; words < 4 && i+8 <= len(b); words++ {
		m := quoteOrBackslash(binary.LittleEndian.Uint64(b[i:]))
		if m == 0 {
			i += 8
			continue
		}
		j := i + bits.TrailingZeros64(m)/8
		if b[j] == '"' {
			return j + 1
		}
		i = j + 2 // an escape: skip the backslash and the escaped byte
		words = -1
	}
	for {
		if i > len(b) {
			return -1
		}
		k := bytes.IndexByte(b[i:], '"')
		if k < 0 {
			return -1
		}
		j := i + k
		// Count the backslashes before the quote; b[j-1] exists (at worst the opening quote).
		n := 0
		for p := j - 1; b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		i = j + 1
	}
}

// quoteOrBackslash marks the bytes of x (8 bytes of a string, little-endian) that are '"' or
// '\\' with their high bit; the lowest mark is exact (zeroByte), and only it is used.
func quoteOrBackslash(x uint64) uint64 {
	const quotes, backslashes = 0x2222222222222222, 0x5c5c5c5c5c5c5c5c
	return zeroByte(x^quotes) | zeroByte(x^backslashes)
}

// skipStringEsc is skipString that also reports whether the string has a backslash: the
// first 32 bytes are searched as skipString does, noting escapes on the way (so that a short
// value is read once, not searched again for backslashes); the rest, if any, by skipString
// and bytes.IndexByte.
func skipStringEsc(b []byte, i int) (int, bool) {
	esc := false
	for words := 0; words < 4 && i+8 <= len(b); words++ {
		m := quoteOrBackslash(binary.LittleEndian.Uint64(b[i:]))
		if m == 0 {
			i += 8
			continue
		}
		j := i + bits.TrailingZeros64(m)/8
		if b[j] == '"' {
			return j + 1, esc
		}
		i, esc = j+2, true // an escape: skip the backslash and the escaped byte
		words = -1
	}
	end := skipString(b, i)
	if end < 0 {
		return -1, false
	}
	return end, esc || bytes.IndexByte(b[min(i, end-1):end-1], '\\') >= 0
}

// value reads one value and returns its raw bytes: for strings the content without quotes,
// for other values the whole value text.
func (w *walker) value() (raw []byte, kind byte, escaped, ok bool) {
	c := w.peek()
	if c == '"' {
		raw, escaped, ok = w.str()
		return raw, '"', escaped, ok
	}
	start := w.i
	if !w.skip() {
		return nil, 0, false, false
	}
	return w.b[start:w.i], c, false, true
}

// object iterates the members of the object at w.i, calling fn with each key (raw); fn must
// consume the member's value (by reading or skipping it) and return false to abort.
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
		if w.peek() != '"' {
			return false
		}
		key, ok := w.key()
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

// objectOrSkip iterates the members of an object value, and skips any other value.
func (w *walker) objectOrSkip(fn func(key []byte) bool) bool {
	if w.peek() != '{' {
		return w.skip()
	}
	return w.object(fn)
}

// array iterates the elements of the array at w.i; fn must consume each element.
func (w *walker) array(fn func() bool) bool {
	if w.peek() != '[' {
		return false
	}
	w.i++
	if w.peek() == ']' {
		w.i++
		return true
	}
	for {
		if !fn() {
			return false
		}
		switch w.peek() {
		case ',':
			w.i++
		case ']':
			w.i++
			return true
		default:
			return false
		}
	}
}

// eachString calls fn with the raw content of each string element of the array in arr;
// other elements are skipped.
func eachString(arr []byte, fn func(raw []byte, escaped bool)) {
	w := walker{b: arr}
	w.array(func() bool {
		if w.peek() == '"' {
			raw, esc, ok := w.str()
			if ok {
				fn(raw, esc)
			}
			return ok
		}
		return w.skip()
	})
}

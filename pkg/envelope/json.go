package envelope

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/jsonbits"
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
// as they are (a quote ends the string unless an odd number of backslashes precede it).
func (w *walker) str() (raw []byte, ok bool) {
	if w.peek() != '"' {
		return nil, false
	}
	start := w.i + 1
	end := skipString(w.b, start)
	if end < 0 {
		return nil, false
	}
	w.i = end
	return w.b[start : end-1], true
}

// skipString returns the index just after the closing quote of the string whose content starts
// at b[start], or -1 when it is not terminated. The first bytes are read eight at a time (keys
// and most values are short); a long string's rest is searched quote by quote.
func skipString(b []byte, start int) int {
	i := start
	for n := 0; n < 4 && i+8 <= len(b); n++ {
		x := binary.LittleEndian.Uint64(b[i:])
		m := zeroByte(x^(lsb*'"')) | zeroByte(x^(lsb*'\\'))
		if m == 0 {
			i += 8
			continue
		}
		i += bits.TrailingZeros64(m) >> 3 // the first mark is exact
		if b[i] == '"' {
			return i + 1
		}
		i += 2 // a backslash and the byte it escapes
		n--    // an escape does not count as a word
	}
	// The rest: the next quote, then the backslashes before it (back to start: the escapes
	// skipped above are counted again, with the same result).
	for j := i; j < len(b); {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		n := 0
		for p := j - 1; p >= start && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 1 {
			j++
			continue
		}
		return j + 1
	}
	return -1
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// zeroByte marks the zero bytes of x with their high bit. Bytes above the lowest zero byte
// may be marked falsely (a borrow); the lowest mark is always exact, and only it is used.
func zeroByte(x uint64) uint64 { return (x - lsb) &^ x & msb }

// skipContainer returns the index just after the object or array that starts at b[i] ('{' or
// '['), or -1. Brackets of either kind count alike, as one depth (the walker does not check
// that they pair up); strings are skipped whole.
func skipContainer(b []byte, i int) int {
	if jsonbits.Fast {
		return skipContainerChunks(b, i)
	}
	return skipContainerBytes(b, i)
}

// skipContainerBytes is skipContainer a byte at a time (a string at a time).
func skipContainerBytes(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch jsonClass[b[i]] {
		case 0:
			i++
		case classQuote:
			if i = skipString(b, i+1); i < 0 {
				return -1
			}
		case classOpen:
			depth++
			i++
		case classClose:
			depth--
			i++
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// skipContainerChunks is skipContainer 64 bytes at a time, as simdjson finds the structure of
// a document: jsonbits.Masks marks the chunk's quotes, backslashes and brackets; the escaped
// bytes (after an odd run of backslashes) are found from the backslashes, the bytes inside
// strings from the unescaped quotes (a prefix XOR), and the brackets outside strings are
// counted. The last chunk is read from a copy padded with spaces. A backslash outside a string
// (not JSON) is read by skipContainerBytes as it always was: that walk starts again from b[i].
func skipContainerChunks(b []byte, i int) int {
	var (
		escapedIn uint64 // 1: the chunk's first byte is escaped (by the last chunk's backslash)
		inString  uint64 // all ones: the chunk starts inside a string
		depth     int
		pad       [64]byte
		m         [4][1]uint64 // the chunk's quotes, backslashes, opens and closes
	)
	for base := i; base < len(b); base += 64 {
		p := pad[:]
		if len(b)-base >= 64 {
			p = b[base : base+64]
		} else {
			copy(pad[copy(pad[:], b[base:]):], jsonbits.Spaces[:])
		}
		jsonbits.Masks(p, m[0][:], m[1][:], m[2][:], m[3][:])
		quotes, backslashes, opens, closes := m[0][0], m[1][0], m[2][0], m[3][0]
		var escaped uint64
		escaped, escapedIn = jsonbits.EscapedBytes(backslashes, escapedIn)
		in := jsonbits.PrefixXOR(quotes&^escaped) ^ inString
		inString = uint64(int64(in) >> 63)
		if backslashes&^in != 0 {
			return skipContainerBytes(b, i)
		}
		var at int
		if at, depth = jsonbits.Close(opens&^in, closes&^in, depth); at >= 0 {
			return base + at + 1 // never in the padding: spaces
		}
	}
	return -1
}

const (
	classQuote = 1 + iota
	classOpen
	classClose
)

var jsonClass = [256]uint8{'"': classQuote, '{': classOpen, '[': classOpen, '}': classClose, ']': classClose}

// literalEnd: the bytes that end a number, true, false or null.
var literalEnd = [256]bool{',': true, '}': true, ']': true, ' ': true, '\t': true, '\n': true, '\r': true}

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
		end := skipContainer(w.b, w.i)
		if end < 0 {
			w.i = len(w.b)
			return nil, false
		}
		w.i = end
		return w.b[start:w.i], true
	case 0:
		return nil, false
	default:
		i := w.i
		for i < len(w.b) && !literalEnd[w.b[i]] {
			i++
		}
		w.i = i
		return w.b[start:i], i > start
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
	key, ok := w.str()
	if !ok || w.peek() != ':' {
		return false
	}
	w.i++
	if !fn(key) {
		return false
	}
	return w.rest(fn)
}

// rest reads the rest of an object whose member's value ends at w.i: the members after it
// (fn as for object) and the closing brace.
func (w *walker) rest(fn func(key []byte) bool) bool {
	for {
		switch w.peek() {
		case ',':
			w.i++
		case '}':
			w.i++
			return true
		default:
			return false
		}
		key, ok := w.str()
		if !ok || w.peek() != ':' {
			return false
		}
		w.i++
		if !fn(key) {
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

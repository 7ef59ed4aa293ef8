package audit

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// unescapeInto writes the content of a JSON string with its escapes resolved (raw is the text
// between the quotes) to dst, which must have room for len(raw) bytes, and returns the written
// part. ok is false for an invalid escape; dst's content is then undefined.
//
// The output is never longer than the input: every escape is at least as long as what it
// stands for (\uXXXX is 6 bytes for at most 3; a surrogate pair 12 for 4).
func unescapeInto(dst, raw []byte) (out []byte, ok bool) {
	return AppendUnescaped(dst[:0], raw)
}

// AppendUnescaped appends the content of a JSON string with its escapes resolved (raw is the
// text between the quotes) to dst. Escapes resolve as encoding/json resolves them (see
// AppendEscape). Bytes that are not escapes are copied as they are (the scanner does not
// validate UTF-8, as it does not for unescaped values). ok is false for an invalid escape.
func AppendUnescaped(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			// Copy up to the next escape in one go.
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		var n int
		var ok bool
		if dst, n, ok = AppendEscape(dst, raw[i:]); !ok {
			return dst, false
		}
		i += n
	}
	return dst, true
}

// AppendQuoted reads the JSON string whose content starts at b[0] (just after its opening
// quote) and appends the content, with its escapes resolved as AppendUnescaped resolves them,
// to dst; n is the number of bytes of b it took, closing quote included. ok is false for an
// unterminated string or an invalid escape.
//
// It is one pass for strings that are mostly escapes (a JSON event inside a JSON string, where
// every quote is \"): runs of plain bytes are copied eight at a time, and the next quote or
// backslash is found in the same word.
func AppendQuoted(dst, b []byte) (out []byte, n int, ok bool) {
	// The content is never longer than its escaped form: make room once, then write in place.
	if need := len(dst) + len(b); cap(dst) < need {
		grown := make([]byte, len(dst), need)
		copy(grown, dst)
		dst = grown
	}
	d := dst[:cap(dst)]
	o, i := len(dst), 0
	for {
		// Invariant: o-len(dst) <= i, so o+8 <= cap(d) whenever i+8 <= len(b).
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			binary.LittleEndian.PutUint64(d[o:], x)
			if m := zeroByte(x^(lsb*'"')) | zeroByte(x^(lsb*'\\')); m != 0 {
				k := bits.TrailingZeros64(m) / 8
				i, o = i+k, o+k
				goto special
			}
			i, o = i+8, o+8
		}
		for i < len(b) && b[i] != '"' && b[i] != '\\' {
			d[o] = b[i]
			i, o = i+1, o+1
		}
		if i >= len(b) {
			return d[:o], i, false
		}
	special:
		if b[i] == '"' {
			return d[:o], i + 1, true
		}
		if i+1 < len(b) && (b[i+1] == '"' || b[i+1] == '\\') { // the common escapes, inline
			d[o] = b[i+1]
			i, o = i+2, o+1
			continue
		}
		e, k, ok := AppendEscape(d[:o], b[i:])
		if !ok {
			return e, i, false
		}
		i, o = i+k, len(e)
	}
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// zeroByte marks the zero bytes of x with their high bit. Bytes above the lowest zero byte
// may be marked falsely (a borrow); the lowest mark is always exact, and only it is used.
func zeroByte(x uint64) uint64 { return (x - lsb) &^ x & msb }

// AppendEscape appends what the escape sequence at the start of s stands for (s[0] is a
// backslash) to dst and says how many bytes of s it took. \uXXXX pairs of UTF-16 surrogates
// join into one rune; a lone surrogate becomes U+FFFD, as encoding/json has it. ok is false for
// an invalid escape.
func AppendEscape(dst, s []byte) (out []byte, n int, ok bool) {
	if len(s) < 2 {
		return dst, 0, false
	}
	switch e := s[1]; e {
	case '"', '\\', '/':
		return append(dst, e), 2, true
	case 'b':
		return append(dst, '\b'), 2, true
	case 'f':
		return append(dst, '\f'), 2, true
	case 'n':
		return append(dst, '\n'), 2, true
	case 'r':
		return append(dst, '\r'), 2, true
	case 't':
		return append(dst, '\t'), 2, true
	case 'u':
		r, ok := hex4(s[2:])
		if !ok {
			return dst, 0, false
		}
		n = 6
		if utf16.IsSurrogate(r) {
			r2, ok := rune(-1), false
			if len(s) >= 8 && s[6] == '\\' && s[7] == 'u' {
				r2, ok = hex4(s[8:])
			}
			if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
				r, n = dec, 12
			} else {
				r = utf8.RuneError
			}
		}
		return utf8.AppendRune(dst, r), n, true
	}
	return dst, 0, false
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

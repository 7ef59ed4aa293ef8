package audit

import (
	"encoding/binary"
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
// every quote is \"): see appendQuotedWords. What that fast path leaves (any other escape, the
// closing quote, the last bytes) is read here a byte or an escape at a time.
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
		i, o = appendQuotedWords(d, b, i, o)
		// What stopped the words (the closing quote, an escape other than \", the last bytes)
		// is in the next eight bytes: byte by byte up to there.
		for limit := i + 8; i < limit; {
			if i >= len(b) {
				return d[:o], i, false
			}
			switch c := b[i]; {
			case c == '"':
				return d[:o], i + 1, true
			case c != '\\':
				d[o] = c
				i, o = i+1, o+1
			case i+1 < len(b) && (b[i+1] == '"' || b[i+1] == '\\'): // the common escapes, inline
				d[o] = b[i+1]
				i, o = i+2, o+1
			default:
				e, k, ok := AppendEscape(d[:o], b[i:])
				if !ok {
					return e, i, false
				}
				i, o = i+k, len(e)
			}
		}
	}
}

// appendQuotedWords copies the string content b[i:] to d[o:] eight bytes at a time while every
// backslash in them is a \" escape and no quote ends the string, and returns where it stopped:
// a fresh position (not inside an escape) at or before the first byte it could not take.
//
// Each word is taken whole, without a branch on its bytes: its \" escapes (at most four) lose
// their backslash by shifting the bytes above it down. This is what a JSON event inside a JSON
// string is made of; a branch per escape, as a plain loop takes, mispredicts on most of them.
// Where the machine has them (amd64 with SSSE3 and POPCNT), the same blocks of sixteen bytes go
// first (appendQuotedBlocks, about twice as fast); the words take over where a block stops.
func appendQuotedWords(d, b []byte, i, o int) (int, int) {
	// carry: the last word ended with a backslash, so the next byte must be a quote (its escape).
	var carry uint64
	if i < 0 || o < 0 { // never; it spares the loop its bounds checks
		return i, o
	}
	if hasQuotedBlocks && len(d)-o >= len(b)-i {
		i, o, carry = appendQuotedBlocks(d, b, i, o)
	}
	for ; i <= len(b)-8; i += 8 {
		x := binary.LittleEndian.Uint64(b[i : i+8])
		// The backslashes and the quotes, marked by zeroByte: exactly unless a mark sits just
		// above another (`\]`, `"#`), which the test below rejects either way.
		bs := zeroByte(x ^ (lsb * '\\'))
		// Every quote is preceded by a backslash and every backslash followed by a quote (the
		// last one's quote is in the next word: carry).
		if zeroByte(x^(lsb*'"')) != bs<<8|carry {
			break
		}
		// Take out each backslash: the bytes above it move down one, the higher one first so
		// that the lower stays in place (no backslash: x stays as it is).
		t := &dropTable[(bs>>7)*0x0102040810204080>>56]
		if t.n > 2 {
			// Three or four escapes in the word: one at a time, the mask moving with the bytes.
			for m := bs; m != 0; {
				lb := m & -m
				low := lb>>7 - 1
				x = x&low | x>>8&^low
				m = m&low | m>>8&^low
			}
		} else {
			x ^= (x ^ x>>8) & t.hi[0]
			x ^= (x ^ x>>8) & t.hi[1]
		}
		binary.LittleEndian.PutUint64(d[o:o+8], x)
		o += 8 - int(t.n)
		carry = bs >> 56
	}
	if carry != 0 {
		if i < len(b) && b[i] == '"' {
			d[o] = '"'
			return i + 1, o + 1
		}
		// The backslash before b[i] escapes something else: it is read again.
		return i - 1, o
	}
	return i, o
}

// dropTable: for each set of a word's bytes (bit j: byte j) to drop, their number and, for the
// highest two (the higher first), the bytes from it up (the bytes that move down one; none
// when there is no such byte).
var dropTable = func() (t [256]struct {
	hi [2]uint64
	n  uint64
}) {
	for set := range t {
		e := &t[set]
		for j := 7; j >= 0; j-- {
			if set>>j&1 == 0 {
				continue
			}
			if e.n < 2 {
				e.hi[e.n] = ^uint64(0) << (8 * j)
			}
			e.n++
		}
	}
	return t
}()

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

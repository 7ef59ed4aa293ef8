package audit

import (
	"unicode/utf16"
	"unicode/utf8"
)

// unescapeInto writes the content of a JSON string with its escapes resolved (raw is the text
// between the quotes) to dst, which must have room for len(raw) bytes, and returns the written
// part. Escapes resolve as encoding/json resolves them: \uXXXX pairs of UTF-16 surrogates join
// into one rune, a lone surrogate becomes U+FFFD. Bytes that are not escapes are copied as they
// are (the scanner does not validate UTF-8, as it does not for unescaped values). ok is false
// for an invalid escape; dst's content is then undefined.
//
// The output is never longer than the input: every escape is at least as long as what it
// stands for (\uXXXX is 6 bytes for at most 3; a surrogate pair 12 for 4).
func unescapeInto(dst, raw []byte) (out []byte, ok bool) {
	dst = dst[:0]
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			// Copy up to the next escape in one go.
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(raw) {
			return nil, false
		}
		switch e := raw[i+1]; e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw[i+2:])
			if !ok {
				return nil, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok := rune(-1), false
				if i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2, ok = hex4(raw[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return nil, false
		}
		i += 2
	}
	return dst, true
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

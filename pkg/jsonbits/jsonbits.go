// Package jsonbits finds the structure of JSON text 64 bytes at a time, as simdjson's first
// stage does: for each 64-byte chunk, one bit per byte marks its quotes, its backslashes and
// its brackets. The bytes a backslash escapes are found from the runs of backslashes, the
// bytes inside strings from the unescaped quotes (a prefix XOR), and so the brackets outside
// strings. The scanners of packages audit and envelope then move from quote to quote and
// bracket to bracket by counting trailing zeros instead of reading bytes.
package jsonbits

import "math/bits"

// Masks marks, for each 64-byte chunk k of p (len(p) must be 64 × len(quotes), and the four
// slices of one length), the bytes of the chunk that are '"' (bit j of quotes[k] is p[64k+j]),
// '\\', '{' or '[' (opens), and '}' or ']' (closes). It runs in assembly on amd64 (AVX2, or
// SSE2 without it), in Go elsewhere.
func Masks(p []byte, quotes, backslashes, opens, closes []uint64) {
	if len(quotes) == 0 {
		return
	}
	_ = p[64*len(quotes)-1]
	_, _, _ = backslashes[len(quotes)-1], opens[len(quotes)-1], closes[len(quotes)-1]
	masks(p, quotes, backslashes, opens, closes)
}

// masksGo is Masks a byte at a time.
func masksGo(p []byte, quotes, backslashes, opens, closes []uint64) {
	for k := range quotes {
		var q, b, o, c uint64
		for j, x := range p[64*k : 64*k+64] {
			bit := uint64(1) << j
			switch x {
			case '"':
				q |= bit
			case '\\':
				b |= bit
			case '{', '[':
				o |= bit
			case '}', ']':
				c |= bit
			}
		}
		quotes[k], backslashes[k], opens[k], closes[k] = q, b, o, c
	}
}

// Spaces pads a text's last chunk to 64 bytes: a space is none of the bytes Masks marks.
var Spaces = [64]byte{' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ',
	' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ',
	' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ',
	' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}

// EscapedBytes marks the bytes of a chunk that a backslash escapes: the byte after each run of
// backslashes of odd length (and every other backslash of a run). escapedIn is 1 when the
// chunk's first byte is escaped by the last chunk; next is that for the next chunk. This is
// simdjson's find_escaped_branchless.
func EscapedBytes(backslashes, escapedIn uint64) (escaped, next uint64) {
	const even = 0x5555555555555555
	backslashes &^= escapedIn
	follows := backslashes<<1 | escapedIn
	// The runs that start on an odd bit, added to the backslashes: their carry clears them and
	// sets the bit after each, as the runs that start on an even bit are left.
	oddStarts := backslashes &^ even &^ follows
	sum, carry := bits.Add64(oddStarts, backslashes, 0)
	return (even ^ sum<<1) & follows, carry
}

// PrefixXOR sets each bit of x that has an odd number of set bits at or below it: over the
// unescaped quotes of a chunk, the bytes from an opening quote up to (not including) its
// closing one.
func PrefixXOR(x uint64) uint64 {
	x ^= x << 1
	x ^= x << 2
	x ^= x << 4
	x ^= x << 8
	x ^= x << 16
	x ^= x << 32
	return x
}

// Structure is the structure of one JSON text, per 64-byte chunk (bit j of word k is byte
// 64k+j): its quotes that are not escaped, its backslashes, and its brackets outside strings.
// It is reused from text to text.
type Structure struct {
	Quotes, Backslashes, Opens, Closes []uint64
}

// Build finds the structure of b. It returns false, leaving the structure unusable, when a
// backslash stands outside a string (b is not JSON, and a walker that reads it byte by byte
// may pair its quotes otherwise).
func (s *Structure) Build(b []byte) bool {
	n := (len(b) + 63) / 64
	if cap(s.Quotes) < n {
		m := max(n, 32)
		s.Quotes, s.Backslashes, s.Opens, s.Closes = make([]uint64, m), make([]uint64, m), make([]uint64, m), make([]uint64, m)
	}
	s.Quotes, s.Backslashes, s.Opens, s.Closes = s.Quotes[:n], s.Backslashes[:n], s.Opens[:n], s.Closes[:n]
	if n == 0 {
		return true
	}
	full := len(b) / 64
	var pad [64]byte
	last := &pad[0]
	if full == n {
		last = &b[64*(n-1)]
	} else {
		copy(pad[copy(pad[:], b[64*full:]):], Spaces[:])
	}
	if valid, ok := build(s, b[:64*(n-1)], last); ok {
		return valid
	}
	Masks(b[:64*full], s.Quotes[:full], s.Backslashes[:full], s.Opens[:full], s.Closes[:full])
	if full < n {
		Masks(pad[:], s.Quotes[full:], s.Backslashes[full:], s.Opens[full:], s.Closes[full:])
	}
	return s.finish()
}

// finish is Build's loop over the masks, in Go.
func (s *Structure) finish() bool {
	var escapedIn, inString uint64
	for k := range s.Quotes {
		q, bs := s.Quotes[k], s.Backslashes[k]
		if bs|escapedIn != 0 {
			var escaped uint64
			escaped, escapedIn = EscapedBytes(bs, escapedIn)
			q &^= escaped
			s.Quotes[k] = q
		}
		in := PrefixXOR(q) ^ inString
		inString = uint64(int64(in) >> 63)
		if bs&^in != 0 {
			return false
		}
		s.Opens[k] &^= in
		s.Closes[k] &^= in
	}
	return true
}

// Next returns the first index at or after i whose bit is set in m (one word per chunk), or
// -1.
func Next(m []uint64, i int) int {
	k := i >> 6
	if k >= len(m) {
		return -1
	}
	if x := m[k] >> (i & 63); x != 0 {
		return i + bits.TrailingZeros64(x)
	}
	for k++; k < len(m); k++ {
		if m[k] != 0 {
			return k<<6 + bits.TrailingZeros64(m[k])
		}
	}
	return -1
}

// Close counts a chunk's brackets outside strings (bit j: byte j) on from depth: it returns
// the byte at which the depth comes back to zero (-1 when it does not in the chunk) and the
// depth after the chunk. A skip of an object or array starts at depth 0 on its first bracket.
func Close(opens, closes uint64, depth int) (at, after int) {
	if n := bits.OnesCount64(closes); n < depth {
		return -1, depth + bits.OnesCount64(opens) - n
	}
	for m := opens | closes; m != 0; m &= m - 1 {
		if opens&m&-m != 0 {
			depth++
			continue
		}
		if depth--; depth == 0 {
			return bits.TrailingZeros64(m), 0
		}
	}
	return -1, depth
}

// Any reports whether m has a bit set in [i, j) (i < j, both within m's chunks).
func Any(m []uint64, i, j int) bool {
	k, last := i>>6, (j-1)>>6
	from, upTo := ^uint64(0)<<(i&63), ^uint64(0)>>(63-(j-1)&63) // the bits from i, up to j-1
	// Most ranges are in one chunk.
	if k == last {
		return m[k]&from&upTo != 0
	}
	if m[k]&from != 0 {
		return true
	}
	for k++; k < last; k++ {
		if m[k] != 0 {
			return true
		}
	}
	return m[last]&upTo != 0
}

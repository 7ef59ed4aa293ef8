package audit

import (
	"testing"
	"time"
)

// TestTimeCacheAgreesWithParseTime parses every pair of a set of timestamps (valid ones,
// rejected ones, and ones that share a valid one's minute but not its seconds) with a cache
// warmed by the first of the pair: the cache must answer as ParseTime does.
func TestTimeCacheAgreesWithParseTime(t *testing.T) {
	in := []string{
		"2024-05-01T10:20:30Z", "2024-05-01T10:20:30.123456Z", "2024-05-01T10:20:59.999999999Z",
		"2024-05-01T10:20:31+02:00", "2024-05-01T10:20:31-04:30", "2024-05-01 10:20:30.38",
		"2024-05-01T10:20:30", "2024-05-01t10:20:30z", "2024-05-01T10:20:30,5Z", "2024-05-01T10:20:60Z",
		"2024-05-01T10:20:61Z", "2024-05-01T10:20:3Z", "2024-05-01T10:20-30Z", "2024-05-01T10:20:30.Z",
		"2024-05-01T10:20:30ZZ", "2024-05-01T10:20:30+0200", "2024-05-01T10:20:ab", "2024-05-01T10:20",
		"2024-05-01T10:21:00Z", "2024-05-01T10:20:30.12a", "2024-02-29T23:59:59Z", "2023-02-29T23:59:59Z",
		"2024-05-01T24:20:30Z", "2024-05-01T10:60:30Z", "2024-05-01X10:20:30Z", "", "garbage",
		"2024-05-01T10:20:30Z ", "0001-01-01T00:00:01Z", "2024-12-31T23:59:59.5-00:00",
	}
	for _, first := range in {
		for _, s := range in {
			var c timeCache
			c.parse([]byte(first))
			got, ok := c.parse([]byte(s))
			want, wantOK := ParseTime([]byte(s))
			if ok != wantOK || !got.Equal(want) || got.Location() != want.Location() {
				t.Errorf("after %q: parse(%q) = %v, %v; ParseTime = %v, %v", first, s, got, ok, want, wantOK)
			}
		}
	}
	// Minute after minute, as a log's lines go.
	var c timeCache
	at := time.Date(2026, 11, 24, 23, 58, 0, 0, time.UTC)
	for i := range 5000 {
		s := at.Add(time.Duration(i) * 97 * time.Millisecond).Format("2006-01-02T15:04:05.000000Z07:00")
		got, ok := c.parse([]byte(s))
		want, _ := ParseTime([]byte(s))
		if !ok || !got.Equal(want) {
			t.Fatalf("parse(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
}

// TestMicroTimeFastPath: the six-digit fraction parsed at once (micros) gives what the digit
// loop gives, and every non-digit in any of the six places (each byte value) is rejected as
// the loop rejects it.
func TestMicroTimeFastPath(t *testing.T) {
	const base = "2024-05-01T10:20:30.000000Z"
	minute, ok := parseMinute([]byte(base))
	if !ok {
		t.Fatal("base rejected")
	}
	slow := func(b []byte) (time.Time, bool) {
		// The general path: the same string with its 'Z' as "+00:00" does not take the fast one.
		s := append(append([]byte{}, b[:len(b)-1]...), "+00:00"...)
		return parseSeconds(s, minute)
	}
	for _, frac := range []string{"000000", "000001", "123456", "999999", "500000", "090909", "100000"} {
		b := []byte(base[:20] + frac + "Z")
		got, ok1 := parseSeconds(b, minute)
		want, ok2 := slow(b)
		if ok1 != ok2 || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v %v", b, got, ok1, want, ok2)
		}
	}
	for place := 20; place < 26; place++ {
		for c := range 256 {
			b := []byte(base)
			b[place] = byte(c)
			got, ok1 := parseSeconds(b, minute)
			want, ok2 := slow(b)
			if ok1 != ok2 || (ok1 && !got.Equal(want)) {
				t.Fatalf("%q: %v %v, want %v %v", b, got, ok1, want, ok2)
			}
		}
	}
}

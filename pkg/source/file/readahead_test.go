package file

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// TestReadAhead: readAhead returns its reader's bytes and then its error, whatever the sizes
// of the reads on either side, and close stops it at any point (with the race detector, that
// it is done with the reader when close returns).
func TestReadAhead(t *testing.T) {
	data := make([]byte, 3*aheadBlockSize+12345)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	boom := errors.New("truncated")
	for _, tc := range []struct {
		name string
		r    func() io.Reader
		err  error
	}{
		{"whole", func() io.Reader { return bytes.NewReader(data) }, io.EOF},
		{"a byte a read", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data[:5000])) }, io.EOF},
		{"error with the last bytes", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) }, io.EOF},
		{"error after the bytes", func() io.Reader { return io.MultiReader(bytes.NewReader(data), iotest.ErrReader(boom)) }, boom},
		{"empty", func() io.Reader { return bytes.NewReader(nil) }, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startReadAhead(tc.r())
			defer a.close()
			var got []byte
			buf := make([]byte, 7919)
			var err error
			for err == nil {
				var n int
				n, err = a.Read(buf[:1+rng.IntN(len(buf))])
				got = append(got, buf[:n]...)
			}
			want := data
			if tc.name == "a byte a read" {
				want = data[:5000]
			} else if tc.name == "empty" {
				want = nil
			}
			if !bytes.Equal(got, want) || !errors.Is(err, tc.err) {
				t.Fatalf("read %d bytes (equal: %v), then %v; want %d, then %v", len(got), bytes.Equal(got, want), err, len(want), tc.err)
			}
			if n, err2 := a.Read(buf); n != 0 || !errors.Is(err2, tc.err) {
				t.Fatalf("a read after the end: %d, %v", n, err2)
			}
		})
	}
	for _, stopAfter := range []int{0, 1, aheadBlockSize, 2*aheadBlockSize + 1} {
		a := startReadAhead(bytes.NewReader(data))
		if _, err := io.ReadFull(a, make([]byte, stopAfter)); err != nil {
			t.Fatal(err)
		}
		a.close()
	}
	if err := iotest.TestReader(startReadAhead(bytes.NewReader(data[:100000])), data[:100000]); err != nil {
		t.Fatal(err)
	}
}

package file

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// ctxCheckEvery is how many buffer reads (at most one line each) pass between checks of the
// context; a skipped over-long line checks it on every buffer fill.
const ctxCheckEvery = 1024

// maxPooledLong is the largest long-line buffer kept in the pool.
const maxPooledLong = 8 << 20

// lineReader splits a stream into lines with memory bounded by its buffer size plus the line
// limit, whatever the stream's size. Lines that fit in the buffer are returned without copying;
// longer ones (up to max) are assembled in a reused buffer; longer still are skipped without
// being buffered. A returned line is valid until the next call to next.
type lineReader struct {
	br   *bufio.Reader
	long []byte
	max  int
	ctx  context.Context

	calls   int
	eof     bool
	bytes   int64 // bytes consumed from the stream
	tooLong int64 // lines skipped for being longer than max
	// lastNL is bytes just past the last newline consumed: the end of the complete lines.
	lastNL int64
	// start is where in the stream the line next returned began.
	start int64
	// complete: a last line without a newline is not returned (it is being written).
	complete bool
}

var lineReaderPool sync.Pool // *lineReader

func getLineReader(ctx context.Context, r io.Reader, bufSize, max int) *lineReader {
	lr, _ := lineReaderPool.Get().(*lineReader)
	if lr == nil || lr.br.Size() != bufSize {
		lr = &lineReader{br: bufio.NewReaderSize(r, bufSize)}
	} else {
		lr.br.Reset(r)
	}
	lr.max, lr.ctx = max, ctx
	lr.calls, lr.eof, lr.bytes, lr.tooLong, lr.lastNL, lr.complete, lr.start = 0, false, 0, 0, 0, false, 0
	return lr
}

func putLineReader(lr *lineReader) {
	lr.br.Reset(nil)
	lr.ctx = nil
	if cap(lr.long) > maxPooledLong {
		lr.long = nil
	}
	lineReaderPool.Put(lr)
}

// next returns the next non-empty line without its "\n" or "\r\n". At the end of the stream it
// returns io.EOF; a last line without a newline is returned first. On a read error (a
// truncated gzip stream) the incomplete line before it is dropped and the error returned. It
// returns ctx.Err() once the context is done.
func (r *lineReader) next() ([]byte, error) {
	for {
		if r.eof {
			return nil, io.EOF
		}
		r.calls++
		if r.calls%ctxCheckEvery == 0 {
			if err := r.ctx.Err(); err != nil {
				return nil, err
			}
		}
		r.start = r.bytes
		frag, err := r.br.ReadSlice('\n')
		r.bytes += int64(len(frag))
		switch {
		case err == nil:
			r.lastNL = r.bytes
			if line := r.accept(frag[:len(frag)-1]); line != nil {
				return line, nil
			}
		case errors.Is(err, bufio.ErrBufferFull):
			line, err := r.readLong(frag)
			if err != nil || line != nil {
				return line, err
			}
		case errors.Is(err, io.EOF):
			r.eof = true
			if r.complete {
				return nil, io.EOF
			}
			if line := r.accept(frag); line != nil {
				return line, nil
			}
		default:
			return nil, err
		}
	}
}

// accept strips a trailing "\r" and returns the line, or nil if it is empty or too long.
func (r *lineReader) accept(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > r.max {
		r.tooLong++
		return nil
	}
	if len(line) == 0 {
		return nil
	}
	return line
}

// readLong assembles a line longer than the buffer, starting with first. It returns a nil line
// and nil error when the line was skipped.
func (r *lineReader) readLong(first []byte) ([]byte, error) {
	r.long = append(r.long[:0], first...)
	for {
		if err := r.ctx.Err(); err != nil {
			return nil, err
		}
		frag, err := r.br.ReadSlice('\n')
		r.bytes += int64(len(frag))
		if len(r.long)+len(frag) > r.max+2 { // too long even without "\r\n"
			return nil, r.discard(err)
		}
		r.long = append(r.long, frag...)
		switch {
		case err == nil:
			r.lastNL = r.bytes
			return r.accept(r.long[:len(r.long)-1]), nil
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			r.eof = true
			if r.complete {
				return nil, nil
			}
			return r.accept(r.long), nil
		default:
			return nil, err
		}
	}
}

// discard consumes the rest of an over-long line without buffering it. err is the error of the
// last ReadSlice.
func (r *lineReader) discard(err error) error {
	r.tooLong++
	for errors.Is(err, bufio.ErrBufferFull) {
		if cerr := r.ctx.Err(); cerr != nil {
			return cerr
		}
		var frag []byte
		frag, err = r.br.ReadSlice('\n')
		r.bytes += int64(len(frag))
	}
	switch err {
	case nil:
		r.lastNL = r.bytes
		return nil
	case io.EOF:
		r.eof = true
		if r.complete {
			r.tooLong-- // a last line still being written is counted once it is complete
		}
		return nil
	default:
		return err
	}
}

// Pools for reading gzip files: the compressed input buffer and the decompressor.
var (
	gzInputPool sync.Pool // *bufio.Reader
	gzipPool    sync.Pool // *gzip.Reader
)

const gzInputSize = 256 << 10

// gzipStream is a pooled gzip decompressor over a pooled input buffer. With a bound, it delivers
// at most bound.limit decompressed bytes, then a *gzipLimitError (see Source.gzipLimit).
type gzipStream struct {
	in    *bufio.Reader
	zr    *gzip.Reader
	bound gzipCap
	n     int64 // decompressed bytes delivered
}

// gzipCap bounds what a gzip file may expand to; the zero value does not.
type gzipCap struct {
	limit int64 // bytes
	ratio int   // limit as a multiple of the compressed size, for messages
}

// gzipLimitError says a gzip file expands past its cap: a gzip bomb, or an audit log that
// compresses far better than audit logs do.
type gzipLimitError struct{ gzipCap }

func (e *gzipLimitError) Error() string {
	return fmt.Sprintf("the gzip stream expands past %s, more than %d× its compressed size", formatBytes(e.limit), e.ratio)
}

// openGzip starts decompressing r (multistream), delivering at most what c allows. An empty
// input yields io.EOF.
func openGzip(r io.Reader, c gzipCap) (*gzipStream, error) {
	in, _ := gzInputPool.Get().(*bufio.Reader)
	if in == nil {
		in = bufio.NewReaderSize(r, gzInputSize)
	} else {
		in.Reset(r)
	}
	g := &gzipStream{in: in, bound: c}
	zr, _ := gzipPool.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(in)
	} else {
		err = zr.Reset(in)
	}
	if err != nil {
		in.Reset(nil)
		gzInputPool.Put(in)
		if zr != nil {
			gzipPool.Put(zr)
		}
		return nil, err
	}
	g.zr = zr
	return g, nil
}

func (g *gzipStream) Read(p []byte) (int, error) {
	if g.bound.limit <= 0 {
		return g.zr.Read(p)
	}
	if g.n >= g.bound.limit {
		// A stream ending exactly at the limit is within it.
		var b [1]byte
		if n, err := g.zr.Read(b[:]); n == 0 && errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		return 0, &gzipLimitError{g.bound}
	}
	if rest := g.bound.limit - g.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := g.zr.Read(p)
	g.n += int64(n)
	return n, err
}

func (g *gzipStream) release() {
	g.in.Reset(nil)
	gzInputPool.Put(g.in)
	gzipPool.Put(g.zr)
}

// isGzip reports whether head starts with the gzip magic number.
func isGzip(head []byte) bool {
	return bytes.HasPrefix(head, []byte{0x1f, 0x8b})
}

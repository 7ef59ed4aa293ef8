package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// Scan reads the discovered files oldest first and calls fn for every line of the files whose
// time range may overlap req. See the package documentation for pruning and error rules.
func (s *Source) Scan(ctx context.Context, req source.Request, fn source.LineFunc) (st source.Stats, err error) {
	return s.scan(ctx, req, func(*FileInfo) source.LineFunc { return fn })
}

// ScanOrigins is Scan that also says which file each line came from (implements
// source.OriginScanner).
func (s *Source) ScanOrigins(ctx context.Context, req source.Request, fn source.OriginFunc) (source.Stats, error) {
	return s.scan(ctx, req, func(f *FileInfo) source.LineFunc {
		return func(line []byte) error { return fn(f.Path, time.Time{}, line) }
	})
}

// scan reads the files, with the LineFunc lineFn gives for each file.
func (s *Source) scan(ctx context.Context, req source.Request, lineFn func(*FileInfo) source.LineFunc) (st source.Stats, err error) {
	ctx, span := startSpan(ctx, "file.scan")
	defer func() { endSpan(span, st, err) }() // after Problems are set
	files, probs, err := s.discover(ctx)
	if err != nil {
		return st, err
	}
	defer func() { st.Problems = messages(probs) }()
	reached := 0 // files opened or pruned: something was learnt from them
	for i := range files {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		res, err := s.scanFile(ctx, &files[i], req, lineFn(&files[i]), &st, &probs)
		if err != nil {
			return st, err
		}
		switch res {
		case pruned:
			st.FilesSkipped++
			reached++
		case scanned:
			st.FilesScanned++
			reached++
		}
	}
	if reached == 0 {
		return st, unreadable(probs)
	}
	return st, nil
}

// unreadable returns an *UnreadableError if some path or file was missing or unreadable.
func unreadable(probs []problem) error {
	var e UnreadableError
	for _, p := range probs {
		if p.access {
			e.Problems = append(e.Problems, p.msg)
			e.Errs = append(e.Errs, p.err)
		}
	}
	if len(e.Problems) == 0 {
		return nil
	}
	return &e
}

type outcome int

const (
	failed  outcome = iota // could not be opened
	pruned                 // cannot overlap the request
	scanned                // opened and read (perhaps partly)
)

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// prunedByName reports whether f cannot hold an event of req by its name's rotation time and
// its mtime (both are after the last write).
func prunedByName(f *FileInfo, req source.Request) bool {
	return !req.From.IsZero() && later(f.Rotated, f.ModTime).Add(PruneSlack).Before(req.From)
}

// peekPlan says whether f's first line must be read to decide if it is pruned (peek), and
// whether, without a first event time, the previous rotation alone prunes it (prevAfter).
func (s *Source) peekPlan(f *FileInfo, req source.Request) (prevAfter, peek bool) {
	// The previous rotation (file creation) and the first event must both be after the
	// request for the file to be skipped; the first line is read only if it matters.
	prevAfter = !req.To.IsZero() && !f.Previous.IsZero() && f.Previous.Add(-PruneSlack).After(req.To)
	switch {
	case prevAfter && s.timeOf == nil:
	case prevAfter:
		peek = true
	case !req.To.IsZero() && f.Previous.IsZero() && s.timeOf != nil:
		peek = true
	}
	return prevAfter, peek
}

// prunedByFirstLine decides a peeked file: line and err are the first lineReader.next.
func (s *Source) prunedByFirstLine(prevAfter bool, req source.Request, line []byte, err error) bool {
	skip := prevAfter
	if err == nil {
		if t, ok := s.timeOf(line); ok {
			skip = t.Add(-PruneSlack).After(req.To)
		}
	}
	return skip
}

// stream is an opened audit file and the reader of its (decompressed) content.
type stream struct {
	fh   *os.File
	info os.FileInfo
	r    io.Reader
	gz   bool
	g    *gzipStream
}

func (in *stream) close() {
	if in.g != nil {
		in.g.release()
	}
	in.fh.Close()
}

// openStream opens f for reading from offset (plain files only; gzip is read from 0). When it
// cannot, it records the problem and returns the outcome: failed when the file could not be
// opened, scanned when it was opened but holds no readable gzip stream.
func (s *Source) openStream(f *FileInfo, offset int64, probs *[]problem) (*stream, outcome) {
	fh, err := s.open(f)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			*probs = append(*probs, problem{msg: fmt.Sprintf("skipped %s: it was removed during the scan (rotated or deleted)", f.Path)})
		} else {
			*probs = append(*probs, problem{msg: accessMessage("read", f.Path, err), err: err, access: true})
		}
		return nil, failed
	}
	info, err := fh.Stat()
	if err != nil {
		fh.Close()
		*probs = append(*probs, problem{msg: accessMessage("read", f.Path, err), err: err, access: true})
		return nil, failed
	}
	in := &stream{fh: fh, info: info, r: fh, gz: f.Gzip}
	if !in.gz {
		var head [2]byte
		n, _ := fh.ReadAt(head[:], 0)
		in.gz = isGzip(head[:n])
	}
	if in.gz {
		g, err := openGzip(fh, s.gzipLimit(info.Size()))
		if err != nil {
			fh.Close()
			if errors.Is(err, io.EOF) {
				*probs = append(*probs, problem{msg: fmt.Sprintf("skipped %s: the gzip file is empty (still being written?)", f.Path)})
			} else {
				*probs = append(*probs, problem{msg: fmt.Sprintf("skipped %s: not a valid gzip file: %v", f.Path, err)})
			}
			return nil, scanned
		}
		in.g, in.r = g, g
	} else if offset > 0 {
		if _, err := fh.Seek(offset, io.SeekStart); err != nil {
			fh.Close()
			*probs = append(*probs, problem{msg: fmt.Sprintf("error reading %s: %s", f.Path, errText(err))})
			return nil, scanned
		}
	}
	return in, scanned
}

// scanFile prunes or reads one file. The error is ctx's or fn's; everything else is a problem.
func (s *Source) scanFile(ctx context.Context, f *FileInfo, req source.Request, fn source.LineFunc, st *source.Stats, probs *[]problem) (outcome, error) {
	if prunedByName(f, req) {
		return pruned, nil
	}
	prevAfter, peek := s.peekPlan(f, req)
	if prevAfter && !peek {
		return pruned, nil
	}
	in, res := s.openStream(f, 0, probs)
	if in == nil {
		return res, nil
	}
	defer in.close()

	lr := getLineReader(ctx, in.r, s.bufSize, s.maxLine)
	defer putLineReader(lr)

	line, err := lr.next()
	if peek && s.prunedByFirstLine(prevAfter, req, line, err) {
		return pruned, nil
	}
	defer func() {
		st.LinesTooLong += lr.tooLong
		if lr.tooLong > 0 {
			*probs = append(*probs, problem{msg: s.longLines(f, lr.tooLong)})
		}
	}()
	return scanned, s.readLines(ctx, f, in.gz, lr, line, err, func(_ int64, l []byte) error { return fn(l) }, 0, st, probs)
}

// longLines is the problem sentence for n over-long lines skipped in f.
func (s *Source) longLines(f *FileInfo, n int64) string {
	return fmt.Sprintf("skipped %d %s longer than %s in %s", n, plural(n, "line", "lines"), formatSize(s.maxLine), f.Path)
}

// readLines delivers line (the first lineReader.next, with its err) and the rest of lr to fn,
// and adds the lines and bytes read to st. The error is ctx's or fn's; read errors are
// problems.
// Each line's offset is base plus where it starts in lr's stream.
func (s *Source) readLines(ctx context.Context, f *FileInfo, gz bool, lr *lineReader, line []byte, err error, fn source.LineAtFunc, base int64, st *source.Stats, probs *[]problem) error {
	var lines int64
	defer func() {
		st.LinesRead += lines
		st.BytesRead += lr.bytes
	}()
	var gl *gzipLimitError
	for err == nil {
		lines++
		if ferr := fn(base+lr.start, line); ferr != nil {
			return ferr
		}
		line, err = lr.next()
	}
	switch {
	case errors.Is(err, io.EOF):
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return ctx.Err()
	case errors.As(err, &gl):
		*probs = append(*probs, problem{msg: fmt.Sprintf("stopped reading %s after %d %s: %s, which looks like a gzip bomb "+
			"(audit logs compress about 10×); if it is a real audit log, raise file.maxGzipRatio",
			f.Path, lines, plural(lines, "line", "lines"), gl)})
	case gz && errors.Is(err, io.ErrUnexpectedEOF):
		*probs = append(*probs, problem{msg: fmt.Sprintf("%s is truncated (a partly written or cut .gz file): read the %d complete %s before the cut",
			f.Path, lines, plural(lines, "line", "lines"))})
	default:
		*probs = append(*probs, problem{msg: fmt.Sprintf("error reading %s after %d %s: %s",
			f.Path, lines, plural(lines, "line", "lines"), errText(err))})
	}
	return nil
}

// open opens f's resolved path. A rotation x.log that was compressed since discovery is read
// from x.log.gz instead (same directory, so still inside the configured path).
func (s *Source) open(f *FileInfo) (*os.File, error) {
	fh, err := openFile(f.Resolved)
	if errors.Is(err, fs.ErrNotExist) && !f.Gzip && !f.Rotated.IsZero() {
		if gh, gerr := openFile(f.Resolved + ".gz"); gerr == nil {
			f.Path, f.Resolved, f.Gzip = f.Path+".gz", f.Resolved+".gz", true
			fh, err = gh, nil
		}
	}
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, errNotRegular
	}
	return fh, nil
}

// errNotRegular refuses a file that became a pipe, device or socket after discovery.
var errNotRegular = errors.New("not a regular file")

// openFile opens a file for reading; a variable so tests can simulate permission errors, which
// cannot be produced for real when the tests run as root.
var openFile = openFileNoFollow

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

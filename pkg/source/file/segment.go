package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

var _ source.SegmentScanner = (*Source)(nil)

// headBytes is how much of a file's start its identity hashes. A file shorter than that
// changes identity once, when it grows past it.
const headBytes = 4096

// Segments lists the files whose time range may overlap req, oldest first, with the pruning
// and problems of Scan (implements source.SegmentScanner). Each file is a segment: its ID is
// (device, inode, hash of the first 4 KiB), its Version is its size, and plain files are
// Appendable (kube-apiserver only appends to audit.log; rotation renames it, which keeps the
// ID; copytruncate or a new file changes the head and so the ID).
func (s *Source) Segments(ctx context.Context, req source.Request) (segs []source.Segment, st source.Stats, err error) {
	files, probs, err := s.discover(ctx)
	if err != nil {
		return nil, st, err
	}
	defer func() { st.Problems = messages(probs) }()
	reached := 0
	for i := range files {
		if err := ctx.Err(); err != nil {
			return nil, st, err
		}
		f := &files[i]
		if prunedByName(f, req) {
			st.FilesSkipped++
			reached++
			continue
		}
		prevAfter, peek := s.peekPlan(f, req)
		if prevAfter && !peek {
			st.FilesSkipped++
			reached++
			continue
		}
		seg, res, err := s.listFile(ctx, f, req, prevAfter, peek, &probs)
		if err != nil {
			return nil, st, err
		}
		switch res {
		case pruned:
			st.FilesSkipped++
			reached++
		case scanned:
			reached++
			if seg != nil {
				segs = append(segs, *seg)
			} else {
				st.FilesScanned++ // opened, nothing to read (an empty or invalid .gz)
			}
		}
	}
	if reached == 0 {
		return nil, st, unreadable(probs)
	}
	return segs, st, nil
}

// listFile opens f, reads its identity and, when peek, its first line to prune it.
func (s *Source) listFile(ctx context.Context, f *FileInfo, req source.Request, prevAfter, peek bool, probs *[]problem) (*source.Segment, outcome, error) {
	in, res := s.openStream(f, 0, probs)
	if in == nil {
		return nil, res, nil
	}
	defer in.close()
	if peek {
		lr := getLineReader(ctx, in.r, s.bufSize, s.maxLine)
		line, err := lr.next()
		skip := s.prunedByFirstLine(prevAfter, req, line, err)
		putLineReader(lr)
		if err := ctx.Err(); err != nil {
			return nil, failed, err
		}
		if skip {
			return nil, pruned, nil
		}
	}
	ref := *f
	stream := f.Family // a file of no rotation family is a stream of its own
	if stream == "" {
		stream = f.Path
	}
	return &source.Segment{
		ID:         identity(in.fh, in.info),
		Version:    in.info.Size(),
		Name:       f.Path,
		Stream:     stream,
		Appendable: !in.gz,
		Ref:        &ref,
	}, scanned, nil
}

// identity is a file's segment ID: device and inode (where the platform has them) and a hash
// of its first bytes and of how many there were.
func identity(fh *os.File, info os.FileInfo) string {
	var head [headBytes]byte
	n, _ := fh.ReadAt(head[:], 0)
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00", n)
	h.Write(head[:n])
	return fileKey(info) + ":" + hex.EncodeToString(h.Sum(nil)[:12])
}

// ScanSegment reads one listed file from offset from (implements source.SegmentScanner).
func (s *Source) ScanSegment(ctx context.Context, seg source.Segment, from int64, complete bool, fn source.LineAtFunc) (out source.SegmentScan, err error) {
	ctx, span := startSpan(ctx, "file.scanSegment", attribute.String("file", seg.Name), attribute.Int64("from", from))
	defer func() { endSpan(span, out.Stats, err) }() // after Problems are set
	f, ok := seg.Ref.(*FileInfo)
	if !ok {
		return out, fmt.Errorf("file source: segment %q was not listed by this source", seg.Name)
	}
	if from > 0 && !seg.Appendable {
		return out, fmt.Errorf("file source: %s is compressed and can only be read from its start", seg.Name)
	}
	var probs []problem
	defer func() { out.Problems = messages(probs) }()
	in, _ := s.openStream(f, from, &probs)
	if in == nil {
		return out, nil
	}
	defer in.close()
	out.FilesScanned = 1
	// The data is the listed segment if its identity is unchanged and it still holds what a
	// previous read covered.
	out.Stable = identity(in.fh, in.info) == seg.ID && in.info.Size() >= from
	if !out.Stable && from > 0 {
		return out, nil
	}
	lr := getLineReader(ctx, in.r, s.bufSize, s.maxLine)
	defer putLineReader(lr)
	lr.complete = complete && !in.gz
	line, err := lr.next()
	base := from
	if in.gz {
		base = 0
	}
	err = s.readLines(ctx, f, in.gz, lr, line, err, fn, base, &out.Stats, &probs)
	out.LinesTooLong = lr.tooLong
	if in.gz {
		out.End = in.info.Size()
	} else {
		out.End = from + lr.lastNL
	}
	return out, err
}

// LongLinesProblem is the problem sentence for n over-long lines skipped in seg.
func (s *Source) LongLinesProblem(seg source.Segment, n int64) string {
	if f, ok := seg.Ref.(*FileInfo); ok {
		return s.longLines(f, n)
	}
	return s.longLines(&FileInfo{Path: seg.Name}, n)
}

// ReadLines reads back the lines of seg that start at offsets (implements
// source.SegmentScanner): plain files by position, gzip files by decompressing up to the last
// one. A line that is no longer there (the file changed) is an error: the caller's index no
// longer describes the file.
func (s *Source) ReadLines(ctx context.Context, seg source.Segment, offsets []int64, fn source.LineFunc) (err error) {
	ctx, span := startSpan(ctx, "file.readLines", attribute.String("file", seg.Name), attribute.Int("lines", len(offsets)))
	defer func() { endSpan(span, source.Stats{}, err) }()
	f, ok := seg.Ref.(*FileInfo)
	if !ok {
		return fmt.Errorf("file source: segment %q was not listed by this source", seg.Name)
	}
	if len(offsets) == 0 {
		return nil
	}
	var probs []problem
	in, _ := s.openStream(f, 0, &probs)
	if in == nil {
		return fmt.Errorf("file source: %s", strings.Join(messages(probs), "; "))
	}
	defer in.close()
	if identity(in.fh, in.info) != seg.ID {
		return fmt.Errorf("file source: %s changed since it was listed", seg.Name)
	}
	if in.gz {
		lr := getLineReader(ctx, in.r, s.bufSize, s.maxLine)
		defer putLineReader(lr)
		k := 0
		for k < len(offsets) {
			line, err := lr.next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return err
			}
			if offsets[k] < lr.start {
				return fmt.Errorf("file source: %s holds no line at offset %d", seg.Name, offsets[k])
			}
			if k < len(offsets) && offsets[k] == lr.start {
				if err := fn(line); err != nil {
					return err
				}
				k++
			}
		}
		if k < len(offsets) {
			return fmt.Errorf("file source: %s holds no line at offset %d", seg.Name, offsets[k])
		}
		return nil
	}
	// One reader over the file at a movable position: an offset within what is buffered is
	// skipped to, a farther one is jumped to.
	pr := &offsetReader{r: in.fh}
	lr := getLineReader(ctx, pr, readBackBuffer, s.maxLine)
	defer putLineReader(lr)
	base := int64(0)
	for i, off := range offsets {
		if i%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		// The byte before a line is a newline (or there is none): else the offset is stale.
		atLine := off == 0
		if cur := base + lr.bytes; off >= cur && off-cur <= int64(lr.br.Buffered()) && !lr.eof && lr.lastNL == lr.bytes {
			if n := int(off - cur); n > 0 {
				skipped, _ := lr.br.Peek(n)
				atLine = skipped[n-1] == '\n'
				lr.br.Discard(n)
				lr.bytes += int64(n)
			} else {
				atLine = true
			}
		} else {
			if off > 0 {
				var prev [1]byte
				_, err := in.fh.ReadAt(prev[:], off-1)
				atLine = err == nil && prev[0] == '\n'
			}
			pr.off, base = off, off
			lr.br.Reset(pr)
			lr.bytes, lr.lastNL, lr.eof = 0, 0, false
		}
		if !atLine {
			return fmt.Errorf("file source: %s holds no line at offset %d", seg.Name, off)
		}
		line, err := lr.next()
		if err == nil && base+lr.start != off {
			err = io.EOF
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("file source: %s holds no line at offset %d", seg.Name, off)
		}
		if err != nil {
			return err
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	return nil
}

// readBackBuffer is the read buffer of ReadLines on plain files: about a few events.
const readBackBuffer = 64 << 10

// offsetReader reads r from off on.
type offsetReader struct {
	r   io.ReaderAt
	off int64
}

func (o *offsetReader) Read(p []byte) (int, error) {
	n, err := o.r.ReadAt(p, o.off)
	o.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

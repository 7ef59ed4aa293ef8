package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

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
	return &source.Segment{
		ID:         identity(in.fh, in.info),
		Version:    in.info.Size(),
		Name:       f.Path,
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
func (s *Source) ScanSegment(ctx context.Context, seg source.Segment, from int64, complete bool, fn source.LineFunc) (source.SegmentScan, error) {
	var out source.SegmentScan
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
	err = s.readLines(ctx, f, in.gz, lr, line, err, fn, &out.Stats, &probs)
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

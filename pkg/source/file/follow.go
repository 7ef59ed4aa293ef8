package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Position is where a follower stands in one active audit file: the file's identity (device
// and inode, and a hash of its first bytes) and the offset just past the last complete line
// delivered. A follower given a Position resumes there when the file is still the same one
// and still holds that much; else it reads the file (a new one after a rotation) from its
// start.
type Position struct {
	Path   string // the active file, as discovered (e.g. /var/log/kubernetes/audit/audit.log)
	Key    string // device and inode
	Head   string // hash of the first min(Offset, 4 KiB) bytes
	Offset int64
}

// FollowOptions configure Follow.
type FollowOptions struct {
	// From are resume positions, by Position.Path. An active file without one is followed
	// from its end (its last complete line), or from its start when FromStart is set.
	From      map[string]Position
	FromStart bool
	// Poll is how often files are checked for new lines when none came (default 250 ms).
	Poll time.Duration
	// Rediscover is how often the configured paths are listed again for new active files
	// (default 2 s).
	Rediscover time.Duration
	// Problem receives what could not be read (a truncated file whose copy is missing, an
	// unreadable file), once per occurrence. Optional.
	Problem func(msg string)
	// Idle, when set, is called after a round of checks that found no new line: tests use it
	// to know that everything written so far was delivered.
	Idle func()
	// Started, when set, is called once, after the first round: every line appended to the
	// files from then on is delivered. It gets the active files followed.
	Started func(paths []string)
}

// FollowFunc receives each new complete line and the position just after it. The line is
// valid only during the call.
type FollowFunc func(pos Position, line []byte) error

// Defaults of FollowOptions.
const (
	DefaultFollowPoll       = 250 * time.Millisecond
	DefaultFollowRediscover = 2 * time.Second
)

// Follow delivers the lines appended to the active audit files (audit.log: not a rotation,
// not compressed) of the configured paths, in file order, until ctx is done (it then returns
// ctx.Err()) or fn returns an error (returned as is).
//
// It follows each file across both rotation styles without losing or repeating a line:
//
//   - rename and create (kube-apiserver's lumberjack, logrotate's default): when the path
//     names another file (device and inode changed) or none, the old file, still open, is
//     read to its end (its last line even without a newline), then the new file from its
//     start;
//   - copytruncate (logrotate): when the file is shorter than what was read, or its first
//     bytes changed, the lines written after the last read and before the truncation are read
//     from the copy (the sibling whose first bytes are the ones followed and that holds at
//     least as much), then the file from its start. Without such a copy the loss is reported
//     to Problem.
//
// Only complete lines are delivered: a line being written is read once its newline is. Lines
// longer than MaxLineBytes are skipped and reported. Memory per file is the read buffer.
func (s *Source) Follow(ctx context.Context, opts FollowOptions, fn FollowFunc) error {
	if opts.Poll <= 0 {
		opts.Poll = DefaultFollowPoll
	}
	if opts.Rediscover <= 0 {
		opts.Rediscover = DefaultFollowRediscover
	}
	problem := opts.Problem
	if problem == nil {
		problem = func(string) {}
	}
	fl := &followers{s: s, opts: opts, problem: problem, byPath: map[string]*follower{}}
	defer fl.close()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var listed time.Time
	first := true
	for {
		if now := time.Now(); first || now.Sub(listed) >= opts.Rediscover {
			fl.discover(ctx, first)
			listed, first = now, false
		}
		got := false
		for _, f := range fl.list {
			n, err := fl.step(ctx, f, fn)
			if err != nil {
				return err
			}
			got = got || n > 0
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if opts.Started != nil {
			var paths []string
			for _, f := range fl.list {
				paths = append(paths, f.path)
			}
			opts.Started(paths)
			opts.Started = nil
		}
		if got {
			continue
		}
		if opts.Idle != nil {
			opts.Idle()
		}
		timer.Reset(opts.Poll)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// followers are the files one Follow call follows.
type followers struct {
	s       *Source
	opts    FollowOptions
	problem func(string)
	byPath  map[string]*follower
	list    []*follower
}

// follower follows one active file path.
type follower struct {
	path, resolved string
	family         string   // the family's active file, to find its rotations
	fh             *os.File // nil until the path exists
	key            string
	off            int64  // just past the last complete line delivered
	head           []byte // the first min(off, headBytes) bytes read
	fromStart      bool   // the next file opened at path is read from its start
	resume         *Position
	prevKey        string // the file followed before a rename rotation
	// pending is a resume position of a file that was rotated by renaming while nobody
	// followed: its rest is read before the file now at path.
	pending *Position
}

func (fl *followers) close() {
	for _, f := range fl.list {
		if f.fh != nil {
			f.fh.Close()
		}
	}
}

// discover adds the active files of the configured paths that are not followed yet. Files
// found on the first listing start at their end (or at their resume position); files that
// appear later are new and are read from their start.
func (fl *followers) discover(ctx context.Context, first bool) {
	files, probs, err := fl.s.discover(ctx)
	if err != nil {
		return
	}
	_ = probs // the query path reports discovery problems; a tail keeps trying
	for _, fi := range files {
		if fi.Gzip || !fi.Rotated.IsZero() || fi.seq > 0 {
			continue
		}
		if _, ok := fl.byPath[fi.Path]; ok {
			continue
		}
		f := &follower{path: fi.Path, resolved: fi.Resolved, family: fi.Family, fromStart: !first || fl.opts.FromStart}
		if p, ok := fl.opts.From[fi.Path]; ok {
			f.resume = &p
		}
		fl.byPath[fi.Path] = f
		fl.list = append(fl.list, f)
	}
}

// step reads what was appended to f since the last step, and handles rotation. It returns
// how many lines it delivered.
func (fl *followers) step(ctx context.Context, f *follower, fn FollowFunc) (int, error) {
	n := 0
	if f.fh == nil {
		if !fl.open(f) {
			return 0, nil
		}
		if prev := f.prevKey; prev != "" {
			// Files rotated after the one followed before, until the path was opened
			// again: read whole, oldest first.
			f.prevKey = ""
			k, err := fl.rotatedSince(ctx, f, func(fi FileInfo) bool {
				info, err := os.Stat(fi.Resolved)
				return err == nil && fileKey(info) == prev
			}, fn)
			n += k
			if err != nil {
				return n, err
			}
		}
	}
	info, err := f.fh.Stat()
	if err != nil {
		return n, nil
	}
	if p := f.pending; p != nil {
		f.pending = nil
		k, err := fl.fromRenamed(ctx, f, *p, fn)
		if err != nil {
			return k, err
		}
		n += k
	}
	if info.Size() < f.off || !f.sameHead() {
		// copytruncate: the lines after f.off are in the copy, if there is one, and the
		// lines of later rotations in the rotations made since.
		k, copyPath, err := fl.fromCopy(ctx, f, fn)
		n += k
		if err != nil {
			return n, err
		}
		if copyPath != "" {
			k, err := fl.rotatedSince(ctx, f, func(fi FileInfo) bool { return fi.Resolved == copyPath }, fn)
			n += k
			if err != nil {
				return n, err
			}
		}
		f.off, f.head = 0, nil
	}
	k, err := fl.read(ctx, f, false, fn)
	n += k
	if err != nil {
		return n, err
	}
	// Rename and create: the path now names another file, or none.
	cur, err := os.Stat(f.resolved)
	if err == nil && fileKey(cur) == f.key {
		return n, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return n, nil
	}
	k, err = fl.read(ctx, f, true, fn) // the rest of the old file, its last line too
	n += k
	if err != nil {
		return n, err
	}
	f.fh.Close()
	f.prevKey = f.key
	f.fh, f.key, f.off, f.head, f.fromStart = nil, "", 0, nil, true
	return n + 1, nil // a rotation is progress: the next round opens the new file at once
}

// open opens f's path and decides where to start: a matching resume position, the start
// (a file created after the tail began, or FromStart), or the end of its last complete line.
func (fl *followers) open(f *follower) bool {
	fh, err := fl.s.open(&FileInfo{Path: f.path, Resolved: f.resolved})
	if err != nil {
		return false
	}
	info, err := fh.Stat()
	if err != nil {
		fh.Close()
		return false
	}
	f.fh, f.key, f.off, f.head = fh, fileKey(info), 0, nil
	switch {
	case f.resume != nil:
		p := *f.resume
		f.resume = nil
		if p.Key == f.key && p.Offset <= info.Size() {
			f.off = p.Offset
			f.loadHead()
			if headHash(f.head) == p.Head {
				return true
			}
		}
		f.off, f.head = 0, nil // another file, or copytruncated since: all of it is new
		f.pending = &p         // the rest of the file at p, if it was renamed beside it
	case f.fromStart:
	default:
		f.off = lastLineEnd(fh, info.Size())
	}
	f.loadHead()
	return true
}

// lastLineEnd is the offset just past the last newline before size (0 if none is found in
// the last 64 KiB... then the partial line is skipped up to size).
func lastLineEnd(fh *os.File, size int64) int64 {
	const back = 64 << 10
	from := max(0, size-back)
	buf := make([]byte, size-from)
	n, _ := fh.ReadAt(buf, from)
	if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
		return from + int64(i) + 1
	}
	if from == 0 {
		return 0
	}
	return size
}

// loadHead reads the first min(off, headBytes) bytes of f's file.
func (f *follower) loadHead() {
	n := min(f.off, headBytes)
	if int64(len(f.head)) == n {
		return
	}
	buf := make([]byte, n)
	k, _ := f.fh.ReadAt(buf, 0)
	f.head = buf[:k]
}

// sameHead reports whether the file still starts with the bytes read from it.
func (f *follower) sameHead() bool {
	if len(f.head) == 0 {
		return true
	}
	var buf [headBytes]byte
	k, _ := f.fh.ReadAt(buf[:len(f.head)], 0)
	return bytes.Equal(buf[:k], f.head)
}

func headHash(head []byte) string {
	h := sha256.Sum256(head)
	return hex.EncodeToString(h[:12])
}

func (f *follower) position() Position {
	return Position{Path: f.path, Key: f.key, Head: headHash(f.head), Offset: f.off}
}

// read delivers the lines of f's open file from f.off to its end: complete lines only, or
// with last also a final line without a newline (a rotated file is written no more).
func (fl *followers) read(ctx context.Context, f *follower, last bool, fn FollowFunc) (int, error) {
	return fl.readFrom(ctx, f, io.NewSectionReader(f.fh, f.off, 1<<62), last, fn)
}

// readStream delivers every line of r (a whole rotated file, perhaps decompressed).
func (fl *followers) readStream(ctx context.Context, f *follower, r io.Reader, fn FollowFunc) (int, error) {
	return fl.readFrom(ctx, f, r, true, fn)
}

// readFrom delivers the lines of r, which starts at f.off in f's file.
func (fl *followers) readFrom(ctx context.Context, f *follower, r io.Reader, last bool, fn FollowFunc) (int, error) {
	base := f.off
	lr := getLineReader(ctx, r, fl.s.bufSize, fl.s.maxLine)
	defer putLineReader(lr)
	lr.complete = !last
	n := 0
	defer func() {
		if lr.tooLong > 0 {
			fl.problem(fl.s.longLines(&FileInfo{Path: f.path}, lr.tooLong))
		}
	}()
	for {
		line, err := lr.next()
		if err != nil {
			f.off = base + lr.lastNL
			if last {
				f.off = base + lr.bytes
			}
			f.loadHead()
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			fl.problem(fmt.Sprintf("error reading %s: %s", f.path, errText(err)))
			return n, nil
		}
		f.off = base + lr.lastNL
		if lr.eof {
			f.off = base + lr.bytes
		}
		f.loadHead()
		n++
		if err := fn(f.position(), line); err != nil {
			return n, err
		}
	}
}

// fromCopy delivers, after a copytruncate of f, the lines the copy holds past f.off: the copy
// is a plain file beside f whose first bytes are f's and that holds at least f.off bytes.
func (fl *followers) fromCopy(ctx context.Context, f *follower, fn FollowFunc) (int, string, error) {
	if f.off == 0 {
		return 0, "", nil
	}
	n, path, err := fl.restOf(ctx, f, f.off, func(fh *os.File, _ os.FileInfo) bool {
		var buf [headBytes]byte
		k, _ := fh.ReadAt(buf[:len(f.head)], 0)
		return bytes.Equal(buf[:k], f.head)
	}, fn)
	if path == "" {
		fl.problem(fmt.Sprintf("%s was truncated (copytruncate) and no copy of it was found beside it: lines written after offset %d and before the truncation were not read", f.path, f.off))
	}
	return n, path, err
}

// restOf delivers the lines after off of the first plain file beside f (not f, holding at
// least off bytes) that is picks, and returns its path ("" when none is).
func (fl *followers) restOf(ctx context.Context, f *follower, off int64, is func(*os.File, os.FileInfo) bool, fn FollowFunc) (int, string, error) {
	files, _, err := fl.s.discover(ctx)
	if err != nil {
		return 0, "", nil
	}
	dir := filepath.Dir(f.resolved)
	for _, fi := range files {
		if fi.Resolved == f.resolved || filepath.Dir(fi.Resolved) != dir || fi.Gzip || fi.Size < off {
			continue
		}
		fh, err := fl.s.open(&fi)
		if err != nil {
			continue
		}
		info, err := fh.Stat()
		if err != nil || !is(fh, info) {
			fh.Close()
			continue
		}
		r := &follower{path: f.path, resolved: fi.Resolved, fh: fh, key: fileKey(info), off: off}
		r.loadHead()
		n, err := fl.read(ctx, r, true, fn)
		fh.Close()
		return n, fi.Resolved, err
	}
	return 0, "", nil
}

// rotatedSince delivers, whole, the rotations of f's family that are newer than the one
// anchor picks (the file f followed until it was rotated): the rotations made before f's
// path was looked at again. Without the anchor (compressed or removed since) nothing is read.
func (fl *followers) rotatedSince(ctx context.Context, f *follower, anchor func(FileInfo) bool, fn FollowFunc) (int, error) {
	files, _, err := fl.s.discover(ctx) // oldest first
	if err != nil || f.family == "" {
		return 0, nil
	}
	n, found := 0, false
	var since time.Time
	for _, fi := range files {
		if fi.Family != f.family || fi.Resolved == f.resolved || filepath.Dir(fi.Resolved) != filepath.Dir(f.resolved) {
			continue
		}
		if !found {
			found, since = anchor(fi), fi.ModTime
			continue
		}
		if fi.ModTime.Before(since) {
			continue // written to before the anchor was: an older rotation sorted after it
		}
		var probs []problem
		in, _ := fl.s.openStream(&fi, 0, &probs)
		for _, p := range probs {
			fl.problem(p.msg)
		}
		if in == nil {
			continue
		}
		key := fileKey(in.info)
		if key == f.key { // the file now followed, rotated since it was opened
			in.close()
			continue
		}
		r := &follower{path: f.path, resolved: fi.Resolved, fh: in.fh, key: key}
		k, err := fl.readStream(ctx, r, in.r, fn)
		in.close()
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// fromRenamed delivers the rest of the file a resume position p names, after p.Offset, when
// that file was renamed beside f's path (rotated while nobody followed it).
func (fl *followers) fromRenamed(ctx context.Context, f *follower, p Position, fn FollowFunc) (int, error) {
	n, _, err := fl.restOf(ctx, f, p.Offset, func(fh *os.File, info os.FileInfo) bool {
		if fileKey(info) != p.Key {
			return false
		}
		head := make([]byte, min(p.Offset, headBytes))
		k, _ := fh.ReadAt(head, 0)
		return headHash(head[:k]) == p.Head
	}, fn)
	return n, err
}

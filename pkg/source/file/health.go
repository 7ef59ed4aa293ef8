package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

const (
	tailWindow      = 64 << 10 // first read from the end of a file for its newest event
	maxTailWindow   = 16 << 20 // largest read from the end, for very long last lines
	maxGzipTailSize = 64 << 20 // larger .gz files are not decompressed to find their newest event
	newestCandidate = 3        // newest files looked at for the newest event
)

// Health discovers the files, checks that each can be opened and reads the newest event time
// from the end of the newest files. It never returns an error: failures are in the message.
func (s *Source) Health(ctx context.Context) source.Health {
	files, probs, err := s.discover(ctx)
	if err != nil {
		return source.Health{Message: "health check interrupted: " + err.Error()}
	}
	h := source.Health{Files: len(files)}
	if len(files) == 0 {
		for _, p := range probs {
			if p.access {
				h.Message = p.msg
				return h
			}
		}
		h.Message = noFilesMessage(strings.Join(s.paths, ", "))
		return h
	}

	var firstUnreadable string
	unreadable := 0
	var total int64
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return source.Health{Files: len(files), Message: "health check interrupted: " + err.Error()}
		}
		total += f.Size
		fh, err := openFile(f.Resolved)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // rotated away since discovery
			}
			if unreadable == 0 {
				firstUnreadable = accessMessage("read", f.Path, err)
			}
			unreadable++
			continue
		}
		fh.Close()
	}
	if unreadable > 0 {
		h.Message = fmt.Sprintf("%s [%d of %d audit files cannot be read]", firstUnreadable, unreadable, len(files))
		return h
	}
	for _, p := range probs {
		if p.access { // one configured path is broken while others work
			h.Message = fmt.Sprintf("%s [%d audit %s found in the other paths]", p.msg, len(files), plural(int64(len(files)), "file", "files"))
			return h
		}
	}

	h.OK = true
	var msg strings.Builder
	fmt.Fprintf(&msg, "found %d audit %s (%s) in %s", len(files), plural(int64(len(files)), "file", "files"),
		formatBytes(total), strings.Join(s.paths, ", "))
	if s.timeOf != nil {
		h.Newest = s.newestEvent(ctx, files)
		if h.Newest.IsZero() {
			fmt.Fprintf(&msg, "; no event time found at the end of %s (is it a JSON-lines audit log?)", files[len(files)-1].Path)
		} else {
			fmt.Fprintf(&msg, "; newest event %s (%s ago)", h.Newest.UTC().Format(time.RFC3339),
				s.now().Sub(h.Newest).Round(time.Second))
		}
	}
	if len(probs) > 0 {
		fmt.Fprintf(&msg, "; %d %s: %s", len(probs), plural(int64(len(probs)), "problem", "problems"), probs[0].msg)
	}
	h.Message = msg.String()
	return h
}

// newestEvent is the latest event time at the end of the newest few files.
func (s *Source) newestEvent(ctx context.Context, files []FileInfo) time.Time {
	var newest time.Time
	for i := len(files) - 1; i >= 0 && i >= len(files)-newestCandidate; i-- {
		if ctx.Err() != nil {
			break
		}
		if t, ok := s.lastEventTime(ctx, files[i]); ok && t.After(newest) {
			newest = t
		}
	}
	return newest
}

func (s *Source) lastEventTime(ctx context.Context, f FileInfo) (time.Time, bool) {
	fh, err := s.open(&f)
	if err != nil {
		return time.Time{}, false
	}
	defer fh.Close()
	var head [2]byte
	n, _ := fh.ReadAt(head[:], 0)
	if f.Gzip || isGzip(head[:n]) {
		return s.lastGzipEventTime(ctx, fh, f.Size)
	}
	st, err := fh.Stat()
	if err != nil {
		return time.Time{}, false
	}
	return s.tailTime(fh, st.Size())
}

// tailTime reads the end of a plain file and returns the latest event time among its last
// complete lines, reading further back while no line there has a time.
func (s *Source) tailTime(r io.ReaderAt, size int64) (time.Time, bool) {
	limit := int64(max(2*s.maxLine, tailWindow))
	limit = min(limit, maxTailWindow)
	for window := int64(tailWindow); ; window *= 4 {
		window = min(window, limit)
		off := max(size-window, 0)
		buf := make([]byte, size-off)
		n, err := r.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return time.Time{}, false
		}
		data := buf[:n]
		if off > 0 { // the first line is probably cut
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				data = nil
			} else {
				data = data[i+1:]
			}
		}
		if t, ok := s.latestIn(data); ok || off == 0 || window >= limit {
			return t, ok
		}
	}
}

// latestIn is the latest time of the lines in data.
func (s *Source) latestIn(data []byte) (time.Time, bool) {
	var latest time.Time
	found := false
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		if t, ok := s.timeOf(line); ok && (!found || t.After(latest)) {
			latest, found = t, true
		}
	}
	return latest, found
}

// lastGzipEventTime decompresses a .gz (which cannot be read from the end) up to
// maxGzipTailSize and returns the time of its last line with one.
func (s *Source) lastGzipEventTime(ctx context.Context, fh *os.File, size int64) (time.Time, bool) {
	if size > maxGzipTailSize {
		return time.Time{}, false
	}
	g, err := openGzip(fh)
	if err != nil {
		return time.Time{}, false
	}
	defer g.release()
	lr := getLineReader(ctx, g, s.bufSize, s.maxLine)
	defer putLineReader(lr)
	var last []byte
	for {
		line, err := lr.next()
		if err != nil {
			break
		}
		last = append(last[:0], line...)
	}
	if last == nil {
		return time.Time{}, false
	}
	return s.timeOf(last)
}

// formatBytes writes n in binary units with one decimal: "1.2 GiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

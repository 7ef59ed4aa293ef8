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

// StaleAfter is how old the newest event may be before Health warns that the files are not
// being written (kube-apiserver writes audit events all the time, if only kubelets' leases).
const StaleAfter = 24 * time.Hour

// healthProbeLines is how many lines from the start of each file Health compares with the line
// limit.
const healthProbeLines = 8

// fileCheck is what Health learnt from the start of one file.
type fileCheck struct {
	f       *FileInfo
	empty   bool   // no non-empty line
	audit   bool   // the first line is an audit event
	what    string // what the first line is, when not an audit event
	tooLong bool   // every line looked at is longer than the line limit
	lines   int    // lines looked at
}

// Health discovers the files, checks that each can be opened and starts with audit events
// that fit the line limit, and reads the newest event time from the end of the newest files.
// It is not OK when nothing can be read: no files, unreadable files, files that are empty, hold
// no audit events (a component's klog text, other JSON) or only lines longer than the limit.
// A newest event older than StaleAfter is a warning at the start of the message. It never
// returns an error: failures are in the message.
func (s *Source) Health(ctx context.Context) source.Health {
	d, err := s.discoverAll(ctx)
	if err != nil {
		return source.Health{Message: "health check interrupted: " + err.Error()}
	}
	files, probs := d.files, d.probs
	h := source.Health{Files: len(files)}
	if len(files) == 0 {
		for _, p := range probs {
			if p.access {
				h.Message = p.msg
				return h
			}
		}
		var none []string
		for _, p := range probs {
			if strings.HasPrefix(p.msg, "no audit files found") {
				none = append(none, p.msg)
			}
		}
		if len(none) == 0 {
			none = []string{noFilesMessage(strings.Join(s.paths, ", "))}
		}
		h.Message = strings.Join(none, "; ")
		return h
	}

	var firstUnreadable string
	unreadable := 0
	var total int64
	var checks []fileCheck
	for i := range files {
		f := &files[i]
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
		if p, err := probeFile(ctx, f.Resolved, probeBytes, healthProbeLines, s.maxLine); err == nil {
			c := fileCheck{f: f, empty: p.first == nil, lines: p.lines}
			if !c.empty {
				c.audit, c.what = classifyLine(p.first, p.firstComplete)
				c.tooLong = p.lines > 0 && p.fit == 0
			}
			checks = append(checks, c)
		}
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
	if msg := s.contentProblem(checks); msg != "" {
		h.Message = msg
		return h
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
			age := s.now().Sub(h.Newest)
			fmt.Fprintf(&msg, "; newest event %s (%s)", h.Newest.UTC().Format(time.RFC3339), humanAge(age))
			if age > StaleAfter {
				warning := fmt.Sprintf("warning: the newest event is from %s, older than %s: is kube-apiserver still writing to %s? "+
					"Queries of recent time ranges will find nothing. ", humanAge(age), humanDuration(StaleAfter), strings.Join(s.paths, ", "))
				rest := msg.String()
				msg.Reset()
				msg.WriteString(warning + strings.ToUpper(rest[:1]) + rest[1:])
			}
		}
	}
	var notAudit []string
	for _, c := range checks {
		if !c.empty && !c.audit {
			notAudit = append(notAudit, c.f.Path+" ("+c.what+")")
		}
	}
	if len(notAudit) > 0 {
		fmt.Fprintf(&msg, "; %d of %d files do not start with an audit event: %s", len(notAudit), len(files), shortList(notAudit))
	}
	if len(d.notAudit) > 0 {
		fmt.Fprintf(&msg, "; %s", notAuditSummary(d.notAudit))
	}
	if len(probs) > 0 {
		fmt.Fprintf(&msg, "; %d %s: %s", len(probs), plural(int64(len(probs)), "problem", "problems"), probs[0].msg)
	}
	h.Message = msg.String()
	return h
}

// contentProblem says why nothing can be read from files that all open: they are all empty, no
// line fits the line limit, or none starts with an audit event. "" when some file is fine.
func (s *Source) contentProblem(checks []fileCheck) string {
	if len(checks) == 0 {
		return ""
	}
	var nonEmpty, tooLong, audit []fileCheck
	for _, c := range checks {
		if c.empty {
			continue
		}
		nonEmpty = append(nonEmpty, c)
		if c.tooLong {
			tooLong = append(tooLong, c)
		}
		if c.audit {
			audit = append(audit, c)
		}
	}
	switch {
	case len(nonEmpty) == 0:
		if len(checks) == 1 {
			return fmt.Sprintf("%s is empty: kube-apiserver has not written an audit event to it yet "+
				"(check that it runs with --audit-policy-file as well as --audit-log-path)", checks[0].f.Path)
		}
		return fmt.Sprintf("the %d audit files in %s are all empty: kube-apiserver has not written an audit event to them yet "+
			"(check that it runs with --audit-policy-file as well as --audit-log-path)", len(checks), strings.Join(s.paths, ", "))
	case len(tooLong) == len(nonEmpty):
		c := tooLong[0]
		lines := fmt.Sprintf("the first %d lines of %s are", c.lines, c.f.Path)
		if c.lines == 1 {
			lines = "the first line of " + c.f.Path + " is"
		}
		if len(tooLong) > 1 {
			lines += fmt.Sprintf(" (and so are the first lines of the %d other files)", len(tooLong)-1)
		}
		return fmt.Sprintf("every line looked at is longer than the line limit of %s, so every event would be skipped: %s longer: "+
			"raise maxLineBytes (the default is %s; events with request and response bodies can exceed 1 MiB)",
			formatSize(s.maxLine), lines, formatSize(DefaultMaxLineBytes))
	case len(audit) == 0:
		c := nonEmpty[0]
		msg := fmt.Sprintf("no audit events in %s: the first line of %s is %s, not an audit event", strings.Join(s.paths, ", "), c.f.Path, c.what)
		if len(nonEmpty) > 1 {
			msg += fmt.Sprintf(", and none of the other %d files starts with one", len(nonEmpty)-1)
		}
		return msg + " (configure the file kube-apiserver's --audit-log-path names, or its directory; " +
			"kube-apiserver.log is the server's own log, not its audit log)"
	}
	return ""
}

// shortList joins up to three items and says how many more there are.
func shortList(items []string) string {
	if len(items) <= 3 {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:3], ", ") + fmt.Sprintf(" and %d more", len(items)-3)
}

// humanAge says how long ago something was, the way people say it: "just now", "5 minutes
// ago", "1 hour ago", "3 days ago", "6 months ago", "2 years ago"; a time ahead of the clock is
// "2 minutes in the future".
func humanAge(d time.Duration) string {
	if d < -time.Minute {
		return humanDuration(-d) + " in the future (clocks differ?)"
	}
	if d < time.Minute {
		return "just now"
	}
	return humanDuration(d) + " ago"
}

// humanDuration rounds d down to its largest unit: "1 minute", "23 hours", "6 months".
func humanDuration(d time.Duration) string {
	const day = 24 * time.Hour
	unit := func(n int64, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return fmt.Sprintf("%d %ss", n, name)
	}
	switch {
	case d < time.Minute:
		return unit(int64(d/time.Second), "second")
	case d < time.Hour:
		return unit(int64(d/time.Minute), "minute")
	case d < 2*day:
		return unit(int64(d/time.Hour), "hour")
	case d < 60*day:
		return unit(int64(d/day), "day")
	case d < 365*day:
		return unit(int64(d/(30*day)), "month")
	}
	return unit(int64(d/(365*day)), "year")
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
	g, err := openGzip(fh, s.gzipLimit(size))
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

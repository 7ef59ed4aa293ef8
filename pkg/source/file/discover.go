package file

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/envelope"
)

// FileInfo describes one discovered audit file.
type FileInfo struct {
	Path     string // as found under the configured path (what messages name)
	Resolved string // after resolving symlinks; this is what is opened
	Size     int64
	ModTime  time.Time
	Gzip     bool // the name ends in .gz (gzip is also detected by content when reading)
	// Family is the active file of the lumberjack family this file belongs to
	// (".../audit.log" for audit.log and audit-<time>.log[.gz]); empty for other files.
	Family string
	// Rotated is the rotation time in the name (UTC); zero for active and other files.
	Rotated time.Time
	// Previous is the rotation time of the previous file in the same family: this file was
	// created then, so its events are (about) after it. Zero if unknown.
	Previous time.Time

	seq   int       // logrotate's number in <family>.N[.gz] (1 is the newest rotation); 0 otherwise
	order time.Time // sort key, set by sortFiles
}

// rotationLayout is lumberjack's backup time format (kube-apiserver writes it in UTC).
const rotationLayout = "2006-01-02T15-04-05.000"

var rotatedName = regexp.MustCompile(`^(.+)-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3})(\.[^.]*)?$`)

// numberedName is logrotate's name for a rotation: <family>.N (N from 1, the newest), gzipped
// as <family>.N.gz.
var numberedName = regexp.MustCompile(`^(.+)\.([1-9][0-9]{0,5})$`)

// nameInfo is what a file name says about the file.
type nameInfo struct {
	family  string // base name of the family's active file; "" if none
	rotated time.Time
	seq     int // logrotate's number; 0 if none
	gzip    bool
}

// parseName classifies a base name: <prefix>-<time><ext>[.gz] is a (lumberjack) rotation of
// <prefix><ext>, <name>.N[.gz] a (logrotate) rotation of <name>, any other name without .gz is
// the active file of its own family.
func parseName(name string) nameInfo {
	rest, gz := strings.CutSuffix(name, ".gz")
	ni := nameInfo{gzip: gz}
	if m := rotatedName.FindStringSubmatch(rest); m != nil {
		if t, err := time.Parse(rotationLayout, m[2]); err == nil {
			ni.family = m[1] + m[3]
			ni.rotated = t
			return ni
		}
	}
	if m := numberedName.FindStringSubmatch(rest); m != nil {
		ni.family = m[1]
		ni.seq, _ = strconv.Atoi(m[2])
		return ni
	}
	if !gz {
		ni.family = rest
	}
	return ni
}

// isAuditName reports whether a directory entry may be read when its directory is configured
// (its content then decides, see isAuditContent): *.log, *.jsonl, their logrotate rotations
// *.log.N and *.jsonl.N, and all of those gzipped.
func isAuditName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	name = strings.TrimSuffix(name, ".gz")
	if m := numberedName.FindStringSubmatch(name); m != nil {
		name = m[1]
	}
	return strings.HasSuffix(name, ".log") || strings.HasSuffix(name, ".jsonl")
}

// within reports whether the cleaned path p is strictly inside the cleaned directory root.
func within(root, p string) bool {
	prefix := root
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	return strings.HasPrefix(p, prefix) && len(p) > len(prefix)
}

// globBase is the directory part of pattern before the first element with a wildcard.
func globBase(pattern string) string {
	dir := pattern
	for hasMeta(dir) {
		dir = filepath.Dir(dir)
	}
	return dir
}

// Files discovers the audit files under the configured paths, oldest first (the order Scan
// reads them in), and returns the problems met (missing paths, unreadable directories, symlinks
// leading outside). The error is only ctx's.
func (s *Source) Files(ctx context.Context) ([]FileInfo, []string, error) {
	files, probs, err := s.discover(ctx)
	return files, messages(probs), err
}

type discoverer struct {
	ctx   context.Context
	files []FileInfo
	seen  map[string]bool // resolved paths
	probs []problem
	// notAudit are the files of configured directories left out because their first line is
	// not an audit event (a component's own log, other JSON).
	notAudit []skippedFile
}

// skippedFile is a file of a directory whose content is not an audit log.
type skippedFile struct {
	path string
	what string // what its first line looks like: "klog text", "JSON that is not an audit event"...
}

func (s *Source) discover(ctx context.Context) ([]FileInfo, []problem, error) {
	d, err := s.discoverAll(ctx)
	if err != nil {
		return nil, nil, err
	}
	return d.files, d.probs, nil
}

// discoverAll is discover with what it left out.
func (s *Source) discoverAll(ctx context.Context) (*discoverer, error) {
	d := &discoverer{ctx: ctx, seen: map[string]bool{}}
	for _, p := range s.paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		nFiles, nProbs, nSkipped := len(d.files), len(d.probs), len(d.notAudit)
		if hasMeta(p) {
			d.glob(p)
		} else {
			d.path(p)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(d.files) == nFiles && !slices.ContainsFunc(d.probs[nProbs:], func(p problem) bool { return p.access }) {
			msg := noFilesMessage(p)
			if skipped := d.notAudit[nSkipped:]; len(skipped) > 0 {
				msg += " (" + notAuditSummary(skipped) + ")"
			}
			d.probs = append(d.probs, problem{msg: msg})
		}
	}
	d.dropPartialGzip()
	linkFamilies(d.files)
	sortFiles(d.files)
	return d, nil
}

// notAuditSummary says which files were left out for their content: "kube-apiserver.log holds
// klog text, not audit events", "3 files hold no audit events: a.log (klog text), ...".
func notAuditSummary(skipped []skippedFile) string {
	if len(skipped) == 1 {
		return "left out " + skipped[0].path + ": its first line is " + skipped[0].what + ", not an audit event"
	}
	var names []string
	for i, f := range skipped {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(skipped)-3))
			break
		}
		names = append(names, filepath.Base(f.path)+" ("+f.what+")")
	}
	return fmt.Sprintf("left out %d files whose first line is not an audit event: %s", len(skipped), strings.Join(names, ", "))
}

func (d *discoverer) accessProblem(verb, path string, err error) {
	d.probs = append(d.probs, problem{msg: accessMessage(verb, path, err), err: err, access: true})
}

func (d *discoverer) skipProblem(format string, args ...any) {
	d.probs = append(d.probs, problem{msg: fmt.Sprintf(format, args...)})
}

// path handles a configured path without wildcards: a directory or a file.
func (d *discoverer) path(p string) {
	st, err := os.Stat(p)
	if err != nil {
		d.accessProblem("read", p, err)
		return
	}
	switch {
	case st.IsDir():
		d.dir(p, isAuditName, true)
	case st.Mode().IsRegular():
		// The file and its rotations <prefix>-<time><ext>[.gz] and <name>.N[.gz] beside it.
		base := filepath.Base(p)
		d.dir(filepath.Dir(p), func(name string) bool {
			return name == base || parseName(name).family == base
		}, false)
	default:
		d.skipProblem("cannot read %s: it is neither a regular file nor a directory", p)
	}
}

// dir adds the entries of dir accepted by want, which must resolve inside dir. byContent: only
// those whose content may be an audit log (isAuditContent), but for kube-apiserver's
// time-stamped rotations; the others are noted in notAudit.
func (d *discoverer) dir(dir string, want func(name string) bool, byContent bool) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		d.accessProblem("read", dir, err)
		return
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		d.accessProblem("list", dir, err)
		// ReadDir may still have returned some entries.
	}
	for i, e := range entries {
		if i%256 == 255 && d.ctx.Err() != nil {
			return
		}
		name := e.Name()
		if !want(name) {
			continue
		}
		path := filepath.Join(dir, name)
		resolved := filepath.Join(root, name)
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			target, err := filepath.EvalSymlinks(resolved)
			if err != nil {
				d.skipProblem("skipped %s: %s", path, symlinkProblem(resolved, err))
				continue
			}
			if !within(root, target) {
				d.skipProblem("skipped %s: it is a symlink that resolves outside %s", path, dir)
				continue
			}
			st, err := os.Stat(target)
			if err != nil {
				continue // removed meanwhile
			}
			if !st.IsDir() && !st.Mode().IsRegular() {
				d.skipProblem("skipped %s: it is a symlink to a %s, not a regular file (never opened)", path, fileKind(st.Mode()))
				continue
			}
			resolved = target
		case e.Type()&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeDevice|fs.ModeCharDevice) != 0:
			// Never opened: opening a pipe can block, a device can have effects.
			d.skipProblem("skipped %s: it is a %s, not a regular file (never opened)", path, fileKind(e.Type()))
			continue
		case !e.Type().IsRegular():
			continue // subdirectories are not entered
		}
		// kube-apiserver's own rotations (audit-<time>.log[.gz]) are taken by their name: a
		// directory can keep hundreds, and discovery runs on every query.
		if byContent && !d.seen[resolved] && parseName(name).rotated.IsZero() {
			if ok, what := isAuditContent(d.ctx, resolved); !ok {
				d.notAudit = append(d.notAudit, skippedFile{path: path, what: what})
				continue
			}
		}
		d.add(path, resolved)
	}
}

// symlinkProblem says why path, a symlink or a path through one, cannot be resolved (err is
// EvalSymlinks'): a loop, a dangling link, or err.
func symlinkProblem(path string, err error) string {
	if _, serr := os.Stat(path); isLoop(serr) {
		return "it is a symlink loop (not followed)"
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "it is a symlink to a file that does not exist"
	}
	return "cannot resolve the symlink: " + errText(err)
}

// fileKind names a mode that is not a regular file or a directory.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// glob adds the files matching pattern, and the audit files of matching directories; each
// match must resolve inside the pattern's base directory.
func (d *discoverer) glob(pattern string) {
	base := globBase(pattern)
	root, err := filepath.EvalSymlinks(base)
	if err != nil {
		d.accessProblem("read", base, err)
		return
	}
	matches, err := filepath.Glob(pattern)
	if err != nil { // validated in New; kept for safety
		d.skipProblem("invalid glob pattern %s: %v", pattern, err)
		return
	}
	for i, m := range matches {
		if i%256 == 255 && d.ctx.Err() != nil {
			return
		}
		target, err := filepath.EvalSymlinks(m)
		if err != nil {
			d.skipProblem("skipped %s: %s", m, symlinkProblem(m, err))
			continue
		}
		if !within(root, target) {
			d.skipProblem("skipped %s: it resolves outside %s", m, base)
			continue
		}
		st, err := os.Stat(target)
		if err != nil {
			continue // removed meanwhile
		}
		switch {
		case st.IsDir():
			d.dir(m, isAuditName, true)
		case st.Mode().IsRegular():
			d.add(m, target)
		}
	}
}

func (d *discoverer) add(path, resolved string) {
	if d.seen[resolved] {
		return
	}
	st, err := os.Stat(resolved)
	if err != nil || !st.Mode().IsRegular() {
		return // removed since listing (rotation), or a link to a directory: not an audit file
	}
	d.seen[resolved] = true
	ni := parseName(filepath.Base(resolved))
	fi := FileInfo{
		Path:     path,
		Resolved: resolved,
		Size:     st.Size(),
		ModTime:  st.ModTime(),
		Gzip:     ni.gzip || strings.HasSuffix(path, ".gz"),
		Rotated:  ni.rotated,
		seq:      ni.seq,
	}
	if ni.family != "" {
		fi.Family = filepath.Join(filepath.Dir(resolved), ni.family)
	}
	d.files = append(d.files, fi)
}

// dropPartialGzip removes x.gz when x is also present: lumberjack is still compressing x.
func (d *discoverer) dropPartialGzip() {
	d.files = slices.DeleteFunc(d.files, func(f FileInfo) bool {
		plain, ok := strings.CutSuffix(f.Resolved, ".gz")
		return ok && d.seen[plain]
	})
}

// linkFamilies sets Previous: for a rotation, the rotation before it; for an active file, the
// latest rotation of its family.
func linkFamilies(files []FileInfo) {
	rotations := map[string][]time.Time{}
	for _, f := range files {
		if f.Family != "" && !f.Rotated.IsZero() {
			rotations[f.Family] = append(rotations[f.Family], f.Rotated)
		}
	}
	for _, ts := range rotations {
		slices.SortFunc(ts, time.Time.Compare)
	}
	for i := range files {
		f := &files[i]
		ts := rotations[f.Family]
		if f.Family == "" || len(ts) == 0 {
			continue
		}
		if f.Rotated.IsZero() {
			f.Previous = ts[len(ts)-1]
			continue
		}
		j, _ := slices.BinarySearchFunc(ts, f.Rotated, time.Time.Compare)
		if j > 0 {
			f.Previous = ts[j-1]
		}
	}
}

// sortKey orders files oldest first: rotations by their name's time, the active file after
// its family's rotations, other files (logrotate's numbered rotations too) by mtime.
func sortKey(f FileInfo) time.Time {
	if !f.Rotated.IsZero() {
		return f.Rotated
	}
	if f.ModTime.Before(f.Previous) {
		return f.Previous
	}
	return f.ModTime
}

// sortFiles orders files oldest first (sortKey). logrotate's numbered rotations carry no time
// in their name, and compressing one gives it a new mtime: within a family, <name>.N comes
// before <name>.N-1, which comes before <name> (a numbered rotation's key is at most the key of
// the next newer file of its family).
func sortFiles(files []FileInfo) {
	numbered := map[string][]int{} // family → indexes of its numbered rotations
	active := map[string]int{}     // family → index of its active file
	for i := range files {
		f := &files[i]
		f.order = sortKey(*f)
		switch {
		case f.Family == "":
		case f.seq > 0:
			numbered[f.Family] = append(numbered[f.Family], i)
		case f.Rotated.IsZero():
			active[f.Family] = i
		}
	}
	for fam, idx := range numbered {
		slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(files[a].seq, files[b].seq) })
		upper, bounded := time.Time{}, false
		if i, ok := active[fam]; ok {
			upper, bounded = files[i].order, true
		}
		for _, i := range idx {
			if bounded && files[i].order.After(upper) {
				files[i].order = upper
			}
			upper, bounded = files[i].order, true
		}
	}
	slices.SortStableFunc(files, func(a, b FileInfo) int {
		if c := a.order.Compare(b.order); c != 0 {
			return c
		}
		// At equal times a rotation comes before the active file, a higher number first.
		if ar, br := !a.Rotated.IsZero() || a.seq > 0, !b.Rotated.IsZero() || b.seq > 0; ar != br {
			if ar {
				return -1
			}
			return 1
		}
		if a.seq != b.seq && a.Family == b.Family {
			return cmp.Compare(b.seq, a.seq)
		}
		return cmp.Compare(a.Path, b.Path)
	})
}

// probeBytes is how much of a file's first line discovery reads to recognise an audit log.
const probeBytes = 64 << 10

// isAuditContent reports whether the file at path may be an audit log by its first non-empty
// line: a JSON audit event (pkg/audit's decoder accepts it and it has an auditID or a stage),
// or the start of one cut short (a line longer than probeBytes, a partly written or truncated
// file). A file that is empty, or cannot be opened or read (the scan reports that), is kept.
// Otherwise what describes the line ("klog text ...", "JSON that is not an audit event", "plain text").
func isAuditContent(ctx context.Context, path string) (ok bool, what string) {
	p, err := probeFile(ctx, path, probeBytes, 1, 0)
	if err != nil || p.first == nil {
		return true, ""
	}
	return classifyLine(p.first, p.firstComplete)
}

// probe is what the start of a file holds.
type probe struct {
	first         []byte // the first non-empty line (at most keep bytes of it); nil if none
	firstComplete bool   // first is the whole line
	lines         int    // non-empty lines looked at
	fit           int    // of those, lines no longer than the limit
}

// probeFile reads the first non-empty lines of a plain or gzip file at path, at most maxLines
// of them, keeping keep bytes of the first. With limit > 0 it counts the lines no longer than
// limit, reading at most about maxLines*limit bytes (capped at maxProbeBytes); otherwise it
// reads at most keep bytes.
func probeFile(ctx context.Context, path string, keep, maxLines, limit int) (probe, error) {
	var p probe
	fh, err := openFile(path)
	if err != nil {
		return p, err
	}
	defer fh.Close()
	if st, err := fh.Stat(); err != nil || !st.Mode().IsRegular() {
		return p, errNotRegular // swapped in since it was listed: not read
	}
	var r io.Reader = fh
	var head [2]byte
	if n, _ := fh.ReadAt(head[:], 0); isGzip(head[:n]) {
		g, err := openGzip(fh, gzipCap{}) // reads at most budget bytes
		if err != nil {
			return p, err
		}
		defer g.release()
		r = g
	}
	budget := int64(keep)
	if limit > 0 {
		budget = min(max(int64(maxLines)*(int64(limit)+2), budget), maxProbeBytes)
	}
	br := bufio.NewReaderSize(r, min(keep, 64<<10))
	var read int64
	for p.lines < maxLines && ctx.Err() == nil {
		var kept []byte
		n, ended, eof := 0, false, false
		for read < budget {
			chunk, err := br.ReadSlice('\n')
			read += int64(len(chunk))
			n += len(chunk)
			if p.first == nil && len(kept) < keep {
				kept = append(kept, chunk[:min(len(chunk), keep-len(kept))]...)
			}
			if err == nil {
				ended = true
				break
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				eof = err == io.EOF // other read errors (a cut .gz) leave the line unfinished
				break
			}
		}
		if n == 0 {
			break // end of the file (or of the budget)
		}
		complete := ended || eof // a last line without a newline is whole
		length := n
		if ended {
			length-- // the "\n"
		}
		switch {
		case complete && p.first == nil && len(bytes.TrimSpace(kept)) == 0 && n == len(kept),
			complete && p.first != nil && length <= 1:
			// An empty or blank line: skipped, as the reader does.
		case !complete && (limit == 0 || length <= limit):
			// Cut short by the budget or a read error: too little is known about it.
			if p.first == nil && len(bytes.TrimSpace(kept)) > 0 {
				p.first = bytes.TrimSpace(kept)
			}
			return p, nil
		default:
			if p.first == nil {
				p.first, p.firstComplete = bytes.TrimSpace(kept), complete && n == len(kept)
			}
			p.lines++
			if limit > 0 && complete && length <= limit {
				p.fit++
			}
			if !complete {
				return p, nil
			}
		}
		if eof {
			break
		}
	}
	return p, nil
}

// maxProbeBytes bounds what Health reads from the start of one file to count its lines that
// fit the line limit.
const maxProbeBytes = 64 << 20

var (
	auditScanner = audit.NewScanner(0)
	klogLine     = regexp.MustCompile(`^[IWEF]\d{4} \d\d:\d\d:\d\d`)
)

// classifyLine decides whether a file's first line is an audit event (complete: the whole line
// was read), and otherwise says what it looks like.
func classifyLine(line []byte, complete bool) (bool, string) {
	// A line in an envelope (CRI, docker, Fluent Bit, GKE, AKS: package envelope) is judged
	// by the event inside; a CRI partial line is the start of a long event.
	if ev, ok := envelope.New(envelope.Auto).Unwrap(line); !ok {
		return true, ""
	} else if len(ev) > 0 {
		line = ev
	}
	if complete {
		var r audit.Record
		if auditScanner.Scan(line, &r) == nil && (len(r.Str(audit.FieldAuditID)) > 0 || len(r.Stage()) > 0) {
			return true, ""
		}
	}
	if line[0] == '{' && (bytes.Contains(line, []byte(`"audit.k8s.io/`)) || bytes.Contains(line, []byte(`"auditID":`))) {
		return true, "" // an event cut short or damaged: the scan counts it, the rest is read
	}
	if !complete && line[0] == '{' && len(line) < 64 {
		return true, "" // too little written yet to tell
	}
	switch {
	case klogLine.Match(line):
		return false, "klog text (a component's own log)"
	case line[0] == '{' || line[0] == '[':
		return false, "JSON that is not an audit event"
	case bytes.Contains(line, []byte(" AUDIT: ")):
		return false, "the legacy audit text format (--audit-log-format=legacy), which is not read"
	}
	return false, "plain text"
}

// Package file is the local audit file source: it reads the JSON-lines files kube-apiserver
// writes with --audit-log-path, including the rotated (lumberjack) and gzipped siblings.
//
// # Discovery
//
// Each configured path is one of:
//
//   - a directory: its regular files named *.log, *.jsonl, logrotate's *.log.N and *.jsonl.N,
//     and those gzipped (.gz), are candidates (this covers audit.log and its rotations
//     audit-2006-01-02T15-04-05.000.log[.gz], for any prefix, e.g. kube-apiserver-audit.log, and
//     audit.log.1, audit.log.2.gz...). A candidate is read when its content is an audit log: its
//     first non-empty line is an audit event (pkg/audit's decoder, with an auditID or a stage),
//     or the start of one cut short; a file that is still empty, or cannot be opened (the scan
//     reports why), is kept. Others, such as the klog text of kube-apiserver.log, are left out,
//     and when a directory holds nothing else its "no audit files" problem names them.
//     kube-apiserver's own time-stamped rotations are taken by their name without being opened
//     (a directory may keep hundreds, and discovery runs for every query).
//     Subdirectories are not entered (kube-apiserver keeps rotations beside the active file;
//     recursing would pick up unrelated data); use a glob such as /var/log/*/audit for more
//     directories. Hidden files (".name") are ignored.
//   - a file, e.g. the value of --audit-log-path: that file and its rotated siblings
//     <prefix>-<time><ext>[.gz] and <name>.N[.gz] in the same directory, whatever their content.
//   - a glob pattern (filepath.Match syntax; "**" has no special meaning): every matching file
//     is read whatever its name (the pattern says what is wanted); a matching directory is read
//     like a configured directory.
//
// Every file is resolved with filepath.EvalSymlinks and must lie inside the resolved configured
// directory (for a glob: inside the resolved base directory, the part of the pattern before the
// first wildcard). A symlink that leads outside is skipped and reported as a problem, without
// saying where it points. Files are opened by their resolved path, with O_NOFOLLOW where the
// platform has it, so a link swapped in after discovery is not followed.
//
// When both x.log and x.log.gz exist (lumberjack is compressing x.log), only x.log is read: the
// .gz is incomplete. If x.log disappears before it is opened, x.log.gz is read instead.
// logrotate's numbered rotations have no time in their name: within their family they are
// ordered by number, audit.log.N oldest, then audit.log.1, then audit.log.
//
// # Pruning
//
// A file is skipped (Stats.FilesSkipped) only when all the evidence agrees that it cannot hold an
// event in the request, with a slack of PruneSlack on each side because events are only mostly
// time-ordered and clocks differ:
//
//   - upper bound: the later of the rotation time in the name and the mtime (both are after the
//     last write); the file is skipped if that bound is more than PruneSlack before From.
//   - lower bound: the earlier of the previous rotation's time in the same family (the file was
//     created then) and the first event's time (Options.TimeOf on the first line); the file is
//     skipped if that bound is more than PruneSlack after To. When only one of the two is known,
//     it alone decides.
//
// # Reading
//
// Files are read oldest first (rotations by the time in their name, the active file last),
// through a 1 MiB buffer, line by line: memory does not depend on file size, and lines that fit
// the buffer are handed to the LineFunc without copying. A trailing "\r" is stripped, empty lines
// are skipped, a last line without a newline is delivered, lines longer than MaxLineBytes are
// skipped without being buffered and reported once per file. Gzip is recognised by the .gz suffix
// or the content (multistream is supported); a truncated .gz delivers its complete lines and
// reports a problem. A .gz is decompressed up to MaxGzipRatio times its compressed size (at
// least 1 MiB): past that it is a gzip bomb, or an audit log compressing far better than
// audit logs do (about 10×), and its reading stops with a problem naming the file. Stats.BytesRead counts uncompressed bytes. The context is checked every
// 1024 lines and on every buffer fill of an over-long line.
//
// # Errors
//
// A missing path, an unreadable directory or file, a symlink escape, a truncated .gz and
// over-long lines are reported as Stats.Problems and the scan goes on. Scan returns an error only
// when ctx is cancelled (ctx.Err()), when the LineFunc returns one (returned as is), or when no
// file could be opened at all and at least one path or file failed because it is missing or
// unreadable (*UnreadableError, which unwraps to fs.ErrNotExist / fs.ErrPermission). A
// configured directory that exists but holds no audit file is not an error: Scan returns no lines
// with a problem saying so, and Health reports it.
package file

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// DefaultMaxLineBytes is the line limit used when Config.MaxLineBytes is 0.
const DefaultMaxLineBytes = 4 << 20

// PruneSlack is how far outside a file's estimated time range an event may lie and still make
// the file be read.
const PruneSlack = 5 * time.Minute

// readBufferSize is the size of the buffer lines are read through. Lines up to this size are
// delivered without copying.
const readBufferSize = 1 << 20

// Config is the user configuration of the source.
type Config struct {
	// Paths are absolute directories, files or glob patterns (filepath.Match syntax).
	Paths []string
	// MaxLineBytes is the longest line delivered; longer lines are skipped and counted.
	// 0 means DefaultMaxLineBytes.
	MaxLineBytes int
	// MaxGzipRatio bounds what a .gz file may expand to, as a multiple of its compressed size
	// (at least minGzipLimit); 0 means DefaultMaxGzipRatio.
	MaxGzipRatio int
}

// DefaultMaxGzipRatio is the gzip expansion bound used when Config.MaxGzipRatio is 0: audit
// logs compress about 10× (13× for metadata-only logs of pkg/auditgen), gzip bombs 1000×.
const DefaultMaxGzipRatio = 64

// minGzipLimit is the least a .gz may expand to, whatever its compressed size.
const minGzipLimit = 1 << 20

// Options are the dependencies of the source.
type Options struct {
	// TimeOf extracts an event's stageTimestamp from a raw line; ok=false if it cannot. The
	// line is only valid during the call. It may be called concurrently. Optional: without it, files are pruned by name and mtime only and Health does not report
	// the newest event.
	TimeOf func(line []byte) (t time.Time, ok bool)
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Source reads audit lines from local files. It is safe for concurrent use.
type Source struct {
	paths   []string // cleaned, validated, deduplicated
	maxLine int
	// gzipRatio bounds the expansion of .gz files (gzipLimit).
	gzipRatio int
	timeOf    func([]byte) (time.Time, bool)
	now       func() time.Time
	bufSize   int // readBufferSize; smaller in tests to exercise the long-line path
}

var _ source.Source = (*Source)(nil)

// New validates cfg and returns a Source. Paths must be absolute, must not contain ".."
// elements and must be valid glob patterns; the file system is not touched.
func New(cfg Config, opts Options) (*Source, error) {
	var errs []error
	if len(cfg.Paths) == 0 {
		errs = append(errs, errors.New("no audit log path configured: set at least one directory, file or glob pattern, e.g. /var/log/kubernetes/audit"))
	}
	if cfg.MaxGzipRatio < 0 {
		errs = append(errs, fmt.Errorf("max gzip ratio %d is negative: use 0 for the default (%d)", cfg.MaxGzipRatio, DefaultMaxGzipRatio))
	}
	if cfg.MaxLineBytes < 0 {
		errs = append(errs, fmt.Errorf("max line size %d is negative: use 0 for the default (%s)", cfg.MaxLineBytes, formatSize(DefaultMaxLineBytes)))
	}
	seen := map[string]bool{}
	var paths []string
	for _, p := range cfg.Paths {
		clean, err := validatePath(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !seen[clean] {
			seen[clean] = true
			paths = append(paths, clean)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s := &Source{
		paths:     paths,
		maxLine:   cfg.MaxLineBytes,
		gzipRatio: cfg.MaxGzipRatio,
		timeOf:    opts.TimeOf,
		now:       opts.Now,
		bufSize:   readBufferSize,
	}
	if s.maxLine == 0 {
		s.maxLine = DefaultMaxLineBytes
	}
	if s.gzipRatio == 0 {
		s.gzipRatio = DefaultMaxGzipRatio
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// gzipLimit is how far a .gz of compressed bytes may expand: gzipRatio times its size, at
// least minGzipLimit.
func (s *Source) gzipLimit(compressed int64) gzipCap {
	ratio := s.gzipRatio
	if ratio <= 0 { // a Source not built by New
		ratio = DefaultMaxGzipRatio
	}
	return gzipCap{limit: max(compressed*int64(ratio), minGzipLimit), ratio: ratio}
}

func validatePath(p string) (string, error) {
	switch {
	case strings.TrimSpace(p) == "":
		return "", errors.New("audit log path is empty: remove it or set a directory such as /var/log/kubernetes/audit")
	case strings.ContainsRune(p, 0):
		return "", fmt.Errorf("audit log path %q contains a NUL byte", p)
	case !filepath.IsAbs(p):
		return "", fmt.Errorf("audit log path %q is not absolute: use a full path such as /var/log/kubernetes/audit", p)
	}
	for _, el := range strings.FieldsFunc(p, isSeparator) {
		if el == ".." {
			return "", fmt.Errorf("audit log path %q contains \"..\": write the path without parent directory references", p)
		}
	}
	clean := filepath.Clean(p)
	if hasMeta(clean) {
		if _, err := filepath.Match(clean, ""); err != nil {
			return "", fmt.Errorf("audit log path %q is not a valid glob pattern: %w", p, err)
		}
	}
	return clean, nil
}

func isSeparator(r rune) bool {
	return r == '/' || r == filepath.Separator
}

// hasMeta reports whether p contains glob wildcards, as path/filepath decides it.
func hasMeta(p string) bool {
	magic := `*?[`
	if runtime.GOOS != "windows" {
		magic = `*?[\`
	}
	return strings.ContainsAny(p, magic)
}

// formatSize writes n as "4 MiB", "64 KiB" or "1000 bytes".
func formatSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

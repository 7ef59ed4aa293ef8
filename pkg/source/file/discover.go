package file

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
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
}

// rotationLayout is lumberjack's backup time format (kube-apiserver writes it in UTC).
const rotationLayout = "2006-01-02T15-04-05.000"

var rotatedName = regexp.MustCompile(`^(.+)-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3})(\.[^.]*)?$`)

// nameInfo is what a file name says about the file.
type nameInfo struct {
	family  string // base name of the family's active file; "" if none
	rotated time.Time
	gzip    bool
}

// parseName classifies a base name: <prefix>-<time><ext>[.gz] is a rotation of <prefix><ext>,
// any other name without .gz is the active file of its own family.
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
	if !gz {
		ni.family = rest
	}
	return ni
}

// isAuditName reports whether a directory entry is read when its directory is configured.
func isAuditName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	name = strings.TrimSuffix(name, ".gz")
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
}

func (s *Source) discover(ctx context.Context) ([]FileInfo, []problem, error) {
	d := &discoverer{ctx: ctx, seen: map[string]bool{}}
	for _, p := range s.paths {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		nFiles, nProbs := len(d.files), len(d.probs)
		if hasMeta(p) {
			d.glob(p)
		} else {
			d.path(p)
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if len(d.files) == nFiles && !slices.ContainsFunc(d.probs[nProbs:], func(p problem) bool { return p.access }) {
			d.probs = append(d.probs, problem{msg: noFilesMessage(p)})
		}
	}
	d.dropPartialGzip()
	linkFamilies(d.files)
	sortFiles(d.files)
	return d.files, d.probs, nil
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
		d.dir(p, isAuditName)
	case st.Mode().IsRegular():
		// The file and its rotations <prefix>-<time><ext>[.gz] beside it.
		base := filepath.Base(p)
		d.dir(filepath.Dir(p), func(name string) bool {
			return name == base || parseName(name).family == base
		})
	default:
		d.skipProblem("cannot read %s: it is neither a regular file nor a directory", p)
	}
}

// dir adds the entries of dir accepted by want, which must resolve inside dir.
func (d *discoverer) dir(dir string, want func(name string) bool) {
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
				d.skipProblem("skipped %s: cannot resolve the symlink: %s", path, errText(err))
				continue
			}
			if !within(root, target) {
				d.skipProblem("skipped %s: it is a symlink that resolves outside %s", path, dir)
				continue
			}
			resolved = target
		case !e.Type().IsRegular():
			continue // subdirectories are not entered; devices, pipes and sockets are not read
		}
		d.add(path, resolved)
	}
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
			d.skipProblem("skipped %s: cannot resolve the path: %s", m, errText(err))
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
			d.dir(m, isAuditName)
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
// its family's rotations, other files by mtime.
func sortKey(f FileInfo) time.Time {
	if !f.Rotated.IsZero() {
		return f.Rotated
	}
	if f.ModTime.Before(f.Previous) {
		return f.Previous
	}
	return f.ModTime
}

func sortFiles(files []FileInfo) {
	slices.SortStableFunc(files, func(a, b FileInfo) int {
		if c := sortKey(a).Compare(sortKey(b)); c != 0 {
			return c
		}
		// At equal times a rotation comes before the active file.
		if ar, br := !a.Rotated.IsZero(), !b.Rotated.IsZero(); ar != br {
			if ar {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Path, b.Path)
	})
}

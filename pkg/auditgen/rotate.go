package auditgen

import (
	"bufio"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"
)

// RotatedTimeLayout is the layout of the time in rotated file names (lumberjack, UTC):
// audit-2006-01-02T15-04-05.000.log.
const RotatedTimeLayout = "2006-01-02T15-04-05.000"

// WriteRotated writes a generated log into dir the way kube-apiserver's lumberjack rotation
// leaves it: the current file audit.log, plus one audit-<UTC rotation time>.log file for every
// `per` requests before it (the rotation time is the receive time of the first request of the
// next file). With gz, rotated files are gzipped to .log.gz and the .log removed
// (--audit-log-compress); with o.LeavePartialGzip the newest rotation is left as both its .log
// and a partly written .log.gz. Files are written with mode 0644 (kube-apiserver uses 0600).
// It returns the paths written, oldest first, audit.log last. Existing files of the same names
// are overwritten; other files in dir are left alone.
func WriteRotated(dir string, o Options, per int, gz bool) ([]string, Summary, error) {
	if per <= 0 {
		return nil, Summary{}, errors.New("auditgen: per must be > 0")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, Summary{}, err
	}
	s := &rotSink{dir: dir, per: per}
	if err := s.open(); err != nil {
		return nil, Summary{}, err
	}
	g, err := newGen(o, s)
	if err != nil {
		s.f.Close()
		return nil, Summary{}, err
	}
	runErr := g.run()
	if err := s.close(); runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return nil, g.sum, runErr
	}
	var files []string
	for k, p := range s.rotated {
		if !gz {
			files = append(files, p)
			continue
		}
		last := k == len(s.rotated)-1
		if err := gzipFile(p, last && g.o.LeavePartialGzip); err != nil {
			return nil, g.sum, err
		}
		if last && g.o.LeavePartialGzip {
			files = append(files, p, p+".gz")
			continue
		}
		if err := os.Remove(p); err != nil {
			return nil, g.sum, err
		}
		files = append(files, p+".gz")
	}
	files = append(files, filepath.Join(dir, "audit.log"))
	return files, g.sum, nil
}

type rotSink struct {
	dir     string
	per     int
	f       *os.File
	w       *bufio.Writer
	rotated []string
}

func (s *rotSink) open() error {
	f, err := os.OpenFile(filepath.Join(s.dir, "audit.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 256<<10)
	return nil
}

func (s *rotSink) close() error {
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *rotSink) line(b []byte) error { _, err := s.w.Write(b); return err }

func (s *rotSink) beforeRequest(i int, t time.Time) error {
	if i == 0 || i%s.per != 0 {
		return nil
	}
	if err := s.close(); err != nil {
		return err
	}
	t = t.UTC().Truncate(time.Millisecond)
	var name string
	for {
		name = filepath.Join(s.dir, "audit-"+t.Format(RotatedTimeLayout)+".log")
		if len(s.rotated) == 0 || s.rotated[len(s.rotated)-1] < name {
			break
		}
		t = t.Add(time.Millisecond) // two rotations in one millisecond: keep names unique and ordered
	}
	if err := os.Rename(filepath.Join(s.dir, "audit.log"), name); err != nil {
		return err
	}
	s.rotated = append(s.rotated, name)
	return s.open()
}

// gzipFile writes p+".gz" the way lumberjack does (no name, zero mod time); partial keeps only
// the first two thirds of the compressed bytes, like a compression still in progress.
func gzipFile(p string, partial bool) error {
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(p+".gz", os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err == nil && partial {
		var st os.FileInfo
		if st, err = out.Stat(); err == nil {
			err = out.Truncate(st.Size() * 2 / 3)
		}
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

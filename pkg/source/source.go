// Package source defines the small interface the query engine consumes. Each source (local
// files, Loki, CloudWatch Logs) lives in its own package and yields raw audit lines; the engine
// decodes them with the project's audit decoder, so every source has the same semantics.
package source

import (
	"context"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// LineAtFunc is a LineFunc that also gets where the line starts in its segment.
type LineAtFunc func(off int64, line []byte) error

// LineFunc receives one raw audit line (one JSON event, without the trailing newline).
// The slice is only valid during the call: copy it to keep it. Returning an error stops the scan
// and the error is returned from Scan.
type LineFunc func(line []byte) error

// Request bounds a scan. Sources may return lines outside [From, To] (the engine filters on the
// event's own stageTimestamp), but must not drop lines whose stageTimestamp is inside it.
type Request struct {
	From, To time.Time
	// Filter is the query's filter, when there is one. Sources may use it to fetch less (Loki
	// line filters, CloudWatch filter patterns) but only where that cannot drop a matching
	// event: the engine applies the filter exactly afterwards.
	Filter *query.Filter
}

// Stats describes what a scan read and what it had to skip. Problems are human-readable
// sentences, shown to the user as frame notices ("skipped 3 lines longer than 1 MiB in
// /var/log/audit/audit.log").
type Stats struct {
	FilesScanned int
	FilesSkipped int // skipped because their time range cannot overlap the request
	LinesRead    int64
	BytesRead    int64
	LinesTooLong int64
	Problems     []string
}

// Add merges o into s.
func (s *Stats) Add(o Stats) {
	s.FilesScanned += o.FilesScanned
	s.FilesSkipped += o.FilesSkipped
	s.LinesRead += o.LinesRead
	s.BytesRead += o.BytesRead
	s.LinesTooLong += o.LinesTooLong
	s.Problems = append(s.Problems, o.Problems...)
}

// Health is what a source reports for the datasource health check.
type Health struct {
	OK      bool
	Message string // one actionable sentence on failure, a summary on success
	Files   int
	Newest  time.Time // newest event time seen, zero if unknown
}

// Source yields raw audit lines for a time range.
type Source interface {
	// Scan calls fn for every line that may fall in req, in no guaranteed order. It stops
	// promptly when ctx is cancelled and returns ctx.Err(). Problems that affect only part of
	// the data (one unreadable file, a truncated .gz) are reported in Stats.Problems, not as an
	// error; an error means nothing useful could be read.
	Scan(ctx context.Context, req Request, fn LineFunc) (Stats, error)
	// Health does one cheap real check of the source.
	Health(ctx context.Context) Health
}

// OriginFunc receives a line, where it came from (a file path, a Loki stream, a CloudWatch log
// stream) and when the source received it (the Loki timestamp, CloudWatch's ingestion time;
// zero when unknown, as for files). origin and line are valid only during the call.
type OriginFunc func(origin string, arrived time.Time, line []byte) error

// OriginScanner is implemented by sources that can say where each line came from; the
// pipelineHealth query uses it to show events per file or stream. Sources without it report one
// origin for everything.
type OriginScanner interface {
	ScanOrigins(ctx context.Context, req Request, fn OriginFunc) (Stats, error)
}

// StatusError is an error of a remote source that maps to an HTTP status (400 bad query, 401
// or 403 credentials, 429 limits, 504 timeout, 5xx the source's fault). The plugin returns that
// status with the query's error.
type StatusError interface {
	error
	HTTPStatus() int
}

// Segment is a part of a source's data that is read on its own and whose content, up to its
// Version, never changes: a rotated audit file, or the active audit.log, which only grows by
// appending. The engine keeps what it computed over a segment (keyed by ID) and reuses it while
// the segment is unchanged, or extends it by reading only what was appended.
type Segment struct {
	// ID is the segment's identity. Two listings with the same ID hold the same data up to
	// the smaller Version. For files: device, inode and a hash of the first bytes, so a
	// rename (rotation) keeps the ID and a copytruncate or a replaced file changes it.
	ID string
	// Version is how much data the segment holds now (a file's size in bytes).
	Version int64
	// Name is what notices name (a file path).
	Name string
	// Stream names the sequence the segment belongs to: the segments of one stream follow each
	// other in time (a file and its rotations, one API server's), those of different streams
	// may hold the same time (the files of several API servers).
	Stream string
	// Appendable segments grow by appending: what was computed over bytes [0, n) stays valid
	// and can be extended by ScanSegment from n. Others (gzip files) are read whole.
	Appendable bool
	// Ref is the source's own handle of the segment; the engine passes it back untouched.
	Ref any
}

// SegmentScan is what one ScanSegment read.
type SegmentScan struct {
	Stats
	// End is the offset just past the last line read that ended with a newline: everything
	// before it is complete and will not change. With complete=false a last line without a
	// newline (being written) is delivered but not counted in End.
	End int64
	// Stable is false when the data read was not the listed segment (it was rotated,
	// replaced or compressed between listing and reading): the lines were delivered, but
	// nothing computed from them may be kept under the segment's ID.
	Stable bool
}

// SegmentScanner is implemented by sources whose data comes in segments (the file source).
// Sources without segments are scanned whole with Scan.
type SegmentScanner interface {
	Source
	// Segments lists, oldest first, the segments that may hold events of req, after the same
	// pruning Scan does. Stats carries FilesSkipped and the problems found while listing; the
	// error is the one Scan would return when nothing could be read.
	Segments(ctx context.Context, req Request) ([]Segment, Stats, error)
	// ScanSegment calls fn for every line of seg from byte offset from (0, or a previous
	// SegmentScan.End of an Appendable segment). With complete=true a last line without a
	// newline is not delivered. Lines longer than the source's limit are counted in
	// Stats.LinesTooLong but not reported as a problem: LongLinesProblem says it once per
	// segment with the total.
	// fn gets each line's offset: in the file for plain files, in the uncompressed stream for
	// gzip ones.
	ScanSegment(ctx context.Context, seg Segment, from int64, complete bool, fn LineAtFunc) (SegmentScan, error)
	// ReadLines calls fn for the lines of seg that start at offsets (ascending, as
	// ScanSegment gave them), in that order: the rows a column index found, read back.
	ReadLines(ctx context.Context, seg Segment, offsets []int64, fn LineFunc) error
	// LongLinesProblem is the problem sentence for n skipped over-long lines of seg.
	LongLinesProblem(seg Segment, n int64) string
}

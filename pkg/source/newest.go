package source

import (
	"context"
	"time"
)

// NewestScanner is implemented by sources that can read a range newest first (Loki's
// query_range direction=backward), so that a table of the newest N events stops reading once
// the rest of the range can only hold older events (pkg/engine/newest.go).
type NewestScanner interface {
	// ScanNewest calls fn for the lines of req in descending order of the source's own time,
	// page by page, the first pages about want lines long (the rows the reader keeps), then
	// longer. After each full page it calls enough with the latest stageTimestamp any
	// line not yet delivered can have (the source's time of the oldest line read plus the
	// bound between the two times); enough returning true stops the scan. unread is then the
	// window of the source's own time not read, [From, To) (lines at To's time may have been
	// read only in part); nil when the whole range was read.
	ScanNewest(ctx context.Context, req Request, want int, fn LineFunc, enough func(bound time.Time) bool) (st Stats, unread *Window, err error)
	// SuspectLines counts the lines of req's source window w that the scan would deliver
	// (its line filters) and that may not be audit events (not JSON, or without auditID,
	// stage or stageTimestamp): a superset of what the engine would count as malformed there.
	// requests and bytes say what the count cost.
	SuspectLines(ctx context.Context, req Request, w Window) (n int64, requests int, bytes int64, err error)
}

// Window is a range of a source's own time, [From, To).
type Window struct {
	From, To time.Time
}

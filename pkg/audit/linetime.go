package audit

import "time"

// LineTime extracts an event's time from a raw line (stageTimestamp, else the old timestamp
// fields). Sources use it to place files and pages in time without decoding events.
func LineTime(line []byte) (time.Time, bool) {
	var r Record
	if NewScanner(0).Scan(line, &r) != nil || r.Time.IsZero() {
		return time.Time{}, false
	}
	return r.Time, true
}

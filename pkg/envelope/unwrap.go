package envelope

import (
	"bytes"
	"strings"
	"time"
)

// Meta is what the envelope of the last line said about its event. The byte slices point into
// the line or the Unwrapper's buffers: valid until the next Unwrap.
type Meta struct {
	// Format is the line's format (never Auto).
	Format Format
	// Time is the envelope's own time, as written (CRI and docker: when the runtime read the
	// line; Fluent Bit, Vector, AKS: the record's time; GKE: receiveTimestamp); nil if none.
	Time []byte
	// Stream is stdout or stderr when the envelope says so.
	Stream []byte
	// Pod is the pod that wrote the line when the envelope says so (Kubernetes metadata of
	// Fluent Bit and Vector, AKS properties.pod).
	Pod []byte
}

// Unwrapper unwraps lines. It keeps buffers (and a CRI event split over partial lines) from
// one line to the next: one Unwrapper per sequence of lines (a file, a stream), used from one
// goroutine. It does not allocate once its buffers have grown to the longest event.
type Unwrapper struct {
	fixed Format
	// Meta describes the last line unwrapped.
	Meta Meta
	// Lines counts the lines unwrapped by detected format (Lines[Auto] counts the lines that
	// are in no known format; they are returned as they are, for the decoder to reject).
	Lines [numFormats]int64

	buf  []byte // unescaped or synthesised event
	part []byte // CRI partial lines so far
	// partial is true while part holds P lines not yet ended by an F line.
	partial bool
	w       walker
	scratch []byte
	// gkeScratch: parseGKE's slices.
	gkeScratch gkeScratch
	// aksPrefix is the start of a line, up to the quote that opens properties.log, whose walk
	// there met only keys that change nothing (see object): a line that starts with the same
	// bytes resumes its walk there. It is a cache of the walk, not state: Reset keeps it.
	aksPrefix []byte
	// aksSuffix: the rest of properties after properties.log on a line that resumed after
	// aksPrefix (see propsRest). A cache too.
	aksSuffix suffixMemo
	// kube: the last Fluent Bit kubernetes metadata read (a cache too).
	kube    kubeMemo
	dropped int64
	// startOff is where the pending partial lines start (UnwrapAt).
	startOff int64
}

// New returns an Unwrapper for lines of format f (Auto: any known format, detected per line).
func New(f Format) *Unwrapper {
	if f >= numFormats {
		f = Auto
	}
	return &Unwrapper{fixed: f}
}

// Format is the format the Unwrapper was made for.
func (u *Unwrapper) Format() Format { return u.fixed }

// Unwrap returns the audit event of line. ok is false when the line holds no event to decode
// yet: it is a CRI partial line, and the event comes with the line that ends it. A line in no
// format the Unwrapper reads (or not in its fixed format) is returned as it is: the audit
// decoder counts it as malformed. The event may point into line or into the Unwrapper's
// buffers: it is valid until the next call.
//
// Bare JSON takes a fast path of a few byte comparisons.
func (u *Unwrapper) Unwrap(line []byte) (event []byte, ok bool) {
	if u.fixed == Bare || (u.fixed == Auto && !u.partial && bareStart(line)) {
		u.Lines[Bare]++
		u.Meta = Meta{Format: Bare}
		return line, true
	}
	return u.slow(line)
}

// UnwrapAt is Unwrap for a line that starts at off in its file (-1 when unknown): it also
// returns where the event's first line starts (a CRI event joined from partial lines starts
// at its first P line).
func (u *Unwrapper) UnwrapAt(off int64, line []byte) (int64, []byte, bool) {
	if !u.partial {
		u.startOff = off
	}
	ev, ok := u.Unwrap(line)
	if !ok || off < 0 {
		return off, ev, ok
	}
	return u.startOff, ev, ok
}

// Pending reports whether CRI partial lines are waiting for the line that ends them (at the
// end of a read, they are an incomplete event).
func (u *Unwrapper) Pending() bool { return u.partial }

// Incomplete counts the events lost so far because they were split over CRI partial lines
// whose last line never came (partial lines followed by a line that is not their end), plus
// one for partial lines still pending.
func (u *Unwrapper) Incomplete() int64 {
	if u.partial {
		return u.dropped + 1
	}
	return u.dropped
}

// Reset drops pending partial lines (a new sequence of lines starts).
func (u *Unwrapper) Reset() { u.partial, u.part = false, u.part[:0] }

// bareKeys are the keys an audit event starts with: kube-apiserver writes kind and apiVersion
// first; other writers (sorted keys, v1beta1, recorders) start with another event field.
var bareKeys = [...]string{`kind"`, `apiVersion"`, `level"`, `auditID"`, `annotations"`, `stage"`, `requestURI"`, `verb"`, `user"`, `metadata"`, `requestReceivedTimestamp"`}

// bareStart reports whether line starts like an audit event: `{"` and one of bareKeys.
func bareStart(line []byte) bool {
	if len(line) < 8 || line[0] != '{' || line[1] != '"' {
		return false
	}
	rest := line[2:]
	switch rest[0] {
	case 'k':
		return bytes.HasPrefix(rest, []byte(bareKeys[0]))
	case 'a':
		return bytes.HasPrefix(rest, []byte(bareKeys[1])) || bytes.HasPrefix(rest, []byte(bareKeys[3])) || bytes.HasPrefix(rest, []byte(bareKeys[4]))
	case 'l':
		return bytes.HasPrefix(rest, []byte(bareKeys[2]))
	case 's':
		return bytes.HasPrefix(rest, []byte(bareKeys[5]))
	case 'r':
		return bytes.HasPrefix(rest, []byte(bareKeys[6])) || bytes.HasPrefix(rest, []byte(bareKeys[10]))
	case 'v':
		return bytes.HasPrefix(rest, []byte(bareKeys[7]))
	case 'u':
		return bytes.HasPrefix(rest, []byte(bareKeys[8]))
	case 'm':
		return bytes.HasPrefix(rest, []byte(bareKeys[9]))
	}
	return false
}

func (u *Unwrapper) slow(line []byte) ([]byte, bool) {
	u.Meta = Meta{}
	trimmed := trimLeft(line)
	switch {
	case u.partial || (len(trimmed) > 0 && trimmed[0] >= '0' && trimmed[0] <= '9'):
		if u.fixed != Auto && u.fixed != CRI {
			break
		}
		ev, ok, isCRI := u.cri(trimmed)
		if !isCRI {
			break
		}
		if ok {
			u.Lines[CRI]++
			u.Meta.Format = CRI
		}
		return ev, ok
	case len(trimmed) > 0 && trimmed[0] == '{':
		if ev, f, ok := u.object(trimmed); ok && (u.fixed == Auto || u.fixed == f || (u.fixed == FluentBit && f == Docker)) {
			u.Lines[f]++
			u.Meta.Format = f
			return ev, true
		}
	}
	u.Lines[Auto]++
	u.Meta = Meta{Format: Auto}
	return line, true
}

// cri reads a CRI line. isCRI is false for a line that is not one (then nothing changed); ok
// is false for a P line (kept until its F line).
func (u *Unwrapper) cri(line []byte) (event []byte, ok, isCRI bool) {
	ts, rest, found := bytes.Cut(line, []byte{' '})
	if !found || len(ts) < 20 || ts[4] != '-' {
		return u.orphan(line)
	}
	stream, rest, found := bytes.Cut(rest, []byte{' '})
	if !found {
		return u.orphan(line)
	}
	tag, content, found := bytes.Cut(rest, []byte{' '})
	if !found {
		// An empty F line: "<ts> stdout F" has no content.
		tag, content = rest, nil
	}
	if len(tag) == 0 || (tag[0] != 'P' && tag[0] != 'F') {
		return u.orphan(line)
	}
	u.Meta.Time, u.Meta.Stream = ts, stream
	if tag[0] == 'P' {
		if !u.partial {
			u.part = u.part[:0]
			u.partial = true
		}
		u.part = append(u.part, content...)
		return nil, false, true
	}
	if u.partial {
		u.part = append(u.part, content...)
		u.partial = false
		return u.inner(u.part), true, true
	}
	return u.inner(content), true, true
}

// orphan handles a line that is not CRI: pending partial lines are dropped (they were the
// start of an event that never ended), and the line is read again as a new line.
func (u *Unwrapper) orphan(line []byte) ([]byte, bool, bool) {
	if !u.partial {
		return nil, false, false
	}
	u.Reset()
	u.dropped++
	ev, ok := u.Unwrap(line)
	return ev, ok, true
}

// inner is the event of a shipper's payload: the payload itself, or, when a shipper kept the
// runtime's CRI prefix, what follows it (one complete F line).
func (u *Unwrapper) inner(p []byte) []byte {
	p = trimNewline(p)
	if len(p) == 0 || p[0] == '{' || p[0] < '0' || p[0] > '9' {
		return p
	}
	ts, rest, ok := bytes.Cut(p, []byte{' '})
	if !ok || len(ts) < 20 || ts[4] != '-' {
		return p
	}
	_, rest, ok = bytes.Cut(rest, []byte{' '})
	if !ok {
		return p
	}
	if len(rest) > 2 && rest[0] == 'F' && rest[1] == ' ' {
		return rest[2:]
	}
	return p
}

func trimLeft(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// TimeOf makes a reader of an event's time (audit.LineTime) read lines of format f: the line
// is unwrapped first (a CRI partial line has no time). It is safe for concurrent use.
func TimeOf(f Format, of func(line []byte) (time.Time, bool)) func(line []byte) (time.Time, bool) {
	if f == Bare {
		return of
	}
	return func(line []byte) (time.Time, bool) {
		ev, ok := New(f).Unwrap(line)
		if !ok {
			return time.Time{}, false
		}
		return of(ev)
	}
}

// BareStartRE is a regular expression (RE2, as LogQL line filters and Logs Insights `like`
// take it) of the lines that Auto reads as bare JSON, with no unwrapping: those bareStart
// accepts. A remote source counts the lines that do not match it and that may hold an event
// (EventHintRE) to tell whether its own parsing of the lines is exact (see source.BareChecker).
var BareStartRE = func() string {
	keys := make([]string, len(bareKeys))
	for i, k := range bareKeys {
		keys[i] = strings.TrimSuffix(k, `"`)
	}
	return `^\{"(` + strings.Join(keys, "|") + `)"`
}()

// EventHintRE matches every line that holds an audit event in any envelope: kube-apiserver
// writes "kind":"Event" and an auditID in every event (escaped or not, the words stay), and a
// GKE LogEntry carries a protoPayload. A line that matches neither holds no event that Auto
// could unwrap, so it is rejected the same way by the engine and by a source's JSON parser.
const EventHintRE = `Event|auditID|protoPayload`

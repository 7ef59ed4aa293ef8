package audit

import (
	"encoding/binary"
	"net/url"
	"strings"
	"time"
)

// UserKind classifies who made a request.
type UserKind string

// User kinds.
const (
	UserHuman          UserKind = "human"
	UserServiceAccount UserKind = "serviceaccount"
	UserNode           UserKind = "node"
	UserSystem         UserKind = "system"
	UserAnonymous      UserKind = "anonymous"
)

// UserKinds lists every user kind.
var UserKinds = []UserKind{UserHuman, UserServiceAccount, UserNode, UserSystem, UserAnonymous}

// KindOfUser classifies a username. Requests that failed authentication carry no username and
// count as anonymous.
func KindOfUser(username string) UserKind {
	switch {
	case username == "" || username == "system:anonymous":
		return UserAnonymous
	case strings.HasPrefix(username, "system:serviceaccount:"):
		return UserServiceAccount
	case strings.HasPrefix(username, "system:node:"):
		return UserNode
	case strings.HasPrefix(username, "system:"), strings.HasPrefix(username, "eks:"):
		return UserSystem
	}
	return UserHuman
}

// IsTerminalStage reports whether stage is the last event of a request (ResponseComplete or
// Panic): counting these counts each request once.
func IsTerminalStage(stage string) bool {
	return stage == StageResponseComplete || stage == StagePanic
}

// IsLongRunning mirrors kube-apiserver's default long-running check: verbs watch and proxy,
// subresources attach, exec, proxy, log and portforward.
func IsLongRunning(verb, subresource string) bool {
	switch verb {
	case "watch", "proxy":
		return true
	}
	switch subresource {
	case "attach", "exec", "proxy", "log", "portforward":
		return true
	}
	return false
}

// LongRunningVerbs and LongRunningSubresources are the values IsLongRunning takes as
// long-running, for sources that select requests in their own query language
// (TestLongRunningLists keeps them and IsLongRunning's switch the same).
var (
	LongRunningVerbs        = []string{"watch", "proxy"}
	LongRunningSubresources = []string{"attach", "exec", "proxy", "log", "portforward"}
)

func latency(stage string, received, stageAt time.Time) (time.Duration, bool) {
	if !IsTerminalStage(stage) || received.IsZero() || stageAt.IsZero() {
		return 0, false
	}
	d := stageAt.Sub(received)
	if d < 0 {
		return 0, false
	}
	return d, true
}

// ExecInfo is what an exec or attach request URI says.
type ExecInfo struct {
	Subresource string   // exec or attach
	Command     []string // exec only: the command and its arguments
	Container   string
	TTY, Stdin  bool
}

// CommandLine is the command joined with spaces.
func (x ExecInfo) CommandLine() string { return strings.Join(x.Command, " ") }

// ParseExec parses an exec/attach request URI such as
// /api/v1/namespaces/ns/pods/p/exec?command=sh&command=-c&container=app.
func ParseExec(subresource, requestURI string) (ExecInfo, bool) {
	if subresource != "exec" && subresource != "attach" {
		return ExecInfo{}, false
	}
	x := ExecInfo{Subresource: subresource}
	_, rawQuery, _ := strings.Cut(requestURI, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		// Keep what parsed; a malformed query string still names its command parts.
		if q == nil {
			return x, true
		}
	}
	x.Command = q["command"]
	x.Container = q.Get("container")
	x.TTY = q.Get("tty") == "true" || q.Get("tty") == "1"
	x.Stdin = q.Get("stdin") == "true" || q.Get("stdin") == "1"
	return x, true
}

// ParseTime parses the timestamps found in audit logs without allocating: RFC 3339 with any
// number of fractional digits (kube-apiserver writes microseconds), a 'Z' or numeric offset, and
// the space-separated form ("2022-11-29 00:09:04.38") some pipelines write, read as UTC.
func ParseTime(b []byte) (time.Time, bool) {
	minute, ok := parseMinute(b)
	if !ok {
		return time.Time{}, false
	}
	return parseSeconds(b, minute)
}

// parseMinute parses a timestamp's "yyyy-mm-ddThh:mm" (its first 16 bytes, see ParseTime) as
// the Unix time of that minute, in seconds, before any offset.
func parseMinute(b []byte) (int64, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ' && b[10] != 't') ||
		b[13] != ':' {
		return 0, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || month < 1 || month > 12 || day < 1 || day > 31 ||
		hour > 23 || minute > 59 || day > daysIn(month, year) {
		return 0, false
	}
	// time.Unix from a civil date is several times cheaper than time.Date's normalisation.
	return daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60), true
}

// parseSeconds parses what follows a timestamp's minute (":ss", a fraction, the offset), given
// the minute's Unix time (parseMinute).
func parseSeconds(b []byte, minute int64) (time.Time, bool) {
	if len(b) < 19 || b[16] != ':' {
		return time.Time{}, false
	}
	sec, ok := digits(b[17:19])
	if !ok || sec > 60 {
		return time.Time{}, false
	}
	rest := b[19:]
	if len(rest) == 8 && rest[0] == '.' && rest[7] == 'Z' {
		// The API server's MicroTime ("…:ss.ffffffZ"), the timestamps of every event: its
		// six digits at once.
		if us, ok := micros(binary.LittleEndian.Uint64(rest)); ok {
			return time.Unix(minute+int64(sec), int64(us)*1000).UTC(), true
		}
	}
	nsec := 0
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		i := 1
		scale := 100000000
		for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
			nsec += int(rest[i]-'0') * scale
			scale /= 10
		}
		if i == 1 {
			return time.Time{}, false
		}
		rest = rest[i:]
	}
	offset := 0
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 {
			return time.Time{}, false
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	return time.Unix(minute+int64(sec-offset), int64(nsec)).UTC(), true
}

// timeCache is ParseTime that remembers the last minute it parsed ("yyyy-mm-ddThh:mm", the
// first 16 bytes of a timestamp): the timestamps of neighbouring lines (and an event's two)
// share it, so most are parsed from their seconds on. One per goroutine (it is in a Record).
type timeCache struct {
	key  [2]uint64 // the minute's 16 bytes; valid only with ok
	unix int64     // the minute's Unix time (parseMinute)
	ok   bool
}

func (c *timeCache) parse(b []byte) (time.Time, bool) {
	if len(b) >= 19 {
		k := [2]uint64{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}
		if c.ok && k == c.key {
			return parseSeconds(b, c.unix)
		}
		if m, ok := parseMinute(b); ok {
			c.key, c.unix, c.ok = k, m, true
			return parseSeconds(b, m)
		}
	}
	return time.Time{}, false
}

// daysFromCivil is the number of days from 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// daysIn is the number of days of a month (1-12) of the proleptic Gregorian calendar.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// micros parses the six digits of x's bytes 1 to 6 (little endian: x holds ".ffffffZ") as a
// number, SWAR: ok is false unless all six are digits.
func micros(x uint64) (int, bool) {
	const mask = 0x0000_ffff_ffff_ffff
	d := (x >> 8) & mask
	if d&0x0000_f0f0_f0f0_f0f0 != 0x0000_3030_3030_3030 || (d+0x0000_0606_0606_0606)&0x0000_f0f0_f0f0_f0f0 != 0x0000_3030_3030_3030 {
		return 0, false
	}
	// Eight digits, the first two zero, the most significant in the lowest byte.
	v := (d - 0x0000_3030_3030_3030) << 16
	v = (v*10 + v>>8) & 0x00ff_00ff_00ff_00ff
	v = (v*100 + v>>16) & 0x0000_ffff_0000_ffff
	v = (v*10000 + v>>32) & 0xffff_ffff
	return int(v), true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

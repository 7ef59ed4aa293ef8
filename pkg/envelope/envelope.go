// Package envelope unwraps audit lines shipped inside another log format: the container
// runtime's (CRI, docker json-file), a log shipper's (Fluent Bit, Vector), or a cloud's (GKE
// Cloud Logging LogEntry, AKS diagnostic records). An Unwrapper turns each raw line into the
// bytes of one audit.k8s.io Event JSON object plus what the envelope said about it (its time,
// stream and pod), detecting the format line by line (Auto) or expecting one.
//
// It is pure Go and knows nothing of sources or queries: the engine calls it once for every
// line of every source, before the line filter and the audit decoder.
package envelope

import (
	"fmt"
	"strings"
)

// Format is a line format.
type Format uint8

// Formats. The zero value is Auto.
const (
	// Auto detects the format of each line.
	Auto Format = iota
	// Bare is the audit event JSON itself, as kube-apiserver writes it to --audit-log-path.
	Bare
	// CRI is the container runtime's log line: `<RFC3339Nano time> <stream> <F|P> <event>`; a
	// long event is split into P (partial) lines ended by an F line, joined here.
	CRI
	// Docker is docker's json-file line: {"log":"<event as a JSON string>\n","stream":..,"time":..}.
	Docker
	// FluentBit is a Fluent Bit or Vector record: the event under "log" or "message", as a
	// JSON string or as an object, with the shipper's metadata ("kubernetes", "stream", time).
	FluentBit
	// GKE is a Cloud Logging LogEntry whose protoPayload is an AuditLog (GKE's Kubernetes audit
	// logs). The event is synthesised from the AuditLog's fields (see gke.go): it is lossy.
	GKE
	// AKS is an Azure diagnostic record of category kube-audit or kube-audit-admin: the event as
	// a JSON string under properties.log.
	AKS
	numFormats
)

var formatNames = [numFormats]string{"auto", "bare", "cri", "docker", "fluentbit", "gke", "aks"}

// Formats lists every format, Auto first.
func Formats() []Format {
	out := make([]Format, numFormats)
	for i := range out {
		out[i] = Format(i)
	}
	return out
}

// String is the format's setting value ("auto", "bare", "cri", ...).
func (f Format) String() string {
	if f < numFormats {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Parse reads a setting value: "" and "auto" are Auto; "json" is Bare and "vector" is
// FluentBit (the same envelope).
func Parse(s string) (Format, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "":
		return Auto, nil
	case "json":
		return Bare, nil
	case "vector":
		return FluentBit, nil
	}
	for i, n := range formatNames {
		if n == s {
			return Format(i), nil
		}
	}
	return Auto, fmt.Errorf("unknown envelope %q: use auto, bare, cri, docker, fluentbit (also for Vector), gke or aks", s)
}

// MarshalText implements encoding.TextMarshaler (settings JSON).
func (f Format) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (settings JSON).
func (f *Format) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// What line filters of remote sources (Loki line filters, CloudWatch filter patterns and
// Logs Insights) may assume. They match the raw line, before any unwrapping; a literal of the
// event's JSON (`"verb":"delete"`) is in the raw line verbatim only when the envelope copies
// the event's bytes (Bare, CRI, a Fluent Bit object payload); inside a JSON string it is
// escaped (`\"verb\":\"delete\"`); in a GKE LogEntry it is not there at all (the fields have
// other names).

// LiteralFiltersExact reports whether a literal of the event's JSON occurs in the raw line
// exactly as in the event, for every line of the format: line filters built for bare JSON
// stay exact.
func (f Format) LiteralFiltersExact() bool { return f == Bare || f == CRI }

// PushdownExact reports whether the raw line is the event JSON itself, so that a remote
// source may parse it as the event (LogQL `| json`, Logs Insights fields) to count for the
// engine. Only Bare: every other format needs unwrapping first.
func (f Format) PushdownExact() bool { return f == Bare }

// LineLiterals returns the byte strings that a literal of the event's compact JSON (lit) can
// be in a raw line of format f: a raw line holding the event holds at least one of them. ok is
// false when no such list can be given, and the filter must be dropped (GKE: the event is
// synthesised; or lit has characters whose escaped form is not unique, see Escape). For Auto
// it covers every format but GKE: a stream of GKE LogEntry lines needs envelope "gke" for its
// line filters to be exact.
func (f Format) LineLiterals(lit string) (forms []string, ok bool) {
	switch f {
	case Bare, CRI:
		return []string{lit}, true
	case GKE:
		return nil, false
	}
	esc, ok := Escape(lit)
	if !ok {
		return nil, false
	}
	switch f {
	case Docker, AKS:
		return []string{esc}, true
	}
	// Auto and FluentBit: the payload may be an object (verbatim) or a string (escaped).
	if esc == lit {
		return []string{lit}, true
	}
	return []string{lit, esc}, true
}

// Escape returns lit as it is inside a JSON string (without the quotes): `"` and `\` are
// preceded by a backslash. ok is false when lit holds a byte that JSON encoders escape in
// different ways (control characters, non-ASCII, `<`, `>`, `&`, `/`, U+2028): no single form is
// then exact.
func Escape(lit string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(lit); i++ {
		c := lit[i]
		switch {
		case c < 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '&' || c == '/':
			return "", false
		case c == '"' || c == '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

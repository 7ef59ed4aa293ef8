package detect

import (
	"net/netip"
	"strings"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// event is the view of a record the rules read. Its byte slices point into the record and are
// valid only while it is observed; findings copy what they keep.
type event struct {
	r                                          *audit.Record
	stage, verb, user, resource, sub, ns, name []byte
	ua, uri                                    []byte
	code                                       int
	final                                      bool // the event that completes the request
	started                                    bool // ResponseStarted
	kind                                       audit.UserKind
	lower                                      []byte // lower-cased user agent, reused
	lowered                                    bool
}

func (e *event) reset(r *audit.Record) {
	lower := e.lower[:0]
	*e = event{
		lower: lower,
		r:     r, stage: r.Stage(), verb: r.Verb(), user: r.Username(), resource: r.Resource(), sub: r.Subresource(),
		ns: r.Str(audit.FieldNamespace), name: r.Str(audit.FieldName), ua: r.Str(audit.FieldUserAgent),
		uri: r.Str(audit.FieldRequestURI), code: r.Code, kind: r.UserKind(),
	}
	// The event that completes the request, by the rule of query.IsRequestFinal (not imported:
	// pkg/query may come to depend on this package).
	e.final = r.IsTerminal() || (r.Code == 401 && string(e.stage) == audit.StageResponseStarted)
	e.started = string(e.stage) == audit.StageResponseStarted
}

// streamStage reports whether this event may judge a streaming request (exec, attach,
// port-forward): its ResponseStarted event or its completing one, whichever the data holds
// (policies often omit ResponseStarted; a session still open has no completing event yet). Stream
// rules keep one finding per request (Rule.stream).
func (e *event) streamStage() bool { return e.started || e.final }

// lowerUA is the user agent in lower case (ASCII), computed once per event.
func (e *event) lowerUA() []byte {
	if !e.lowered {
		e.lowered = true
		for _, c := range e.ua {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			e.lower = append(e.lower, c)
		}
	}
	return e.lower
}

// succeeded reports whether the request was allowed and did not fail.
func (e *event) succeeded() bool { return e.code > 0 && e.code < 400 }

// writes reports whether the verb changes objects (create, update, patch).
func (e *event) writes() bool {
	switch string(e.verb) {
	case "create", "update", "patch":
		return true
	}
	return false
}

func (e *event) is(resources ...string) bool {
	for _, r := range resources {
		if string(e.resource) == r {
			return true
		}
	}
	return false
}

// inGroup reports whether the user is in group, without allocating.
func (e *event) inGroup(group string) bool {
	found := false
	e.r.EachGroup(func(g []byte) { found = found || string(g) == group })
	return found
}

func (e *event) groups() []string {
	var gs []string
	e.r.EachGroup(func(g []byte) { gs = append(gs, string(g)) })
	return gs
}

func (e *event) sourceIP() string { return string(e.r.SourceIP()) }

// finding describes the event, with detail.
func (e *event) finding(detail string) Finding {
	return Finding{
		Time: e.r.Time, User: string(e.user), SourceIP: e.sourceIP(), UserAgent: string(e.ua), Verb: string(e.verb),
		Resource: resourceName(e.resource, e.sub), Namespace: string(e.ns), Name: string(e.name), Detail: detail,
		AuditID: string(e.r.Str(audit.FieldAuditID)), groups: e.groups(),
	}
}

func resourceName(res, sub []byte) string {
	if len(sub) == 0 {
		return string(res)
	}
	return string(res) + "/" + string(sub)
}

// isSystemUser reports whether the user is a control-plane identity (system:*, eks:*), not a
// service account or node (those are judged on their own).
func isSystemUser(kind audit.UserKind) bool { return kind == audit.UserSystem }

// publicIP reports whether ip is a routable public address.
func publicIP(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !isSharedOrDoc(a)
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
}

func isSharedOrDoc(a netip.Addr) bool {
	for _, p := range nonPublic {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// scriptingAgent reports user agents of scripts and generic HTTP clients rather than kubectl,
// controllers or kubelets.
func scriptingAgent(ua []byte) bool {
	l := strings.ToLower(string(ua))
	for _, p := range []string{"curl/", "wget/", "python-requests", "python-urllib", "python/", "go-http-client", "powershell", "postman", "httpie", "axios", "node-fetch", "okhttp"} {
		if strings.HasPrefix(l, p) || strings.Contains(l, " "+p) {
			return true
		}
	}
	return false
}
